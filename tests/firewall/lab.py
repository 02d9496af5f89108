"""A real topology for the firewall ground truth: network namespaces joined by veth pairs.

  client (eth0 10.77.0.2, fd77::2) ── host (eth0 10.77.0.1, fd77::1; docker0 10.88.0.1)
                                                    └── ctr (eth0 10.88.0.2, the "container")

Every address lives only inside these namespaces. The host runs an echo server on the listener
ports (answers "host"), the ctr namespace one on tcp 80 (answers "ctr", so a test sees that a
DNAT sent the connection on); `probe` makes real connections from the client namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from children import end_child

HERE = Path(__file__).resolve().parent
HOST_ADDR, CLIENT_ADDR, CTR_ADDR = "10.77.0.1", "10.77.0.2", "10.88.0.2"
HOST_ADDR6, CLIENT_ADDR6 = "fd77::1", "fd77::2"
TCP_PORTS = (22, 80, 443, 5000, 8080, 9000)
UDP_PORTS = (53, 5353, 9000)
PROBE_TIMEOUT = 2.0  # a dropped SYN or datagram: no answer within this (SYN is resent at 1 s)


def skip_reason() -> str | None:
    """Why the lab cannot run here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to create network namespaces and load rulesets"
    for tool in ("ip", "nft", "iptables-nft-restore", "iptables-legacy-restore"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian: iproute2, nftables, iptables)"
    return None


def sh(*argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Lab:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    servers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"pwtest-fwh-{self.tag}"

    @property
    def client(self) -> str:
        return f"pwtest-fwc-{self.tag}"

    @property
    def ctr(self) -> str:
        return f"pwtest-fwk-{self.tag}"

    def in_host(self, *argv: str, stdin: str | None = None) -> str:
        return sh("ip", "netns", "exec", self.host, *argv, stdin=stdin)

    def start(self) -> None:
        for ns in (self.host, self.client, self.ctr):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self._pair(self.host, "eth0", self.client, "eth0")
        self._pair(self.host, "docker0", self.ctr, "eth0")
        for ns, dev, addr in ((self.host, "eth0", f"{HOST_ADDR}/24"),
                              (self.client, "eth0", f"{CLIENT_ADDR}/24"),
                              (self.host, "docker0", "10.88.0.1/24"),
                              (self.ctr, "eth0", f"{CTR_ADDR}/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        for ns, addr in ((self.host, HOST_ADDR6), (self.client, CLIENT_ADDR6)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/64", "dev", "eth0", "nodad")
        sh("ip", "-n", self.ctr, "route", "add", "default", "via", "10.88.0.1")
        self.set_forwarding(True)
        # ICMP errors are rate-limited per peer (about 6 at once): the lab turns that off so
        # every reject reaches the client as one, even with all probes at the same moment.
        self.in_host("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")
        server = str(HERE / "echo_server.py")
        ports = [f"tcp:{p}" for p in TCP_PORTS] + [f"udp:{p}" for p in UDP_PORTS]
        self._serve(self.host, server, "host", ports)
        self._serve(self.ctr, server, "ctr", ["tcp:80"])

    def set_forwarding(self, on: bool) -> None:
        self.in_host("sysctl", "-qw", f"net.ipv4.ip_forward={int(on)}")

    def _pair(self, ns_a: str, dev_a: str, ns_b: str, dev_b: str) -> None:
        a, b = f"pwt{self.tag}{dev_a[0]}a", f"pwt{self.tag}{dev_a[0]}b"
        sh("ip", "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b)
        sh("ip", "-n", ns_a, "link", "set", a, "name", dev_a)
        sh("ip", "-n", ns_b, "link", "set", b, "name", dev_b)

    def _serve(self, ns: str, script: str, answer: str, ports: list[str]) -> None:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, script, answer, *ports],
            stdout=subprocess.PIPE, text=True,
        )
        self.servers.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready" once every port is bound
        assert line.strip() == "ready", f"echo server in {ns} did not start: {line!r}"

    def reset(self) -> None:
        """No ruleset at all: nft flushed, legacy tables emptied with ACCEPT policies."""
        self.in_host("nft", "flush", "ruleset")
        for restore, names in (("iptables-legacy-restore", "/proc/net/ip_tables_names"),
                               ("ip6tables-legacy-restore", "/proc/net/ip6_tables_names")):
            loaded = self.in_host("sh", "-c", f"cat {names} 2>/dev/null || true").split()
            blank = "".join(f"*{t}\nCOMMIT\n" for t in loaded)
            if blank:
                self.in_host(restore, stdin=blank)
        self.set_forwarding(True)

    def probe(self, targets: list[str]) -> dict[str, str]:
        """Real attempts from the client: target "tcp:ADDR:PORT" → accept:<who> / reject / drop."""
        out = sh("ip", "netns", "exec", self.client, sys.executable, str(HERE / "probe.py"),
                 str(PROBE_TIMEOUT), *targets)
        return json.loads(out)

    def stop(self) -> None:
        for proc in self.servers:
            end_child(proc)
            if proc.stdout:
                proc.stdout.close()
        for ns in (self.host, self.client, self.ctr):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        # veth pairs vanish with their namespaces; wait until the names are really gone
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            os.path.exists(f"/run/netns/{ns}") for ns in (self.host, self.client, self.ctr)
        ):
            time.sleep(0.05)
