"""The established TCP connections to our listeners' ports, with as little work as sock_diag allows.

`ConnectionDump.connections(ports)` asks sock_diag for the ESTABLISHED TCP sockets whose local
port is one of `ports`, IPv4 and IPv6 in one walk of the kernel's table (the first version of
the request, `TCPDIAG_GETSOCK`, asks for both families at once). Up to `MAX_FILTER_PORTS` ports
it hands the kernel a bytecode filter (`INET_DIAG_REQ_BYTECODE`, a balanced tree of port
comparisons: about log2(len(ports)) per socket), so the client ends of connections never cross
into Python; the kernel checks a filter in time quadratic in its length, so a longer set is
filtered here. The kernel still visits every established socket: that walk is most of the cost.

Between calls it keeps what it decoded, as `sockdiag.SockDiag` does for listeners: a netlink
datagram that is byte-for-byte the one of the last call decodes to the same connections, and
a socket seen before (its 48-byte socket id) is a dictionary lookup. When nothing changed the
very same tuple comes back, so a caller can skip its own work with an `is` test."""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

from portwatch.core.probe.connections import TCP_ESTABLISHED, Connection
from portwatch.core.probe.sockdiag import (
    _ADDR_LEN,
    _ID_SIZE,
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
BC_JMP, BC_S_GE, BC_S_EQ = 1, 2, 11
_OP = struct.Struct("=BBH")  # inet_diag_bc_op: code, yes (u8 jump), no (u16 jump)
_ATTR = struct.Struct("=HH")  # nlattr: len, type
_LEAF = 4  # ports tested one after another at the leaves of the tree
MAX_FILTER_PORTS = 512  # the kernel checks a filter in time quadratic in its length
_RECV_BUFFER = 1 << 16
TCPDIAG_GETSOCK = 18
# inet_diag_req (the first version of the request): family, src_len, dst_len, ext, then the
# sockid (48 bytes, zero), states, dbs. Its dump walks the kernel's table of established
# sockets once for both families (the kernel asks AF_UNSPEC); two inet_diag_req_v2 dumps
# (AF_INET, AF_INET6) walk it twice.
_REQUEST_V1 = struct.Struct("=IHHII BBBB 48x II")
_SEQ = 1
_FAMILY_AT = 16  # inet_diag_msg.idiag_family, after the netlink header


class _Chunk(NamedTuple):
    """One decoded netlink datagram."""

    connections: tuple[Connection, ...]
    done: bool  # it ended the dump


class _Op:
    """One bytecode op: `code`, its port operand (None for a JMP) and where `no` jumps: another
    op, ACCEPT (the end) or REJECT (past the end)."""

    __slots__ = ("at", "code", "no", "operand")

    def __init__(self, code: int, operand: int | None, no: Any) -> None:
        self.code, self.operand, self.no, self.at = code, operand, no, 0

    @property
    def size(self) -> int:
        return 4 if self.operand is None else 8


_ACCEPT, _REJECT = "accept", "reject"


def _tree(ports: list[int]) -> list[_Op]:
    """Ops for `ports` (sorted, not empty). Every op's `yes` goes to the next op, so the
    kernel's audit (which walks the `yes` jumps) sees every op; `no` jumps on."""
    if len(ports) <= _LEAF:
        ops: list[_Op] = []
        for port in ports:
            # S_EQ: equal → the next op, a JMP that accepts; not equal → the next test
            ops += [_Op(BC_S_EQ, port, _REJECT), _Op(BC_JMP, None, _ACCEPT)]
        for test, following in zip(ops[0::2], ops[2::2], strict=False):
            test.no = following
        return ops
    middle = len(ports) // 2
    right, left = _tree(ports[middle:]), _tree(ports[:middle])
    # S_GE pivot: ≥ → the right half, inline next; < → the left half, after it
    return [_Op(BC_S_GE, ports[middle], left[0]), *right, *left]


def port_filter(ports: Collection[int]) -> bytes:
    """inet_diag bytecode that accepts a socket whose local port is in `ports` (not empty)."""
    ops = _tree(sorted(set(ports)))
    at = 0
    for op in ops:
        op.at = at
        at += op.size
    total = at
    out = bytearray()
    for op in ops:
        target = total if op.no == _ACCEPT else total + 4 if op.no == _REJECT else op.no.at
        out += _OP.pack(op.code, op.size, target - op.at)
        if op.operand is not None:
            out += _OP.pack(0, 0, op.operand)
    return bytes(out)


class ConnectionDump:
    """A reusable dump of established connections (see the module docstring). Not thread-safe."""

    def __init__(self, opener: Callable[[], Any] | None = None) -> None:
        self._open = opener or _open_netlink  # tests hand in a socket of another namespace
        self._buffer = bytearray(_RECV_BUFFER)
        self._chunks: dict[bytes, _Chunk] = {}
        self._decoded: dict[bytes, Connection] = {}
        self._last: tuple[Connection, ...] = ()
        self._ports: frozenset[int] | None = None
        self._bytecode = b""

    def connections(self, ports: Collection[int] | None = None) -> tuple[Connection, ...]:
        """Established TCP connections whose local port is in `ports` (None: all of them);
        raises SockDiagError."""
        wanted = None if ports is None else frozenset(ports)
        if wanted is not None and not wanted:
            self._last = ()
            return self._last
        if wanted != self._ports:
            self._ports = wanted
            self._bytecode = b"" if wanted is None or len(wanted) > MAX_FILTER_PORTS \
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
            raise SockDiagError(exc.errno, f"sock_diag dump failed: {exc}") from exc
        self._chunks = chunks  # what is gone since the last call is forgotten
        if len(self._decoded) > 2 * len(found) + 1024:
            self._decoded = {}  # sockets long closed: decode the living again next time
        if wanted is not None and not self._bytecode:
            found = [conn for conn in found if conn.local_port in wanted]
        result = tuple(found)
        if result == self._last:  # elementwise identity first: cheap when nothing changed
            return self._last
        self._last = result
        return result

    def _request(self) -> bytes:
        attr = b""
        if self._bytecode:
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
        """The connections in one netlink datagram."""
        known = self._decoded
        ntop = socket.inet_ntop
        items: list[Connection] = []
        offset = 0
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
                    key = data[offset + _OFF_ID:offset + _OFF_ID + _ID_SIZE]
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
