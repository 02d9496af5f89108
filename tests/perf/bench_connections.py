"""Benchmark rows for who is connected: counting 10,000 established connections in the poll loop.

    .venv/bin/python tests/perf/bench.py --only-connections [--runs 5] [--polls 10]

With the standard load up, a child of this bench holds 5,000 loopback connection pairs to its
own listener (10,000 established sockets, both ends in this namespace), and each run times,
interleaved: `ss -tulnp` (the baseline of every ratio), `ss -tn` (what a person would run to
see the connections), one dump of `ConnectionWatch` (the filtered, cached sock_diag dump and
the per-listener index, its counters gate off), the steady-state poll without counting, and
two Monitor polls whose count is due every poll, as at a 1 s poll interval (a clock that moves
1 s per poll): one with the connections idle, where the counters gate finds no socket came or
went and skips the dump (a dump still runs every 30 polls: `MAX_WAIT`), and one with one byte
sent on a connection of this process before each poll, so the kernel's TCP counters move and
every poll dumps (the cost on a machine whose TCP traffic never stops). Then it says how often
the poll loop dumps at that cost (`ConnectionWatch.wait`) and what that amounts to per poll at
a 1 s interval.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import textwrap

from portwatch.core.monitor import Monitor
from portwatch.core.probe.connwatch import COST_SHARE, MAX_WAIT, ConnectionWatch
from portwatch.core.probe.scanner import ListenerScanner

PAIRS = 5000
HOLDER = textwrap.dedent("""
    import resource, socket, sys
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4096)
    held = []
    for _ in range(int(sys.argv[1])):
        held.append(socket.create_connection(server.getsockname()))
        held.append(server.accept()[0])
    print(server.getsockname()[1], flush=True)
    sys.stdin.read()
""")


@contextlib.contextmanager
def held_connections(pairs: int = PAIRS):
    """A child holding `pairs` established loopback pairs; yields its listener's port."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(pairs)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        if not line.strip():
            raise RuntimeError("the connection holder did not start (too few file descriptors?)")
        yield int(line)
    finally:
        child.terminate()  # our own child, by PID
        child.wait(30)
        child.stdin.close()
        child.stdout.close()


class _OneSecondPolls:
    """A clock for ConnectionWatch that moves 1 s per poll: the count is due at every poll
    while a dump costs under 20 ms (COST_SHARE), and a dump runs whatever the counters say
    every MAX_WAIT polls."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@contextlib.contextmanager
def traffic():
    """A loopback connection of this process; yields a function that sends a byte on it and
    reads it at the other end (the kernel's TCP counters move, the connections do not)."""
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted = server.accept()[0]

    def send() -> None:
        client.sendall(b"x")
        accepted.recv(1)

    try:
        yield send
    finally:
        for item in (client, accepted, server):
            item.close()


def connection_rows(runs: int, polls: int, ss: str | None, bench) -> int:
    """The rows (see the module docstring); `bench` is the bench module (its Row, timed, …)."""
    from load import StandardLoad

    baseline = bench.Row("ss -tulnp (baseline)")
    ss_tn = bench.Row("ss -tn (10,000 connections)")
    count = bench.Row("one dump of the connections (gate off)")
    plain = bench.Row("steady-state poll, connections not counted", "≤ 1/20", 1 / 20)
    counting = bench.Row("steady-state poll, count due, connections idle", "≤ 1/20", 1 / 20)
    busy = bench.Row("steady-state poll, count due, TCP traffic", "≤ 1/20", 1 / 20)
    with StandardLoad(), held_connections() as port, traffic() as send:
        scanner = ListenerScanner()
        rows = scanner.scan().listeners
        watch = ConnectionWatch(frozenset, clock=_OneSecondPolls(), counters=None)
        gated = ConnectionWatch(frozenset, clock=_OneSecondPolls())
        monitor = Monitor(scanner.scan, connections=gated)
        for _ in range(3):
            monitor.poll()
            watch.count(rows)
        counted = gated.summary(next(r for r in rows if r.port == port))

        def poll_after_traffic() -> None:
            send()
            monitor.poll()

        dumps = {counting.name: 0, busy.name: 0}
        polled = {counting.name: 0, busy.name: 0}
        for run in range(runs):
            print(f"connections run {run + 1}/{runs} ...", flush=True)
            ss_ms = bench.timed(lambda: bench.run_quiet([ss, "-tulnp"])) if ss else None
            if ss_ms is not None:
                baseline.add(ss_ms, ss_ms)
                ss_tn.add(bench.timed(lambda: bench.run_quiet([ss, "-tn"])), ss_ms)
            for row, action in ((count, lambda: watch.count(rows)), (plain, scanner.scan),
                                (counting, monitor.poll), (busy, poll_after_traffic)):
                before = gated.dumps
                timings = [bench.timed(action) for _ in range(polls)]
                if row.name in dumps:
                    dumps[row.name] += gated.dumps - before
                    polled[row.name] += polls
                row.add(bench.Measured(statistics.median(t.wall for t in timings),
                                       statistics.median(t.cpu for t in timings)), ss_ms)
        scanner.close()
    print(f"{counted.established if counted else '?'} connections counted on the holder's"
          f" listener; {len(rows)} listeners; the polls dumped "
          + "; ".join(f"{dumps[name]} times in {polled[name]} ({name.rsplit(', ', 1)[1]})"
                      for name in dumps))
    bench.print_table([baseline, ss_tn, count, plain, counting, busy], baseline)
    median_count = statistics.median(count.values)
    median_plain = statistics.median(plain.values)
    wait = min(MAX_WAIT, median_count / 1000 / COST_SHARE)
    share = min(1.0, 1.0 / wait) if wait else 1.0
    amortised = median_plain + median_count * share
    print(f"at this cost the safety cadence lets a dump run every {wait:.1f} s; with TCP"
          f" traffic at a 1 s poll that is {amortised:.1f} ms per poll on average"
          + (f" = {bench.ratio_text(amortised / statistics.median(baseline.values))} of"
             f" ss -tulnp" if baseline.values else "")
          + (f"; one count = {bench.ratio_text(median_count / statistics.median(ss_tn.values))}"
             f" of ss -tn" if ss_tn.values else ""))
    return 0
