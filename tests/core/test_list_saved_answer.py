"""`portwatch list` reuses its kept answer only while every input it was made from holds.

Each test makes the answer be kept (runs until one is answered from it: the `--debug` line says
so), changes one input with real processes, sockets, files or nft rules, and then compares the
run with the kept answer against a run with it disabled (PORTWATCH_NO_SAVED_ANSWER=1), on the
test's own rows (other programs on this machine may come and go between two runs): the change
must show, and the kept answer must not have been used for it. Connections are live: a new
one shows in a run answered from the kept answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from children import end_child
from namespaces import move_into, root_skip_reason, unit_cgroup
from test_exec_owner import LISTEN_THEN_EXEC

from portwatch.core.output import saved_list
from portwatch.core.probe.answer_inputs import interfaces, local_addresses
from portwatch.core.probe.connections import NO_CONNECTIONS

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the kept answer needs the netlink scanner (Linux)")

DEADLINE = 60.0
HIT = "answered from the kept answer"

# Listens on 127.0.0.1, prints the port; on a line "name X" renames itself (its comm), then
# says "done"; stays until its stdin closes.
RENAMING = textwrap.dedent(
    """
    import socket, sys
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    print(s.getsockname()[1], flush=True)
    for line in sys.stdin:
        if line.startswith("name "):
            with open("/proc/self/comm", "w") as comm:
                comm.write(line[5:].strip())
            print("done", flush=True)
    """
)


# Listens on 127.0.0.1, prints the port; on "fork" forks a child that keeps the socket (a
# second holder; it prints its pid) and stays until stdin closes, as the parent does.
FORKING = textwrap.dedent(
    """
    import os, socket, sys
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    print(s.getsockname()[1], flush=True)
    for line in sys.stdin:
        if line.startswith("fork") and os.fork() == 0:
            print(os.getpid(), flush=True)
            sys.stdin.read()
            os._exit(0)
    """
)


def run_list(*args: str, saved: bool = True, prefix: tuple[str, ...] = ()) -> tuple[str, str]:
    env = dict(os.environ)
    env.pop("PORTWATCH_NO_SAVED_ANSWER", None)
    if not saved:
        env["PORTWATCH_NO_SAVED_ANSWER"] = "1"
    done = subprocess.run([*prefix, sys.executable, "-m", "portwatch", "--debug", "list", *args],
                          capture_output=True, text=True, timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def ours(stdout: str, pids: set[int], sockets: set[tuple] = frozenset()) -> dict[tuple, dict]:
    """The rows of the test's processes, and of its `sockets` (proto, address, port) whoever
    owns them (another program may use the same port number elsewhere)."""
    return {(r["proto"], r["address"], r["port"], r["pid"]): r for r in json.loads(stdout)
            if r["pid"] in pids or (r["proto"], r["address"], r["port"]) in sockets}


def kept_and_used(*args: str, prefix: tuple[str, ...] = ()) -> None:
    """Run until a run is answered from the kept answer (the first runs make the owner map
    and keep the answer; another program's new listener meanwhile costs one more run)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        _, err = run_list(*args, prefix=prefix)
        if HIT in err:
            return
        assert time.monotonic() < deadline, f"no run was answered from the kept answer: {err}"


def same_as_uncached(pids: set[int], sockets: set[tuple] = frozenset(), *, hit: bool | None = False,
                     prefix: tuple[str, ...] = ()) -> dict[tuple, dict]:
    """A run that may use the kept answer equals one that may not, on the test's rows.
    `hit`: whether the first may have been answered from it (None: either)."""
    out, err = run_list("--json", prefix=prefix)
    reference, _ = run_list("--json", saved=False, prefix=prefix)
    if hit is False:
        assert HIT not in err, "the kept answer was used although an input changed"
    elif hit is True:
        assert HIT in err, err
    mine = ours(out, pids, sockets)
    assert mine == ours(reference, pids, sockets)
    return mine


@pytest.fixture
def listeners(listener_factory):
    made = [listener_factory("tcp", "127.0.0.1"), listener_factory("udp", "::1"),
            listener_factory("tcp", "::1")]
    return made


def pids_of(children) -> set[int]:
    return {child.pid for child in children}


def test_an_unchanged_machine_is_answered_from_the_kept_answer(listeners):
    kept_and_used("--json")
    pids = pids_of(listeners)
    rows = same_as_uncached(pids, hit=None)
    assert len(rows) == 3
    kept_and_used()  # the table too (`list --json` keeps no cells: one run makes them)
    out, _ = run_list()
    reference, _ = run_list(saved=False)
    for child in listeners:
        assert f" {child.pid} " in out

    def cells(text: str) -> list[list[str]]:  # columns are as wide as every row needs: words
        return [line.split() for line in text.splitlines()
                if any(f" {p} " in line for p in pids)]

    assert cells(out) == cells(reference)
    assert len(cells(out)) == 3


def test_a_new_listener_is_not_taken_from_the_kept_answer(listeners, listener_factory):
    kept_and_used("--json")
    new = listener_factory("tcp", "127.0.0.1")
    rows = same_as_uncached(pids_of(listeners) | {new.pid})
    assert any(key[3] == new.pid for key in rows)
    # only the new row is made afresh, the others come from the kept answer (another
    # program's news may cost it one more run)
    deadline = time.monotonic() + DEADLINE
    while True:
        new_two = listener_factory("tcp", "127.0.0.1")
        out, err = run_list("--json")
        if "1 made afresh" in err:
            break
        assert time.monotonic() < deadline, err
    reference, _ = run_list("--json", saved=False)
    pids = pids_of(listeners) | {new.pid, new_two.pid}
    assert ours(out, pids) == ours(reference, pids)
    assert len(ours(out, pids)) == 5


def test_a_closed_listener_is_gone_and_the_rest_still_kept(listeners):
    kept_and_used("--json")
    closed = listeners.pop()
    closed.stop()
    rows = same_as_uncached(pids_of(listeners) | {closed.pid}, hit=None)
    assert all(key[3] != closed.pid for key in rows)
    assert len(rows) == 2


@contextlib.contextmanager
def scripted_owner(script: str):
    """A child running `script`, which prints its listener's port and then takes commands on
    stdin; yields (the child, a function that sends one command line, the port). Its stdin is
    closed first at the end (a child it forked reads the same pipe), then it is ended by PID."""
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

    def send(line: str) -> None:
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    try:
        yield proc, send, int(proc.stdout.readline())
    finally:
        proc.stdin.close()
        end_child(proc)  # our own child, by its PID
        proc.stdout.close()


def test_an_owner_that_execs_another_program(listeners):
    with scripted_owner(LISTEN_THEN_EXEC) as (proc, send, port):
        kept_and_used("--json")
        send("go")
        deadline = time.monotonic() + DEADLINE
        while os.readlink(f"/proc/{proc.pid}/exe") == os.path.realpath(sys.executable):
            assert time.monotonic() < deadline, "the exec happens"
            time.sleep(0.02)
        rows = same_as_uncached({proc.pid})
        (row,) = rows.values()
        assert row["process"] == "sleep" and row["port"] == port


def test_an_owner_that_renames_itself(listeners):
    with scripted_owner(RENAMING) as (proc, send, port):
        kept_and_used("--json")
        send("name pwtest-renamed")
        assert proc.stdout.readline().strip() == "done"
        (row,) = same_as_uncached({proc.pid}).values()
        assert row["process"] == "pwtest-renamed" and row["port"] == port


def test_a_new_holder_of_the_same_socket():
    child = None
    try:
        with scripted_owner(FORKING) as (proc, send, port):
            kept_and_used("--json")
            send("fork")
            child = int(proc.stdout.readline())
            (row,) = same_as_uncached({proc.pid}).values()
            assert [h["pid"] for h in row["holders"]] == [proc.pid, child] \
                and row["port"] == port
    finally:
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)  # the child it forked for the test


def test_a_new_owner_on_the_same_port(listener_factory):
    first = listener_factory("tcp", "127.0.0.1")
    port = first.port
    kept_and_used("--json")
    first.stop()  # the owner goes; another process binds the same port
    second = listener_factory("tcp", "127.0.0.1", port)
    rows = same_as_uncached({first.pid, second.pid})
    assert [(key[2], key[3]) for key in rows] == [(port, second.pid)]


def test_an_edited_catalog_file(listeners, isolated_dirs):
    config, _ = isolated_dirs
    child = listeners[0]
    kept_and_used("--json")
    catalog = config / "catalog.d"
    catalog.mkdir()
    (catalog / "mine.yaml").write_text(textwrap.dedent(f"""\
        schema: 1
        topic: pwtest
        entries:
          - ports: {child.port}
            proto: tcp
            uses:
              - software: pwtest service
                note: the test's own
        """), encoding="utf-8")
    rows = same_as_uncached({child.pid})
    (row,) = rows.values()
    assert any(use.startswith("pwtest service") for use in row["uses"])


def test_edited_settings(listeners, isolated_dirs):
    config, _ = isolated_dirs
    kept_and_used("--json")
    (config / "settings.yaml").write_text("poll_interval: 5.0\n", encoding="utf-8")
    same_as_uncached(pids_of(listeners))


def test_a_new_connection_is_counted_from_the_kept_answer(listeners):
    server = listeners[0]
    kept_and_used("--json")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10):
        deadline = time.monotonic() + DEADLINE
        while True:  # another program's news may cost a run its kept answer
            rows = same_as_uncached({server.pid}, hit=None)
            out, err = run_list("--json")
            if HIT in err:
                break
            assert time.monotonic() < deadline
        (row,) = ours(out, {server.pid}).values()
        assert row["connections"]["established"] == 1
        assert rows[next(iter(rows))]["connections"]["established"] == 1


def test_a_process_moved_to_another_unit(listeners):
    reason = root_skip_reason()
    if reason or not os.path.isdir("/sys/fs/cgroup/systemd"):
        pytest.skip(reason or "no name=systemd cgroup hierarchy here")
    child = listeners[0]
    kept_and_used("--json")
    name = f"pwtest-{uuid.uuid4().hex[:8]}.service"
    with unit_cgroup(Path("/sys/fs/cgroup/systemd"), f"pwtest.slice/{name}") as cgroup:
        move_into(cgroup, child.pid)  # moved back to the root when the test ends
        (row,) = same_as_uncached({child.pid}).values()
        assert row["unit"] == name


@pytest.fixture
def nft_table():
    reason = root_skip_reason("nft")
    if reason:
        pytest.skip(reason)
    name = f"pwtest{uuid.uuid4().hex[:8]}"
    subprocess.run(["nft", "add", "table", "inet", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["nft", "delete", "table", "inet", name], check=False)


@pytest.fixture
def exposed(nft_table):
    """(pid, port) of a listener on all interfaces whose port the test's nft table drops from
    outside (an exposure check: briefly, and protected before anything listens on it)."""
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rules = (f"add chain inet {nft_table} input {{ type filter hook input priority -5;"
             f" policy accept; }}\nadd rule inet {nft_table} input tcp dport {port} drop\n")
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import socket, sys
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", {port})); s.listen()
        print("ready", flush=True); sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        yield child.pid, port
    finally:
        end_child(child)  # our own child, by its PID
        child.stdin.close()
        child.stdout.close()


def test_a_changed_firewall_ruleset(nft_table, exposed):
    pid, port = exposed
    kept_and_used("--json")
    (before,) = same_as_uncached({pid}, hit=None).values()
    assert before["firewall"]["verdict"] == "drop"
    subprocess.run(["nft", "flush", "chain", "inet", nft_table, "input"], check=True)
    subprocess.run(["nft", "add", "rule", "inet", nft_table, "input", "tcp", "dport",
                    str(port), "reject"], check=True)
    (after,) = same_as_uncached({pid}).values()
    assert after["firewall"]["verdict"] == "reject"


def test_a_new_interface(exposed):
    """Reach names the interfaces a verdict holds on: a new one is a new answer."""
    if shutil.which("ip") is None:
        pytest.skip("needs ip (iproute2)")
    pid, _ = exposed
    kept_and_used("--json")
    tag = uuid.uuid4().hex[:8]
    name = f"pwt{tag}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"pwp{tag}"],
                   check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        # an address of TEST-NET-2 on the test's own link, gone with it
        subprocess.run(["ip", "addr", "add", "198.51.100.77/32", "dev", name], check=True)
        (row,) = same_as_uncached({pid}).values()
        assert name in row["firewall"]["by_interface"]
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)  # its peer goes with it


def test_fewer_privileges_do_not_use_roots_answer(exposed):
    """Without CAP_NET_ADMIN the ruleset cannot be read: root's kept verdict must not show."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv (util-linux) to drop capabilities")
    _, port = exposed
    kept_and_used("--json")
    fewer = (setpriv, "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--")
    (row,) = same_as_uncached(set(), {("tcp", "0.0.0.0", port)}, prefix=fewer).values()
    assert row["firewall"]["verdict"] == "unknown"
    assert row["owner_hidden"]  # nor may it read the fds of a process with more capabilities


def test_a_damaged_or_foreign_answer_is_ignored(listeners, isolated_dirs):
    _, data = isolated_dirs
    kept_and_used("--json")
    (path,) = data.glob("list-answer-*.json")
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    meta = json.loads(lines[0])
    meta["rows"] = [[*row[:4], row[4], "uid?", *row[6:]] for row in meta["rows"]]
    for damaged in ("{not json", "\n".join([json.dumps(meta), *lines[1:]]),
                    "\n".join(lines[:-5])):
        path.write_text(damaged, encoding="utf-8")
        os.chmod(path, 0o600)
        out, err = run_list("--json")
        assert HIT not in err
        assert "ignoring" in err or "no proven row" in err, err
        json.loads(out)
        kept_and_used("--json")
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o666)  # noqa: S103 (others could have written it: never believed)
    out, err = run_list("--json")
    assert HIT not in err and "ignoring" in err, err


def test_the_no_connections_text_is_the_summarys():
    assert NO_CONNECTIONS.record() == saved_list._NONE
    assert json.loads(saved_list._NONE_TEXT) == NO_CONNECTIONS.record()


def test_local_addresses_are_the_firewall_readers():
    """The connections' peers are judged against the same addresses on both ways of `list`."""
    from portwatch.core.firewall.source import Host, _interfaces

    if shutil.which("ip") is None:
        pytest.skip("needs ip (iproute2)")
    expected = {a for item in _interfaces(Host()) for a in item.addresses}
    assert local_addresses(interfaces()) == expected


def test_pids_since_a_saved_map_name_the_new_processes():
    """A restored owner map reads start times only above the last pid handed out when it was
    saved; that is right only while no pid wrapped since, which the counters must tell."""
    from portwatch.core.probe.kernel import pid_counters, pids_since

    then = pid_counters()
    assert then is not None
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        after = pids_since(then)
        # None only when pids wrapped meanwhile (pid_max can be 32768): never a wrong answer
        assert after is None or (after == then[0] and child.pid > after)
    finally:
        child.stdin.close()
        end_child(child)
    last, forks = then
    assert pids_since((last, forks - 10**9)) is None  # more forks than pids: a wrap
    assert pids_since((last + 10**9, forks)) is None  # the counter went down: a wrap
    assert pids_since(None) is None
