"""`portwatch watch [--interval S] [--json] [--no-history]`: print a line whenever a listener
opens or closes or its owner changes (`changed`, with the previous owner: the process exec'd
another program, or another process holds the socket now), until Ctrl-C (SIGINT) or SIGTERM,
which end it cleanly with status 0.

The first poll is the baseline and prints no events (in human mode one "watching N listeners"
line goes to stderr). Events are recorded in the history file too, unless --no-history; when
that file cannot be used, a warning goes to stderr and watching goes on.

One recorder at a time: the portwatch window records the same events into the same file, so
while a window of this user (and settings folder) runs, `watch` prints events but does not
record them (`RecordUnlessWindow`, asked before each poll's recording, through the window's
single-instance lock: core/desktop/instance.py). When the window closes, `watch` records again,
starting a new run with a snapshot of what is listening, as if it had just started. Among
several `watch` processes on one data folder, the one holding its RecorderLock records; the
others print, say so once, and the next one takes over (from a snapshot) when it ends.

Each poll also goes to the outputs of watch_outputs.py (--textfile, --journal, --syslog, the
alert channels of settings.yaml); --host runs all this on another machine (remote_cli.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from portwatch.commands import watch_outputs
from portwatch.commands.host_option import add_host_argument
from portwatch.commands.stop_signal import Stop, StopOnSignal
from portwatch.commands.termwidth import (
    MIN_ELIDED,
    add_width_options,
    elide,
    fit_widths,
    output_width,
)
from portwatch.core.desktop import instance
from portwatch.core.fields import BY_KEY, WATCH_LINE
from portwatch.core.fields.connection_text import peer_text
from portwatch.core.files import paths
from portwatch.core.firewall import Firewall
from portwatch.core.knowledge.reach import ReachAnnotator
from portwatch.core.model import AnnotatedListener
from portwatch.core.monitor import Monitor, PollResult, paired
from portwatch.core.output import records
from portwatch.core.output.export import event_record
from portwatch.core.probe import ListenerScanner, address_key
from portwatch.core.probe.connwatch import ConnectionWatch
from portwatch.core.store.history import (
    CHANGED,
    CLOSED,
    FIRST_REMOTE,
    OPENED,
    HistoryStore,
    iso_utc,
    open_history,
)
from portwatch.core.store.settings import load_settings
from portwatch.core.text import visible

DEFAULT_INTERVAL = 2.0
MAX_INTERVAL = 3600.0


def interval(text: str) -> float:
    """--interval: seconds, more than 0 and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_INTERVAL:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_INTERVAL:g} seconds, not {text}")
    return value


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="print a line whenever a listener opens or closes (until Ctrl-C)",
        description="Headless monitoring: scans every S seconds and prints one line per"
        " listener that opened or closed, until Ctrl-C. The first scan is the baseline.",
    )
    parser.add_argument("--interval", type=interval, default=DEFAULT_INTERVAL, metavar="S",
                        help=f"seconds between scans (default {DEFAULT_INTERVAL:g},"
                        f" at most {MAX_INTERVAL:g})")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object per line: {"event", "time", ...}: event is opened,'
                        " closed, changed (another owner) or first-remote (the listener's first"
                        " connection from another machine), time is ISO 8601 UTC, then the keys"
                        " of `list --json`")
    parser.add_argument("--no-history", action="store_true",
                        help="do not record the events in the history file")
    parser.add_argument("--all-netns", action="store_true",
                        help="also watch every other network namespace (root); their events"
                        " are printed, not recorded")
    watch_outputs.add_arguments(parser)
    add_host_argument(parser)
    add_width_options(parser)
    # For `watch --host`: the remote watch ends when the ssh connection (its stdin) closes.
    parser.add_argument("--until-stdin-closes", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def _annotator(err: TextIO) -> Any:
    """The catalog (or None when it is not available: listeners then have no meaning)."""
    from portwatch.core.knowledge.catalog import load_catalog

    try:
        catalog = load_catalog()
    except Exception as exc:  # a packaging fault must not stop monitoring
        print(f"portwatch: warning: port catalog not available ({exc})", file=err)
        return None
    for problem in catalog.problems:
        print(f"portwatch: {problem}", file=err)
    return catalog


def human_line(event: str, when: float, row: AnnotatedListener,
               previous: AnnotatedListener | None = None, width: int | None = None) -> str:
    """2026-11-23T19:04:05Z  opened  tcp 127.0.0.1:8000  python3 (pid 4242)  loopback only
    http-alt  risk low (a `changed` line adds "was OLD-OWNER" after the owner, a `first-remote`
    line "from ADDRESS:PORT (local network)"). The parts are
    the fields' own words (portwatch.core.fields). To fit `width` columns, the process name and
    the service are cut (the longer first); then the time loses its date (19:04:05Z); then the
    service goes. The PID is never cut."""
    record = records.listener_record(row)
    owner_line = BY_KEY["process"].line
    assert owner_line is not None
    was = f" was {owner_line(records.listener_record(previous))}" if previous else ""
    if event == FIRST_REMOTE and row.connections is not None:
        remote = [peer for peer in row.connections.peers if peer.scope != "local"]
        was = f" from {peer_text(remote[0])}" if remote else ""
    parts = []
    for field in WATCH_LINE:
        assert field.line is not None
        text = field.line(record)
        if text is not None:
            parts.append((field.key, text))
    known = record["pid"] is not None
    name = visible(record["process"]) if known else ""
    service = dict(parts).get("service")

    def line(stamp: str, name: str, service: str | None) -> str:
        out = [stamp, f"{event:<6}"]
        for key, text in parts:
            if key == "process":
                text = (f"{name} (pid {record['pid']})" if known else text) + was
            elif key == "service":
                if service is None:
                    continue
                text = service
            out.append(text)
        return "  ".join(out)

    long_stamp = iso_utc(when)
    full = line(long_stamp, name, service)
    if width is None or len(full) <= width:
        return full
    short_stamp = long_stamp.partition("T")[2] or long_stamp
    fitted = full
    for stamp, kept, least in ((long_stamp, service, MIN_ELIDED),
                               (short_stamp, service, MIN_ELIDED), (short_stamp, None, 4)):
        whole = line(stamp, name, kept)
        natural = [len(name), len(kept or "")]
        cut = fit_widths(natural, (0, 1), [min(n, least) for n in natural],
                         sum(natural) - (len(whole) - width), gap=0)
        fitted = line(stamp, elide(name, cut[0]), None if kept is None else elide(kept, cut[1]))
        if len(fitted) <= width:
            break
    return fitted


def _sorted(rows: tuple[AnnotatedListener, ...]) -> list[AnnotatedListener]:
    return sorted(rows, key=lambda r: (r.listener.port, r.listener.proto.value,
                                       address_key(r.listener.address), r.listener.pid or 0))


def poll_events(result: PollResult):
    """(event, when, row, previous) for each event of a poll, in the order `watch` prints
    them: closed, opened, changed owners (previous: the owner before, else None), then first
    connections from another machine."""
    when = result.snapshot.taken_at
    skip = paired(result)
    for event, rows in ((CLOSED, result.closed), (OPENED, result.opened)):
        for row in _sorted(rows):
            if id(row) in skip:
                continue  # one socket changing owner: one `changed` event below
            yield event, when, row, None
    previous = {id(change.row): change.previous for change in result.owner_changes}
    for row in _sorted(tuple(change.row for change in result.owner_changes)):
        yield CHANGED, when, row, previous[id(row)]
    for row in _sorted(result.first_remote):
        yield FIRST_REMOTE, when, row, None


def print_events(result: PollResult, as_json: bool, out: TextIO,
                 width: int | None = None) -> None:
    for event, when, row, previous in poll_events(result):
        if as_json:
            out.write(json.dumps(event_record(event, when, row, previous)) + "\n")
        else:
            out.write(human_line(event, when, row, previous, width) + "\n")
        out.flush()


class RecordUnlessWindow:
    """The history sink of `watch`: records each poll into `store` unless a portwatch window
    runs (it records the same events itself) or another `watch` records into the same data
    folder (it holds the RecorderLock). Says on `err` when it stops and starts again; the
    first poll recorded after a pause starts a new run with a snapshot."""

    def __init__(self, store: HistoryStore, err: TextIO,
                 window_running: Callable[[], int | None] = instance.window_running,
                 lock: instance.RecorderLock | None = None) -> None:
        self.store = store
        self.path = store.path
        self._err = err
        self._window_running = window_running
        self._lock = lock if lock is not None else instance.RecorderLock(store.path.parent)
        self.window_pid: int | None = None  # the window we leave the recording to
        self.other_pid: int | None = None  # the other watch we leave the recording to
        self._skipped = False  # a poll went unrecorded: the next recorded one is a snapshot

    def check(self) -> int | None:
        """The window's PID when one runs now (and say so when that changed)."""
        pid = self._window_running()
        if pid is not None and self.window_pid is None:
            self._say(f"the portwatch window ({_pid_text(pid)}) records the history while it"
                      " runs; watch does not record until it closes")
        elif pid is None and self.window_pid is not None:
            self._say(f"the portwatch window closed; recording to {self.path} again")
        self.window_pid = pid
        return pid

    def _recorder(self) -> bool:
        """Whether this watch is the data folder's recorder (say so when that changed)."""
        if self._lock.acquire():
            if self.other_pid is not None:
                self._say(f"the other watch ({_pid_text(self.other_pid)}) ended; recording to"
                          f" {self.path} now")
                self.other_pid = None
            return True
        if self.other_pid is None:
            self.other_pid = self._lock.holder() or -1
            self._say(f"another portwatch watch ({_pid_text(self.other_pid)}) records into"
                      f" {self.path}; this one prints events but does not record them until"
                      " that one ends")
        return False

    def record(self, result: PollResult) -> None:
        if self.check() is not None or not self._recorder():
            self._skipped = True
            return
        if self._skipped and not result.first:
            result = dataclasses.replace(result, first=True)  # a new run, from a snapshot
        self._skipped = False
        self.store.record(result)

    def take_notices(self) -> list[str]:
        return self.store.take_notices()

    @property
    def unrecorded(self) -> int:
        return self.store.unrecorded

    def close(self) -> None:
        """Write what is held if the file takes it now, say what was not recorded, close."""
        self.store.flush()
        if self.store.unrecorded:
            why = self.store.failing or "more than could be kept in memory"
            self._say(f"{self.store.unrecorded} events printed by this watch were not recorded"
                      f" in {self.path} ({why})")
        self.store.close()
        self._lock.release()

    def _say(self, text: str) -> None:
        print(f"portwatch: {text}", file=self._err, flush=True)


def _pid_text(pid: int) -> str:
    return f"pid {pid}" if pid > 0 else "pid unknown"


def _recording(history: RecordUnlessWindow | None) -> str:
    if history is None:
        return "not recording"
    if history.window_pid is not None:
        return (f"not recording while the portwatch window ({_pid_text(history.window_pid)})"
                " records")
    if history.other_pid is not None:
        return f"not recording while another watch ({_pid_text(history.other_pid)}) records"
    return f"recording to {history.path}"


def _stop_when_stdin_closes(stop: Stop) -> None:
    def wait() -> None:
        while sys.stdin.buffer.read1(4096):
            pass
        stop.set()

    threading.Thread(target=wait, name="stdin watcher", daemon=True).start()


def run(args: argparse.Namespace) -> int:
    if args.host:
        from portwatch.commands.remote_cli import run_watch

        return run_watch(args)
    # From the start: a SIGTERM while starting up ends watch cleanly too, before the first poll.
    with StopOnSignal() as stop:
        return _watch(args, stop)


def _watch(args: argparse.Namespace, stop: Stop) -> int:
    out, err = sys.stdout, sys.stderr
    history: RecordUnlessWindow | None = None
    settings, messages = load_settings()  # history retention, alert rules, as the window
    for message in messages:
        print(f"portwatch: warning: {message}", file=err)
    if not args.no_history:
        opened, problems = open_history(paths.history_file(), source="watch",
                                        retention_days=settings.history_retention_days,
                                        max_bytes=settings.history_max_mb * 1_000_000)
        for problem in problems:
            print(f"portwatch: warning: {problem}", file=err)
        if isinstance(opened, HistoryStore):
            history = RecordUnlessWindow(opened, err)
    scanner = ListenerScanner(all_netns=args.all_netns)
    firewall = Firewall()
    monitor = Monitor(scanner.scan, ReachAnnotator(_annotator(err), firewall), history=history,
                      connections=ConnectionWatch(firewall.local_addresses))
    try:
        outputs = watch_outputs.build_outputs(args, settings, monitor, history, err)
    except BaseException:
        scanner.close()
        if history is not None:
            history.close()
        raise
    reported: set[str] = set()
    try:
        if args.until_stdin_closes:
            _stop_when_stdin_closes(stop)
        due = time.monotonic()
        while not stop.is_set():
            result = monitor.poll()
            for problem in result.problems:
                if problem not in reported:  # say each problem once, not every poll
                    reported.add(problem)
                    print(f"portwatch: {problem}", file=err)
            for notice in result.notices:  # each said once by the history already
                print(f"portwatch: {notice}", file=err, flush=True)
            if result.first:
                if not args.json or args.until_stdin_closes:  # --host waits for the line
                    where = _recording(history)
                    print(f"portwatch: watching {len(result.rows)} listeners every"
                          f" {args.interval:g} s ({where}); Ctrl-C stops", file=err)
            else:
                print_events(result, args.json, out, output_width(args, out))
            outputs.publish(result)
            # Keep to the schedule; after a slow poll or a suspended machine, start it
            # again from now rather than catching up.
            due += args.interval
            now = time.monotonic()
            if due < now:
                due = now + min(args.interval, 0.05)
            stop.wait(due - now)
    finally:
        scanner.close()
        outputs.close()
        if history is not None:
            history.close()
    return 0
