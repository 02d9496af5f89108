"""Ground truth: portwatch's firewall verdict agrees with a real connection attempt.

Each case loads a real ruleset into the lab's host namespace (hand-written nftables, iptables-nft,
iptables-legacy, real ufw, Docker-style DNAT, a firewalld-style table), a client namespace really
connects to every listener port (TCP connect, UDP datagram and reply), and portwatch evaluates
the host namespace's ruleset for the same listeners and the client's address.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cases import CASES, Case
from lab import CLIENT_ADDR, CLIENT_ADDR6, HOST_ADDR, HOST_ADDR6, TCP_PORTS, UDP_PORTS, Lab

from portwatch.core.firewall import Host, evaluate_snapshot, read_snapshot


def _load_ufw(lab: Lab, script: str, tmp_path) -> None:
    """Real ufw, run in a private mount namespace over copies of /etc/ufw and /etc/default/ufw
    (`ufw default …` writes there), so the machine's own ufw configuration is never touched."""
    if shutil.which("ufw") is None or shutil.which("unshare") is None:
        pytest.skip("needs ufw and unshare (Debian: ufw, util-linux)")
    conf, default = tmp_path / "ufw", tmp_path / "default-ufw"
    shutil.copytree("/etc/ufw", conf)
    shutil.copyfile("/etc/default/ufw", default)
    text = (conf / "ufw.conf").read_text().replace("ENABLED=yes", "ENABLED=no")
    (conf / "ufw.conf").write_text(text)
    (conf / "sysctl.conf").write_text("")  # sysctls stay as the lab set them
    before = {p: Path(p).read_bytes() for p in ("/etc/ufw/ufw.conf", "/etc/default/ufw")}
    commands = " && ".join(["ufw --force enable", *script.splitlines()])
    subprocess.run(
        ["unshare", "-m", "sh", "-c",
         f"mount --bind {conf} /etc/ufw && mount --bind {default} /etc/default/ufw && "
         f"ip netns exec {lab.host} sh -c '{commands}'"],
        check=True, capture_output=True, timeout=120,
    )
    assert before == {p: Path(p).read_bytes() for p in before}, "ufw changed the host's files"


_BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={path}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>"""


@contextlib.contextmanager
def _firewalld(lab: Lab, script: str, tmp_path) -> Iterator[None]:
    """Real firewalld in the host namespace: its own D-Bus system bus (a private dbus-daemon),
    a copy of /etc/firewalld as its configuration, logging to the console; the commands are
    firewall-cmd arguments, one call per line. It removes its rules when it ends."""
    if shutil.which("firewalld") is None or shutil.which("dbus-daemon") is None:
        pytest.skip("needs firewalld and dbus-daemon (Debian: firewalld, dbus)")
    runtime = Path("/run/firewalld")  # firewalld creates it (empty); removed again below
    runtime_existed = runtime.exists()
    (tmp_path / "bus.conf").write_text(_BUS_CONF.format(path=tmp_path / "bus"))
    shutil.copytree("/etc/firewalld", tmp_path / "firewalld")
    bus = subprocess.Popen(["dbus-daemon", "--config-file", str(tmp_path / "bus.conf"),
                            "--nofork", "--print-address"], stdout=subprocess.PIPE, text=True)
    assert bus.stdout is not None
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus.stdout.readline().strip()}
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", lab.host, "firewalld", "--nofork", "--nopid", "--system-config",
         str(tmp_path / "firewalld"), "--log-target", "console"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cmd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", lab.host, "firewall-cmd", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    try:
        deadline = time.monotonic() + 60
        while cmd("--state").stdout.strip() != "running":
            assert time.monotonic() < deadline, "firewalld did not start within 60 s"
            assert daemon.poll() is None, "firewalld ended at start"
            time.sleep(0.2)
        for line in script.splitlines():
            done = cmd(*shlex.split(line))
            assert done.returncode == 0, f"firewall-cmd {line}: {done.stderr}"
        yield
    finally:
        for proc in (daemon, bus):
            proc.terminate()
            proc.wait(timeout=60)
        bus.stdout.close()
        if not runtime_existed and runtime.is_dir() and not any(runtime.iterdir()):
            runtime.rmdir()


def _load(lab: Lab, case: Case, tmp_path) -> None:
    lab.reset()
    if case.kind == "nft" and case.text:
        lab.in_host("nft", "-f", "-", stdin=case.text)
    elif case.kind in ("ipt", "ipt+noforward"):
        lab.in_host("iptables-nft-restore", stdin=case.text)
        if case.kind == "ipt+noforward":
            lab.set_forwarding(False)
    elif case.kind == "legacy":
        lab.in_host("iptables-legacy-restore", stdin=case.text)
    elif case.kind == "legacy6":
        lab.in_host("ip6tables-legacy-restore", stdin=case.text)
    elif case.kind == "legacy+nft":
        legacy, nft = case.text.split("---\n")
        lab.in_host("iptables-legacy-restore", stdin=legacy)
        lab.in_host("nft", "-f", "-", stdin=nft)
    elif case.kind == "ufw":
        _load_ufw(lab, case.text, tmp_path)


def _targets(case: Case) -> dict[str, str]:
    """Probe name ("tcp/22", "udp6/53") → probe target for probe.py."""
    found = {f"tcp/{p}": f"tcp:{HOST_ADDR}:{p}" for p in TCP_PORTS}
    found |= {f"udp/{p}": f"udp:{HOST_ADDR}:{p}" for p in UDP_PORTS}
    if case.v6:
        found |= {f"tcp6/{p}": f"tcp:{HOST_ADDR6}:{p}" for p in TCP_PORTS}
        found |= {f"udp6/{p}": f"udp:{HOST_ADDR6}:{p}" for p in UDP_PORTS}
    return found


def _expected(case: Case, name: str) -> str:
    want = case.expect.get(name, case.default)
    return "accept:host" if want == "accept" else want


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verdict_agrees_with_a_real_connection(lab, case, tmp_path):
    if case.kind == "firewalld":
        lab.reset()
        with _firewalld(lab, case.text, tmp_path):
            _check(lab, case)
    else:
        _load(lab, case, tmp_path)
        _check(lab, case)


def _check(lab: Lab, case: Case) -> None:
    targets = _targets(case)
    real = lab.probe(list(targets.values()))
    snapshot = read_snapshot(Host(("ip", "netns", "exec", lab.host)))
    assert snapshot.problems == ()
    mismatches = []
    for name, target in targets.items():
        seen = real[target]
        # The lab first: the ruleset must do what the case says, or the case proves nothing.
        assert seen == _expected(case, name), f"{case.name}: {name} really ended as {seen}"
        proto = name[:3]
        v6 = name[3] == "6"
        port = int(name.split("/")[1])
        family, address = ("ipv6", HOST_ADDR6) if v6 else ("ipv4", "0.0.0.0")
        source = CLIENT_ADDR6 if v6 else CLIENT_ADDR
        verdict = evaluate_snapshot(snapshot, proto, family, address, port, source)
        assert verdict is not None
        on_eth0 = dict(verdict.by_interface)["eth0"]
        want = "unknown" if name in case.unknown else seen.split(":")[0]
        if on_eth0 != want:
            mismatches.append(f"{name}: real {seen}, portwatch {on_eth0} ({verdict.reason})")
        # Any sender: a port someone really reached is never reported as closed.
        anyone = evaluate_snapshot(snapshot, proto, family, address, port)
        if seen.startswith("accept") and dict(anyone.by_interface)["eth0"] not in (
                "accept", "unknown"):
            mismatches.append(f"{name}: reachable, yet for any sender portwatch says "
                              f"{anyone.verdict} ({anyone.reason})")
    assert not mismatches, "\n".join(mismatches)
