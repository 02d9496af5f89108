"""nftables' ruleset generation id over netlink (NFT_MSG_GETGEN): a number that changes with
every ruleset change, so the ruleset is re-read only when it changed. One small request and
reply; None when it cannot be asked (no privileges, no nf_tables, another OS)."""

from __future__ import annotations

import logging
import os
import socket
import struct

log = logging.getLogger(__name__)

_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_NFTABLES = 10
_NFT_MSG_GETGEN = 16
_NFT_MSG_NEWGEN = 15
_NFTA_GEN_ID = 1
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2


def _attrs(data: bytes) -> dict[int, bytes]:
    found = {}
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        found[kind & 0x3FFF] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return found


NETLINK_NETFILTER = _NETLINK_NETFILTER


def generation(sock: socket.socket | None = None) -> int | None:
    """The current nftables generation id of this network namespace (or of the one `sock`, a
    NETLINK_NETFILTER socket, was opened in), or None."""
    family = getattr(socket, "AF_NETLINK", None)
    if family is None:
        return None
    msg_type = (_NFNL_SUBSYS_NFTABLES << 8) | _NFT_MSG_GETGEN
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)
    header = struct.pack("=IHHII", 16 + len(body), msg_type, _NLM_F_REQUEST, 1, 0)
    try:
        if sock is not None:
            sock.settimeout(1.0)
            sock.send(header + body)
            reply = sock.recv(65536)
        else:
            with socket.socket(family, socket.SOCK_RAW, _NETLINK_NETFILTER) as own:
                own.settimeout(1.0)
                own.send(header + body)
                reply = own.recv(65536)
    except OSError as exc:
        log.debug("nftables generation id unavailable: %s", exc)
        return None
    if len(reply) < 20:
        return None
    length, kind = struct.unpack_from("=IH", reply, 0)
    if kind == _NLMSG_ERROR or kind != (_NFNL_SUBSYS_NFTABLES << 8) | _NFT_MSG_NEWGEN:
        if kind == _NLMSG_ERROR:
            log.debug("nftables generation id refused: %s", os.strerror(
                -struct.unpack_from("=i", reply, 16)[0]))
        return None
    gen = _attrs(reply[20:length]).get(_NFTA_GEN_ID)
    return struct.unpack(">I", gen)[0] if gen and len(gen) == 4 else None
