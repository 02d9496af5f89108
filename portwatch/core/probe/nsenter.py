"""Enter a network namespace: netlink sockets opened inside it, and what they tell.

Python 3.11 has no `os.setns`: `open_inside()` calls setns(2) through ctypes in a short-lived
thread (a thread alone changes namespace, and it ends right after), opens the netlink sockets
there and hands them back; they stay in that namespace for their lifetime. `KeptSockDiag` is a
sock_diag client over such a socket (kept between calls, unlike the host's), and
`only_loopback()` asks rtnetlink whether any interface but loopback is up in it. Entering needs
CAP_SYS_ADMIN (EPERM otherwise).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading

from portwatch.core.probe.sockdiag import SockDiag, SockDiagError

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
RTM_GETLINK = 18
RTM_NEWLINK = 16
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
_LINK_REQUEST = struct.Struct("=IHHII B3x iII")  # nlmsghdr + ifinfomsg
_NLMSGHDR = struct.Struct("=IHHII")
_IFI_FLAGS = struct.Struct("=I")


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def open_inside(path: str, *protocols: int) -> list[socket.socket]:
    """Netlink sockets (one per protocol) opened inside the namespace at `path`. Raises OSError
    (EPERM without CAP_SYS_ADMIN). The thread that enters the namespace ends right after."""
    result: list[socket.socket] = []
    failure: list[OSError] = []

    def enter_and_open() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            for protocol in protocols:
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                     protocol)
                result.append(sock)
                sock.bind((0, 0))
        except OSError as exc:
            failure.append(exc)

    thread = threading.Thread(target=enter_and_open, name="portwatch-setns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        for sock in result:
            sock.close()
        raise failure[0]
    return result


class KeptSockDiag(SockDiag):
    """SockDiag over a netlink socket opened inside another namespace: kept between calls."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def close(self) -> None:  # SockDiag closes after each call; this socket cannot be reopened
        pass

    def release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise SockDiagError(errno.EBADF, "the namespace's netlink socket was closed")
        return self._sock


def only_loopback(sock: socket.socket) -> bool:
    """True when no interface but loopback is up in the socket's namespace (RTM_GETLINK)."""
    sock.send(_LINK_REQUEST.pack(_LINK_REQUEST.size, RTM_GETLINK, 0x301, 1, 0, 0, 0, 0, 0))
    isolated = True
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
            if length < 16:
                raise OSError(errno.EPROTO, "malformed rtnetlink message")
            if kind == 3:  # NLMSG_DONE
                return isolated
            if kind == 2:  # NLMSG_ERROR
                code = -struct.unpack_from("=i", data, offset + 16)[0]
                raise OSError(code, os.strerror(code))
            if kind == RTM_NEWLINK and length >= 32:
                (flags,) = _IFI_FLAGS.unpack_from(data, offset + 24)
                if flags & IFF_UP and not flags & IFF_LOOPBACK:
                    isolated = False
            offset += (length + 3) & ~3
        if not data:
            return isolated
