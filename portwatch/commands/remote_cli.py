"""`portwatch list --host USER@HOST` and `portwatch watch --host USER@HOST`: the same commands
run on another machine through ssh (core/probe/remote.py), their JSON read here.

`list --host` prints the remote table (or, with --json, the remote records with "host"
added). `watch --host` runs the remote `watch --json` and prints its events as local `watch`
does, each with the host; when the connection drops it says so and reconnects with backoff (1,
2, 4 … 60 s) until Ctrl-C. A remote `watch` starts with a new baseline, so what opened or
closed while disconnected is not printed (the remote history file has it, unless
--no-history). Nothing here listens: ssh is a client.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from typing import TextIO

from portwatch.commands.stop_signal import Stop, StopOnSignal
from portwatch.core.probe.remote import (
    RemoteError,
    event_time,
    explain,
    from_record,
    list_records,
    list_rows,
    remote_text,
    ssh_command,
)

LIST_TIMEOUT = 300.0  # seconds a remote `list` may take, ssh's connection included
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


def _say_remote(host_name: str, stderr: str, err: TextIO) -> None:
    for line in stderr.splitlines():
        if line.strip():
            print(f"portwatch: {host_name}: {remote_text(line)}", file=err)


def run_list(args: argparse.Namespace, out: TextIO | None = None,
             err: TextIO | None = None) -> int:
    from portwatch.cli import UserError
    from portwatch.commands.listing import print_table, sort_key

    out, err = out or sys.stdout, err or sys.stderr
    try:
        done = subprocess.run(ssh_command(args.host, ["list", "--json"]),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=LIST_TIMEOUT, check=False)
    except FileNotFoundError:
        raise UserError("ssh is not installed here (package openssh-client)") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"{args.host} did not answer within {LIST_TIMEOUT:g} s") from None
    try:
        records = list_records(args.host, done.returncode, done.stdout, done.stderr)
    except RemoteError as exc:
        raise UserError(str(exc)) from None
    _say_remote(args.host, done.stderr, err)
    if args.json:
        lines = ",\n".join(json.dumps({**record, "host": args.host}) for record in records
                           if isinstance(record, dict))
        out.write(f"[\n{lines}\n]\n" if lines else "[]\n")
        return 0
    rows, skipped = list_rows(args.host, records)
    for sentence in skipped:
        print(f"portwatch: {sentence}", file=err)
    out.write(f"host: {args.host}\n")
    print_table(sorted(rows, key=sort_key), out)
    return 0


class RemoteWatch:
    """One `watch --host` session: the remote `watch --json`, reconnected when it drops."""

    def __init__(self, args: argparse.Namespace, stop: Stop, out: TextIO,
                 err: TextIO) -> None:
        self.args = args
        self.stop = stop
        self.out, self.err = out, err
        self.proc: subprocess.Popen | None = None
        self.connections = 0
        self._connected = False  # this session's remote watch said it is watching

    def say(self, text: str) -> None:
        print(f"portwatch: {text}", file=self.err, flush=True)

    def remote_args(self) -> list[str]:
        words = ["watch", "--json", "--until-stdin-closes", "--interval",
                 f"{self.args.interval:g}"]
        return [*words, "--no-history"] if self.args.no_history else words

    def run(self) -> int:
        failures = 0
        while not self.stop.is_set():
            status, stderr, saw_events = self._session()
            if self.stop.is_set():
                break
            reason = explain(self.args.host, status, stderr)
            if not saw_events and (status == 127 or status == 2):
                self.say(reason)  # portwatch missing, or it does not know these options
                return 1
            if saw_events and status == 255:  # ssh says 255 for a lost link and a killed command
                reason = "the connection or portwatch there ended" + (
                    f": {remote_text(stderr)}" if stderr.strip() else "")
            failures = 0 if saw_events else failures + 1
            wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
            self.say(f"{self.args.host} disconnected ({reason}); reconnecting in {wait:g} s;"
                     " what opens or closes meanwhile is not shown here")
            self.stop.wait(wait)
        return 0

    def _session(self) -> tuple[int, str, bool]:
        """One ssh run; returns its exit status, its last stderr lines, whether it worked."""
        argv = ssh_command(self.args.host, self.remote_args())
        try:
            # stdin stays open and unused: when ssh ends, the remote watch sees it close
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, errors="replace")
        except FileNotFoundError:
            return 255, "ssh is not installed here (package openssh-client)", False
        stderr_lines: list[str] = []
        self._connected = False
        reader = threading.Thread(target=self._read_stderr, args=(self.proc, stderr_lines),
                                  daemon=True)
        reader.start()
        worked = False
        try:
            for line in self.proc.stdout:
                worked = True
                self._event(line)
        finally:
            self.proc.stdout.close()
            self.proc.stdin.close()
            status = self.proc.wait()
            reader.join(10)
            self.proc.stderr.close()
        return status, "\n".join(stderr_lines[-3:]), worked or self._connected

    def _read_stderr(self, proc: subprocess.Popen, lines: list[str]) -> None:
        for line in proc.stderr:
            if line.startswith("portwatch: watching"):
                self._connected = True
                self.connections += 1
                self.say(f"{self.args.host}: {remote_text(line)[len('portwatch: '):]}")
                continue
            lines.append(line)
            del lines[:-20]
            if line.startswith("portwatch: "):
                self.say(f"{self.args.host}: {remote_text(line)[len('portwatch: '):]}")

    def _event(self, line: str) -> None:
        from portwatch.commands.watch import human_line

        try:
            record = json.loads(line)
            row = from_record(record, self.args.host)
            event = str(record["event"])
        except (ValueError, KeyError, TypeError):
            self.say(f"{self.args.host}: ignored a line that is not a portwatch event:"
                     f" {remote_text(line)[:80]}")
            return
        if self.args.json:
            self.out.write(json.dumps({**record, "host": self.args.host}) + "\n")
        else:
            self.out.write(f"{self.args.host}  {human_line(event, event_time(record), row)}\n")
        self.out.flush()

    def end(self) -> None:
        """Stop the current session (called from the signal handler's thread)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # our own ssh child, by its PID


def run_watch(args: argparse.Namespace) -> int:
    for flag in ("textfile", "journal", "syslog"):
        if getattr(args, flag, None):
            from portwatch.cli import UserError

            raise UserError(f"--{flag} works on the machine itself: run `portwatch watch"
                            f" --{flag} …` on {args.host} (for example as its service)")
    with StopOnSignal() as stop:
        session = RemoteWatch(args, stop, sys.stdout, sys.stderr)
        def end_on_stop() -> None:
            stop.wait()
            session.end()

        watcher = threading.Thread(target=end_on_stop, daemon=True)
        watcher.start()
        status = session.run()
        stop.set()
    return status
