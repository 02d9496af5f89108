"""The sock_diag parser: against real sockets this test opens, and against recorded bytes."""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys

import pytest

from portwatch.core.model import Family, Proto
from portwatch.core.probe.sockdiag import (
    NLMSG_DONE,
    NLMSG_ERROR,
    SOCK_DIAG_BY_FAMILY,
    SockDiag,
    SockDiagError,
    list_listeners,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="netlink is Linux's")


def _open(family: int, kind: int, host: str, listen: bool = True) -> socket.socket:
    sock = socket.socket(family, kind)
    sock.bind((host, 0))
    if listen and kind == socket.SOCK_STREAM:
        sock.listen()
    return sock


def _by_port(items, proto: Proto, port: int, sock: socket.socket | None = None):
    """The items on proto/port; with `sock`, only that socket (by inode): another program
    may listen on the same port at another address (a load test on 127.0.0.2, on ::)."""
    inode = os.fstat(sock.fileno()).st_ino if sock is not None else None
    return [item for item in items if item.proto is proto and item.port == port
            and (inode is None or item.inode == inode)]


@linux_only
@pytest.mark.parametrize(
    ("family", "kind", "host", "proto", "fam"),
    [
        (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", Proto.TCP, Family.IPV4),
        (socket.AF_INET6, socket.SOCK_STREAM, "::1", Proto.TCP, Family.IPV6),
        (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", Proto.UDP, Family.IPV4),
        (socket.AF_INET6, socket.SOCK_DGRAM, "::1", Proto.UDP, Family.IPV6),
    ],
)
def test_a_real_listener_is_reported_with_its_inode_and_uid(family, kind, host, proto, fam):
    try:
        sock = _open(family, kind, host)
    except OSError as exc:
        pytest.skip(f"cannot bind {host} here: {exc}")
    with sock:
        port = sock.getsockname()[1]
        (found,) = _by_port(list_listeners(), proto, port, sock)
        assert found.inode == os.fstat(sock.fileno()).st_ino
        assert found.uid == os.geteuid()
        assert found.family is fam
        assert found.address == host


@linux_only
def test_v4_mapped_and_wildcard_addresses_read_as_psutil_writes_them():
    try:
        mapped = _open(socket.AF_INET6, socket.SOCK_STREAM, "::ffff:127.0.0.1")
    except OSError as exc:
        pytest.skip(f"no IPv6 here: {exc}")
    with mapped:
        (found,) = _by_port(list_listeners(), Proto.TCP, mapped.getsockname()[1], mapped)
        assert found.address == "::ffff:127.0.0.1"
        assert found.family is Family.IPV6


@linux_only
def test_clients_and_unlistened_sockets_are_not_listeners():
    server = _open(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1")
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    bound_only = _open(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", listen=False)
    connected_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected_udp.connect(("127.0.0.1", 9))
    try:
        found = list_listeners()
        assert len(_by_port(found, Proto.TCP, server.getsockname()[1], server)) == 1
        assert not _by_port(found, Proto.TCP, client.getsockname()[1], client)
        assert not _by_port(found, Proto.TCP, bound_only.getsockname()[1], bound_only)
        assert not _by_port(found, Proto.UDP, connected_udp.getsockname()[1], connected_udp)
    finally:
        for sock in (client, peer, server, bound_only, connected_udp):
            sock.close()


@linux_only
def test_a_kept_client_sees_sockets_come_and_go():
    with SockDiag() as diag:
        sock = _open(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1")
        port = sock.getsockname()[1]
        inode = os.fstat(sock.fileno()).st_ino
        assert _by_port(diag.listeners(), Proto.TCP, port, sock)
        assert _by_port(diag.listeners(), Proto.TCP, port, sock)  # from its caches
        sock.close()
        assert not [i for i in _by_port(diag.listeners(), Proto.TCP, port) if i.inode == inode]
        again = _open(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1")
        with again:
            (found,) = _by_port(diag.listeners(), Proto.TCP, again.getsockname()[1], again)
            assert found.inode == os.fstat(again.fileno()).st_ino


@linux_only
def test_a_udp_socket_that_connects_stops_being_a_listener():
    with SockDiag() as diag:
        udp = _open(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1")
        with udp:
            port = udp.getsockname()[1]
            assert _by_port(diag.listeners(), Proto.UDP, port, udp)
            udp.connect(("127.0.0.1", 9))
            assert not _by_port(diag.listeners(), Proto.UDP, port, udp)


# -- recorded answers: what the kernel sends, byte for byte --------------------------------------

def _nlmsg(kind: int, seq: int, payload: bytes) -> bytes:
    length = 16 + len(payload)
    pad = b"\0" * (((length + 3) & ~3) - length)
    return struct.pack("=IHHII", length, kind, 2, seq, 4242) + payload + pad


def _diag_msg(family: int, sport: int, dport: int, src: bytes, inode: int, uid: int,
              cookie: int = 1, attrs: bytes = b"") -> bytes:
    sockid = struct.pack(">HH", sport, dport) + src.ljust(16, b"\0") + b"\0" * 16
    sockid += struct.pack("=IQ", 0, cookie)
    body = struct.pack("=BBBB", family, 10, 0, 0) + sockid
    body += struct.pack("=IIIII", 0, 0, 128, uid, inode)
    return _nlmsg(SOCK_DIAG_BY_FAMILY, 0, body + attrs)  # seq patched by _answer


def _answer(seq: int, *messages: bytes) -> bytes:
    """Messages with their sequence number set to seq."""
    out = b""
    for msg in messages:
        out += msg[:8] + struct.pack("=I", seq) + msg[12:]
    return out


class _RecordedNetlink:
    """Stands in for the netlink socket: answers each request with recorded datagrams."""

    def __init__(self, answers):
        self._answers = answers  # one list of datagrams per request, in request order
        self._pending: list[bytes] = []
        self.requests: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.requests.append(data)
        seq = struct.unpack_from("=I", data, 8)[0]
        self._pending = [_answer(seq, *chunk) for chunk in self._answers.pop(0)]
        return len(data)

    def recv_into(self, buf) -> int:
        data = self._pending.pop(0)
        buf[:len(data)] = data
        return len(data)

    def close(self) -> None:
        pass


def _done() -> bytes:
    return _nlmsg(NLMSG_DONE, 0, struct.pack("=i", 0))


def test_recorded_dump_is_decoded_and_filtered():
    loopback = socket.inet_pton(socket.AF_INET, "127.0.0.1")
    v6 = socket.inet_pton(socket.AF_INET6, "::1")
    shutdown_attr = struct.pack("=HHB3x", 5, 8, 0)  # an attribute the parser must step over
    answers = [
        [[_diag_msg(socket.AF_INET, 8080, 0, loopback, 111, 1000, 1, shutdown_attr)],
         [_done()]],                                                          # tcp v4
        [[_diag_msg(socket.AF_INET6, 8443, 0, v6, 112, 0, 2), _done()]],     # tcp v6
        [[_diag_msg(socket.AF_INET, 5353, 0, b"\0\0\0\0", 113, 0, 3),         # udp v4 listener
          _diag_msg(socket.AF_INET, 40000, 53, loopback, 114, 0, 4),        # connected: skipped
          _diag_msg(socket.AF_INET, 0, 0, loopback, 115, 0, 5),             # unbound: skipped
          _done()]],
        [[_done()]],                                                          # udp v6: none
    ]
    recorded = _RecordedNetlink(answers)
    diag = SockDiag(opener=lambda: recorded)
    found = diag.listeners()
    assert [(i.proto, i.family, i.address, i.port, i.inode, i.uid) for i in found] == [
        (Proto.TCP, Family.IPV4, "127.0.0.1", 8080, 111, 1000),
        (Proto.TCP, Family.IPV6, "::1", 8443, 112, 0),
        (Proto.UDP, Family.IPV4, "0.0.0.0", 5353, 113, 0),
    ]
    requests = recorded.requests
    families = [(r[16], r[17]) for r in requests]
    assert families == [(socket.AF_INET, socket.IPPROTO_TCP), (socket.AF_INET6, socket.IPPROTO_TCP),
                        (socket.AF_INET, socket.IPPROTO_UDP), (socket.AF_INET6, socket.IPPROTO_UDP)]
    states = [struct.unpack_from("=I", r, 20)[0] for r in requests]
    assert states[:2] == [1 << 10, 1 << 10]  # TCP: LISTEN only, filtered by the kernel


def test_unchanged_answers_give_the_same_tuple():
    loopback = socket.inet_pton(socket.AF_INET, "127.0.0.1")
    one = [_diag_msg(socket.AF_INET, 8080, 0, loopback, 111, 0, 1), _done()]
    recorded = _RecordedNetlink([[one], [[_done()]], [[_done()]], [[_done()]]] * 2)
    diag = SockDiag(opener=lambda: recorded)
    first = diag.listeners()
    assert diag.listeners() is first


def test_kernel_error_becomes_sockdiag_error():
    error = _nlmsg(NLMSG_ERROR, 0, struct.pack("=i", -errno.ENOENT) + b"\0" * 16)
    recorded = _RecordedNetlink([[[error]]])
    diag = SockDiag(opener=lambda: recorded)
    with pytest.raises(SockDiagError) as caught:
        diag.listeners()
    assert caught.value.errno == errno.ENOENT
    assert diag._sock is None  # closed: the next call starts afresh


def test_malformed_answer_becomes_sockdiag_error():
    recorded = _RecordedNetlink([[[struct.pack("=IHHII", 4000, 20, 0, 1, 0)]]])
    diag = SockDiag(opener=lambda: recorded)
    with pytest.raises(SockDiagError):
        diag.listeners()


def test_stale_answers_of_another_request_are_skipped():
    loopback = socket.inet_pton(socket.AF_INET, "127.0.0.1")
    stale = _diag_msg(socket.AF_INET, 9999, 0, loopback, 999, 0, 9)
    stale = stale[:8] + struct.pack("=I", 77) + stale[12:]

    class _WithStale(_RecordedNetlink):
        def send(self, data):
            n = super().send(data)
            self._pending[0] = stale + self._pending[0]
            return n

    recorded = _WithStale([[[_done()]]] * 4)
    diag = SockDiag(opener=lambda: recorded)
    assert diag.listeners() == ()
