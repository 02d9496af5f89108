"""Read what the firewall verdict depends on: the nftables ruleset (as JSON), iptables tables
(legacy, and iptables-nft tables whose rules nft's JSON cannot show), interfaces, routes and
whether the host forwards.

Everything goes through a `Host`, which runs the programs in this network namespace or, with a
prefix such as `ip netns exec NAME`, in another one (the ground-truth tests use that).
A `Snapshot` says what it could not read in `problems` instead of raising. The kernel's own
settings (forwarding, loaded legacy tables) are the probe's to read (probe.kernel); the Host
lends it a reader for its namespace.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portwatch.core.firewall import iptsave
from portwatch.core.firewall.saved import load_ruleset, store_ruleset
from portwatch.core.probe import ip_forwarding, legacy_iptables_tables, read_text

log = logging.getLogger(__name__)

_TIMEOUT = 10.0
# iptables' standard tables (the ones iptables-nft creates as nft tables of family ip / ip6).
_IPT_TABLES = ("raw", "mangle", "nat", "filter", "security")


class ReadError(Exception):
    """A program the snapshot needs failed; the message says which and why."""


@dataclass(frozen=True)
class Host:
    """Where to read from: this namespace (no prefix) or another through a command prefix."""

    prefix: tuple[str, ...] = ()

    def run(self, argv: Sequence[str]) -> str:
        try:
            done = subprocess.run(
                [*self.prefix, *argv], capture_output=True, text=True, timeout=_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as exc:
            raise ReadError(f"{argv[0]} is not installed") from exc
        except subprocess.TimeoutExpired as exc:
            raise ReadError(f"{argv[0]} did not answer within {_TIMEOUT:g} s") from exc
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip().splitlines()
            raise ReadError(f"{' '.join(argv)}: {message[-1] if message else 'failed'}")
        return done.stdout

    def read(self, path: str) -> str | None:
        """A file's text in this host's namespace (the probe's kernel readers take this), or
        None when it cannot be read."""
        if not self.prefix:
            return read_text(path)
        try:
            return self.run(["cat", path])
        except ReadError:
            return None


@dataclass(frozen=True)
class Interface:
    name: str
    addresses: tuple[str, ...]  # without prefix length
    loopback: bool


@dataclass(frozen=True)
class Route:
    dst: str  # "default" or a prefix "10.0.0.0/8" / address
    dev: str | None
    family: str  # "ip" / "ip6"


@dataclass(frozen=True)
class Snapshot:
    """Everything one evaluation needs, read at one moment."""

    objects: tuple[dict[str, Any], ...] = ()  # nft JSON objects (tables, chains, rules, sets)
    interfaces: tuple[Interface, ...] = ()
    routes: tuple[Route, ...] = ()
    forwarding: dict[str, bool] = field(default_factory=dict)  # "ip"/"ip6" → enabled
    problems: tuple[str, ...] = ()  # what could not be read: the verdict becomes unknown

    @property
    def local_addresses(self) -> frozenset[str]:
        return frozenset(a for i in self.interfaces for a in i.addresses)


def _nft_objects(host: Host) -> list[dict[str, Any]]:
    data = json.loads(host.run(["nft", "-j", "list", "ruleset"]))
    objects = [obj for obj in data.get("nftables", []) if "metainfo" not in obj]
    for obj in objects:  # counters change with every packet: leave their numbers out
        rule = obj.get("rule")
        if rule:
            rule["expr"] = [{"counter": None} if "counter" in e else e for e in rule["expr"]]
    return objects


def _ingress_devices(host: Host, objects: list[dict[str, Any]], problems: list[str]) -> None:
    """nft's JSON (1.0.6) leaves out which device an ingress chain filters; its text says it."""
    for obj in objects:
        chain = obj.get("chain")
        if not chain or chain.get("hook") != "ingress" or "dev" in chain:
            continue
        try:
            text = host.run(["nft", "list", "chain", chain["family"], chain["table"],
                             chain["name"]])
        except ReadError as exc:
            problems.append(f"cannot tell which device ingress chain {chain['name']} filters: "
                            f"{exc}")
            continue
        found = re.search(r"devices? = \{([^}]*)\}|device \"?([^\";\s]+)", text)
        if found is None:
            problems.append(f"cannot tell which device ingress chain {chain['name']} filters")
            continue
        names = found.group(1) or found.group(2)
        chain["dev"] = [n.strip().strip('"') for n in names.split(",") if n.strip()]


def _has_xt(objects: list[dict[str, Any]], family: str, table: str) -> bool:
    for obj in objects:
        rule = obj.get("rule")
        if (rule and rule["family"] == family and rule["table"] == table
                and any("xt" in expr for expr in rule["expr"])):
            return True
    return False


def _replace_xt_tables(host: Host, objects: list[dict[str, Any]], problems: list[str]) -> list:
    """iptables-nft tables with xtables matches (conntrack, multiport, comment …) show only the
    match's name in JSON: read those tables from iptables-nft-save instead."""
    for family, tool in (("ip", "iptables-nft-save"), ("ip6", "ip6tables-nft-save")):
        for table in _IPT_TABLES:
            if not _has_xt(objects, family, table):
                continue
            try:
                text = host.run([tool, "-t", table])
            except ReadError as exc:
                problems.append(f"table {family} {table} uses iptables extensions and {exc}")
                continue
            objects = [o for o in objects if not _in_table(o, family, table)]
            objects += iptsave.parse(text, family, origin=f"{family} {table} (iptables-nft)")
    return objects


def _in_table(obj: dict[str, Any], family: str, table: str) -> bool:
    body = next(iter(obj.values()))
    if "table" in obj:
        return body["family"] == family and body["name"] == table
    return body.get("family") == family and body.get("table") == table


def _legacy_objects(host: Host, problems: list[str]) -> list[dict[str, Any]]:
    """iptables-legacy rules, when the legacy x_tables are loaded (they apply alongside nft)."""
    objects: list[dict[str, Any]] = []
    for family, tool in (("ip", "iptables-legacy-save"), ("ip6", "ip6tables-legacy-save")):
        loaded = legacy_iptables_tables(family, host.read)
        if not loaded:
            continue
        try:
            text = host.run([tool])
        except ReadError as exc:
            problems.append(f"iptables-legacy tables ({', '.join(loaded)}) are loaded but {exc}")
            continue
        # Legacy tables are separate from nft's: give them their own table family tag.
        objects += iptsave.parse(text, family, origin=f"{family} (iptables-legacy)",
                                 table_prefix="legacy-")
    return objects


def _interfaces(host: Host) -> tuple[Interface, ...]:
    data = json.loads(host.run(["ip", "-j", "addr", "show"]))
    found = []
    for item in data:
        addrs = tuple(
            a["local"] for a in item.get("addr_info", [])
            if a.get("local") and a.get("scope") != "link"
        )
        found.append(Interface(item["ifname"], addrs, "LOOPBACK" in item.get("flags", [])))
    return tuple(found)


def _routes(host: Host) -> tuple[Route, ...]:
    routes = []
    for family, flag in (("ip", "-4"), ("ip6", "-6")):
        for item in json.loads(host.run(["ip", "-j", flag, "route", "show"]) or "[]"):
            routes.append(Route(item.get("dst", "default"), item.get("dev"), family))
    return tuple(routes)


def _needs_routes(objects: list[dict[str, Any]]) -> bool:
    """Routes matter only where a rule rewrites the destination (the packet may be forwarded)
    or checks the sender's route (reverse-path filters): read them only then (2 × 2 ms)."""
    return any(
        any(key in ("dnat", "redirect") or (key == "match" and "fib" in json.dumps(body))
            for expr in obj["rule"]["expr"] for key, body in expr.items())
        for obj in objects if "rule" in obj
    )


def read_snapshot(host: Host | None = None, saved: str | Path | None = None,
                  generation: int | None = None) -> Snapshot:
    """Read the ruleset and the network facts; what fails is named in `problems`. With `saved`
    (a file) and the nftables `generation` read before this call, the nft part comes from
    that file when it was kept for this generation, and is kept there otherwise (saved.py)."""
    host = host or Host()
    if not sys.platform.startswith("linux"):
        return Snapshot(problems=("portwatch reads only Linux firewalls (nftables, iptables), "
                                  f"not this system's ({sys.platform})",))
    problems: list[str] = []
    objects: list[dict[str, Any]] = []
    keep = saved is not None and generation is not None and not host.prefix
    try:
        kept = load_ruleset(saved, generation) if keep else None
        if kept is not None:
            objects = kept
        else:
            objects = _nft_objects(host)
            objects = _replace_xt_tables(host, objects, problems)
            _ingress_devices(host, objects, problems)
            if keep and not problems:
                store_ruleset(saved, generation, objects)
    except ReadError as exc:
        reason = str(exc)
        if "Operation not permitted" in reason or "Permission denied" in reason:
            reason = "reading the firewall needs root (nft: Operation not permitted)"
        problems.append(reason)
    except ValueError as exc:
        problems.append(f"nft printed JSON portwatch cannot read: {exc}")
    objects += _legacy_objects(host, problems)
    interfaces: tuple[Interface, ...] = ()
    routes: tuple[Route, ...] = ()
    try:
        interfaces = _interfaces(host)
        if _needs_routes(objects):
            routes = _routes(host)
    except (ReadError, ValueError, KeyError) as exc:
        problems.append(f"cannot list interfaces and routes: {exc}")
    return Snapshot(tuple(objects), interfaces, routes, ip_forwarding(host.read),
                    tuple(problems))
