"""Scenario suite for the risk policy (portwatch/core/risk.py): real processes, real sockets.

Each scenario starts a real process that listens on a real socket, finds it with portwatch's own
scanner (so the process name, executable and command line are what the kernel reports), and
annotates it with the bundled catalog; it asserts the risk, the kind of reason, the software
recognised and the trust flags.

How programs are imitated (no real Redis, PostgreSQL, Jupyter ... needed):

- ``link``: a symlink named like the program (``redis-server``) to the real Python interpreter.
  The kernel names the process after the link and /proc/PID/exe is the interpreter; portwatch
  recognises the program by the link's name because it resolves to the executable (the way
  /usr/sbin/mysqld -> mariadbd works). A stand-in for recognition, not for the program itself.
- ``script``: an executable script named like the program, run through its #! line (how
  jupyter-lab really runs); ``module``: ``python -m NAME`` (a module made for the test).
- ``renamed``: a Python process that renames itself with prctl(PR_SET_NAME), a masquerade.
- ``copy``: a copy of Debian's python3.11 in a temporary directory (exe-in-temp-dir), optionally
  deleted after start (exe-deleted, as /proc/PID/exe reports it).

Most sockets listen on loopback; a scenario for a wider exposure annotates the same real
listener at that exposure (the address decides nothing else), and a few bind 0.0.0.0 for the
moment of the check. A fixed port that is busy on this machine skips that scenario.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from children import end_child

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.knowledge.risk import NOTHING_KNOWN
from portwatch.core.model import Exposure, Proto, Risk
from portwatch.core.probe.scanner import scan_listeners

ALL, LAN, LOOP = Exposure.ALL_INTERFACES, Exposure.LOCAL_NETWORK, Exposure.LOOPBACK
PYTHON = os.path.realpath(sys.executable)
DEBIAN_PYTHON = "/usr/bin/python3.11"
DEADLINE = 30.0

LISTEN = textwrap.dedent("""
    import ctypes, socket, sys
    proto, host, port, rename = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if rename:  # PR_SET_NAME = 15: what the process calls itself
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(rename.encode()), 0, 0, 0)
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.bind((host, port))
    if proto == "tcp":
        s.listen()
    print(s.getsockname()[1], flush=True)
    sys.stdin.read()
""")

# The kind of a reason: words every reason of that kind has
REASONS = {
    "question": "check that",
    "loopback": "only this machine can reach it",
    "usual": "the usual software on this port",
    "recognised": "recognised by its",
    "mismatch": "calls itself",
    "history": "port once used by malware",
    "hedged": "if the listener is",
    "temp-dir": "temporary directory",
    "deleted": "was deleted or replaced",
    "client": "client socket",
    "unknown": "unknown service",
    "version": "check your version",
    "local-users": "any user or program on this machine",
    "context": "the notes for this port are about",
    "nothing": NOTHING_KNOWN,
}


@dataclasses.dataclass(frozen=True)
class Scenario:
    id: str
    how: str  # link | script | module | renamed | plain | copy | deleted
    name: str  # the program's name (link, script, module, prctl name); "" for plain
    port: int  # 0: the system picks
    exposure: Exposure
    risk: Risk
    reason: str  # a key of REASONS
    software: str | None  # the recognised software's name (likely_software), None: nothing
    flags: tuple[str, ...] = ()
    proto: str = "tcp"
    bind: str = "127.0.0.1"  # "0.0.0.0" for the few that really listen everywhere
    subdir: str = ""  # script: the directory the script lives in, under the test's own

    def __str__(self) -> str:
        return self.id


S = Scenario
REDIS, PG, JUPYTER = "Redis", "PostgreSQL", "Jupyter Server (JupyterLab, Notebook)"
SSH, NGINX, APACHE = "OpenSSH (sshd)", "nginx", "Apache HTTP Server"
SCENARIOS = [
    # --- the issue's table: the same program on its usual port and on another one
    S("redis 6379 loopback", "link", "redis-server", 6379, LOOP, Risk.NONE, "loopback", REDIS),
    S("redis 7777 loopback", "link", "redis-server", 7777, LOOP, Risk.NONE, "loopback", REDIS),
    S("redis 6379 everywhere", "link", "redis-server", 6379, ALL, Risk.MEDIUM, "question", REDIS),
    S("redis 7777 bound to 0.0.0.0", "link", "redis-server", 7777, ALL, Risk.MEDIUM, "question",
      REDIS, bind="0.0.0.0"),
    S("redis 6380 second instance", "link", "redis-server", 6380, LAN, Risk.MEDIUM, "question",
      REDIS),
    S("postgres 5432 everywhere", "link", "postgres", 5432, ALL, Risk.MEDIUM, "question", PG),
    S("postgres 5433 bound to 0.0.0.0", "link", "postgres", 5433, ALL, Risk.MEDIUM, "question",
      PG, bind="0.0.0.0"),
    S("postgres 6543 everywhere", "link", "postgres", 6543, ALL, Risk.MEDIUM, "question", PG),
    S("postgres 5433 loopback", "link", "postgres", 5433, LOOP, Risk.NONE, "loopback", PG),
    S("jupyter-lab 8888 everywhere", "script", "jupyter-lab", 8888, ALL, Risk.MEDIUM,
      "question", JUPYTER),
    S("jupyter-lab 8889 everywhere", "script", "jupyter-lab", 8889, ALL, Risk.MEDIUM,
      "question", JUPYTER),
    S("jupyter-lab 8889 loopback", "script", "jupyter-lab", 8889, LOOP, Risk.NONE, "loopback",
      JUPYTER),
    S("python -m jupyter_server 8890", "module", "jupyter_server", 8890, ALL, Risk.MEDIUM,
      "question", JUPYTER),
    S("sshd 22 everywhere", "link", "sshd", 22, ALL, Risk.MEDIUM, "version", SSH),
    S("sshd 2222 everywhere", "link", "sshd", 2222, ALL, Risk.MEDIUM, "version", SSH),
    S("sshd 2222 loopback", "link", "sshd", 2222, LOOP, Risk.NONE, "loopback", SSH),
    S("nginx 80", "link", "nginx", 80, ALL, Risk.NONE, "usual", NGINX),
    S("nginx 9999", "link", "nginx", 9999, ALL, Risk.NONE, "recognised", NGINX),
    S("apache2 8080", "link", "apache2", 8080, ALL, Risk.NONE, "recognised", APACHE),
    S("apache2 9998", "link", "apache2", 9998, ALL, Risk.NONE, "recognised", APACHE),
    # --- masquerades: a name is not an identity
    S("python calling itself sshd on 22", "renamed", "sshd", 22, ALL, Risk.MEDIUM, "mismatch",
      None, ("name-mismatch",)),
    S("python calling itself sshd on loopback", "renamed", "sshd", 2222, LOOP, Risk.LOW,
      "mismatch", None, ("name-mismatch",)),
    S("python calling itself obs on 4444", "renamed", "obs", 4444, ALL, Risk.MEDIUM, "mismatch",
      None, ("name-mismatch",)),
    S("python calling itself redis-server", "renamed", "redis-server", 6379, LOOP, Risk.LOW,
      "mismatch", None, ("name-mismatch",)),
    S("python calling itself postgres", "renamed", "postgres", 5432, ALL, Risk.MEDIUM,
      "mismatch", None, ("name-mismatch",)),
    S("jobs/backdoor.py on 4444 is not obs", "script", "backdoor.py", 4444, ALL, Risk.LOW,
      "history", None, subdir="jobs"),
    S("jobs/backdoor.py on 4444 loopback", "script", "backdoor.py", 4444, LOOP, Risk.NONE,
      "history", None, subdir="jobs"),
    S("code/node/ray/tor path is not Ray", "script", "server.py", 8265, ALL, Risk.NONE,
      "context", None, subdir="code/node/ray/tor"),
    S("unknown program on NetBus's 12345", "plain", "", 12345, ALL, Risk.LOW, "history", None),
    S("unknown program on Cobalt Strike's 50050", "plain", "", 50050, ALL, Risk.LOW, "history",
      None),
    # --- trust flags from the executable
    S("program in /tmp on every network", "copy", "", 0, ALL, Risk.MEDIUM, "temp-dir", None,
      ("exe-in-temp-dir",)),
    S("program in /tmp on loopback only", "copy", "", 0, LOOP, Risk.NONE, "nothing", None,
      ("exe-in-temp-dir",)),
    S("program whose file was deleted", "deleted", "", 0, ALL, Risk.MEDIUM, "deleted", None,
      ("exe-deleted", "exe-in-temp-dir")),
    # --- forwarders: never the product, hedged, medium at most
    S("docker-proxy publishing 6379", "link", "docker-proxy", 6379, ALL, Risk.MEDIUM, "hedged",
      None),
    S("rootlessport publishing 5432", "link", "rootlessport", 5432, ALL, Risk.MEDIUM, "hedged",
      None),
    S("docker-proxy publishing 2375", "link", "docker-proxy", 2375, ALL, Risk.MEDIUM, "hedged",
      None),
    S("docker-proxy on loopback 8888", "link", "docker-proxy", 8888, LOOP, Risk.NONE,
      "loopback", None),
    # --- loopback defaults and notes about local users
    S("dockerd API on loopback", "link", "dockerd", 2375, LOOP, Risk.MEDIUM, "local-users",
      "Docker Engine API (unencrypted)"),
    S("dockerd API everywhere", "link", "dockerd", 2375, ALL, Risk.HIGH, "",
      "Docker Engine API (unencrypted)"),
    S("devpi-server on loopback 3141", "link", "devpi-server", 3141, LOOP, Risk.NONE, "usual",
      "devpi-server"),
    S("python -m http.server on loopback", "module", "http.server", 8000, LOOP, Risk.NONE,
      "loopback", "Python http.server (python -m http.server)"),
    # --- UDP
    S("UDP client socket on an ephemeral port", "plain", "", 0, ALL, Risk.NONE, "client", None,
      proto="udp"),
    S("dhclient on 68/udp (a RHEL-only CVE)", "link", "dhclient", 68, ALL, Risk.NONE, "usual",
      "DHCP clients (NetworkManager, dhclient, dhcpcd, systemd-networkd)", proto="udp"),
    S("spotify 57621/udp", "link", "spotify", 57621, ALL, Risk.NONE, "usual",
      "Spotify desktop app", proto="udp"),
    S("kdeconnectd 1716/udp (a 2020 CVE to check)", "link", "kdeconnectd", 1716, LAN, Risk.LOW,
      "version", "KDE Connect", proto="udp"),
    # --- more servers whose notes follow them
    S("mongod on 27030 everywhere", "link", "mongod", 27030, ALL, Risk.MEDIUM, "question",
      "MongoDB"),
    S("mysqld on 3307 everywhere", "link", "mysqld", 3307, ALL, Risk.MEDIUM, "", "MySQL / MariaDB"),
    S("Elasticsearch's main class on 9201", "module", "org.elasticsearch.bootstrap.elasticsearch",
      9201, LAN, Risk.MEDIUM, "question", "Elasticsearch / OpenSearch"),
    # --- desktop and developer software
    S("syncthing 22000", "link", "syncthing", 22000, ALL, Risk.NONE, "usual", "Syncthing"),
    S("iperf3 5201", "link", "iperf3", 5201, ALL, Risk.NONE, "usual", "iperf3"),
    S("vite on its fallback 5174", "script", "vite", 5174, LOOP, Risk.NONE, "loopback",
      "Vite dev server"),
    S("vite exposed with --host on 5174", "script", "vite", 5174, ALL, Risk.MEDIUM, "version",
      "Vite dev server"),
    S("pveproxy 8006", "link", "pveproxy", 8006, ALL, Risk.MEDIUM, "question",
      "Proxmox VE web interface (pveproxy)"),
    S("clash 7890 everywhere", "link", "clash", 7890, LAN, Risk.MEDIUM, "question",
      "Clash / mihomo proxy"),
    S("clash 7890 loopback", "link", "clash", 7890, LOOP, Risk.NONE, "loopback",
      "Clash / mihomo proxy"),
]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(None)


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:  # our own children, by their PIDs
        end_child(proc)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()


def spawn(argv: list[str], started: list, env: dict | None = None) -> tuple[subprocess.Popen,
                                                                           int]:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    started.append(proc)
    line = proc.stdout.readline()
    if not line.strip():
        error = proc.stderr.read().strip()
        proc.wait(10)
        if "Address already in use" in error:
            raise OSError(error)
        raise AssertionError(f"the listener did not start: {error}")
    return proc, int(line)


def start(scenario: Scenario, workdir: Path, started: list) -> tuple[subprocess.Popen, int]:
    """The scenario's process, listening; skips when its fixed port is busy here."""
    args = [scenario.proto, scenario.bind, str(scenario.port)]
    how, env = scenario.how, None
    if how == "link":
        program = workdir / scenario.name
        program.symlink_to(PYTHON)
        argv = [str(program), "-c", LISTEN, *args, ""]
    elif how == "script":
        folder = workdir / scenario.subdir
        folder.mkdir(parents=True, exist_ok=True)
        program = folder / scenario.name
        program.write_text(f"#!{PYTHON}\n{LISTEN}")
        program.chmod(0o755)
        argv = [str(program), *args, ""]
    elif how == "module":
        package = workdir / "modules" / Path(*scenario.name.split("."))
        if scenario.name != "http.server":  # the standard library's own is the real thing
            package.mkdir(parents=True)
            (package / "__main__.py").write_text(LISTEN)
            env = {**os.environ, "PYTHONPATH": str(workdir / "modules")}
            argv = [PYTHON, "-m", scenario.name, *args, ""]
        else:
            argv = [PYTHON, "-m", "http.server", "--bind", scenario.bind, str(scenario.port)]
            return start_http_server(argv, scenario, started)
    elif how == "renamed":
        argv = [PYTHON, "-c", LISTEN, *args, scenario.name]
    elif how in ("copy", "deleted"):
        if not os.access(DEBIAN_PYTHON, os.X_OK):
            pytest.skip(f"{DEBIAN_PYTHON} is needed to run a program copied to /tmp")
        program = workdir / "python3"
        shutil.copy2(DEBIAN_PYTHON, program)
        argv = [str(program), "-c", LISTEN, *args, ""]
    else:
        argv = [PYTHON, "-c", LISTEN, *args, ""]
    try:
        proc, port = spawn(argv, started, env)
    except OSError as exc:
        pytest.skip(f"port {scenario.port}/{scenario.proto} is busy on this machine ({exc})")
    if how == "deleted":
        program.unlink()
    return proc, port


def start_http_server(argv: list[str], scenario: Scenario,
                      started: list) -> tuple[subprocess.Popen, int]:
    """Python's own http.server: it prints nothing we can wait on, so poll for its socket."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    started.append(proc)
    return proc, scenario.port


def find(pid: int, port: int, proto: str, proc: subprocess.Popen):
    """The listener of our process, seen by portwatch's scanner (polled: it may still start)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        for listener in scan_listeners().listeners:
            if listener.pid == pid and listener.port == port and listener.proto == proto:
                return listener
        if proc.poll() is not None:
            error = proc.stderr.read()
            if "Address already in use" in error:
                pytest.skip(f"port {port}/{proto} is busy on this machine")
            raise AssertionError(f"the process ended: {error}")
        time.sleep(0.05)
    raise AssertionError(f"portwatch did not see {pid} listening on {port}/{proto}")


def quiet_ephemeral_port(catalog, proto: str) -> int:
    """A free port of the kernel's ephemeral range that the catalog knows nothing about: a
    port the kernel picks at random may be one the catalog describes (57621/udp is Spotify's),
    which would make the client-socket scenario fail by chance."""
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
                 .split())
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    for port in range(high, low, -1):
        entry = catalog.lookup(port, proto)
        if entry.registered or entry.uses or entry.security:
            continue
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port
    pytest.skip("no free ephemeral port without a catalog entry")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_scenario(scenario, catalog, processes, tmp_path):
    if scenario.port == 0:
        scenario = dataclasses.replace(scenario, port=quiet_ephemeral_port(catalog,
                                                                           scenario.proto))
    proc, port = start(scenario, tmp_path, processes)
    listener = find(proc.pid, port, scenario.proto, proc)
    if scenario.how == "deleted":  # psutil hides it; /proc/PID/exe says " (deleted)"
        exe = os.readlink(f"/proc/{proc.pid}/exe")
        assert exe.endswith(" (deleted)")
        listener = dataclasses.replace(
            listener, process=dataclasses.replace(listener.process, exe=exe))
    if scenario.bind == "0.0.0.0":
        assert listener.exposure is ALL  # the real thing, for the moment of the check
    item = catalog.annotate(dataclasses.replace(listener, exposure=scenario.exposure))
    assessment = item.assessment
    where = f"{scenario}: {assessment.risk} — {assessment.reason}"
    assert assessment.risk is scenario.risk, where
    assert REASONS.get(scenario.reason, "") in assessment.reason, where
    assert "; only this machine can reach it" not in assessment.reason or (
        "reachable from" not in assessment.reason), where  # never both
    software = [use.software for use in item.likely_uses]
    assert software == ([scenario.software] if scenario.software else []), where
    assert set(scenario.flags) <= set(item.flags), where
    if not scenario.flags:
        assert item.flags == (), where


def test_the_suite_covers_what_the_issue_asks():
    """At least 40 scenarios, with masquerades, forwarders, loopback defaults and the table."""
    assert len(SCENARIOS) >= 40
    kinds = {s.reason for s in SCENARIOS}
    assert {"mismatch", "hedged", "loopback", "question", "client", "history"} <= kinds
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)


def test_the_dhclient_cve_counts_only_on_red_hat_family_systems(catalog):
    """CVE-2018-1111 is about RHEL 6/7 and Fedora 28: context on Debian, a question when the
    distribution is unknown, a vulnerability to check on Fedora."""
    from portwatch.core.knowledge.risk import Situation, assess
    from portwatch.core.model import Family, Listener, ProcessInfo

    dhclient = ProcessInfo(1, "dhclient", "root", "/usr/sbin/dhclient", ("dhclient", "eth0"))
    listener = Listener(Proto.UDP, Family.IPV4, "0.0.0.0", 68, ALL, dhclient)
    entry = catalog.lookup(68, Proto.UDP)
    debian = assess(entry, ALL, dhclient, situation=Situation(frozenset({"debian"})))
    assert debian.risk is Risk.NONE and not any("1111" in n.title for n in debian.applicable)
    fedora = assess(entry, ALL, dhclient, situation=Situation(frozenset({"fedora"})))
    assert fedora.risk is Risk.MEDIUM and "check your version" in fedora.reason
    unknown = assess(entry, ALL, dhclient, situation=Situation(None))
    assert unknown.risk is Risk.MEDIUM and "check which system this is" in unknown.reason
    if catalog.situation.platform and {"debian", "ubuntu"} & catalog.situation.platform:
        assert catalog.annotate(listener).assessment.risk is Risk.NONE


TABLE = {  # the issue's table: each program on its usual port and on others
    "redis-server": ("link", (6379, 7777)),
    "postgres": ("link", (5432, 5433, 6543)),
    "jupyter-lab": ("script", (8888, 8889)),
    "sshd": ("link", (22, 2222)),
    "apache2": ("link", (80, 8080)),
    "nginx": ("link", (443, 9999)),
}


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0"])
def test_list_json_gives_the_same_software_and_risk_on_any_port(address, processes, tmp_path):
    """The done-check of the issue, through the real CLI: `portwatch list --json` shows the
    same likely_software and risk for a program on its usual port and on another one at the
    same exposure. 0.0.0.0 is bound only for the few seconds of the check."""
    pids: dict[str, list[int]] = {}
    for name, (how, ports) in TABLE.items():
        for port in ports:
            scenario = Scenario(f"{name} {port}", how, name, port, LOOP, Risk.NONE, "", None,
                                bind=address)
            workdir = tmp_path / f"{name}-{port}"
            workdir.mkdir()
            try:
                proc, _ = start(scenario, workdir, processes)
            except pytest.skip.Exception:
                continue  # that port is busy here: compare the others
            pids.setdefault(name, []).append(proc.pid)
    compared = {name: found for name, found in pids.items() if len(found) >= 2}
    assert len(compared) >= 4, f"too many busy ports here to compare: {pids}"
    deadline = time.monotonic() + DEADLINE
    while True:
        result = subprocess.run([sys.executable, "-m", "portwatch", "list", "--json"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        rows = {row["pid"]: row for row in json.loads(result.stdout)}
        if all(pid in rows for found in compared.values() for pid in found):
            break
        assert time.monotonic() < deadline, "portwatch list did not show every listener"
        time.sleep(0.1)
    for name, found in compared.items():
        seen = {(tuple(rows[pid]["likely_software"]), rows[pid]["risk"]) for pid in found}
        ports = [rows[pid]["port"] for pid in found]
        assert len(seen) == 1, f"{name} on {ports}: {seen}"
        (software, risk), = seen
        assert software, f"{name} was not recognised on {ports}"
        assert all(rows[pid]["flags"] == [] for pid in found)
        expected = "none" if address == "127.0.0.1" else (
            "none" if name in ("apache2", "nginx") else "medium")
        assert risk == expected, f"{name} on {ports}: {risk}"


def test_no_reason_in_the_catalog_contradicts_itself(catalog):
    """Every port and software port of the bundled catalog, for a hidden owner, an unknown
    program, a forwarder and a renamed process, at every exposure: a reason never says both
    that only this machine can reach the socket and that other machines can."""
    from portwatch.core.model import Family, Listener, ProcessInfo

    data = json.loads((Path(__file__).resolve().parents[2] / "data" / "curated.json")
                      .read_text(encoding="utf-8"))
    ports = {(low, Proto(proto)) for entry in data["entries"] for low, _high in entry["ports"]
              for proto in entry["protos"]}
    ports |= {(low, Proto(proto)) for item in data["software"] for low, _, proto in item["ports"]}
    processes = (None, ProcessInfo(1, "python3", "u", "/usr/bin/python3.11", ("python3", "x.py")),
                 ProcessInfo(2, "docker-proxy", "u", "/usr/bin/docker-proxy", ("docker-proxy",)),
                 ProcessInfo(3, "sshd", "u", "/usr/bin/python3.11", ("python3", "x.py")))
    wider = ("reachable from every network", "reachable from other machines")
    for (port, proto), process, exposure in (
            (key, process, exposure) for key in sorted(ports) for process in processes
            for exposure in Exposure):
        reason = catalog.annotate(Listener(proto, Family.IPV4, "192.0.2.1", port, exposure,
                                           process, owner_hidden=process is None)).assessment.reason
        assert not ("only this machine can reach it" in reason
                    and any(words in reason for words in wider)), (port, proto, reason)
        assert reason and "\n" not in reason, (port, proto, reason)
