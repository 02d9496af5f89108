"""What a saved `list` answer depends on, read again cheaply to prove that it still holds.

`portwatch list` keeps its last answer (core/output/saved_list.py) and reuses a row only when
every input it was made from reads the same now. This module reads those inputs:

- `owner_facts(pid)`: everything a row takes from its process, as raw text — the name, parent,
  start time (stat), command line, the running executable's link (" (deleted)" included),
  the real uid, the cgroup (unit and container), the process's root and whether it is a
  flatpak, the mode and owner of the executable's folder (the temp-dir flag), and the parent's
  name and command line (its name is completed from it). Direct comparison: no rule about
  what a process cannot change without running is needed. None when unreadable, a zombie, or
  an AppImage (judged by its environment, which is not compared).
- `system_facts(files)`: the files (path, size, mtime, inode; catalog, settings, os-release,
  user names, the package databases, portwatch's own code), the ephemeral port range, the
  nftables generation id, whether iptables-legacy tables are loaded, forwarding, the
  interfaces and their addresses (netlink RTM_GETLINK/RTM_GETADDR) and the routes. A legacy
  table or an unreadable generation id makes the firewall part None: unprovable.
- `local_addresses()`: this machine's addresses from the same dump, as the firewall's reader
  names them (connections are counted against them).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from typing import Any

from portwatch.core.probe.kernel import ip_forwarding, legacy_iptables_tables, read_text

_APPIMAGE_MOUNT = "/tmp/.mount_"  # noqa: S108 (packages.APPIMAGE_MOUNT; only compared)
_RTM_GETLINK, _RTM_GETADDR = 18, 22
_NLM_F_REQUEST_DUMP = 0x301
_NLMSG_DONE, _NLMSG_ERROR = 3, 2
_IFLA_IFNAME = 3
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_IFF_UP, _IFF_LOOPBACK = 0x1, 0x8
_SCOPE_LINK = 253
_HEADER = struct.Struct("=IHHII")
_ATTR = struct.Struct("=HH")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("latin-1")  # lossless, JSON-safe


def _stat_fields(data: bytes) -> tuple[str, list[bytes]] | None:
    """(name, the fields after it) of a /proc/<pid>/stat line."""
    close = data.rfind(b")")
    if close < 0:
        return None
    return data[data.find(b"(") + 1:close].decode("latin-1"), data[close + 2:].split()


def owner_facts(pid: int, proc: str = "/proc", shared: dict | None = None) -> list | None:
    """What a row takes from process `pid`, as plain JSON values (see the module's doc).
    `shared`: a dict kept for one run, where the parents' facts and the folders' modes are
    read once (2,000 listeners have a handful of parents and folders)."""
    shared = {} if shared is None else shared
    stat = _read(f"{proc}/{pid}/stat")
    parsed = _stat_fields(stat) if stat else None
    if parsed is None or len(parsed[1]) < 20 or parsed[1][0] == b"Z":
        return None
    name, rest = parsed
    ppid, start = int(rest[1]), int(rest[19])
    exe = _link(f"{proc}/{pid}/exe")
    if exe is not None and exe.startswith(_APPIMAGE_MOUNT):
        return None
    status = _read(f"{proc}/{pid}/status") or b""
    uid = next((line for line in status.splitlines() if line.startswith(b"Uid:")), None)
    root = _link(f"{proc}/{pid}/root")
    folder = None
    if exe:
        where = os.path.dirname(exe.removesuffix(" (deleted)"))
        seen = f"{root}{where}" if root != "/" else where
        if ("folder", seen) not in shared:
            shared["folder", seen] = [_mode(f"{proc}/{pid}/root{where}"), _mode(where)]
        folder = shared["folder", seen]
    parent = [None, None]
    if ppid and ("parent", ppid) in shared:
        parent = shared["parent", ppid]
    elif ppid:
        parent_stat = _read(f"{proc}/{ppid}/stat")
        parent_parsed = _stat_fields(parent_stat) if parent_stat else None
        parent = shared["parent", ppid] = [parent_parsed[0] if parent_parsed else None,
                                           _text(_read(f"{proc}/{ppid}/cmdline"))]
    return [name, ppid, start, _text(_read(f"{proc}/{pid}/cmdline")), exe, _text(uid),
            _text(_read(f"{proc}/{pid}/cgroup")), root,
            os.path.exists(f"{proc}/{pid}/root/.flatpak-info"), folder, *parent]


def _mode(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mode, st.st_uid]


def file_facts(paths: list[str]) -> list:
    """(path, size, mtime, inode) of each file or folder; None for one that is missing."""
    found: list = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            found.append([path, None])
            continue
        found.append([path, st.st_size, st.st_mtime_ns, st.st_ino])
    return found


def code_facts(top: str) -> list[int]:
    """(newest mtime, number) of the .py files under `top`: portwatch's own code, so an
    answer made by other code (an edited checkout, an upgrade) is not reused."""
    newest, count = 0, 0
    stack = [top]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    stack.append(entry.path)
            elif entry.name.endswith(".py"):
                newest = max(newest, entry.stat().st_mtime_ns)
                count += 1
    return [newest, count]


def _dump(sock: socket.socket, msg_type: int, body: bytes) -> list[tuple[bytes, int]]:
    """Every reply message of one netlink dump: (payload, its length)."""
    sock.send(_HEADER.pack(_HEADER.size + len(body), msg_type, _NLM_F_REQUEST_DUMP, 1, 0)
              + body)
    found = []
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
            if kind == _NLMSG_DONE:
                return found
            if kind == _NLMSG_ERROR or length < _HEADER.size:
                raise OSError("netlink dump failed")
            found.append((data[offset + _HEADER.size:offset + length], length))
            offset += (length + 3) & ~3
        if not data:
            return found


def _attrs(payload: bytes, start: int) -> dict[int, bytes]:
    attrs = {}
    offset = start
    while offset + _ATTR.size <= len(payload):
        length, kind = _ATTR.unpack_from(payload, offset)
        if length < _ATTR.size:
            break
        attrs[kind & 0x3FFF] = payload[offset + _ATTR.size:offset + length]
        offset += (length + 3) & ~3
    return attrs


def interfaces() -> list[list]:
    """Each interface: its name, whether it is up and loopback, and its addresses (family,
    address, prefix length, scope), sorted. Raises OSError when netlink cannot be asked."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(1.0)
        links = {}
        for payload, _ in _dump(sock, _RTM_GETLINK, bytes(16)):
            index, flags = struct.unpack_from("=iI", payload, 4)
            name = _attrs(payload, 16).get(_IFLA_IFNAME, b"").rstrip(b"\0").decode("latin-1")
            links[index] = [name, flags & (_IFF_UP | _IFF_LOOPBACK), []]
        for payload, _ in _dump(sock, _RTM_GETADDR, bytes(8)):
            family, prefix, _flags, scope, index = struct.unpack_from("=BBBBI", payload)
            attrs = _attrs(payload, 8)
            raw = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS)
            if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
                continue
            entry = links.setdefault(index, [f"#{index}", 0, []])
            entry[2].append([family, socket.inet_ntop(family, raw), prefix, scope])
    return sorted([name, flags, sorted(addrs)] for name, flags, addrs in links.values())


def local_addresses(found: list[list]) -> set[str]:
    """This machine's addresses, as the firewall's reader (`ip -j addr`, not link scope)."""
    return {address for _name, _flags, addrs in found
            for _family, address, _prefix, scope in addrs if scope != _SCOPE_LINK}


def _routes() -> list[str]:
    """The routing tables as /proc shows them, without their use counters."""
    lines = []
    for path, drop in (("/proc/net/route", (4, 5)), ("/proc/net/ipv6_route", (6, 7))):
        for line in (read_text(path) or "").splitlines():
            words = line.split()
            lines.append(" ".join(w for n, w in enumerate(words) if n not in drop))
    return lines


def firewall_facts(found: list[list]) -> list | None:
    """What the firewall's verdicts are made from, when all of it has a version or can be
    compared; None when not (iptables-legacy tables loaded, no generation id)."""
    from portwatch.core.probe.nftgen import generation

    if legacy_iptables_tables("ip") or legacy_iptables_tables("ip6"):
        return None
    number = generation()
    if number is None:
        return None
    return [number, ip_forwarding(), found, _routes()]


def system_facts(files: list[str], code: str) -> dict:
    """Every input of a saved answer that is not a process's (see the module's doc)."""
    try:
        found = interfaces()
    except OSError:
        found = None
    return {"files": file_facts(files), "code": code_facts(code),
            "ports": read_text("/proc/sys/net/ipv4/ip_local_port_range"),
            "interfaces": found,
            "firewall": firewall_facts(found) if found is not None else None}


class LiveRows:
    """The listening sockets now with their holders, as the scanner would make its rows (one
    per proto, family, address, port and owner: `rows`), and the owner map that found them
    (`warm`: a scan may go on from it instead of reading the saved map again)."""

    def __init__(self, rows: list[dict], owners: Any, packages: Any) -> None:
        self.rows, self.warm = rows, (owners, packages)

    def save(self, owner_cache: str | os.PathLike) -> None:
        """Keep the owner map for the next run when it learnt something (no scan will)."""
        owners, packages = self.warm
        if owners.stats.new or owners.stats.searched or owners.stats.completed:
            from portwatch.core.probe.owner_cache import write_saved

            with contextlib.suppress(OSError):  # a lost map costs the next run a walk
                write_saved(owner_cache, {**owners.saved(), "packages": packages})


def live_rows(owner_cache: str | os.PathLike) -> LiveRows | None:
    """The sockets and holders now, from the saved owner map (re-checked as for any scan);
    None without a usable saved map."""
    from portwatch.core.probe.owner_cache import read_saved
    from portwatch.core.probe.owners import OwnerMap
    from portwatch.core.probe.sockdiag import SockDiag

    saved = read_saved(owner_cache)
    owners = OwnerMap()
    if not isinstance(saved, dict) or not owners.restore(saved):
        return None
    diag = SockDiag()
    try:
        sockets = diag.listeners()
        owner = owners.resolve({item.inode for item in sockets},
                               lambda: {item.inode for item in diag.listeners()})
    finally:
        diag.close()
    vanished = owners.vanished
    rows: dict[tuple, dict] = {}
    for item in sockets:
        pid = owner.get(item.inode)
        key = (item.proto.value, item.family.value, item.address, item.port, pid)
        if key in rows or item.inode in vanished:
            continue
        rows[key] = {"proto": key[0], "family": key[1], "address": item.address,
                     "port": item.port, "pid": pid, "uid": item.uid,
                     "holders": list(owners.holders(item.inode)) if pid is not None else []}
    return LiveRows(list(rows.values()), owners, saved.get("packages"))
