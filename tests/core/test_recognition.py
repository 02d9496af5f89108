"""recognition.py: which program a process is — executable first, whole words, trust flags —
and versions.py's conditions. Recorded process data (what /proc reports); the scenario suite
runs the same cases against real processes."""

from __future__ import annotations

import textwrap

import pytest

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.knowledge.recognition import (
    SoftwareIndex,
    recognise,
    script_of,
    word_match,
)
from portwatch.core.knowledge.versions import condition_problem, in_versions
from portwatch.core.model import (
    EXE_DELETED,
    EXE_IN_TEMP_DIR,
    NAME_MISMATCH,
    Exposure,
    Family,
    KnownUse,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
    Software,
)

REDIS = Software("Redis", ("redis-server",))
OPENSSH = Software("OpenSSH (sshd)", ("sshd",))
MARIADB = Software("MySQL / MariaDB", ("mysqld", "mariadbd"))
JUPYTER = Software("Jupyter", ("jupyter-lab", "jupyter_server"))
HTTP_SERVER = Software("Python http.server", ("http.server",))
CATALINA = Software("Apache Tomcat", ("org.apache.catalina",))
INDEX = SoftwareIndex([REDIS, OPENSSH, MARIADB, JUPYTER, HTTP_SERVER, CATALINA])
OBS = KnownUse("obs-websocket", "", match=("obs",))
RAY = KnownUse("Ray dashboard", "", match=("ray", "ray.dashboard"))
PYTHON = "/usr/bin/python3.11"


def proc(name, exe, *cmdline):
    return ProcessInfo(4242, name, "alice", exe, tuple(cmdline))


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("obs", "/home/u/jobs/backdoor.py", False),
    ("obs", "obs", True),
    ("ssh", "sshd", False),
    ("tor", "/srv/tor-relay/run", True),
    ("tor", "monitoring", False),
    ("node", "node_exporter", True),  # "_" separates words, as in Python module names
    ("python", "python3.11", True),  # a version after the name
    ("apache2", "apache2", True),
    ("minidlna", "minidlnad", True),  # a long name's daemon
    ("code", "vscode", False),
])
def test_patterns_match_whole_words(pattern, text, expected):
    assert word_match(pattern, text) is expected


@pytest.mark.parametrize(("cmdline", "script"), [
    (("python3", "-m", "http.server", "8000"), "http.server"),
    (("python3", "-X", "dev", "/usr/local/bin/jupyter-lab", "--ip=0.0.0.0"), "jupyter-lab"),
    (("python3", "-c", "import x"), ""),
    (("java", "-cp", "/opt/tomcat/lib/*", "org.apache.catalina.startup.Bootstrap", "start"),
     "org.apache.catalina.startup.bootstrap"),
    (("java", "-jar", "/srv/h2-2.1.214.jar"), "h2-2.1.214.jar"),
    (("node", "--inspect", "/app/node_modules/.bin/vite"), "vite"),
])
def test_the_program_an_interpreter_runs(cmdline, script):
    assert script_of(cmdline) == script


def test_the_executable_decides_not_the_process_name_or_arguments():
    real = recognise(proc("redis-server", "/usr/bin/redis-server", "redis-server", "*:6379"),
                     (), INDEX)
    assert (real.software, real.by, real.flags) == (REDIS, "executable", ())
    tomcat = recognise(proc("java", "/usr/lib/jvm/bin/java", "java", "-cp", "x",
                            "org.apache.catalina.startup.Bootstrap"), (), INDEX)
    assert (tomcat.software, tomcat.by) == (CATALINA, "script")
    module = recognise(proc("python3", PYTHON, "python3", "-m", "http.server"), (), INDEX)
    assert module.software is HTTP_SERVER
    # a word in a path is not the program: obs, ray and tor here are directories
    path = recognise(proc("python3", PYTHON, "python3", "/home/u/jobs/obs/ray/tor/x.py"),
                     (OBS, RAY), INDEX)
    assert (path.software, path.uses, path.flags) == (None, (), ())


def test_a_renamed_process_is_flagged_and_recognises_nothing():
    renamed = recognise(proc("sshd", PYTHON, "python3", "/home/u/x.py"), (), INDEX)
    assert renamed.software is None and renamed.uses == ()
    assert NAME_MISMATCH in renamed.flags and renamed.claimed == "OpenSSH (sshd)"
    obs = recognise(proc("obs", PYTHON, "python3", "x.py"), (OBS,), INDEX)
    assert NAME_MISMATCH in obs.flags and obs.claimed == "obs-websocket"


@pytest.mark.parametrize("process", [
    proc("mysqld", "/usr/sbin/mariadbd", "/usr/sbin/mysqld"),  # a link to the same software
    proc("containerd-shim", "/usr/bin/containerd-shim-runc-v2", "containerd-shim-runc-v2"),
    proc("jupyter-lab", PYTHON, "/usr/bin/python3", "/usr/local/bin/jupyter-lab"),  # #! script
    proc("udhcpc", "/bin/busybox", "udhcpc", "-i", "eth0"),  # a multi-call program's applet
    proc("sshd", None, "sshd", "-D"),  # the executable cannot be seen: the name is all there is
])
def test_names_that_legitimately_differ_are_not_flagged(process):
    uses = (KnownUse("udhcpc", "", match=("udhcpc",)),)
    assert NAME_MISMATCH not in recognise(process, uses, INDEX).flags


def test_without_an_executable_the_process_name_recognises():
    found = recognise(proc("sshd", None, "sshd", "-D"), (), INDEX)
    assert (found.software, found.by) == (OPENSSH, "process name")


def test_short_patterns_never_match_arguments_long_ones_may_on_their_port():
    ray = recognise(proc("python3", PYTHON, "python3", "/x/server.py", "--ray"), (RAY,), INDEX)
    assert ray.uses == ()
    dashboard = recognise(proc("python3", PYTHON, "python3", "/x/server.py",
                               "ray.dashboard"), (RAY,), INDEX)
    assert dashboard.uses == (RAY,) and dashboard.by == "command line"


def test_a_package_is_an_extra_input():
    index = SoftwareIndex([Software("Redis", ("redis-server",), ("redis-server",))])
    odd = proc("keydb", "/opt/kv/bin/kv", "kv")
    assert recognise(odd, (), index).software is None
    found = recognise(odd, (), index, package="redis-server")
    assert found.software.name == "Redis" and found.by == "package"


def test_trust_flags_from_the_executable_path():
    deleted = recognise(proc("x", "/usr/local/bin/x (deleted)", "x"), (), INDEX)
    assert deleted.flags == (EXE_DELETED,) and deleted.exe == "x"
    temp = recognise(proc("x", "/tmp/.cache/x", "x"), (), INDEX)
    assert temp.flags == (EXE_IN_TEMP_DIR,)
    shm = recognise(proc("x", "/dev/shm/x", "x"), (), INDEX)
    assert EXE_IN_TEMP_DIR in shm.flags


def test_a_forwarder_is_never_the_product():
    proxy = proc("docker-proxy", "/usr/bin/docker-proxy", "docker-proxy", "-host-port", "6379")
    docker = KnownUse("Docker", "", match=("docker",))
    found = recognise(proxy, (docker,), INDEX)
    assert found.software is None and found.uses == ()


@pytest.mark.parametrize(("version", "spec", "expected"), [
    ("20.08.1", "< 20.08.2", True),
    ("22.12.3-1", "< 20.08.2", False),
    ("1:2.4.50-1+deb12u1", ">= 2.4.49, <= 2.4.50", True),
    ("2.4.9", "< 2.4.50", True),  # number by number, not as text
    ("git-main", "< 2", None),
])
def test_versions_conditions(version, spec, expected):
    assert in_versions(version, spec) is expected


def test_a_bad_versions_condition_is_explained():
    assert condition_problem("< 2.0") is None
    assert "comparisons such as" in condition_problem("before 2.0")


def test_a_users_software_item_follows_the_program_to_any_port(tmp_path):
    """catalog.d may describe software; the old shape (entries only) keeps working beside it."""
    folder = tmp_path / "catalog.d"
    folder.mkdir()
    (folder / "lab.yaml").write_text(textwrap.dedent("""\
        schema: 1
        topic: lab
        software:
          - name: Lab dashboard
            executables: [labdash]
            ports: ["9000/tcp"]
            note: our team's dashboard
            security:
              - title: Lab dashboard has no login
                severity: high
                kind: exposure
                local_users: true
                note: anyone who reaches it can change the lab
        """))
    (folder / "old.yaml").write_text(textwrap.dedent("""\
        schema: 1
        topic: old shape
        entries:
          - ports: 48620
            proto: tcp
            uses:
              - software: Build agent
                match: [buildagent]
        """))
    catalog = load_catalog(folder)
    assert catalog.problems == ()
    labdash = ProcessInfo(7, "labdash", "alice", "/opt/lab/labdash", ("labdash",))
    for port in (9000, 7000):
        item = catalog.annotate(Listener(Proto.TCP, Family.IPV4, "0.0.0.0", port,
                                         Exposure.ALL_INTERFACES, labdash))
        assert [u.software for u in item.likely_uses] == ["Lab dashboard"]
        assert item.assessment.risk is Risk.HIGH
        assert item.assessment.applicable[0].origin.endswith("lab.yaml")
    loop = catalog.annotate(Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 7000,
                                     Exposure.LOOPBACK, labdash))
    assert loop.assessment.risk is Risk.MEDIUM  # local_users: other users of this machine
    assert [u.software for u in catalog.lookup(48620, Proto.TCP).uses] == ["Build agent"]


def test_a_probes_package_recognises_and_its_version_decides_versions_conditions():
    """What the provenance probe attaches (list --json's "package"): the package name is an
    extra recognition input, its version is checked against a note's `versions`."""
    import dataclasses

    from portwatch.core.model import Package, Provenance

    catalog = load_catalog(None)

    def kdeconnect(version):
        package = Package("dpkg", "kdeconnect", version) if version else None
        return ProcessInfo(7, "kdeconnectd", "alice", "/usr/lib/kdeconnectd", ("kdeconnectd",),
                           provenance=Provenance(False, package))

    risks = {}
    for version in ("20.04.1", "22.12.3-1", None):
        item = catalog.annotate(Listener(Proto.UDP, Family.IPV4, "0.0.0.0", 1716,
                                         Exposure.LOCAL_NETWORK, kdeconnect(version)))
        risks[version] = item.assessment.risk
        assert [u.software for u in item.likely_uses] == ["KDE Connect"]
    assert risks == {"20.04.1": Risk.LOW, "22.12.3-1": Risk.NONE, None: Risk.LOW}
    renamed = ProcessInfo(8, "kv", "alice", "/opt/kv/kv", ("kv",), provenance=Provenance(
        False, Package("dpkg", "redis-server", "5:7.0.15-1")))
    item = catalog.annotate(Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 7000,
                                     Exposure.LOOPBACK, renamed))
    assert (item.likely_uses[0].software, item.recognised_by) == ("Redis", "package")
    assert dataclasses.replace(renamed, provenance=None).provenance is None


def test_the_provenance_probes_flags_count():
    """Flags the provenance probe found raise the risk like recognition's own."""
    from portwatch.core.model import KERNEL_LIKE_NAME, Provenance

    catalog = load_catalog(None)

    def listen(flags, exposure=Exposure.ALL_INTERFACES):
        process = ProcessInfo(9, "kworker/0:1", "alice", "/home/alice/.x/kworker",
                              ("[kworker/0:1]",), provenance=Provenance(False, None, flags))
        address = "0.0.0.0" if exposure is Exposure.ALL_INTERFACES else "127.0.0.1"
        return catalog.annotate(Listener(Proto.TCP, Family.IPV4, address, 41000, exposure,
                                         process))

    kernel = listen((KERNEL_LIKE_NAME,))
    assert kernel.assessment.risk is Risk.MEDIUM and "kernel thread" in kernel.assessment.reason
    assert KERNEL_LIKE_NAME in kernel.flags
    renamed = listen((NAME_MISMATCH,))  # renamed, but not after a program portwatch knows
    assert renamed.assessment.risk is Risk.LOW and "process name" in renamed.assessment.reason
    assert listen((NAME_MISMATCH,), Exposure.LOOPBACK).assessment.risk is Risk.NONE
    deleted = listen((EXE_DELETED,), Exposure.LOOPBACK)
    assert deleted.assessment.risk is Risk.LOW and "deleted" in deleted.assessment.reason
