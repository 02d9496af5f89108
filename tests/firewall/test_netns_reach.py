"""Firewall verdicts for listeners in other network namespaces: portwatch, running in this
test's own namespace and scanning every namespace, judges the lab's host namespace's listeners
by that namespace's own ruleset (not this one's), agrees with real connections from the client
namespace over the veth pair, and notices when that ruleset changes."""

from __future__ import annotations

import os

import pytest
from lab import HOST_ADDR

from portwatch.core.firewall import Firewall
from portwatch.core.firewall.namespaces import NamespaceFirewalls
from portwatch.core.knowledge.reach import ReachAnnotator
from portwatch.core.model import Proto
from portwatch.core.probe import ListenerScanner

RULESET = ("table inet pwtest_ns {\n chain input { type filter hook input priority 0;"
           " policy accept;\n  tcp dport 5000 drop\n  tcp dport 9000 reject\n }\n}\n")
MORE = "add rule inet pwtest_ns input tcp dport 8080 drop\n"


def _verdicts(scanner: ListenerScanner, annotator: ReachAnnotator, netns: str) -> dict:
    rows = [row for row in scanner.scan().listeners
            if row.netns == netns and row.proto is Proto.TCP and row.address in ("::", "0.0.0.0")]
    found = {}
    for row in rows:
        item = annotator.annotate(row)
        found[row.port] = item.firewall.verdict if item.firewall else None
    return found


def test_another_namespace_is_judged_by_its_own_ruleset(lab):
    if os.geteuid() != 0:
        pytest.skip("entering a namespace needs root")
    lab.reset()
    lab.in_host("nft", "-f", "-", stdin=RULESET)
    real = lab.probe([f"tcp:{HOST_ADDR}:{port}" for port in (5000, 8080, 9000)])
    assert real == {f"tcp:{HOST_ADDR}:5000": "drop", f"tcp:{HOST_ADDR}:8080": "accept:host",
                    f"tcp:{HOST_ADDR}:9000": "reject"}
    scanner = ListenerScanner(all_netns=True)
    namespaces = NamespaceFirewalls()
    # the host's firewall is this test's namespace's: an empty stand-in ruleset would do, but
    # the real one is read (it says nothing about the lab's namespace either way)
    annotator = ReachAnnotator(None, Firewall(), namespaces)
    try:
        annotator.refresh_needed()
        verdicts = _verdicts(scanner, annotator, lab.host)
        assert {port: verdicts.get(port) for port in (5000, 8080, 9000)} == {
            5000: "drop", 8080: "accept", 9000: "reject"}
        assert not annotator.refresh_needed()
        lab.in_host("nft", "-f", "-", stdin=MORE)
        assert annotator.refresh_needed()  # the namespace's generation id changed
        assert _verdicts(scanner, annotator, lab.host)[8080] == "drop"
        assert lab.probe([f"tcp:{HOST_ADDR}:8080"]) == {f"tcp:{HOST_ADDR}:8080": "drop"}
    finally:
        namespaces.close()
        scanner.close()


def test_a_namespace_portwatch_cannot_enter_is_unknown_with_the_reason():
    from portwatch.core.model import Exposure, Family, Listener

    listener = Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 80, Exposure.ALL_INTERFACES,
                        netns="net:[4026532999]", netns_path="/proc/999999999/ns/net")
    verdict = NamespaceFirewalls().verdict_for(listener)
    assert verdict.verdict == "unknown"
    assert ("is gone" in verdict.reason if os.geteuid() == 0
            else "needs root" in verdict.reason)
