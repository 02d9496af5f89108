"""The established TCP connections to our listeners' ports, with as little work as sock_diag allows.

`ConnectionDump.connections(ports)` asks sock_diag for the ESTABLISHED TCP sockets whose local
port is one of `ports`, IPv4 and IPv6 in one walk of the kernel's table (the first version of
the request, `TCPDIAG_GETSOCK`, asks for both families at once). It hands the kernel a bytecode
filter (`portfilter`), so the client ends of connections never cross into Python; a port set
too long for a filter (over 3,900 separate ports) is joined into fewer ranges there and
filtered again here. The kernel still visits
every bucket of its established table and every socket in it: with the messages it fills for
the sockets that pass, that is most of the cost.

Between calls it keeps what it decoded, as `sockdiag.SockDiag` does for listeners: a netlink
datagram that is byte-for-byte the one of the last call decodes to the same connections, and
a socket seen before (its cookie, never reused) is a dictionary lookup. A datagram whose
messages all have one size (the usual case: `uniform_run`) is checked and looked up in one pass
over slices of it; any other is walked message by message. When nothing changed the very same
tuple comes back, so a caller can skip its own work with an `is` test."""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

from portwatch.core.probe.connections import TCP_ESTABLISHED, Connection
from portwatch.core.probe.portfilter import port_filter
from portwatch.core.probe.sockdiag import (
    _ADDR_LEN,
    _MSG_SIZE,
    _NLMSGHDR,
    _OFF_ID,
    _OFF_SRC,
    _OFF_UID,
    _PORTS,
    _UID_INODE,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    SockDiagError,
    _open_netlink,
)

INET_DIAG_REQ_BYTECODE = 1
_ATTR = struct.Struct("=HH")  # nlattr: len, type
_RECV_BUFFER = 1 << 16  # the kernel fills at most 32 KiB per datagram
TCPDIAG_GETSOCK = 18
# inet_diag_req (the first version of the request): family, src_len, dst_len, ext, then the
# sockid (48 bytes, zero), states, dbs. Its dump walks the kernel's table of established
# sockets once for both families (the kernel asks AF_UNSPEC); two inet_diag_req_v2 dumps
# (AF_INET, AF_INET6) walk it twice.
_REQUEST_V1 = struct.Struct("=IHHII BBBB 48x II")
_SEQ = 1
_FAMILY_AT = 16  # inet_diag_msg.idiag_family, after the netlink header
_COOKIE = struct.Struct("=II")  # inet_diag_sockid.idiag_cookie: never reused by the kernel
_OFF_COOKIE = _OFF_ID + 40
_DONE = _NLMSGHDR.size + 4  # NLMSG_DONE: the header and an int


class _Chunk(NamedTuple):
    """One decoded netlink datagram."""

    connections: tuple[Connection, ...]
    done: bool  # it ended the dump


class ConnectionDump:
    """A reusable dump of established connections (see the module docstring). Not thread-safe."""

    def __init__(self, opener: Callable[[], Any] | None = None) -> None:
        self._open = opener or _open_netlink  # tests hand in a socket of another namespace
        self._buffer = bytearray(_RECV_BUFFER)
        self._chunks: dict[bytes, _Chunk] = {}
        self._decoded: dict[tuple[int, int], Connection] = {}  # by socket cookie
        self._last: tuple[Connection, ...] = ()
        self._ports: frozenset[int] | None = None
        self._bytecode: bytes | None = None
        self._exact = False  # the kernel's filter keeps exactly the wanted ports
        self.fast = True  # decode fixed-size answers in one pass (tests compare both ways)

    def connections(self, ports: Collection[int] | None = None) -> tuple[Connection, ...]:
        """Established TCP connections whose local port is in `ports` (None: all of them);
        raises SockDiagError."""
        wanted = None if ports is None else frozenset(ports)
        if wanted is not None and not wanted:
            self._last = ()
            return self._last
        if wanted != self._ports:
            self._ports = wanted
            self._bytecode, self._exact = (None, False) if wanted is None \
                else port_filter(wanted)
        chunks: dict[bytes, _Chunk] = {}
        found: list[Connection] = []
        try:
            sock = self._open()
            try:
                self._dump(sock, chunks, found)
            finally:
                sock.close()
        except SockDiagError:
            raise
        except OSError as exc:
            raise SockDiagError(exc.errno, f"sock_diag dump failed: {exc.strerror or exc}") from exc
        self._chunks = chunks  # what is gone since the last call is forgotten
        if len(self._decoded) > 2 * len(found) + 1024:
            self._decoded = {}  # sockets long closed: decode the living again next time
        if wanted is not None and not self._exact:
            found = [conn for conn in found if conn.local_port in wanted]
        result = tuple(found)
        if result == self._last:  # elementwise identity first: cheap when nothing changed
            return self._last
        self._last = result
        return result

    def _request(self) -> bytes:
        attr = b""
        if self._bytecode is not None:
            attr = _ATTR.pack(_ATTR.size + len(self._bytecode), INET_DIAG_REQ_BYTECODE) \
                + self._bytecode
        return _REQUEST_V1.pack(_REQUEST_V1.size + len(attr), TCPDIAG_GETSOCK,
                                NLM_F_REQUEST | NLM_F_DUMP, _SEQ, 0, socket.AF_INET, 0, 0, 0,
                                1 << TCP_ESTABLISHED, 0) + attr

    def _dump(self, sock: Any, chunks: dict[bytes, _Chunk], found: list[Connection]) -> None:
        sock.send(self._request())
        buf, view = self._buffer, memoryview(self._buffer)
        while True:
            size = sock.recv_into(buf)
            if size == 0:
                raise SockDiagError(errno.EPROTO, "sock_diag closed the dump early")
            key = bytes(view[:size])
            chunk = self._chunks.get(key) or self._decode(key)
            chunks[key] = chunk
            found.extend(chunk.connections)
            if chunk.done:
                return

    def _decode(self, data: bytes) -> _Chunk:
        """The connections in one netlink datagram: all of its messages at once when they
        have one size (`uniform_run`), else one after another."""
        run = uniform_run(data) if self.fast else 0
        if not run:
            return self._walk(data, 0)
        count, stride = run
        words = memoryview(data).cast("I")
        step = stride // 4
        at = _OFF_COOKIE // 4
        known = self._decoded
        conns = [known.get(cookie) for cookie in zip(words[at:count * step:step].tolist(),
                                                     words[at + 1:count * step:step].tolist(),
                                                     strict=True)]
        if None in conns:  # new sockets: decoded one by one (and kept)
            conns = [item for n, conn in enumerate(conns)
                     for item in ((conn,) if conn is not None
                                  else self._walk(data[n * stride:(n + 1) * stride],
                                                  0).connections)]
        if count * stride == len(data):
            return _Chunk(tuple(conns), False)
        rest = self._walk(data, count * stride)  # the NLMSG_DONE after them
        return _Chunk((*conns, *rest.connections), rest.done)

    def _walk(self, data: bytes, offset: int) -> _Chunk:
        """The connections in `data` from `offset`, one netlink message after another."""
        known = self._decoded
        ntop = socket.inet_ntop
        items: list[Connection] = []
        while offset + 16 <= len(data):
            length, kind, _flags, msg_seq, _pid = _NLMSGHDR.unpack_from(data, offset)
            if length < 16 or offset + length > len(data):
                raise SockDiagError(errno.EPROTO, "malformed sock_diag message")
            if msg_seq == _SEQ:
                if kind == NLMSG_DONE:
                    return _Chunk(tuple(items), True)
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, offset + 16)[0]
                    raise SockDiagError(code, f"sock_diag refused the dump: {os.strerror(code)}")
                if kind == TCPDIAG_GETSOCK and length >= 16 + _MSG_SIZE:
                    # the socket id (ports, addresses, interface, cookie): decoded once
                    key = _COOKIE.unpack_from(data, offset + _OFF_COOKIE)
                    conn = known.get(key)
                    af = data[offset + _FAMILY_AT]
                    if conn is None and af in _ADDR_LEN:
                        size = _ADDR_LEN[af]
                        sport, dport = _PORTS.unpack_from(data, offset + _OFF_ID)
                        src = ntop(af, data[offset + _OFF_SRC:offset + _OFF_SRC + size])
                        dst_at = offset + _OFF_SRC + 16
                        _uid, inode = _UID_INODE.unpack_from(data, offset + _OFF_UID)
                        conn = Connection(src, sport, ntop(af, data[dst_at:dst_at + size]),
                                          dport, inode)
                        known[key] = conn
                    if conn is not None:
                        items.append(conn)
            offset += (length + 3) & ~3
        return _Chunk(tuple(items), False)


def uniform_run(data: bytes) -> tuple[int, int] | None:
    """(count, size) when `data` is `count` ≥ 1 inet_diag messages of this dump of one
    4-aligned size, then nothing or a 20-byte NLMSG_DONE; else None.

    As root each message is 124 bytes here (Linux 6.18): the 72-byte inet_diag_msg and the
    attributes the kernel always adds, INET_DIAG_SHUTDOWN, INET_DIAG_MARK (with CAP_NET_ADMIN
    only), INET_DIAG_CGROUP_ID and INET_DIAG_SOCKOPT (older kernels fewer); a socket with
    TCP-MD5 keys or an upper-layer protocol (kTLS) carries more, and its datagram is walked."""
    if len(data) < 16 + _MSG_SIZE or len(data) % 4:
        return None
    words = memoryview(data).cast("I")
    stride = words[0]
    if stride < 16 + _MSG_SIZE or stride % 4 or stride > len(data):
        return None
    count = len(data) // stride
    rest = len(data) - count * stride
    if rest not in (0, _DONE):
        return None
    step = stride // 4
    end = count * step
    first = words[1]  # type and flags, as one word
    if _NLMSGHDR.unpack_from(data)[1] != TCPDIAG_GETSOCK:
        return None
    if words[0:end:step].tolist() != [stride] * count \
            or words[1:end:step].tolist() != [first] * count \
            or words[2:end:step].tolist() != [_SEQ] * count:
        return None
    return count, stride
