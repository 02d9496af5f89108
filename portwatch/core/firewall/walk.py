"""Send one packet through the hooks in kernel order and collect every way it can end.

ingress → prerouting → (local address: input) or (forward → postrouting); a DNAT in prerouting
is what sends a published container port down the forward path, where INPUT rules never see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from portwatch.core.firewall.engine import Outcome, Path, Ruleset


def _policy(chain: dict[str, Any]) -> tuple[str, str]:
    policy = chain.get("policy", "accept")
    where = f"table {chain['family']} {chain['table']}, chain {chain['name']}"
    return policy, f"{where}, policy {policy}"


def _hook(rs: Ruleset, hook: str, path: Path) -> Iterator[tuple[str, str, str | None, Path]]:
    """("pass", "accept", deciding rule or None, path) or ("final", verdict, where, path)."""
    chains = rs.base_chains(hook, path.pkt)
    yield from _chains(rs, hook, chains, 0, path, None)


def _chains(rs: Ruleset, hook: str, chains: list[dict[str, Any]], i: int, path: Path,
            decided: str | None) -> Iterator[tuple[str, str, str | None, Path]]:
    if i == len(chains):
        yield ("pass", "accept", decided, path)
        return
    chain = chains[i]
    if chain.get("type") == "nat" and (
        path.pkt["ct_state"] == "untracked" or (hook == "prerouting" and path.nat_done)
    ):
        yield from _chains(rs, hook, chains, i + 1, path, decided)
        return
    key = (chain["family"], chain["table"], chain["name"])
    for kind, verdict, where, branch in rs.run_chain(key, path):
        if kind == "return":
            verdict, where = _policy(chain)
        if verdict == "accept":
            keep = decided if chain.get("type") == "nat" else where
            yield from _chains(rs, hook, chains, i + 1, branch, keep)
        else:
            yield ("final", verdict, where, branch)


def _end(verdict: str, where: str | None, path: Path) -> Outcome:
    return Outcome(verdict, where or "no chain filters it", tuple(path.forks), tuple(path.notes),
                   path.senders)


def _after_routing(rs: Ruleset, path: Path) -> Iterator[Outcome]:
    pkt = path.pkt
    if rs.is_local(pkt["daddr"]):
        for _kind, verdict, where, branch in _hook(rs, "input", path):
            yield _end(verdict, where, branch)
        return
    if not rs.snapshot.forwarding.get(pkt["family"], False):
        knob = "net.ipv4.ip_forward" if pkt["family"] == "ip" else "net.ipv6.conf.all.forwarding"
        yield _end("drop", f"the host does not forward ({knob} = 0)", path)
        return
    pkt["oifname"] = rs.route_dev(pkt["daddr"], pkt["family"])
    pkt["fib_daddr_type"] = "unicast"
    if pkt["oifname"] is None:
        yield _end("drop", f"no route to {pkt['daddr']}", path)
        return
    for kind, verdict, where, branch in _hook(rs, "forward", path):
        if kind == "final":
            yield _end(verdict, where, branch)
            continue
        for kind2, verdict2, where2, branch2 in _hook(rs, "postrouting", branch):
            yield _end(verdict2, where if kind2 == "pass" else where2, branch2)


def walk(rs: Ruleset, pkt: dict[str, Any]) -> list[Outcome]:
    """Every end the packet can meet (several when matches depend on the sender or on what
    cannot be known)."""
    outcomes: list[Outcome] = []
    for kind, verdict, where, path in _hook(rs, "ingress", Path(dict(pkt))):
        if kind == "final":
            outcomes.append(_end(verdict, where, path))
            continue
        for kind2, verdict2, where2, path2 in _hook(rs, "prerouting", path):
            if kind2 == "final":
                outcomes.append(_end(verdict2, where2, path2))
            else:
                outcomes.extend(_after_routing(rs, path2))
    return outcomes
