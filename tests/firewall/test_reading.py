"""Reading the firewall for real: without privileges the verdict is "unknown" and says why, and
the ruleset is read again only when nftables' generation id changed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from lab import sh, skip_reason

REPO = Path(__file__).resolve().parents[2]


def test_without_root_the_verdict_is_unknown_and_says_why(nobody_copy):
    from nobody import run_as_nobody

    if shutil.which("nft") is None:
        pytest.skip("needs nft (Debian: nftables)")
    code = ("from portwatch.core.firewall import read_snapshot, evaluate_snapshot\n"
            "v = evaluate_snapshot(read_snapshot(), 'tcp', 'ipv4', '0.0.0.0', 22)\n"
            "print(v.verdict); print(v.reason)")
    done = run_as_nobody(nobody_copy, ["-c", code],
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert done.returncode == 0, done.stderr
    verdict, reason = done.stdout.splitlines()[:2]
    assert verdict == "unknown"
    assert "needs root" in reason


# Counts the programs the firewall runs (`calls`), with the real ones run.
COUNTING = textwrap.dedent("""
    import json, subprocess, sys
    from portwatch.core.firewall import Firewall
    calls = []
    real = subprocess.run
    def counting(argv, *args, **kwargs):
        calls.append(argv[0])
        return real(argv, *args, **kwargs)
    subprocess.run = counting
""")

CACHE_SCRIPT = COUNTING + textwrap.dedent("""
    firewall = Firewall(recheck_seconds=3600)
    seen = []
    def ask():
        seen.append(firewall.verdict_for("tcp", "ipv4", "0.0.0.0", 22).verdict)
        return calls.count("nft")
    counts = [ask(), ask()]
    real(["nft", "-f", "-"], check=True, text=True, input=(
        "table inet pwtest { chain input { type filter hook input priority 0; policy drop;\\n"
        " }\\n}\\n"))
    counts.append(ask())
    print(json.dumps({"verdicts": seen, "nft_runs": counts}))
""")


def test_ruleset_is_read_again_only_after_it_changed():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    ns = f"pwtest-fwg-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        sh("ip", "-n", ns, "addr", "add", "10.66.0.1/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CACHE_SCRIPT],
                              capture_output=True, text=True, timeout=120, cwd=REPO)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    assert result["verdicts"] == ["accept", "accept", "drop"]
    first, unchanged, changed = result["nft_runs"]
    assert first >= 1
    assert unchanged == first  # same generation: the cached verdict, no nft run
    assert changed > unchanged  # new generation: read again, and the new policy is seen


SAVED_SCRIPT = COUNTING + textwrap.dedent("""
    firewall = Firewall(saved=sys.argv[1])
    verdict = firewall.verdict_for("tcp", "ipv4", "0.0.0.0", 22).verdict
    print(json.dumps({"verdict": verdict, "nft_runs": calls.count("nft")}))
""")


def test_a_saved_ruleset_is_used_by_the_next_run_until_it_changes(tmp_path):
    """One-shot runs (`list`) keep the nft ruleset by generation id: the next run (another
    process) reads no `nft` while the generation is the same, and reads again once the ruleset
    changed or the file belongs to another boot."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    saved = tmp_path / "nft-ruleset.json"
    ns = f"pwtest-fws-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", ns)

    def run() -> dict:
        done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", SAVED_SCRIPT,
                               str(saved)], capture_output=True, text=True, timeout=120,
                              cwd=REPO)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    try:
        sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        sh("ip", "-n", ns, "addr", "add", "10.66.0.1/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        first, second = run(), run()
        sh("ip", "netns", "exec", ns, "nft", "-f", "-", stdin=(
            "table inet pwtest { chain input { type filter hook input priority 0;"
            " policy drop; }\n}\n"))
        changed, again = run(), run()
        kept = json.loads(saved.read_text())
        kept["boot"] = "another boot"
        saved.write_text(json.dumps(kept))
        other_boot = run()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    assert first == {"verdict": "accept", "nft_runs": 1}  # read, and kept
    assert second == {"verdict": "accept", "nft_runs": 0}  # same generation: from the file
    assert changed == {"verdict": "drop", "nft_runs": 1}  # a new generation: read again
    assert again == {"verdict": "drop", "nft_runs": 0}
    assert other_boot == {"verdict": "drop", "nft_runs": 1}  # not this boot's: read again
    assert saved.stat().st_mode & 0o777 == 0o600


def test_kernel_settings_are_read_in_the_namespace_asked_for():
    """The probe's kernel readers, lent the firewall Host's reader, answer for that namespace:
    its forwarding switches and the iptables-legacy tables loaded there, not this one's."""
    from portwatch.core.firewall import Host
    from portwatch.core.probe import ip_forwarding, legacy_iptables_tables

    if reason := skip_reason():
        pytest.skip(reason)
    ns = f"pwtest-kern-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", ns)
    try:
        host = Host(("ip", "netns", "exec", ns))
        in_ns = ("ip", "netns", "exec", ns)
        sh(*in_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=0")
        assert ip_forwarding(host.read) == {"ip": True, "ip6": False}
        sh(*in_ns, "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=1")
        assert ip_forwarding(host.read) == {"ip": False, "ip6": True}
        assert legacy_iptables_tables("ip", host.read) == []  # a new namespace has none
        sh(*in_ns, "iptables-legacy", "-t", "mangle", "-S")  # instantiates the table there
        assert legacy_iptables_tables("ip", host.read) == ["mangle"]
        assert legacy_iptables_tables("ip6", host.read) == []
        here = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
        assert ip_forwarding()["ip"] is here  # the default reader reads this namespace
    finally:
        sh("ip", "netns", "delete", ns)
