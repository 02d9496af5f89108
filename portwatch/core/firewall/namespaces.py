"""The firewall of each other network namespace: a namespace has its own ruleset.

`NamespaceFirewalls.verdict_for(listener)` answers for a listener of another network namespace
(`Listener.netns_path`: /run/netns/NAME or /proc/PID/ns/net) from that namespace's own
ruleset, read with the same code as the host's through `nsenter --net=PATH` (nft -j, the
iptables savers, ip). A NETLINK_NETFILTER socket opened inside the namespace (`open_inside`:
setns(2) in a short-lived thread) asks for nftables' generation id, so its ruleset is read again
only when it changed (and fully every `RECHECK` seconds, for legacy tables and interfaces).

A kept socket pins its namespace: a namespace whose path is gone or names another namespace now
(the process ended, `ip netns del`) is forgotten at the next `token()`. Entering needs root
(CAP_SYS_ADMIN); without it the verdict is unknown, and says why.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import weakref
from typing import Any

from portwatch.core.firewall.source import Host
from portwatch.core.firewall.verdict import FirewallVerdict, unknown
from portwatch.core.model import Listener
from portwatch.core.probe.nftgen import NETLINK_NETFILTER, generation

log = logging.getLogger(__name__)

RECHECK = 300.0  # seconds: a namespace's ruleset is re-read at least this often


class _Entry:
    """One namespace: its Firewall, the socket that asks its generation id, its inode."""

    def __init__(self, path: str) -> None:
        from portwatch.core.firewall import Firewall
        from portwatch.core.probe.nsenter import open_inside

        self.inode = os.stat(path).st_ino
        self.seen: int | None = None  # the firewall's token at the last token()
        self.sock: Any = None
        try:
            (self.sock,) = open_inside(path, NETLINK_NETFILTER)
        except OSError as exc:  # no nf_tables there, or no privileges: a re-read every RECHECK
            log.debug("nftables generation id in %s unavailable: %s", path, exc)
        sock = self.sock
        self.firewall = Firewall(Host(("nsenter", f"--net={path}", "--")), RECHECK,
                                 gen=(lambda: generation(sock)) if sock is not None
                                 else (lambda: None))

    def alive(self, path: str) -> bool:
        try:
            return os.stat(path).st_ino == self.inode
        except OSError:
            return False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class NamespaceFirewalls:
    """Cached verdicts from each other namespace's own ruleset (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._changes = 0
        # a monitor dropped without close() (a window that quit, a test) leaves no socket open
        self._finalizer = weakref.finalize(self, _close_all, self._entries)

    def _why_not(self) -> str | None:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            return "reading another network namespace's firewall needs root"
        if shutil.which("nsenter") is None:
            return "reading another network namespace's firewall needs nsenter (util-linux)"
        return None

    def verdict_for(self, listener: Listener) -> FirewallVerdict | None:
        """The verdict of the listener's own namespace (None for loopback listeners)."""
        path = listener.netns_path
        if path is None:
            return unknown("portwatch does not know how to enter this listener's network"
                           " namespace")
        why = self._why_not()
        if why is not None:
            return unknown(why)
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or not entry.alive(path):
                if entry is not None:
                    entry.close()
                try:
                    entry = self._entries[path] = _Entry(path)
                except OSError as exc:
                    return unknown(f"the network namespace {listener.netns} is gone ({exc})")
        return entry.firewall.verdict_for(listener.proto.value, listener.family.value,
                                          listener.address, listener.port)

    def token(self) -> int:
        """Changes when a namespace's ruleset changed or a namespace went away (not when one is
        first read: its verdicts are new, not changed)."""
        with self._lock:
            gone = [path for path, entry in self._entries.items() if not entry.alive(path)]
            for path in gone:
                self._entries.pop(path).close()
                self._changes += 1
            for entry in self._entries.values():
                token = entry.firewall.token()
                if entry.seen is not None and token != entry.seen:
                    self._changes += 1
                entry.seen = token
            return self._changes

    def close(self) -> None:
        with self._lock:
            self._finalizer()


def _close_all(entries: dict[str, _Entry]) -> None:
    for entry in entries.values():
        entry.close()
    entries.clear()
