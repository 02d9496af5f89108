"""The firewall's verdict for one listener: a new connection from outside to its port, on each
non-loopback interface, for each address family the socket accepts.

Several ends for one packet are merged honestly: when they differ only by the sender, a listener
that some senders reach is "accept" (with the rule that limits it); when they differ because of
something portwatch cannot know, the verdict is "unknown" with that rule.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from portwatch.core.firewall.engine import Outcome, Ruleset, TooComplex
from portwatch.core.firewall.walk import walk

_RANK = {"accept": 3, "unknown": 2, "reject": 1, "drop": 0}
_WORDS = {"accept": "accepts", "drop": "drops", "reject": "rejects"}


@dataclass(frozen=True, slots=True)
class FirewallVerdict:
    """What the firewall does with a new inbound connection to one listener."""

    verdict: str  # accept | drop | reject | unknown
    interfaces: tuple[str, ...]  # the interfaces where that verdict holds
    rule: str | None  # the rule or policy that decided (or stopped the evaluation)
    reason: str
    by_interface: tuple[tuple[str, str], ...] = ()  # every interface evaluated → its verdict

    @property
    def blocked(self) -> bool:
        """Provably unreachable from outside on every interface."""
        return self.verdict in ("drop", "reject")

    def record(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "interfaces": list(self.interfaces), "rule": self.rule,
                "reason": self.reason, "by_interface": dict(self.by_interface)}


@dataclass(frozen=True, slots=True)
class _Result:
    verdict: str
    rule: str | None
    detail: str  # extra words for the reason ("" when none)


def unknown(reason: str, rule: str | None = None) -> FirewallVerdict:
    return FirewallVerdict("unknown", (), rule, reason)


def _per_sender(outcomes: list[Outcome]) -> list[Outcome]:
    """One outcome per class of senders: where the ends for the same senders differ, something
    portwatch cannot know decides, and that class is "unknown" with the rule that forked."""
    groups: dict[frozenset, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.senders, []).append(outcome)
    merged = []
    for group in groups.values():
        if len({o.verdict for o in group}) == 1:
            merged.append(group[0])
            continue
        blind = next((f for o in group for f in o.forks if f[0] == "unknown"), None)
        rule = blind[1] if blind else group[0].rule
        merged.append(Outcome("unknown", rule, group[0].forks, group[0].notes, group[0].senders))
    return merged


def merge(outcomes: list[Outcome]) -> _Result:
    """One verdict from every end a packet can meet."""
    if not outcomes:
        return _Result("unknown", None, "the walk through the ruleset ended nowhere")
    outcomes = _per_sender(outcomes)
    verdicts = {o.verdict for o in outcomes}
    notes = next((o.notes for o in outcomes if o.notes), ())
    extra = "; ".join(notes)
    if len(verdicts) == 1:
        first = outcomes[0]
        return _Result(first.verdict, first.rule, extra)
    if "accept" in verdicts:
        limit = next((f[1] for o in outcomes for f in o.forks if f[0] == "source"), "")
        accepted = next(o for o in outcomes if o.verdict == "accept")
        only = "only from some senders" + (f" ({limit})" if limit != accepted.rule else "")
        return _Result("accept", accepted.rule, only + (f"; {extra}" if extra else ""))
    if "unknown" in verdicts:
        first = next(o for o in outcomes if o.verdict == "unknown")
        return _Result("unknown", first.rule, "for some senders")
    drop = next(o for o in outcomes if o.verdict == "drop")
    return _Result("drop", drop.rule, "dropped or rejected depending on the sender")


def _families(family: str, address: str) -> list[str]:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ["ip"]
    if family == "ipv4":
        return ["ip"]
    return ["ip6", "ip"] if ip.is_unspecified else ["ip6"]


def _destinations(rs: Ruleset, iface: Any, fam: str, address: str) -> list[str]:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return [str(ip.ipv4_mapped)]
    if not ip.is_unspecified:
        return [address] if (fam == "ip6") == (ip.version == 6) else []
    return [a for a in iface.addresses if (":" in a) == (fam == "ip6")]


def evaluate(rs: Ruleset, proto: str, family: str, address: str, port: int,
             source: str | None = None) -> FirewallVerdict:
    """The verdict for a listener bound beyond loopback; `source` pins the sender's address
    (the ground-truth tests use the client's), None means any sender."""
    snapshot = rs.snapshot
    if snapshot.problems:
        return unknown("portwatch cannot read the firewall: " + "; ".join(snapshot.problems))
    per_iface: dict[str, _Result] = {}
    try:
        for iface in snapshot.interfaces:
            if iface.loopback:
                continue
            results = []
            for fam in _families(family, address):
                for daddr in _destinations(rs, iface, fam, address):
                    pkt = {"family": fam, "l4proto": proto, "iifname": iface.name,
                           "oifname": None, "saddr": source, "sport": None, "daddr": daddr,
                           "dport": port, "ct_state": "new", "mark": 0, "ct_mark": 0,
                           "fib_daddr_type": "local", "dnat": False}
                    rs.paths = 0  # the budget is per packet
                    results.append(merge(walk(rs, pkt)))
            if results:
                per_iface[iface.name] = max(results, key=lambda r: _RANK[r.verdict])
    except TooComplex:
        return unknown("the ruleset has too many sender-dependent branches to follow")
    if not per_iface:
        return unknown("no network interface besides loopback carries this address family")
    best = max(per_iface.values(), key=lambda r: _RANK[r.verdict])
    names = tuple(n for n, r in per_iface.items() if r.verdict == best.verdict)
    return FirewallVerdict(best.verdict, names, best.rule, _reason(best, names),
                           tuple((n, r.verdict) for n, r in per_iface.items()))


def _reason(result: _Result, names: tuple[str, ...]) -> str:
    where = ", ".join(names)
    if result.verdict == "unknown":
        text = f"portwatch cannot tell whether the firewall lets new connections in on {where}"
    else:
        text = f"the firewall {_WORDS[result.verdict]} new connections from outside on {where}"
    if result.rule:
        text += f": {result.rule}"
    return text + (f" ({result.detail})" if result.detail else "")
