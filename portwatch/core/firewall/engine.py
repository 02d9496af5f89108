"""Walk one packet (the first of a new inbound connection) through the ruleset's base chains.

The walk follows the kernel: ingress, prerouting (raw, mangle, nat … by priority, where DNAT may
send the packet on to another host), then input for local delivery or forward and postrouting.
Within a chain: rules in order, jump / goto / return, verdict maps, policies. Where a match
depends on the sender or cannot be known the walk forks, so the result is every possible end
(`Outcome`), each with the forks that led to it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from portwatch.core.firewall.match import ABSENT, SOURCE, Unknown, compare, describe, value_of
from portwatch.core.firewall.source import Snapshot

_MAX_PATHS = 20_000  # chain steps per packet
_MAX_DEPTH = 32
_NOOPS = {"counter", "log", "comment", "set", "meter", "ct count", "synproxy_off"}
ChainKey = tuple[str, str, str]


_LOG_TARGETS = {"LOG", "NFLOG", "ULOG", "AUDIT", "TRACE"}


def _inert(exprs: list[dict[str, Any]]) -> bool:
    """Whether these expressions only count, log or limit (no verdict, no rewrite)."""
    for expr in exprs:
        kind, body = next(iter(expr.items()))
        if kind == "xt" and body and body.get("type") == "target" and body.get("name") in \
                _LOG_TARGETS:
            continue
        if kind not in _NOOPS and kind not in ("match", "limit", "quota"):
            return False
    return True


class TooComplex(Exception):
    """More paths than the walk allows (huge rulesets with many sender-dependent rules)."""


@dataclass
class Path:
    """One way through the ruleset: the packet as rewritten so far and the forks taken."""

    pkt: dict[str, Any]
    decided: dict[str, Any] = field(default_factory=dict)
    forks: list[tuple[str, str]] = field(default_factory=list)  # (source | unknown, where)
    notes: list[str] = field(default_factory=list)
    nat_done: bool = False
    senders: frozenset[tuple[str, Any]] = frozenset()  # the sender-dependent choices taken

    def fork(self, key: str, choice: Any, kind: str, where: str) -> Path:
        senders = self.senders | {(key, choice)} if kind == "source" else self.senders
        return Path(dict(self.pkt), {**self.decided, key: choice},
                    [*self.forks, (kind, where)], list(self.notes), self.nat_done, senders)


@dataclass(frozen=True)
class Outcome:
    verdict: str  # accept | drop | reject | unknown
    rule: str  # where it was decided, as a person reads it
    forks: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    senders: frozenset[tuple[str, Any]] = frozenset()


def _render(value: Any) -> str:
    if isinstance(value, dict) and "set" in value:
        return "{ " + ", ".join(_render(v) for v in value["set"]) + " }"
    if isinstance(value, dict) and "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    if isinstance(value, dict) and "range" in value:
        return "-".join(str(v) for v in value["range"])
    if isinstance(value, list):
        return ",".join(_render(v) for v in value)
    return json.dumps(value) if isinstance(value, dict) else str(value)


def render_rule(rule: dict[str, Any]) -> str:
    """The rule as nft would roughly print it (or its iptables-save line)."""
    if rule.get("comment", "").startswith("-A "):
        return rule["comment"]
    words = []
    for expr in rule["expr"]:
        kind, body = next(iter(expr.items()))
        if kind == "match":
            op = "" if body["op"] in ("==", "in") else f" {body['op']}"
            words.append(f"{describe(body['left'])}{op} {_render(body['right'])}")
        elif kind in ("jump", "goto"):
            words.append(f"{kind} {body['target']}")
        elif kind == "vmap":
            pairs = body["data"]
            text = pairs if isinstance(pairs, str) else "{ " + ", ".join(
                f"{_render(k)} : {next(iter(v))}" for k, v in pairs.get("set", [])) + " }"
            words.append(f"{describe(body['key'])} vmap {text}")
        elif kind == "reject" and isinstance(body, dict):
            words.append(f"reject with {body.get('type', '')} {body.get('expr', '')}".rstrip())
        elif kind == "limit" and isinstance(body, dict):
            words.append(f"limit rate {body.get('rate')}/{body.get('per')}")
        elif kind not in ("counter",):
            words.append(kind if body is None else f"{kind} {_render(body)}")
    return " ".join(words)


class Ruleset:
    """The snapshot's objects indexed for the walk."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.chains: dict[ChainKey, dict[str, Any]] = {}
        self.rules: dict[ChainKey, list[dict[str, Any]]] = {}
        self.sets: dict[ChainKey, dict[str, Any]] = {}
        for obj in snapshot.objects:
            kind, body = next(iter(obj.items()))
            if kind == "chain":
                key = (body["family"], body["table"], body["name"])
                self.chains[key] = body
                self.rules.setdefault(key, [])
            elif kind == "rule":
                self.rules.setdefault((body["family"], body["table"], body["chain"]), []).append(
                    body)
            elif kind in ("set", "map"):
                self.sets[(body["family"], body["table"], body["name"])] = body
        self.paths = 0
        self._memo_keys: dict[int, str] = {}

    def set_elements(self, where: tuple[str, str], name: str) -> list[Any]:
        found = self.sets.get((*where, name))
        if found is None:
            raise Unknown(f"set @{name} not found")
        if "dynamic" in found.get("flags", []):
            raise Unknown(f"set @{name} is filled by the packets themselves")
        elems = found.get("elem", [])
        return [e[0] if isinstance(e, list) else e for e in elems]

    def map_pairs(self, where: tuple[str, str], data: Any) -> list[list[Any]]:
        if isinstance(data, str) and data.startswith("@"):
            found = self.sets.get((*where, data[1:]))
            if found is None:
                raise Unknown(f"map {data} not found")
            return list(found.get("elem", []))
        if isinstance(data, dict) and "set" in data:
            return list(data["set"])
        raise Unknown(f"map {data!r}")

    def route_dev(self, address: str, family: str) -> str | None:
        ip = ipaddress.ip_address(address)
        best: tuple[int, str | None] | None = None
        for route in self.snapshot.routes:
            if route.family != family:
                continue
            net = ipaddress.ip_network("0.0.0.0/0" if family == "ip" else "::/0") \
                if route.dst == "default" else ipaddress.ip_network(route.dst, strict=False)
            if ip in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, route.dev)
        return best[1] if best else None

    def is_local(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return ip.is_loopback or address in self.snapshot.local_addresses

    def base_chains(self, hook: str, pkt: dict[str, Any]) -> list[dict[str, Any]]:
        chains = []
        for chain in self.chains.values():
            if chain.get("hook") != hook:
                continue
            family = chain["family"]
            if family == "netdev" or (family == "inet" and hook == "ingress"):
                devs = chain.get("dev", [])
                if pkt["iifname"] not in ([devs] if isinstance(devs, str) else devs):
                    continue
            elif family not in ("inet", pkt["family"]):
                continue
            chains.append(chain)
        return sorted(chains, key=lambda c: (c.get("prio", 0), c["table"].startswith("legacy-")))

    # -- one chain ---------------------------------------------------------------------------

    def run_chain(self, key: ChainKey, path: Path, depth: int = 0) -> Iterator[tuple]:
        """Yields ("verdict", name, where, path) or ("return", None, None, path)."""
        if depth > _MAX_DEPTH:
            yield ("verdict", "unknown", f"jumps nest deeper than {_MAX_DEPTH}", path)
            return
        yield from self._from(key, 0, 0, path, depth)

    def _where(self, key: ChainKey, rule: dict[str, Any]) -> str:
        origin = self.chains.get(key, {}).get("origin")
        table = f"table {key[0]} {key[1]}" + (f" ({origin.split('(')[-1]}" if origin else "")
        return f"{table}, chain {key[2]}, rule '{render_rule(rule)}'"

    def _from(self, key: ChainKey, ri: int, ei: int, path: Path, depth: int) -> Iterator[tuple]:
        self.paths += 1
        if self.paths > _MAX_PATHS:
            raise TooComplex
        rules = self.rules.get(key, [])
        scope = (key[0], key[1])
        while ri < len(rules):
            rule = rules[ri]
            exprs = rule["expr"]
            while ei < len(exprs):
                expr = exprs[ei]
                kind, body = next(iter(expr.items()))
                if kind in ("match", "limit", "quota", "xt", "unsupported") and _inert(
                        exprs[ei + 1:]):
                    break  # the rest only counts or logs: whether this matches changes nothing
                if kind == "match":
                    hit = self._decide(body, path, scope, key, rule)
                    if isinstance(hit, tuple) and self._misses(exprs[ei + 1:], path, scope):
                        break  # a later match of this rule surely fails: no need to fork
                    if isinstance(hit, tuple):  # forked
                        yield from self._from(key, ri, ei + 1, hit[0], depth)
                        yield from self._from(key, ri + 1, 0, hit[1], depth)
                        return
                    if not hit:
                        break
                elif kind in _NOOPS or (kind == "xt" and _inert([expr])):
                    pass
                elif kind in ("limit", "quota", "xt", "unsupported", "numgen"):
                    what = body.get("name") if kind == "xt" and body else body
                    where = f"{self._where(key, rule)}: depends on a {kind}"
                    if kind in ("xt", "unsupported"):
                        where = f"{self._where(key, rule)}: portwatch cannot read {kind} {what}"
                    match_key = f"{kind}:{json.dumps(body, sort_keys=True)}:{id(rule)}"
                    yes = path.fork(match_key, True, "unknown", where)
                    no = path.fork(match_key, False, "unknown", where)
                    yield from self._from(key, ri, ei + 1, yes, depth)
                    yield from self._from(key, ri + 1, 0, no, depth)
                    return
                elif kind == "mangle":
                    self._mangle(body, path)
                elif kind == "notrack":
                    path.pkt["ct_state"] = "untracked"
                elif kind in ("accept", "drop", "reject"):
                    yield ("verdict", kind, self._where(key, rule), path)
                    return
                elif kind == "return":
                    yield ("return", None, None, path)
                    return
                elif kind == "continue":
                    break
                elif kind in ("jump", "goto"):
                    yield from self._call(key, ri, body["target"], kind, path, depth)
                    return
                elif kind == "vmap":
                    yield from self._vmap(key, ri, body, path, depth, rule)
                    return
                elif kind in ("dnat", "redirect", "snat", "masquerade"):
                    try:
                        if kind in ("dnat", "redirect"):
                            self._nat(kind, body, path, scope, key, rule)
                    except Unknown as exc:
                        yield ("verdict", "unknown", f"{self._where(key, rule)}: {exc}", path)
                        return
                    yield ("verdict", "accept", self._where(key, rule), path)
                    return
                else:
                    yield ("verdict", "unknown",
                           f"{self._where(key, rule)}: portwatch does not evaluate '{kind}'", path)
                    return
                ei += 1
            ri += 1
            ei = 0
        yield ("return", None, None, path)

    def _decide(self, body: dict[str, Any], path: Path, scope: tuple[str, str], key: ChainKey,
                rule: dict[str, Any]) -> Any:
        """True / False, or a (matched, missed) pair of forked paths."""
        memo = self._memo_keys.get(id(body))
        if memo is None:  # the same match text in any rule is the same question
            memo = json.dumps(body, sort_keys=True) + json.dumps(scope)
            self._memo_keys[id(body)] = memo
        if memo in path.decided:
            return path.decided[memo]
        try:
            value = value_of(body["left"], path.pkt, self)
            if value is ABSENT:
                return False
            if value is not SOURCE:
                return compare(body["op"], value, body["right"], self, scope)
            kind, what = "source", self._where(key, rule)
        except Unknown as exc:
            kind, what = "unknown", f"{self._where(key, rule)}: depends on {exc}"
        return path.fork(memo, True, kind, what), path.fork(memo, False, kind, what)

    def _misses(self, exprs: list[dict[str, Any]], path: Path, scope: tuple[str, str]) -> bool:
        """Whether a match among `exprs` is known to fail for this packet."""
        for expr in exprs:
            body = expr.get("match")
            if body is None:
                continue
            try:
                value = value_of(body["left"], path.pkt, self)
                if value is ABSENT or (
                    value is not SOURCE and not compare(body["op"], value, body["right"], self,
                                                        scope)):
                    return True
            except Unknown:
                continue
        return False

    def _call(self, key: ChainKey, ri: int, target: str, kind: str, path: Path,
              depth: int) -> Iterator[tuple]:
        callee = (key[0], key[1], target)
        for result in self.run_chain(callee, path, depth + 1):
            if result[0] == "return" and kind == "jump":
                yield from self._from(key, ri + 1, 0, result[3], depth)
            else:
                yield result

    def _vmap(self, key: ChainKey, ri: int, body: dict[str, Any], path: Path, depth: int,
              rule: dict[str, Any]) -> Iterator[tuple]:
        scope = (key[0], key[1])
        pairs = self.map_pairs(scope, body["data"])
        try:
            value = value_of(body["key"], path.pkt, self)
            kind = "source"
        except Unknown as exc:
            value, kind = SOURCE, f"unknown: {exc}"
        if value is ABSENT:
            chosen: list[tuple[Any, Path]] = []
        elif value is not SOURCE:
            chosen = [(v, path) for k, v in pairs if compare("==", value, k, self, scope)][:1]
        else:
            where = self._where(key, rule)
            fork_kind = "source" if kind == "source" else "unknown"
            name = f"vmap{id(body)}"  # one fork per map and branch, apart from other maps
            chosen = [(v, path.fork(f"{name}:{i}", True, fork_kind, where))
                      for i, (_, v) in enumerate(pairs)]
            chosen.append((None, path.fork(f"{name}:miss", True, fork_kind, where)))
        if not chosen:
            yield from self._from(key, ri + 1, 0, path, depth)
        for verdict, branch in chosen:
            if verdict is None:
                yield from self._from(key, ri + 1, 0, branch, depth)
                continue
            name, target = next(iter(verdict.items()))
            if name in ("jump", "goto"):
                yield from self._call(key, ri, target["target"], name, branch, depth)
            elif name == "return":
                yield ("return", None, None, branch)
            elif name == "continue":
                yield from self._from(key, ri + 1, 0, branch, depth)
            else:
                yield ("verdict", name if name in ("accept", "drop", "reject") else "unknown",
                       self._where(key, rule), branch)

    def _mangle(self, body: dict[str, Any], path: Path) -> None:
        target = body.get("key", {})
        value = body.get("value")
        field_name = "mark" if target == {"meta": {"key": "mark"}} else \
            "ct_mark" if target == {"ct": {"key": "mark"}} else None
        if field_name:
            path.pkt[field_name] = value if isinstance(value, int) else None

    def _nat(self, kind: str, body: Any, path: Path, scope: tuple[str, str], key: ChainKey,
             rule: dict[str, Any]) -> None:
        body = body or {}
        addr, port = body.get("addr"), body.get("port")
        if isinstance(addr, dict) and "map" in addr:
            value = value_of(addr["map"]["key"], path.pkt, self)
            pairs = self.map_pairs(scope, addr["map"]["data"])
            hits = [v for k, v in pairs if compare("==", value, k, self, scope)]
            addr = hits[0] if hits else None
            if isinstance(addr, dict) and "concat" in addr:
                addr, port = addr["concat"][0], addr["concat"][1]
            if addr is None:
                return
        if kind == "redirect":
            iface = next((i for i in self.snapshot.interfaces if i.name == path.pkt["iifname"]),
                         None)
            addr = next((a for a in (iface.addresses if iface else ())
                         if (":" in a) == (path.pkt["family"] == "ip6")), path.pkt["daddr"])
        if not isinstance(addr, str) or (port is not None and not isinstance(port, int)):
            raise Unknown(f"{kind} target {body!r}")
        before = f"{path.pkt['daddr']}:{path.pkt['dport']}"
        path.pkt["daddr"] = addr
        if port is not None:
            path.pkt["dport"] = port
        path.pkt["dnat"] = True
        path.nat_done = True
        path.notes.append(f"{kind.upper()} sends {before} to {addr}:{path.pkt['dport']} "
                          f"({self._where(key, rule)})")
