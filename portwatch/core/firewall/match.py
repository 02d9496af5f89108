"""Decide one nft match expression for one packet: True, False, or "it depends".

A packet field is either known (the listener's port, the interface it arrives on, "ct state new"
for a first packet), or depends on who sends it (`SOURCE`: source address and port, MAC), or
cannot be known here at all (`Unknown`: rate limits, packet length, marks set elsewhere …). The
engine forks on the last two and keeps the cases apart.
"""

from __future__ import annotations

import functools
import ipaddress
from fnmatch import fnmatchcase
from typing import Any

SOURCE = object()  # the value depends on the sender
ABSENT = object()  # the packet has no such header (ip field on an IPv6 packet, tcp on udp)

_PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp", 33: "dccp",
              "icmpv6": "ipv6-icmp", "ipv6-icmp": "ipv6-icmp"}
_FLAG_KEYS = {"state", "status", "flags"}


class Unknown(Exception):
    """An expression whose value portwatch cannot know for a packet from outside."""


def _describe(expr: Any) -> str:
    if isinstance(expr, dict) and len(expr) == 1:
        key, body = next(iter(expr.items()))
        if key == "payload":
            return f"{body.get('protocol')} {body.get('field')}"
        if key == "meta" and body.get("key") in ("iifname", "oifname", "iif", "oif", "l4proto",
                                                 "mark", "nfproto", "pkttype"):
            return "meta " + body["key"] if body["key"] in ("l4proto", "nfproto") else body["key"]
        if key == "fib":
            return f"fib {' . '.join(body.get('flags', []))} {body.get('result')}"
        if key == "&":
            return f"{_describe(body[0])} & {body[1]}"
        if isinstance(body, dict):
            inner = body.get("key") or body.get("field") or body.get("result") or ""
            return f"{key} {body.get('protocol', '')} {inner}".replace("  ", " ").strip()
        return str(key)
    return str(expr)


def _proto(value: Any) -> Any:
    return _PROTOCOLS.get(value, value)


def _payload(body: dict[str, Any], pkt: dict[str, Any], env: Any) -> Any:
    proto, fld = body.get("protocol"), body.get("field")
    if proto in ("ip", "ip6"):
        if pkt["family"] != proto:
            return ABSENT
        if fld in ("saddr", "daddr"):
            return SOURCE if pkt[fld] is None else pkt[fld]
        if fld in ("protocol", "nexthdr"):
            return pkt["l4proto"]
        if fld == "version":
            return 4 if proto == "ip" else 6
        raise Unknown(f"{proto} {fld}")
    if proto in ("tcp", "udp", "th"):
        if proto != "th" and pkt["l4proto"] != proto:
            return ABSENT
        if fld == "dport":
            return pkt["dport"]
        if fld == "sport":
            return SOURCE if pkt.get("sport") is None else pkt["sport"]
        if fld == "flags" and proto == "tcp":
            return frozenset({"syn"})
        raise Unknown(f"{proto} {fld}")
    if proto in ("ether", "vlan") and fld == "saddr":
        return SOURCE
    if proto in ("sctp", "dccp", "icmp", "icmpv6", "ah", "esp", "comp"):
        return ABSENT if pkt["l4proto"] != _proto(proto) else _unknown(f"{proto} {fld}")
    raise Unknown(f"{proto} {fld}")


def _unknown(what: str) -> Any:
    raise Unknown(what)


def _meta(key: str, pkt: dict[str, Any], env: Any) -> Any:
    if key in ("iifname", "iif"):
        return pkt["iifname"]
    if key in ("oifname", "oif"):
        if pkt.get("oifname") is None:
            raise Unknown(f"meta {key} (no output interface yet)")
        return pkt["oifname"]
    if key == "l4proto":
        return pkt["l4proto"]
    if key == "nfproto":
        return "ipv4" if pkt["family"] == "ip" else "ipv6"
    if key == "protocol":
        return "ip" if pkt["family"] == "ip" else "ip6"
    if key == "pkttype":
        return "host"
    if key == "mark":
        if pkt.get("mark") is None:
            raise Unknown("meta mark")
        return pkt["mark"]
    if key == "iiftype":
        return "loopback" if pkt["iifname"] == "lo" else "ether"
    raise Unknown(f"meta {key}")


def _ct(key: str, pkt: dict[str, Any]) -> Any:
    if key == "state":
        return frozenset({pkt["ct_state"]})
    if key == "status":
        return frozenset({"dnat"}) if pkt.get("dnat") else frozenset()
    if key == "direction":
        return "original"
    if key == "mark":
        return pkt.get("ct_mark", 0)
    if key in ("l3proto",):
        return "ipv4" if pkt["family"] == "ip" else "ipv6"
    if key == "protocol":
        return pkt["l4proto"]
    raise Unknown(f"ct {key}")


def _fib(body: dict[str, Any], pkt: dict[str, Any], env: Any) -> Any:
    flags = set(body.get("flags", []))
    result = body.get("result")
    if "daddr" in flags and result == "type":
        return pkt["fib_daddr_type"]
    if "saddr" in flags and result in ("oif", "oifname"):
        if pkt["saddr"] is None:
            return SOURCE
        dev = env.route_dev(pkt["saddr"], pkt["family"])
        if dev is None:
            return "missing"
        if "iif" in flags and dev != pkt["iifname"]:
            return "missing"
        return dev
    raise Unknown(f"fib {' . '.join(sorted(flags))} {result}")


def value_of(left: Any, pkt: dict[str, Any], env: Any) -> Any:
    """The packet's value of `left`: a value, SOURCE or ABSENT; raises Unknown."""
    if not isinstance(left, dict) or len(left) != 1:
        raise Unknown(f"expression {left!r}")
    kind, body = next(iter(left.items()))
    if kind == "payload":
        return _payload(body, pkt, env)
    if kind == "meta":
        return _meta(body["key"], pkt, env)
    if kind == "ct":
        return _ct(body["key"], pkt)
    if kind == "fib":
        return _fib(body, pkt, env)
    if kind == "&":
        value = value_of(body[0], pkt, env)
        if value is SOURCE or value is ABSENT:
            return value
        mask = body[1]
        if isinstance(value, frozenset):
            return value & _flags(mask)
        if isinstance(value, int) and isinstance(mask, int):
            return value & mask
        raise Unknown(_describe(left))
    if kind == "concat":
        parts = [value_of(part, pkt, env) for part in body]
        if any(p is ABSENT for p in parts):
            return ABSENT
        if any(p is SOURCE for p in parts):
            return SOURCE
        return tuple(parts)
    raise Unknown(_describe(left))


def _flags(right: Any) -> frozenset[str]:
    if isinstance(right, str):
        return frozenset({right})
    if isinstance(right, list):
        return frozenset(right)
    if isinstance(right, dict) and "set" in right:
        return frozenset(x for x in right["set"] if isinstance(x, str))
    return frozenset()


@functools.lru_cache(maxsize=4096)
def _ip(text: Any) -> Any:
    """The address `text` names, or None (names, numbers): cached, rules repeat their values."""
    try:
        return ipaddress.ip_address(text)
    except (ValueError, TypeError):
        return None


@functools.lru_cache(maxsize=1024)
def _network(addr: str, length: int) -> Any:
    return ipaddress.ip_network(f"{addr}/{length}", strict=False)


def element_matches(elem: Any, value: Any) -> bool:
    """Whether one set element (a value, prefix, range, concatenation) covers `value`."""
    if isinstance(elem, dict):
        if "elem" in elem:
            return element_matches(elem["elem"]["val"], value)
        if "prefix" in elem:
            address = _ip(value)
            network = _network(elem["prefix"]["addr"], elem["prefix"]["len"])
            return address is not None and address.version == network.version and \
                address in network
        if "range" in elem:
            low, high = elem["range"]
            if isinstance(value, int):
                return int(low) <= value <= int(high)
            address, lo, hi = _ip(value), _ip(low), _ip(high)
            return None not in (address, lo, hi) and lo <= address <= hi
        if "concat" in elem:
            parts = elem["concat"]
            return (isinstance(value, tuple) and len(value) == len(parts)
                    and all(element_matches(e, v) for e, v in zip(parts, value, strict=True)))
        raise Unknown(f"set element {elem!r}")
    if isinstance(value, frozenset):
        return value == _flags(elem)
    if isinstance(value, str) and isinstance(elem, str):
        if "*" in elem and not _ip(value):
            return fnmatchcase(value, elem)
        left, right = _ip(value), _ip(elem)
        if left is not None and right is not None:
            return left == right
        return _proto(value) == _proto(elem)
    return _proto(value) == _proto(elem)


def _elements(right: Any, env: Any, where: tuple[str, str]) -> list[Any]:
    if isinstance(right, str) and right.startswith("@"):
        return env.set_elements(where, right[1:])
    if isinstance(right, dict) and "set" in right:
        return list(right["set"])
    return [right]


def compare(op: str, left_value: Any, right: Any, env: Any, where: tuple[str, str]) -> bool:
    """Apply `op` between a known packet value and the rule's right-hand side."""
    if isinstance(left_value, frozenset) and op in ("in", "not-in"):
        hit = bool(left_value & _flags(right)) if right not in ([], "") else not left_value
        return hit if op == "in" else not hit
    if isinstance(left_value, frozenset) and isinstance(right, list):
        hit = left_value == frozenset(right)
        return hit if op == "==" else not hit
    if op in ("<", ">", "<=", ">="):
        if not isinstance(left_value, int) or not isinstance(right, int):
            raise Unknown(f"comparison {op} {right!r}")
        return {"<": left_value < right, ">": left_value > right,
                "<=": left_value <= right, ">=": left_value >= right}[op]
    hit = any(element_matches(e, left_value) for e in _elements(right, env, where))
    if op in ("==", "in"):
        return hit
    if op in ("!=", "not-in"):
        return not hit
    raise Unknown(f"operator {op}")


def describe(expr: Any) -> str:
    return _describe(expr)
