"""Benchmark: what scanning costs under the standard load, as ratios against `ss -tulnp`.

    make bench                      # or: .venv/bin/python tests/perf/bench.py [--runs 7]
    .venv/bin/python tests/perf/bench.py --history [--events 5000000]   # the history's figures
    .venv/bin/python tests/perf/bench.py --churn [--churn-seconds 600]   # the tab under churn

Starts the standard load (tests/perf/load.py: ~2,000 listeners, ~400 processes, ~35,000 fds,
loopback only), checks that the fast and the psutil scanner paths agree on it, then times each
figure `--runs` times, interleaved with `ss -tulnp` in the same run, and prints one table: the
median, the min–max spread over the runs, the median ratio against `ss -tulnp` and the target.
Then a plain Monitor loop polls once a second for `--monitor-seconds` (CPU and RSS), and the
real `portwatch` window (offscreen Qt, temp config and data) is timed from its launch to a
populated table, from a new listener's bind() to its alert, and watched idle at a 1 s poll
(CPU and RSS) with the load and, after the load stops, without it. As root, 20 extra network
namespaces (`ip netns add`, one listener each) exist throughout, and the steady-state poll of a
scanner that reads every namespace is timed beside the host-only one; `--only-netns` times just
those two rows (a short run), `--only-cli` just the command-line rows (`list`, `list --json`,
`lookup`, each against `ss -tulnp` in the same run), `--only-gui-frames` the GUI's per-poll
frame rows, `--only-launch` just the window's launch (with `ss -tulnp` timed between the
launches, and where each launch's time went by the window's own log). Last, with 10,000
established connections on top of the load, what counting them in the poll loop costs
(`bench_connections.py`; `--only-connections` alone). Not a test: pytest does not collect this
directory's files (none is test_*.py).

Rows that belong to parts not built yet print "n/a (not built yet)".
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import platform
import queue
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]

from bench_connections import connection_rows  # noqa: E402
from load import StandardLoad  # noqa: E402

from portwatch.core.probe.scanner import ListenerScanner  # noqa: E402

NA = "n/a (not built yet)"


@dataclass
class Row:
    """One line of the table: a figure measured once per run, with its ss ratio per run."""

    name: str
    target: str = ""
    limit: float | None = None  # the highest acceptable median ratio against ss
    ms_limit: float | None = None  # or: the highest acceptable median in milliseconds
    values: list[float] = field(default_factory=list)  # wall-clock milliseconds
    ratios: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, measured: Measured, ss: Measured | None) -> None:
        self.values.append(measured.wall)
        if ss is not None:
            self.ratios.append(measured.wall / ss.wall)
            if ss.cpu > 0:
                self.cpu_ratios.append(measured.cpu / ss.cpu)


@dataclass
class Measured:
    wall: float  # milliseconds
    cpu: float  # milliseconds of CPU, this process and its finished children


def _cpu() -> float:
    me, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return (me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime) * 1000


def timed(action: Callable[[], object]) -> Measured:
    cpu, started = _cpu(), time.perf_counter()
    action()
    return Measured((time.perf_counter() - started) * 1000, _cpu() - cpu)


def ratio_text(ratio: float) -> str:
    return f"1/{1 / ratio:.0f}" if ratio < 0.2 else f"{ratio:.2f}×"


def ms_text(ms: float) -> str:
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def run_quiet(argv: list[str], env: dict | None = None) -> None:
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=False)


def count_fds() -> tuple[int, int]:
    processes = fds = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fds += len(os.listdir(f"/proc/{name}/fd"))
                processes += 1
            except OSError:
                continue
    return processes, fds


def portwatch_env(scratch: str) -> dict:
    """The environment of a portwatch process as a user has it: bytecode cached (a temp
    pycache, so a PYTHONDONTWRITEBYTECODE environment does not charge compiling), config and
    data in temp dirs."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(scratch, "pycache")
    env["PORTWATCH_CONFIG_DIR"] = os.path.join(scratch, "config")
    env["PORTWATCH_DATA_DIR"] = os.path.join(scratch, "data")
    os.makedirs(env["PORTWATCH_DATA_DIR"], exist_ok=True)  # as after the first use of the app
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def portwatch_argv(*args: str) -> list[str]:
    """The installed `portwatch` script next to this interpreter, else python -m portwatch."""
    script = Path(sys.executable).with_name("portwatch")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "portwatch"]
    return [*argv, *args]


def owner_cache_files(env: dict) -> list[Path]:
    return list(Path(env["PORTWATCH_DATA_DIR"]).glob("owner-map-*.json"))


def kept_answer_files(env: dict) -> list[Path]:
    return list(Path(env["PORTWATCH_DATA_DIR"]).glob("list-answer-*.json"))


def import_costs(env: dict, top: int = 6) -> str:
    """The slowest imports of `portwatch list` (cumulative, top-level only)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "portwatch", "list",
                             "--json"], capture_output=True, text=True, env=env, check=False)
    costs = []
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (part.strip() for part in line[12:].split("|"))
            if cumulative.isdigit() and not name.startswith(" ") and "." not in name.strip():
                costs.append((int(cumulative) / 1000, name.strip()))
            elif cumulative.isdigit() and name.startswith("portwatch"):
                costs.append((int(cumulative) / 1000, name))
    costs.sort(reverse=True)
    return ", ".join(f"{name} {ms:.0f}" for ms, name in costs[:top]) + " (ms, cumulative)"


MONITOR_CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, sys.argv[2])
    from portwatch.core.monitor import Monitor
    from portwatch.core.probe.scanner import ListenerScanner
    try:
        from portwatch.core.knowledge.catalog import load_catalog
        annotator, with_catalog = load_catalog(), True
    except ImportError:
        annotator, with_catalog = None, False
    seconds = float(sys.argv[1])
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page / 2**20

    scanner = ListenerScanner()
    scans = []

    def scan():
        started = time.perf_counter()
        try:
            return scanner.scan()
        finally:
            scans.append((time.perf_counter() - started) * 1000)

    monitor = Monitor(scan, annotator)
    monitor.poll()  # the first (cold) scan is start-up, not the steady cost
    monitor.poll()
    start_rss = rss()
    cpu0, wall0 = sum(os.times()[:2]), time.monotonic()
    samples, durations = [], []
    del scans[:]
    tick = wall0
    while time.monotonic() - wall0 < seconds:
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))
        durations.append(monitor.poll().duration * 1000)
        samples.append(rss())
    cpu = sum(os.times()[:2]) - cpu0
    wall = time.monotonic() - wall0
    print(json.dumps({"cpu": cpu, "wall": wall, "start_rss": start_rss, "rss": samples,
                      "durations": durations, "scans": scans, "catalog": with_catalog}))
    """
)


def monitor_loop(seconds: float) -> dict:
    result = subprocess.run([sys.executable, "-c", MONITOR_CHILD, str(seconds), str(REPO)],
                            capture_output=True, text=True, check=False, timeout=seconds + 120)
    if result.returncode != 0:
        raise RuntimeError(f"monitor loop failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


# -- rows of other parts: measured when their modules exist --------------------------------------

NAMESPACE_LISTENER = textwrap.dedent("""
    import socket, sys
    s = socket.socket()
    s.bind(("0.0.0.0", int(sys.argv[1])))
    s.listen()
    print("ready", flush=True)
    sys.stdin.read()
""")


@contextlib.contextmanager
def extra_namespaces(count: int):
    """`count` network namespaces, each with one listener, removed afterwards; yields how many
    exist (0 when not root or without `ip`)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        yield 0
        return
    names = [f"pwbench-{os.getpid()}-{i}" for i in range(count)]
    children: list[subprocess.Popen] = []
    made: list[str] = []
    try:
        for i, name in enumerate(names):
            subprocess.run(["ip", "netns", "add", name], check=True)
            made.append(name)
            child = subprocess.Popen(
                ["ip", "netns", "exec", name, sys.executable, "-c", NAMESPACE_LISTENER,
                 str(8000 + i)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            children.append(child)
            child.stdout.readline()
        yield len(made)
    finally:
        for child in children:
            child.terminate()  # our own children, by PID
            child.wait(10)
            child.stdin.close()
            child.stdout.close()
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False)


def namespace_rows(runs: int, polls: int, ss: str | None) -> int:
    """--only-netns: the standard load and 20 extra namespaces; steady-state polls of the
    host-only scanner and of the every-namespace scanner, against ss -tulnp."""
    baseline = Row("ss -tulnp (baseline)")
    host = Row("steady-state poll, host namespace", "≤ 1/20", 1 / 20)
    every = Row("steady-state poll, every namespace", "≤ 1/20", 1 / 20)
    with StandardLoad(), extra_namespaces(20) as extra:
        host_scanner, all_scanner = ListenerScanner(), ListenerScanner(all_netns=True)
        for _ in range(3):
            host_scanner.scan()
            all_scanner.scan()
        seen = all_scanner.scan()
        for _ in range(runs):
            ss_ms = timed(lambda: run_quiet([ss, "-tulnp"])) if ss else None
            if ss_ms is not None:
                baseline.add(ss_ms, ss_ms)
            for row, scanner in ((host, host_scanner), (every, all_scanner)):
                timings = [timed(scanner.scan) for _ in range(polls)]
                row.add(Measured(statistics.median(t.wall for t in timings),
                                 statistics.median(t.cpu for t in timings)), ss_ms)
        host_scanner.close()
        all_scanner.close()
    others = sum(1 for item in seen.listeners if item.netns is not None)
    print(f"{extra} extra namespaces; the every-namespace scanner saw {len(seen.listeners)}"
          f" listeners, {others} of them outside the host namespace")
    print_table([baseline, host, every], baseline)
    return 0


def print_table(table: list[Row], baseline: Row) -> None:
    header = (f"{'figure':<46} {'median ms':>10} {'min–max ms':>15} {'× ss':>8}"
              f" {'target':>8}  ok   {'(cpu × ss)':>10}")
    print(header)
    print("-" * len(header))
    for row in table:
        median = statistics.median(row.values) if row.values else None
        if median is None:
            print(f"{row.name:<46} {'ss not found' if row is baseline else NA}")
            continue
        spread = f"{ms_text(min(row.values))}–{ms_text(max(row.values))}"
        ratio = statistics.median(row.ratios) if row.ratios else None
        verdict = ""
        if row.limit is not None and ratio is not None:
            verdict = "yes" if ratio <= row.limit else "NO"
        elif row.ms_limit is not None:
            verdict = "yes" if median <= row.ms_limit else "NO"
        cpu = statistics.median(row.cpu_ratios) if row.cpu_ratios else None
        print(f"{row.name:<46} {ms_text(median):>10} {spread:>15}"
              f" {ratio_text(ratio) if ratio else '':>8} {row.target:>8}  {verdict:<3}"
              f"  {ratio_text(cpu) if cpu else '':>10}"
              + (f"  {row.note}" if row.note else ""))


def module_missing(*names: str) -> str | None:
    """NA when one of the modules is not there yet."""
    import importlib.util

    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                return NA
        except ImportError:
            return NA
    return None


CATALOG_CHILD = textwrap.dedent(
    """
    import json, time
    started = time.perf_counter()
    from portwatch.core.knowledge.catalog import load_catalog
    imported = time.perf_counter()
    load_catalog()
    done = time.perf_counter()
    print(json.dumps({"import": (imported - started) * 1000, "load": (done - imported) * 1000}))
    """
)


def catalog_load(runs: int, env: dict) -> list[float] | str:
    """load_catalog() in a fresh interpreter each run (ms, the call itself)."""
    missing = module_missing("portwatch.core.knowledge.catalog")
    if missing:
        return missing
    values = []
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-c", CATALOG_CHILD], capture_output=True,
                                text=True, env=env, check=False, timeout=120)
        if result.returncode != 0:
            return f"n/a (failed: {result.stderr.strip().splitlines()[-1:]})"
        values.append(json.loads(result.stdout)["load"])
    return values


GUI_CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication, QTableView
    from portwatch.core.monitor import Monitor
    from portwatch.core.probe.scanner import ListenerScanner
    from PySide6.QtCore import Qt
    from portwatch.gui.views.cell_delegate import ListenerDelegate
    from portwatch.gui.models.filter_proxy import ListenerFilterProxy
    from portwatch.gui.models.listener_model import Column, ListenerModel
    try:
        from portwatch.core.knowledge.catalog import load_catalog
        annotator = load_catalog()
    except ImportError:
        annotator = None
    app = QApplication([])
    model = ListenerModel()
    table = ListenerFilterProxy()  # sorted and filtered, as the window shows it
    table.setSourceModel(model)
    view = QTableView()
    view.setModel(table)
    view.setItemDelegate(ListenerDelegate(table, view))
    view.setSortingEnabled(True)
    view.sortByColumn(Column.RISK, Qt.SortOrder.AscendingOrder)
    view.resize(1200, 800)
    view.show()
    monitor = Monitor(ListenerScanner().scan, annotator)
    model.apply(monitor.poll())
    app.processEvents()
    print(json.dumps({"rows": model.rowCount()}), flush=True)
    for line in sys.stdin:
        result = monitor.poll()
        started = time.perf_counter()
        model.apply(result)
        app.processEvents()  # the view repaints what changed
        ms = (time.perf_counter() - started) * 1000
        print(json.dumps({"ms": ms, "opened": len(result.opened), "rows": model.rowCount()}),
              flush=True)
    """
)


class GuiApply:
    """A child process with the real ListenerModel, the window's sorted table model and a
    table view (offscreen Qt): each `poll_after()` opens one listener in a new process, polls,
    and times model.apply() and the event loop's turn."""

    def __init__(self, env: dict) -> None:
        env = {**env, "QT_QPA_PLATFORM": "offscreen"}
        self.proc = subprocess.Popen([sys.executable, "-c", GUI_CHILD], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            error = self.proc.stderr.read().strip().splitlines()[-1:]
            self.close()
            raise RuntimeError(f"GUI child failed: {error}")
        self.rows = json.loads(line)["rows"]

    def _poll(self) -> dict:
        self.proc.stdin.write("poll\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def poll_after(self, load: StandardLoad) -> float:
        pid, _port = load.spawn_listener()
        answer = self._poll()
        load.stop(pid)
        self._poll()  # and the close, untimed
        return answer["ms"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # our own child, by its PID
                self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def start_gui(env: dict) -> tuple[GuiApply | None, str]:
    missing = module_missing("PySide6", "portwatch.gui.models.listener_model")
    if missing:
        return None, missing
    try:
        return GuiApply(env), ""
    except (RuntimeError, OSError, ValueError) as exc:
        return None, f"n/a ({exc})"


def bind_to_event(runs: int, env: dict, interval: float = 1.0) -> list[float] | str:
    """Milliseconds from bind()+listen() to the `opened` line of `portwatch watch --json`."""
    missing = module_missing("portwatch.commands.watch")
    if missing:
        return missing
    import selectors
    import socket

    proc = subprocess.Popen(
        portwatch_argv("watch", "--json", "--no-history", "--interval", str(interval)),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    values: list[float] = []
    try:
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        time.sleep(3 * interval)  # past the baseline poll
        phases = random.Random(11)
        for _ in range(runs):
            time.sleep(phases.uniform(0, interval))  # bind at any moment of the poll cycle
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            started = time.perf_counter()
            port = sock.getsockname()[1]
            deadline = started + 10 * interval
            while time.perf_counter() < deadline:
                if not selector.select(timeout=deadline - time.perf_counter()):
                    break
                event = json.loads(proc.stdout.readline() or "{}")
                if event.get("event") == "opened" and event.get("port") == port:
                    values.append((time.perf_counter() - started) * 1000)
                    break
            sock.close()
    finally:
        proc.terminate()  # our own child, by its PID
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
    return values or "n/a (no event seen)"


class CommandRows:
    """The command-line figures of issue 22, each run interleaved with `ss -tulnp`:
    `list --json` and `list` (text) on a first run (the saved owner map and the kept answer
    removed), then from the map the previous run saved (that run keeps its answer: see
    core/output/saved_list.py), then answered from that kept answer, and `lookup 3141` (no
    scan)."""

    def __init__(self, env: dict) -> None:
        self.env = env
        note = "owner map saved by the previous run, which keeps the answer"
        kept = "answer kept by the previous run, every input re-checked"
        first = "no saved owner map: cold walk + start-up"
        self.json_first = Row("portwatch list --json, first run", "≤ 1.0×", 1.0, note=first)
        self.json = Row("portwatch list --json (whole process)", "≤ 0.5×", 0.5, note=note)
        self.json_kept = Row("portwatch list --json, answer kept", "≤ 0.5×", 0.5, note=kept)
        self.text_first = Row("portwatch list, first run", "≤ 1.0×", 1.0, note=first)
        self.text = Row("portwatch list (whole process)", "≤ 0.5×", 0.5, note=note)
        self.text_kept = Row("portwatch list, answer kept", "≤ 0.5×", 0.5, note=kept)
        self.lookup = Row("portwatch lookup 3141 (whole process)", "≤ 60 ms", ms_limit=60.0,
                          note="catalog only, no scan")

    @property
    def rows(self) -> list[Row]:
        return [self.json, self.json_kept, self.json_first, self.text, self.text_kept,
                self.text_first, self.lookup]

    def _forget_map(self) -> None:
        for path in owner_cache_files(self.env) + kept_answer_files(self.env):
            path.unlink()

    def run(self, ss_ms: Measured | None) -> None:
        env = self.env
        for argv, first, warm, kept in (
                (portwatch_argv("list", "--json"), self.json_first, self.json, self.json_kept),
                (portwatch_argv("list"), self.text_first, self.text, self.text_kept)):
            self._forget_map()
            first.add(timed(lambda argv=argv: run_quiet(argv, env)), ss_ms)
            warm.add(timed(lambda argv=argv: run_quiet(argv, env)), ss_ms)
            kept.add(timed(lambda argv=argv: run_quiet(argv, env)), ss_ms)
        self.lookup.add(timed(lambda: run_quiet(portwatch_argv("lookup", "3141"), env)), ss_ms)


def baseline_run(run: int, runs: int, ss: str | None, baseline: Row) -> Measured | None:
    """One run's `ss -tulnp`, the figure every row of that run is divided by (None: no ss)."""
    print(f"run {run + 1}/{runs} ...", flush=True)
    ss_ms = timed(lambda: run_quiet([ss, "-tulnp"])) if ss else None
    if ss_ms is not None:
        baseline.add(ss_ms, ss_ms)
    return ss_ms


def load_average() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "unknown"


def command_rows_only(runs: int, ss: str | None) -> int:
    """`--only-cli`: the standard load, then only the command-line rows against ss (a short
    run for the start-up work of issue 22)."""
    scratch = tempfile.mkdtemp(prefix="portwatch-bench-")
    atexit.register(shutil.rmtree, scratch, True)
    env = portwatch_env(scratch)
    run_quiet(portwatch_argv("list", "--json"), env)  # compiles bytecode once
    baseline, commands = Row("ss -tulnp (baseline)"), CommandRows(env)
    print("starting the standard load ...", flush=True)
    with StandardLoad():
        first = ListenerScanner().scan()
        processes, fds = count_fds()
        before = load_average()
        for run in range(runs):
            commands.run(baseline_run(run, runs, ss, baseline))
        parts = list_parts(env)
        kept = kept_parts(env)
        imports = import_costs(env)
    print()
    print(f"standard load: {len(first.listeners)} listeners, {processes} processes, {fds} fds;"
          f" {runs} runs; load average {before} before, {load_average()} after")
    print_table([baseline, *commands.rows], baseline)
    print(f"portwatch list --json, where the time goes: {parts}")
    print(f"portwatch list --json answered from its kept answer: {kept}")
    print(f"portwatch list imports: {imports}")
    return 0


LIST_PARTS_CHILD = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import json, sys
    from portwatch.cli import build_parser
    build_parser("list")
    from portwatch.commands import listing
    from portwatch.core.output import records
    from portwatch.core.probe.scanner import default_owner_cache, scan_listeners
    t1 = time.perf_counter()
    try:
        from portwatch.core.firewall import Firewall
        firewall = Firewall()
        reader = firewall.prefetch()  # as `list` does: nft and ip run during the scan
    except (ImportError, AttributeError):
        firewall, reader = None, None
    snapshot = scan_listeners(owner_cache=default_owner_cache())
    t2 = time.perf_counter()
    from portwatch.core.knowledge.catalog import load_catalog
    catalog = load_catalog()
    t3 = time.perf_counter()
    if reader is not None:
        reader.join()
    t3b = time.perf_counter()
    if firewall is not None:
        from portwatch.core.knowledge.reach import ReachAnnotator
        catalog = ReachAnnotator(catalog, firewall)
    rows = sorted((catalog.annotate(item) for item in snapshot.listeners), key=listing.sort_key)
    t4 = time.perf_counter()
    if firewall is not None:
        rows = listing.with_connections(rows, firewall, False)
    t5 = time.perf_counter()
    text = ",\\n".join(json.dumps(records.listener_record(row)) for row in rows)
    t6 = time.perf_counter()
    parts = {"imports": t1 - t0, "scan (saved map)": t2 - t1, "catalog load": t3 - t2,
             "firewall (rest of its read)": t3b - t3, "annotate": t4 - t3b,
             "connections": t5 - t4, "records + JSON": t6 - t5}
    print(json.dumps({name: seconds * 1000 for name, seconds in parts.items()}))
    """
)


KEPT_PARTS_CHILD = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import argparse, json, os, sys
    from portwatch.cli import build_parser
    args = build_parser("listing").parse_args(["list", "--json"])
    from portwatch.commands import list_saved
    from portwatch.core.output import saved_list
    from portwatch.core.probe.answer_inputs import live_rows, owner_facts
    from portwatch.core.probe.owner_cache import default_owner_cache
    t1 = time.perf_counter()
    inputs = saved_list.Inputs.read()
    t2 = time.perf_counter()
    now = live_rows(default_owner_cache())
    t3 = time.perf_counter()
    facts = {}
    for row in now.rows:
        for pid in row["holders"]:
            if pid not in facts:
                facts[pid] = owner_facts(pid)
    t4 = time.perf_counter()
    saved = saved_list.Saved.load(saved_list.default_path(), inputs.header())
    t5 = time.perf_counter()
    found, missing = saved_list.answer(saved, inputs.comparable(), now.rows, facts.get)
    t6 = time.perf_counter()
    attempt = list_saved.Attempt("", inputs, now.rows, facts)
    connections = attempt._connections(found)
    t7 = time.perf_counter()
    text = list_saved.render_answer(args, found, connections, saved.columns)
    t8 = time.perf_counter()
    parts = {"imports": t1 - t0, "system's inputs": t2 - t1,
             "sockets + owner map": t3 - t2, f"{len(facts)} holders' facts": t4 - t3,
             "kept answer load": t5 - t4, "compare": t6 - t5, "connections": t7 - t6,
             "JSON": t8 - t7}
    if missing:
        parts[f"({missing} rows not proven: another program's news)"] = 0
    print(json.dumps({name: seconds * 1000 for name, seconds in parts.items()}))
    """
)


def kept_parts(env: dict) -> str:
    """Where `portwatch list --json` answered from its kept answer spends its time."""
    run_quiet(portwatch_argv("list", "--json"), env)
    run_quiet(portwatch_argv("list", "--json"), env)  # the answer is kept (map saved before)
    return instrumented_parts(KEPT_PARTS_CHILD, env)


def list_parts(env: dict) -> str:
    """Where a warm `portwatch list --json` spends its time (one instrumented run)."""
    return instrumented_parts(LIST_PARTS_CHILD, env)


def instrumented_parts(child: str, env: dict) -> str:
    """One run of `child` (it prints its parts' milliseconds as JSON), after the interpreter's
    own start."""
    result = subprocess.run([sys.executable, "-c", child], capture_output=True,
                            text=True, env=env, check=False, timeout=120)
    if result.returncode != 0:
        return "n/a (instrumented run failed)"
    bare = timed(lambda: run_quiet([sys.executable, "-c", "pass"], env))
    parts = {"interpreter start": bare.wall, **json.loads(result.stdout)}
    return ", ".join(f"{name} {ms:.0f}" for name, ms in parts.items()) + " (ms)"


FRAME_TARGETS = {2_200: 8.0, 20_000: 16.0}  # ms, p95: one poll's table update in one frame


def gui_churn(rows: int, rounds: int) -> dict | str:
    """Per-poll milliseconds (apply + the event loop's turn), wall and CPU, of a 1% churn on
    `rows` rows, a full repaint of the same view, and the event loop's lateness while such
    polls arrive every 0.5 s: tests/gui/bench_listener_model.py in a child process,
    offscreen."""
    missing = module_missing("PySide6", "portwatch.gui.models.listener_model")
    if missing:
        return missing
    here = Path(__file__).resolve().parents[1] / "gui"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(here / "bench_listener_model.py"), str(rows),
                           str(rounds), "--json"], capture_output=True, text=True, env=env,
                          timeout=900)
    if done.returncode != 0:
        return f"n/a ({(done.stderr.strip().splitlines() or ['failed'])[-1]})"
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_gui_frames(rounds: int = 40) -> None:
    """The GUI's per-poll figures at FRAME_TARGETS' table sizes (no standard load needed)."""
    for rows, limit in FRAME_TARGETS.items():
        churn = gui_churn(rows, rounds)
        wall, cpu, late, repaint = (churn, churn, churn, churn) if isinstance(churn, str) else (
            churn["frames_ms"], churn["frames_cpu_ms"], churn["lateness_ms"], churn["repaint_ms"])
        print_p95(f"GUI: poll with 1% churn, {rows:,} rows", wall, limit,
                  note="apply + event loop (sorted table, view repaint), offscreen 1200×800")
        print_p95("  the same in CPU time of the process", cpu, limit,
                  note="steadier than wall time on a busy machine")
        print_extra("  a full repaint of that view, no change", repaint, "",
                    note="copies of the rows' pictures: what any frame that moves rows pays")
        print_p95("  event loop lateness, a poll every 0.5 s", late, 50.0,
                  note="a 10 ms timer's delay while those polls arrive")


def print_p95(name: str, values: list[float] | str, limit: float, note: str = "") -> None:
    """One figure in ms judged by its 95th percentile."""
    if isinstance(values, str):
        print(f"{name:<46} {values}")
        return
    p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
    spread = f"{ms_text(min(values))}–{ms_text(max(values))}"
    verdict = "yes" if p95 <= limit else "NO"
    print(f"{name:<46} {ms_text(statistics.median(values)):>10} {spread:>15}"
          f" {'p95 ' + ms_text(p95):>8} {'≤ ' + ms_text(limit):>8}  {verdict:<3}"
          + (f"  {note}" if note else ""))


def print_extra(name: str, values: list[float] | str, target: str, limit: float | None = None,
                note: str = "", worst: bool = False) -> None:
    """One figure in ms; `limit` judges the median, or with `worst` the highest value."""
    if isinstance(values, str):
        print(f"{name:<46} {values}")
        return
    median = statistics.median(values)
    spread = f"{ms_text(min(values))}–{ms_text(max(values))}"
    judged = max(values) if worst else median
    verdict = "" if limit is None else ("yes" if judged <= limit else "NO")
    print(f"{name:<46} {ms_text(median):>10} {spread:>15} {'':>8} {target:>8}  {verdict:<3}"
          + (f"  {note}" if note else ""))



# -- the real window: launch, alerts, idle cost ------------------------------------------------

POPULATED = re.compile(r"table populated: (\d+) rows, ([0-9.]+) s after start")
# The window's own account of a launch (portwatch/gui/app.py LaunchLog), seconds since start.
LAUNCH_PARTS = re.compile(r"launch: Qt and portwatch imported at ([0-9.]+) s, window shown at"
                          r" ([0-9.]+) s, first poll ([0-9.]+) s .*rows applied at ([0-9.]+) s")
GUI_INTERVAL = 1.0
LAUNCH_TARGET_MS = 600.0


def gui_env(scratch: str, min_polls: int = 1) -> dict:
    """A portwatch window's environment: offscreen Qt, temp config and data, a settings file
    with a 1 s poll and `alert_min_polls`. The rate limit is off: every listener the bench
    opens belongs to the same program (the load's Python), and the rule would otherwise fold
    repeats within a minute into one later summary. Desktop notifications are off (a shared
    session's notification server is not ours to fill); the alert's log line is written once
    the banner shows it, before a notification would be sent."""
    env = portwatch_env(scratch)
    env["QT_QPA_PLATFORM"] = "offscreen"
    config = Path(env["PORTWATCH_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.yaml").write_text(
        f"poll_interval: {GUI_INTERVAL}\nalert_min_polls: {min_polls}\n"
        "alert_rate_limit: 0\nnotifications: false\n", encoding="utf-8")
    return env


class GuiProcess:
    """The `portwatch` window as a user starts it (with --debug, which shows its INFO lines);
    a thread reads its log lines and notes when each arrived. Ended by its PID."""

    def __init__(self, env: dict) -> None:
        self.lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
        self.log: list[str] = []
        self.started = time.monotonic()
        self.proc = subprocess.Popen(portwatch_argv("--debug"), env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put((time.monotonic(), line.rstrip("\n")))
        self.lines.put((time.monotonic(), None))

    def wait_for(self, pattern: re.Pattern, timeout: float) -> tuple[float, re.Match] | None:
        """(arrival time, match) of the next log line that matches, or None (timeout, exit)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.log.append(line)
            match = pattern.search(line)
            if match:
                return at, match
        return None

    def failure(self, what: str) -> str:
        last = [line for line in self.log if "ERROR" in line or "Error" in line][-1:]
        return f"n/a ({what}{': ' + last[0] if last else ''})"

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its PID
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)  # it reads to the end of the pipe, then stops
        self.proc.stderr.close()


def gui_missing() -> str | None:
    return module_missing("PySide6", "portwatch.gui.app")


Launch = tuple[list[float], list[float], int, list[tuple[float, ...]]]


def gui_launch(runs: int, env: dict, ss: str | None = None,
               baseline: Row | None = None) -> Launch | str:
    """Milliseconds from Popen to the window's "table populated" line, per launch; the
    window's own figure (from its process start, kernel clock ticks); the rows shown; and the
    window's account of each launch (ms since start: imported, shown, first poll's duration,
    rows applied). One untimed launch first: the first run ever creates the history, the owner
    map and the bytecode. With `ss`, `ss -tulnp` is timed into `baseline` before each launch."""
    missing = gui_missing()
    if missing:
        return missing
    seen: list[float] = []
    told: list[float] = []
    parts: list[tuple[float, ...]] = []
    rows = 0
    for run in range(runs + 1):
        if run and baseline is not None:
            baseline_run(run - 1, runs, ss, baseline)
        gui = GuiProcess(env)
        try:
            hit = gui.wait_for(POPULATED, 60)
            if hit is None:
                return gui.failure("no 'table populated' line")
            at, match = hit
            if run:
                seen.append((at - gui.started) * 1000)
                told.append(float(match.group(2)) * 1000)
                told_parts = gui.wait_for(LAUNCH_PARTS, 10)
                if told_parts is not None:
                    parts.append(tuple(float(value) * 1000 for value in told_parts[1].groups()))
            rows = int(match.group(1))
        finally:
            gui.close()
    return seen, told, rows, parts


def print_launch(launch: Launch | str, baseline: Row | None = None) -> None:
    """The launch row (judged by its median against LAUNCH_TARGET_MS, with its ratio to the
    median `ss -tulnp` of `baseline`) and where its time went."""
    name = "GUI: launch to populated table"
    if isinstance(launch, str):
        print_extra(name, launch, "")
        return
    seen, told, rows, parts = launch
    ss_ms = statistics.median(baseline.values) if baseline and baseline.values else None
    ratio = f" = {statistics.median(seen) / ss_ms:.1f}× ss -tulnp;" if ss_ms else ";"
    print_extra(name, seen, f"≤ {ms_text(LAUNCH_TARGET_MS)}", LAUNCH_TARGET_MS,
                note=f"Popen → log line, offscreen, {rows} rows{ratio} the window's own figure"
                     f" from its process start: {ms_text(statistics.median(told))} ms median")
    if parts:
        imported, shown, poll, applied = (statistics.median(values)
                                          for values in zip(*parts, strict=True))
        print(f"{'  where it went (window log, medians)':<46} imports {ms_text(imported)} ms,"
              f" window shown at {ms_text(shown)} ms, first poll {ms_text(poll)} ms (scan,"
              f" diff, annotate, connections; it starts while the window is built), rows"
              f" applied at {ms_text(applied)} ms")


def launch_rows(runs: int, ss: str | None) -> int:
    """--only-launch: the standard load, the window's launches with ss -tulnp timed between
    them (a short run: about a minute)."""
    baseline = Row("ss -tulnp (baseline)")
    scratch = tempfile.mkdtemp(prefix="portwatch-bench-launch-")
    atexit.register(shutil.rmtree, scratch, True)
    with StandardLoad():
        listeners = len(ListenerScanner().scan().listeners)
        processes, fds = count_fds()
        launch = gui_launch(runs, gui_env(scratch), ss, baseline)
    print(f"standard load: {listeners} listeners, {processes} processes, {fds} fds;"
          f" {runs} launches; load average {load_average()}")
    print_table([baseline], baseline)
    print_launch(launch, baseline)
    return 0


def bind_to_alert(load: StandardLoad, env: dict, runs: int, taken: set[int]
                  ) -> list[float] | str:
    """Milliseconds from a new listener's listen() (in a new process) to the window's
    "alert:" line for it (both CLOCK_MONOTONIC), binding at random phases of the poll.

    A port in `taken` is given back and another one drawn: the load's listeners are Python
    too, and "python on tcp port N, loopback" is an identity the alert rules already know when
    the load listens on N (on ::1, say): no alert, by design. `taken` grows by the ports used."""
    missing = gui_missing()
    if missing:
        return missing
    gui = GuiProcess(env)
    values: list[float] = []
    try:
        if gui.wait_for(POPULATED, 60) is None:
            return gui.failure("no 'table populated' line")
        time.sleep(2 * GUI_INTERVAL)  # past the baseline poll
        phases = random.Random(13)
        for _ in range(runs):
            time.sleep(phases.uniform(0, GUI_INTERVAL))
            pid, port, listening_at = load.spawn_listener_at()
            while port in taken:
                load.stop(pid)
                pid, port, listening_at = load.spawn_listener_at()
            taken.add(port)
            alert = re.compile(rf"alert: .*\bport {port}/tcp\b.*monotonic ([0-9.]+)")
            hit = gui.wait_for(alert, 10 * GUI_INTERVAL)
            if hit is not None:
                values.append((float(hit[1].group(1)) - listening_at) * 1000)
            load.stop(pid)
    finally:
        gui.close()
    return values or gui.failure("no alert seen")


def gui_idle(env: dict, seconds: float, settle: float = 5.0) -> dict | str:
    """CPU (share of one core) and RSS of the window polling once a second, idle."""
    missing = gui_missing()
    if missing:
        return missing
    gui = GuiProcess(env)
    try:
        hit = gui.wait_for(POPULATED, 60)
        if hit is None:
            return gui.failure("no 'table populated' line")
        time.sleep(settle)  # the first polls, the history's first writes
        cpu0, wall0, since = gui.cpu_seconds(), time.monotonic(), time.time()
        rss = [gui.rss_mb()]
        while time.monotonic() - wall0 < seconds:
            time.sleep(1.0)
            rss.append(gui.rss_mb())
        cpu, wall = gui.cpu_seconds() - cpu0, time.monotonic() - wall0
        if gui.proc.poll() is not None:
            return gui.failure("the window exited")
        return {"cpu": 100 * cpu / wall, "wall": wall, "rss": rss, "rows": int(hit[1].group(1)),
                "events": history_events_since(env, since)}
    finally:
        gui.close()


def history_events_since(env: dict, since: float) -> int | None:
    """Listener events the window recorded since `since` (time.time()): other programs
    opening and closing listeners during an "idle" measurement (a busy machine)."""
    import sqlite3

    path = Path(env["PORTWATCH_DATA_DIR"]) / "history.sqlite3"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT COUNT(*) FROM events WHERE time >= ?", (since,)).fetchone()[0]
    except sqlite3.Error:
        return None


def print_idle(name: str, idle: dict | str | None) -> None:
    if idle is None:
        return
    if isinstance(idle, str):
        print(f"{name:<46} {idle}")
        return
    ok = idle["cpu"] <= 1 and max(idle["rss"]) <= 150
    print(f"{name:<46} {idle['cpu']:>9.2f}% {'RSS ' + format(idle['rss'][-1], '.0f') + ' MB':>15}"
          f" {'':>8} {'≤ 1%, 150 MB':>8}  {'yes' if ok else 'NO'}"
          f"  RSS {min(idle['rss']):.0f}–{max(idle['rss']):.0f} MB over {idle['wall']:.0f} s,"
          f" {idle['rows']} rows"
          + ("" if idle["events"] is None else
             f", {idle['events']} listener events meanwhile (other programs)"))


def rows_of(snapshot) -> set:
    return {(i.proto, i.family, i.address, i.port, i.pid, i.owner_hidden)
            for i in snapshot.listeners}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (at least 5)")
    parser.add_argument("--polls", type=int, default=10,
                        help="steady-state polls per run (the run's figure is their median)")
    parser.add_argument("--monitor-seconds", type=float, default=60.0,
                        help="length of the 1 s poll loop for CPU and RSS (0 skips it)")
    parser.add_argument("--alert-runs", type=int, default=10,
                        help="new listeners per alert_min_polls setting for bind → alert")
    parser.add_argument("--no-lsof", action="store_true", help="skip the lsof reference row")
    parser.add_argument("--history", action="store_true",
                        help="only the history figures, on a file of --events events")
    parser.add_argument("--events", type=int, default=5_000_000,
                        help="events in the --history file (default 5 million)")
    parser.add_argument("--only-launch", action="store_true",
                        help="only the window's launch to a populated table (with ss -tulnp)")
    parser.add_argument("--churn", action="store_true",
                        help="only the History tab under churn (1,000 events/s recorded)")
    parser.add_argument("--churn-seconds", type=float, default=600.0,
                        help="how long the --churn figure records (default 10 minutes)")
    parser.add_argument("--only-netns", action="store_true",
                        help="only the steady-state polls with 20 extra network namespaces")
    parser.add_argument("--only-cli", action="store_true",
                        help="only the command-line rows (list, list --json, lookup) against ss")
    parser.add_argument("--only-connections", action="store_true",
                        help="only the rows of counting 10,000 established connections")
    parser.add_argument("--only-gui-frames", action="store_true",
                        help="only the GUI's per-poll frame figures (a short run)")
    args = parser.parse_args(argv)
    if args.only_gui_frames:
        print_gui_frames()
        return 0
    runs = max(5, args.runs)
    if args.history or args.churn:
        from bench_churn import bench_churn
        from bench_history import bench_history

        failed = 0
        if args.history:
            scratch = tempfile.mkdtemp(prefix="portwatch-bench-history-")
            atexit.register(shutil.rmtree, scratch, True)
            failed |= bench_history(portwatch_env(scratch), args.events, runs)
        if args.churn:
            scratch = tempfile.mkdtemp(prefix="portwatch-bench-churn-")
            atexit.register(shutil.rmtree, scratch, True)
            failed |= bench_churn(portwatch_env(scratch), args.churn_seconds)
        return failed

    ss = shutil.which("ss")
    if args.only_netns:
        return namespace_rows(runs, args.polls, ss)
    if args.only_launch:
        return launch_rows(runs, ss)
    if args.only_cli:
        return command_rows_only(runs, ss)
    if args.only_connections:
        return connection_rows(runs, args.polls, ss, sys.modules[__name__])
    lsof = None if args.no_lsof else shutil.which("lsof")
    scratch = tempfile.mkdtemp(prefix="portwatch-bench-")
    atexit.register(shutil.rmtree, scratch, True)  # pycache, config, data, the window's history
    list_argv, list_env = portwatch_argv("list", "--json"), portwatch_env(scratch)
    run_quiet(list_argv, list_env)  # compiles bytecode once, as installing would

    baseline = Row("ss -tulnp (baseline)")
    psutil_row = Row("psutil.net_connections() (reference)")
    lsof_row = Row("lsof -nP -i (reference)")
    steady = Row("steady-state poll (nothing changed)", "≤ 1/20", 1 / 20)
    steady_netns = Row("steady-state poll, every namespace", "≤ 1/20", 1 / 20,
                       note="with 20 extra network namespaces (root only)")
    new = Row("poll after 1 new listener in a new process", "≤ 1/10", 1 / 10)
    cold = Row("full rescan (cold cache)", "≤ 1.2×", 1.2)
    commands = CommandRows(list_env)
    gui_rows = 0

    import psutil

    print(f"portwatch benchmark: {platform.node()}, Linux {platform.release()},"
          f" Python {platform.python_version()}, {os.cpu_count()} CPUs,"
          f" running as {'root' if os.geteuid() == 0 else 'uid ' + str(os.geteuid())}")
    print("starting the standard load ...", flush=True)
    started = time.perf_counter()
    catalog_ms = catalog_load(runs, list_env)
    with StandardLoad() as load, extra_namespaces(20) as extra:
        all_netns = ListenerScanner(all_netns=True) if extra else None
        gui, gui_reason = start_gui(list_env)
        gui_apply: list[float] = []
        scanner = ListenerScanner()
        first = scanner.scan()
        processes, fds = count_fds()
        print(f"standard load up in {time.perf_counter() - started:.1f} s:"
              f" {len(first.listeners)} listeners, {processes} processes, {fds} fds;"
              f" scanner path: {scanner.backend}"
              + (f" ({scanner.fallback_reason})" if scanner.fallback_reason else ""))
        # Compared on the load's own processes: other programs may open and close listeners
        # between the two scans.
        ours = set(load.pids)
        fast_rows = {row for row in rows_of(scanner.scan()) if row[4] in ours}
        slow_rows = {row for row in rows_of(ListenerScanner(fast=False).scan()) if row[4] in ours}
        print(f"fast path and psutil path agree on the load's {len(fast_rows)} rows:"
              f" {'yes' if fast_rows == slow_rows else 'NO'}"
              + ("" if fast_rows == slow_rows else f" ({len(fast_rows ^ slow_rows)} differ)"))
        for _ in range(3):
            scanner.scan()
        load_before = load_average()
        for run in range(runs):
            ss_ms = baseline_run(run, runs, ss, baseline)
            psutil_row.add(timed(lambda: psutil.net_connections("inet")), ss_ms)
            if lsof:
                lsof_row.add(timed(lambda: run_quiet([lsof, "-nP", "-i"])), ss_ms)

            def cold_scan() -> None:
                fresh = ListenerScanner()
                fresh.scan()
                fresh.close()

            cold.add(timed(cold_scan), ss_ms)
            polls = [timed(scanner.scan) for _ in range(args.polls)]
            steady.add(Measured(statistics.median(p.wall for p in polls),
                                statistics.median(p.cpu for p in polls)), ss_ms)
            if all_netns is not None:
                all_netns.scan()
                polls = [timed(all_netns.scan) for _ in range(args.polls)]
                steady_netns.add(Measured(statistics.median(p.wall for p in polls),
                                          statistics.median(p.cpu for p in polls)), ss_ms)
            pid, port = load.spawn_listener()
            snapshot = None

            def poll() -> None:
                nonlocal snapshot
                snapshot = scanner.scan()

            new.add(timed(poll), ss_ms)
            if not any(i.port == port and i.pid == pid for i in snapshot.listeners):
                new.note = "MISSED the new listener"
            load.stop(pid)
            scanner.scan()
            commands.run(ss_ms)
            if gui is not None:
                gui_apply.append(gui.poll_after(load))
        stats = scanner.walk_stats
        if all_netns is not None:
            all_netns.close()
        if gui is not None:
            gui_rows = gui.rows
            gui.close()
        latency = bind_to_event(runs, list_env)
        has_catalog = not module_missing("portwatch.core.knowledge.catalog")
        parts = list_parts(list_env) if has_catalog else NA
        kept = kept_parts(list_env) if has_catalog else NA
        monitor = monitor_loop(args.monitor_seconds) if args.monitor_seconds > 0 else None
        print("the window: launches, alerts, idle ...", flush=True)
        gui_scratch = os.path.join(scratch, "gui")
        launch = gui_launch(runs, gui_env(gui_scratch))
        taken = {item.port for item in scanner.scan().listeners}
        alert_now = bind_to_alert(load, gui_env(gui_scratch, min_polls=0), args.alert_runs,
                                  taken)
        alert_default = bind_to_alert(load, gui_env(gui_scratch, min_polls=1), args.alert_runs,
                                      taken)
        idle_loaded = (gui_idle(gui_env(gui_scratch), args.monitor_seconds)
                       if args.monitor_seconds > 0 else None)
    idle_bare = (gui_idle(gui_env(gui_scratch), args.monitor_seconds)
                 if args.monitor_seconds > 0 else None)
    imports = import_costs(list_env)

    table = [baseline, psutil_row] + ([lsof_row] if lsof else [])
    table += [steady, *([steady_netns] if steady_netns.values else []), new, cold,
              *commands.rows]
    print()
    print(f"standard load: {len(first.listeners)} listeners, {processes} processes, {fds} fds;"
          f" {runs} runs (steady state: median of {args.polls} polls per run);"
          f" load average {load_before} at the start of the runs, {load_average()} now")
    print_table(table, baseline)
    if monitor is not None:
        cpu_pct = 100 * monitor["cpu"] / monitor["wall"]
        rss = monitor["rss"]
        print(f"{'monitor at 1 s poll: CPU (one core)':<46} {cpu_pct:>9.2f}%"
              f" {'':>15} {'':>8} {'≤ 1%':>8}  {'yes' if cpu_pct <= 1 else 'NO'}")
        print(f"{'monitor at 1 s poll: RSS':<46} {rss[-1]:>8.1f}MB"
              f" {min(rss):>7.1f}–{max(rss):.1f} MB over {monitor['wall']:.0f} s"
              f" (after 2 polls: {monitor['start_rss']:.1f} MB)")
        for name, values in (("monitor poll (scan+diff+annotate), 1 s loop", monitor["durations"]),
                             ("  of which scan", monitor["scans"])):
            share = 100 * sum(values) / 1000 / monitor["wall"]
            print(f"{name:<46} {ms_text(statistics.median(values)):>10}"
                  f" {ms_text(min(values)) + '–' + ms_text(max(values)):>15}"
                  f"   {share:.2f}% of the wall time"
                  + ("" if monitor["catalog"] else "  (no catalog)"))
    print_extra("catalog load (fresh interpreter)", catalog_ms, "≤ 50 ms", 50)
    print_extra("GUI: apply a poll with 1 new row", gui_apply or gui_reason, "",
                note=f"ListenerModel + sorted table + QTableView, offscreen, {gui_rows} rows"
                if gui_apply else "")
    print_gui_frames()
    print_launch(launch, baseline)
    print_extra("bind → `watch --json` event, 1 s poll", latency, "",
                note="≈ half the interval + one poll")
    print_extra("bind → GUI alert, 1 s poll, min_polls=0", alert_now,
                f"≤ {ms_text(GUI_INTERVAL * 1000 + 200)}", GUI_INTERVAL * 1000 + 200,
                worst=True, note="judged on the highest; listen() → the alert: log line")
    print_extra("bind → GUI alert, 1 s poll, min_polls=1", alert_default,
                f"≤ {ms_text(2 * GUI_INTERVAL * 1000 + 200)}", 2 * GUI_INTERVAL * 1000 + 200,
                worst=True, note="the default: the rule waits one more poll on purpose")
    print_idle("GUI at 1 s poll: CPU, RSS (standard load)", idle_loaded)
    print_idle("GUI at 1 s poll: CPU, RSS (no standard load)", idle_bare)
    print()
    if stats is not None:
        print(f"last poll read: {stats.processes} fd directories ({stats.new} new processes,"
              f" {stats.searched} searched), {stats.links} fd links, {stats.verified} re-checked")
    print(f"portwatch list --json, where the time goes: {parts}")
    print(f"portwatch list --json answered from its kept answer: {kept}")
    print(f"portwatch list imports: {imports}")
    print()
    print("who is connected: the standard load plus 10,000 established connections ...")
    return connection_rows(runs, args.polls, ss, sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
