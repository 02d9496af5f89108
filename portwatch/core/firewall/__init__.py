"""Is a listener really reachable? The host firewall's verdict for a new inbound connection.

`Firewall` is the public face: it reads the ruleset (nftables through `nft -j`, iptables-nft
tables through iptables-nft-save, iptables-legacy through iptables-legacy-save), re-reads it only
when nftables' generation id changed (legacy tables and interfaces at most every
`recheck_seconds`), and answers `verdict_for(proto, family, address, port)` from a cache.
Loopback-only listeners get None; what it cannot read or evaluate is "unknown" with the reason.
A one-shot `list` starts the read in a thread while it scans (`prefetch`) and keeps the nft
ruleset between runs by its generation id (`saved=`, saved.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from portwatch.core.firewall.engine import Ruleset, render_rule
from portwatch.core.firewall.source import Host, Snapshot, read_snapshot
from portwatch.core.firewall.verdict import FirewallVerdict, evaluate, unknown
from portwatch.core.model import Exposure
from portwatch.core.probe.exposure import classify
from portwatch.core.probe.nftgen import generation

__all__ = ["Firewall", "FirewallVerdict", "Host", "Snapshot", "evaluate_snapshot",
           "read_snapshot", "render_rule"]

log = logging.getLogger(__name__)


def evaluate_snapshot(snapshot: Snapshot, proto: str, family: str, address: str, port: int,
                      source: str | None = None) -> FirewallVerdict | None:
    """The verdict from one snapshot (no cache); None for a loopback-only listener."""
    if classify(address) is Exposure.LOOPBACK:
        return None
    return evaluate(Ruleset(snapshot), proto, family, address, port, source)


class Firewall:
    """Cached firewall verdicts for the listeners of one host (or network namespace)."""

    def __init__(self, host: Host | None = None, recheck_seconds: float = 30.0,
                 gen: Callable[[], int | None] | None = None,
                 saved: str | os.PathLike | None = None) -> None:
        """`saved`: a file where one-shot runs keep the nft ruleset by generation (saved.py;
        this namespace's ruleset only)."""
        self._host = host or Host()
        # nftables' generation id where the ruleset is read (another namespace's through a
        # socket opened there); None: re-read every `recheck_seconds`
        self._gen = gen if gen is not None else (generation if not self._host.prefix
                                                 else lambda: None)
        self._saved = saved
        self._recheck = recheck_seconds
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._read_at = float("-inf")
        self._ruleset: Ruleset | None = None
        self._verdicts: dict[tuple[str, str, str, int], FirewallVerdict] = {}
        self._version = 0

    def _fresh(self) -> Ruleset:
        gen = self._gen()
        stale = (
            self._ruleset is None
            or (gen is not None and gen != self._generation)
            or time.monotonic() - self._read_at > self._recheck
        )
        if stale:
            snapshot = read_snapshot(self._host, self._saved, gen)
            for problem in snapshot.problems:
                log.info("firewall: %s", problem)
            if self._ruleset is None or snapshot != self._ruleset.snapshot:
                self._ruleset = Ruleset(snapshot)
                self._version += 1
                self._verdicts = {}
            self._generation = gen
            self._read_at = time.monotonic()
        assert self._ruleset is not None
        return self._ruleset

    def prefetch(self) -> threading.Thread:
        """Start reading the ruleset in a thread, so that `nft` and `ip` run while the caller
        scans (`list`: their ≈ 20 ms of child processes overlap the scan instead of
        following it); every other method waits for that read. Returns the thread."""
        reader = threading.Thread(target=self.token, name="firewall-read", daemon=True)
        reader.start()
        return reader

    def token(self) -> int:
        """A number that changes when what the verdicts depend on changed (checked cheaply:
        nftables' generation id, and a full re-read every `recheck_seconds`)."""
        with self._lock:
            self._fresh()
            return self._version

    def local_addresses(self) -> frozenset[str]:
        """This host's interface addresses, as the last ruleset read saw them."""
        with self._lock:
            return self._fresh().snapshot.local_addresses

    def verdict_for(self, proto: str, family: str, address: str,
                    port: int) -> FirewallVerdict | None:
        if classify(address) is Exposure.LOOPBACK:
            return None
        key = (proto, family, address, port)
        with self._lock:
            rs = self._fresh()
            found = self._verdicts.get(key)
            if found is None:
                try:
                    found = evaluate(rs, proto, family, address, port)
                except Exception as exc:
                    log.exception("firewall evaluation failed")
                    found = unknown(f"portwatch failed to evaluate the ruleset: {exc}")
                self._verdicts[key] = found
            return found
