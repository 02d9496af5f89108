"""Translate `iptables-save` text into the nft JSON objects the evaluator reads.

iptables-legacy and the xtables matches of iptables-nft (conntrack, multiport, comment …) are not
visible in `nft -j`, but `iptables-save` prints them; each rule becomes an nft-JSON rule whose
expressions mean the same, and what has no translation becomes {"unsupported": "..."}, which the
evaluator reports as unknown (never as a match or a miss it cannot prove).
"""

from __future__ import annotations

import shlex
from typing import Any

# Builtin chain → (hook, priority) per table, as the kernel registers them.
_HOOKS = {
    "raw": {"PREROUTING": ("prerouting", -300), "OUTPUT": ("output", -300)},
    "mangle": {"PREROUTING": ("prerouting", -150), "INPUT": ("input", -150),
               "FORWARD": ("forward", -150), "OUTPUT": ("output", -150),
               "POSTROUTING": ("postrouting", -150)},
    "nat": {"PREROUTING": ("prerouting", -100), "INPUT": ("input", 100),
            "OUTPUT": ("output", -100), "POSTROUTING": ("postrouting", 100)},
    "filter": {"INPUT": ("input", 0), "FORWARD": ("forward", 0), "OUTPUT": ("output", 0)},
    "security": {"INPUT": ("input", 50), "FORWARD": ("forward", 50), "OUTPUT": ("output", 50)},
}
_NOOP_TARGETS = {"LOG", "NFLOG", "ULOG", "AUDIT", "TRACE", "CT", "TCPMSS", "CHECKSUM", "TOS",
                 "DSCP", "SNAT", "MASQUERADE", "CONNSECMARK", "SECMARK", "TTL", "HL"}
_NOOP_MATCHES = {"comment", "tcp", "udp", "icmp", "icmp6", "ipv6-icmp"}


def _match(left: dict[str, Any], right: Any, negate: bool, op: str = "==") -> dict[str, Any]:
    if negate:
        op = "!=" if op == "==" else "not-in" if op == "in" else op
    return {"match": {"op": op, "left": left, "right": right}}


def _addr(text: str) -> Any:
    if "/" not in text:
        return text
    addr, mask = text.split("/", 1)
    if mask.isdigit():
        if mask in ("32", "128"):
            return addr
        return {"prefix": {"addr": addr, "len": int(mask)}}
    bits = sum(bin(int(part)).count("1") for part in mask.split("."))
    return {"prefix": {"addr": addr, "len": bits}}


def _ports(text: str) -> Any:
    items: list[Any] = []
    for part in text.split(","):
        if ":" in part:
            low, high = part.split(":", 1)
            items.append({"range": [int(low or 0), int(high or 65535)]})
        else:
            items.append(int(part))
    return items[0] if len(items) == 1 else {"set": items}


def _iface(text: str) -> str:
    return text[:-1] + "*" if text.endswith("+") else text


def _proto_field(proto: str | None) -> str:
    return proto if proto in ("tcp", "udp", "sctp", "dccp") else "th"


class _Rule:
    """One `-A CHAIN …` line read into expressions."""

    def __init__(self, family: str, words: list[str], chains: set[str]) -> None:
        self.family = family
        self.chains = chains
        self.words = words
        self.exprs: list[dict[str, Any]] = []
        self.proto: str | None = None
        self.pos = 0

    def take(self) -> str:
        word = self.words[self.pos]
        self.pos += 1
        return word

    def unsupported(self, what: str) -> None:
        self.exprs.append({"unsupported": what})

    def parse(self) -> list[dict[str, Any]]:
        negate = False
        while self.pos < len(self.words):
            word = self.take()
            if word == "!":
                negate = True
                continue
            self.option(word, negate)
            negate = False
        return self.exprs

    def option(self, word: str, neg: bool) -> None:
        ip = self.family
        if word in ("-p", "--protocol"):
            self.proto = self.take().lower()
            self.proto = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}.get(
                self.proto, self.proto)
            if self.proto != "all":
                self.exprs.append(_match({"meta": {"key": "l4proto"}}, self.proto, neg))
        elif word in ("-s", "--source", "-d", "--destination"):
            fld = "saddr" if word in ("-s", "--source") else "daddr"
            self.exprs.append(_match({"payload": {"protocol": ip, "field": fld}},
                                     _addr(self.take()), neg))
        elif word in ("-i", "--in-interface", "-o", "--out-interface"):
            key = "iifname" if word.startswith(("-i", "--in")) else "oifname"
            self.exprs.append(_match({"meta": {"key": key}}, _iface(self.take()), neg))
        elif word in ("--dport", "--destination-port", "--sport", "--source-port",
                      "--dports", "--destination-ports", "--sports", "--source-ports"):
            fld = "sport" if "s" in word.lstrip("-")[:1] else "dport"
            left = {"payload": {"protocol": _proto_field(self.proto), "field": fld}}
            self.exprs.append(_match(left, _ports(self.take()), neg))
        elif word in ("--ctstate", "--state"):
            states = [s.lower() for s in self.take().split(",")]
            self.exprs.append(_match({"ct": {"key": "state"}}, states, neg, op="in"))
        elif word == "--syn":
            left = {"&": [{"payload": {"protocol": "tcp", "field": "flags"}},
                          ["syn", "rst", "ack", "fin"]]}
            self.exprs.append(_match(left, "syn", neg))
        elif word == "--tcp-flags":
            mask = [f.lower() for f in self.take().split(",")]
            comp = [f.lower() for f in self.take().split(",")]
            if "all" in mask:
                mask = ["fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"]
            left = {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, mask]}
            self.exprs.append(_match(left, [] if comp == ["none"] else comp, neg))
        elif word in ("--dst-type", "--src-type"):
            flag = "daddr" if word == "--dst-type" else "saddr"
            self.exprs.append(_match({"fib": {"result": "type", "flags": [flag]}},
                                     self.take().lower(), neg))
        elif word == "--mark":
            value = self.take()
            self.exprs.append(_mark_match(value, neg))
        elif word == "--pkt-type":
            self.exprs.append(_match({"meta": {"key": "pkttype"}}, self.take().lower(), neg))
        elif word in ("--src-range", "--dst-range"):
            low, high = self.take().split("-", 1)
            fld = "saddr" if word == "--src-range" else "daddr"
            self.exprs.append(_match({"payload": {"protocol": ip, "field": fld}},
                                     {"range": [low, high]}, neg))
        elif word == "--comment":
            self.take()
        elif word in ("-m", "--match"):
            name = self.take()
            if name not in _NOOP_MATCHES | {"conntrack", "state", "multiport", "addrtype", "mark",
                                            "pkttype", "iprange"}:
                self.unsupported(f"-m {name}")
                self.skip_arguments()
        elif word in ("-j", "--jump", "-g", "--goto"):
            self.target(self.take(), goto=word in ("-g", "--goto"))
        elif word.startswith("--") or word.startswith("-"):
            self.unsupported(word)
            self.skip_arguments()
        else:
            self.unsupported(word)

    def skip_arguments(self) -> None:
        """Skip the options of a match this parser does not know (reported as unsupported)."""
        while self.pos < len(self.words) and self.words[self.pos] not in ("-m", "-j", "-g", "!"):
            if self.words[self.pos] in ("-p", "-s", "-d", "-i", "-o"):
                break
            self.pos += 1

    def target(self, name: str, goto: bool) -> None:
        args = self.words[self.pos:]
        self.pos = len(self.words)
        if name in ("ACCEPT", "DROP", "RETURN"):
            self.exprs.append({name.lower(): None})
        elif name == "REJECT":
            kind = args[args.index("--reject-with") + 1] if "--reject-with" in args else None
            self.exprs.append({"reject": {"type": kind} if kind else None})
        elif name in ("DNAT", "REDIRECT"):
            self.exprs.append(_nat(name, args))
        elif name == "MARK" and args[:1] in (["--set-mark"], ["--set-xmark"]):
            value = args[1].split("/")[0]
            self.exprs.append({"mangle": {"key": {"meta": {"key": "mark"}},
                                          "value": int(value, 0)}})
        elif name in _NOOP_TARGETS:
            self.exprs.append({"log": {"target": name}})
        elif name in self.chains:
            self.exprs.append({"goto" if goto else "jump": {"target": name}})
        else:
            self.unsupported(f"-j {name}")


def _mark_match(value: str, neg: bool) -> dict[str, Any]:
    mark, _, mask = value.partition("/")
    left: dict[str, Any] = {"meta": {"key": "mark"}}
    if mask:
        left = {"&": [left, int(mask, 0)]}
    return _match(left, int(mark, 0), neg)


def _nat(name: str, args: list[str]) -> dict[str, Any]:
    if name == "REDIRECT":
        port = args[args.index("--to-ports") + 1] if "--to-ports" in args else None
        return {"redirect": {"port": int(port.split("-")[0])} if port else None}
    if "--to-destination" not in args:
        return {"unsupported": "-j DNAT without --to-destination"}
    dest = args[args.index("--to-destination") + 1]
    if dest.startswith("["):
        addr, _, port = dest[1:].partition("]:")
    elif dest.count(":") == 1:
        addr, _, port = dest.partition(":")
    else:
        addr, port = dest, ""
    out: dict[str, Any] = {"addr": addr.split("-")[0]}
    if port:
        out["port"] = int(port.split("-")[0])
    return {"dnat": out}


def parse(text: str, family: str, origin: str, table_prefix: str = "") -> list[dict[str, Any]]:
    """nft-style JSON objects (tables, chains, rules) for one `iptables-save` output; each rule
    keeps its original line in "comment" so verdicts can quote it."""
    objects: list[dict[str, Any]] = []
    table = ""
    count = 0
    chains: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:]
            chains = set()
            objects.append({"table": {"family": family, "name": table_prefix + table}})
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            chains.add(name)
            chain: dict[str, Any] = {"family": family, "table": table_prefix + table,
                                     "name": name, "origin": origin}
            if name in _HOOKS.get(table, {}):
                hook, prio = _HOOKS[table][name]
                chain.update(type="nat" if table == "nat" else "filter", hook=hook, prio=prio,
                             policy=policy.lower() if policy != "-" else "accept")
            objects.append({"chain": chain})
        elif line.startswith("-A "):
            count += 1
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            chain_name = words[1]
            exprs = _Rule(family, words[2:], chains).parse()
            objects.append({"rule": {"family": family, "table": table_prefix + table,
                                     "chain": chain_name, "handle": count, "expr": exprs,
                                     "comment": line}})
    return objects
