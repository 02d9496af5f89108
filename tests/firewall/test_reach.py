"""Effective reach end to end: `portwatch list --json` run inside the lab's host namespace
reports each listener's firewall verdict, the risk of a blocked one is weighed as loopback, and
a running Monitor re-annotates its rows when the ruleset changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from portwatch.core.firewall import Firewall, Host
from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.knowledge.reach import ReachAnnotator
from portwatch.core.model import Family, Listener, Proto, Snapshot
from portwatch.core.monitor import Monitor
from portwatch.core.probe.exposure import classify

REPO = Path(__file__).resolve().parents[2]
RULESET = ("table inet pwtest {\n chain input { type filter hook input priority 0; policy drop;\n"
           "  tcp dport 22 accept\n }\n}\n")


def test_list_json_reports_the_verdict_and_blocked_risk(lab):
    lab.reset()
    lab.in_host("nft", "-f", "-", stdin=RULESET)
    done = subprocess.run(["ip", "netns", "exec", lab.host, sys.executable, "-m", "portwatch",
                           "list", "--json"], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    rows = {(r["proto"], r["port"]): r for r in json.loads(done.stdout)}
    ssh, blocked, udp = rows[("tcp", 22)], rows[("tcp", 5000)], rows[("udp", 53)]
    assert ssh["firewall"]["verdict"] == "accept"
    assert ssh["firewall"]["rule"] == "table inet pwtest, chain input, rule 'tcp dport 22 accept'"
    assert ssh["firewall"]["by_interface"] == {"eth0": "accept", "docker0": "accept"}
    for row in (blocked, udp):
        assert row["firewall"]["verdict"] == "drop"
        assert row["firewall"]["rule"] == "table inet pwtest, chain input, policy drop"
        assert row["firewall"]["interfaces"] == ["eth0", "docker0"]
        assert "the firewall drops new connections from outside, so only this machine can" \
            " reach it" in row["risk_reason"]
        assert row["risk_reason"].count("only this machine can reach it") == 1


def _listener(port: int) -> Listener:
    return Listener(Proto.TCP, Family.IPV4, "0.0.0.0", port, classify("0.0.0.0"))


def test_monitor_reannotates_when_the_ruleset_changes(lab):
    lab.reset()
    lab.in_host("nft", "-f", "-", stdin=RULESET)
    firewall = Firewall(Host(("ip", "netns", "exec", lab.host)), recheck_seconds=0)
    scan = Snapshot(1.0, (_listener(6379), _listener(22)))
    monitor = Monitor(lambda: scan, ReachAnnotator(load_catalog(None), firewall))
    first = monitor.poll()
    redis = first.row_map[_listener(6379).key]
    assert redis.firewall.verdict == "drop"
    assert redis.assessment.reason == (  # said once (risk takes the firewall's words)
        "redis: the firewall drops new connections from outside, so only this machine can"
        " reach it")
    assert monitor.poll().changed == ()  # same ruleset: nothing to say
    lab.in_host("nft", "add", "rule", "inet", "pwtest", "input", "tcp", "dport", "6379",
                "accept")
    changed = monitor.poll().changed
    assert [row.listener.port for row in changed] == [6379]
    assert changed[0].firewall.verdict == "accept"
    assert "firewall" not in changed[0].assessment.reason
    assert changed[0].assessment.risk.rank >= redis.assessment.risk.rank
