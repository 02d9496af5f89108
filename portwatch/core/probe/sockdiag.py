"""List listening TCP and UDP sockets (with inode and uid) over netlink sock_diag, as `ss` does.

Linux only, no dependencies: a NETLINK_SOCK_DIAG socket, one `inet_diag_req_v2` dump per
(family, protocol) and a small struct parser. TCP asks the kernel for LISTEN sockets only; UDP
asks for every socket and keeps those with no remote port (an unconnected UDP socket reports
its remote end as 0.0.0.0:0 or [::]:0). Sockets not bound to a port are skipped. The rules match
what psutil reports as listeners, so both scanner paths see the same sockets.

`SockDiag` keeps its netlink socket and the sockets it has already decoded (keyed by the
kernel's socket cookie, which is never reused) between calls, so a steady-state dump costs the
kernel's work plus a dictionary lookup per socket. Faults become `SockDiagError` (an OSError),
raised at the first call, so the scanner can fall back to psutil with a reason.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from portwatch.core.model.kinds import Family, Proto

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x001
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_LISTEN = 10
ALL_STATES = 0xFFFFFFFF

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
# inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid (48 bytes, zero).
_REQUEST = struct.Struct("=IHHII BBBxI 48x")
# inet_diag_msg after the 16-byte netlink header: family, state, timer, retrans, then
# sockid: sport, dport (big endian), src[16], dst[16], if, cookie[2]; expires, rqueue, wqueue,
# uid, inode.
_MSG_SIZE = 72
_PORTS = struct.Struct(">HH")
_UID_INODE = struct.Struct("=II")
_OFF_ID = 16 + 4  # inet_diag_sockid, 48 bytes; starts with the ports
_ID_SIZE = 48
_OFF_SRC = 16 + 8
_OFF_UID = 16 + 64

# (proto, family, request): what to dump and how to ask for it.
_DUMPS = (
    (Proto.TCP, Family.IPV4, socket.AF_INET, socket.IPPROTO_TCP, 1 << TCP_LISTEN),
    (Proto.TCP, Family.IPV6, socket.AF_INET6, socket.IPPROTO_TCP, 1 << TCP_LISTEN),
    (Proto.UDP, Family.IPV4, socket.AF_INET, socket.IPPROTO_UDP, ALL_STATES),
    (Proto.UDP, Family.IPV6, socket.AF_INET6, socket.IPPROTO_UDP, ALL_STATES),
)
_ADDR_LEN = {socket.AF_INET: 4, socket.AF_INET6: 16}
_RECV_BUFFER = 1 << 16
_UNSEEN = object()


class DiagSocket(NamedTuple):
    """One listening socket as the kernel reports it."""

    proto: Proto
    family: Family
    address: str
    port: int
    inode: int
    uid: int


class _Chunk(NamedTuple):
    """One decoded netlink datagram."""

    listeners: tuple[DiagSocket, ...]
    done: bool  # it ended the dump
    sockets: dict[bytes, DiagSocket | None]  # socket id -> listener (None: not a listener)


class SockDiagError(OSError):
    """sock_diag is not usable here (no kernel support, not permitted, or a bad answer)."""


_CANNOT_OPEN = "cannot open a sock_diag socket: "


def _open_netlink() -> socket.socket:
    netlink = getattr(socket, "AF_NETLINK", None)
    if netlink is None:
        raise SockDiagError(errno.EAFNOSUPPORT, "this system has no netlink sockets")
    try:
        sock = socket.socket(netlink, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    except OSError as exc:
        raise SockDiagError(exc.errno, _CANNOT_OPEN + (exc.strerror or str(exc))) from exc
    try:
        sock.bind((0, 0))
    except OSError as exc:
        sock.close()
        raise SockDiagError(exc.errno, _CANNOT_OPEN + (exc.strerror or str(exc))) from exc
    return sock


class SockDiag:
    """A reusable sock_diag client (its netlink socket is open only during a call). Not
    thread-safe: one per scanner.

    Between calls it keeps what it decoded at two levels: whole answers (a netlink datagram of up
    to 32 KiB that is byte-for-byte the same as last time decodes to the same sockets; each dump
    uses a fixed sequence number so that unchanged tables give unchanged bytes) and single
    sockets (by their kernel socket id). When nothing changed, `listeners()` returns the very
    same tuple as the previous call, so callers can skip their own work with an `is` test."""

    def __init__(self, opener: Callable[[], Any] | None = None) -> None:
        self._open = opener or _open_netlink  # tests hand in recorded kernel answers
        self._sock: Any = None
        self._buffer = bytearray(_RECV_BUFFER)
        self._chunks: dict[bytes, _Chunk] = {}
        self._decoded: dict[bytes, DiagSocket | None] = {}
        self._last: tuple[DiagSocket, ...] = ()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> SockDiag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _socket(self) -> Any:
        if self._sock is None:
            self._sock = self._open()
        return self._sock

    def listeners(self) -> tuple[DiagSocket, ...]:
        """Every listening socket: TCP in LISTEN and UDP without a remote port, IPv4 and IPv6."""
        chunks: dict[bytes, _Chunk] = {}
        found: list[DiagSocket] = []
        try:
            fresh = False
            for seq, dump in enumerate(_DUMPS, start=1):
                fresh |= self._dump(seq, dump, chunks, found)
        except SockDiagError:
            raise
        except OSError as exc:
            raise SockDiagError(exc.errno, f"sock_diag dump failed: {exc.strerror or exc}") from exc
        finally:
            # The netlink socket lives for one call (socket + bind + close cost ~10 µs): a
            # scanner dropped without close() (a test, a command, a window that quit) then
            # leaves no open socket behind for the garbage collector to complain about.
            self.close()
        self._chunks = chunks  # what is gone since the last call is forgotten
        if fresh:
            decoded: dict[bytes, DiagSocket | None] = {}
            for chunk in chunks.values():
                decoded.update(chunk.sockets)
            self._decoded = decoded
        result = tuple(found)
        if result == self._last:  # elementwise identity first: cheap when nothing changed
            return self._last
        self._last = result
        return result

    def _dump(self, seq: int, dump: tuple, chunks: dict[bytes, _Chunk],
              found: list[DiagSocket]) -> bool:
        """One dump's listeners onto `found`; True when some answer had to be decoded."""
        proto, family, af, ipproto, states = dump
        sock = self._socket()
        sock.send(_REQUEST.pack(_REQUEST.size, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP,
                                seq, 0, af, ipproto, 0, states))
        buf = self._buffer
        view = memoryview(buf)
        known_chunks = self._chunks
        fresh = False
        while True:
            size = sock.recv_into(buf)
            if size == 0:
                raise SockDiagError(errno.EPROTO, "sock_diag closed the dump early")
            key = bytes(view[:size])
            chunk = known_chunks.get(key)
            if chunk is None:
                chunk = self._decode(key, seq, proto, family, af)
                fresh = True
            chunks[key] = chunk
            found.extend(chunk.listeners)
            if chunk.done:
                return fresh

    def _decode(self, data: bytes, seq: int, proto: Proto, family: Family, af: int) -> _Chunk:
        """The listeners in one netlink datagram."""
        known = self._decoded
        addr_len = _ADDR_LEN[af]
        udp = proto is Proto.UDP
        unpack_hdr = _NLMSGHDR.unpack_from
        unpack_ports = _PORTS.unpack_from
        unpack_uid_inode = _UID_INODE.unpack_from
        ntop = socket.inet_ntop
        size = len(data)
        items: list[DiagSocket] = []
        decoded: dict[bytes, DiagSocket | None] = {}
        offset = 0
        while offset + 16 <= size:
            length, kind, _flags, msg_seq, _pid = unpack_hdr(data, offset)
            if length < 16 or offset + length > size:
                raise SockDiagError(errno.EPROTO, "malformed sock_diag message")
            if msg_seq != seq:  # a stale answer to an abandoned request
                offset += (length + 3) & ~3
                continue
            if kind == NLMSG_DONE:
                return _Chunk(tuple(items), True, decoded)
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, offset + 16)[0]
                raise SockDiagError(code, f"sock_diag: {os.strerror(code)}")
            if kind == SOCK_DIAG_BY_FAMILY and length >= 16 + _MSG_SIZE:
                # The socket id (ports, addresses, interface, cookie) names one socket in one
                # state of its life: decode it once, look it up afterwards.
                key = data[offset + _OFF_ID:offset + _OFF_ID + _ID_SIZE]
                item = known.get(key, _UNSEEN)
                if item is _UNSEEN:
                    item = None
                    sport, dport = unpack_ports(data, offset + _OFF_ID)
                    if sport and not (udp and dport):
                        uid, inode = unpack_uid_inode(data, offset + _OFF_UID)
                        address = ntop(af, data[offset + _OFF_SRC:offset + _OFF_SRC + addr_len])
                        item = DiagSocket(proto, family, address, sport, inode, uid)
                decoded[key] = item
                if item is not None:
                    items.append(item)
            offset += (length + 3) & ~3
        return _Chunk(tuple(items), False, decoded)


def list_listeners() -> list[DiagSocket]:
    """One dump with a fresh client."""
    with SockDiag() as diag:
        return diag.listeners()
