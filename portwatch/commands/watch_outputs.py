"""Where `portwatch watch` sends each poll besides its own output: `--textfile DIR` (Prometheus,
DIR/portwatch.prom), `--journal` (systemd journal), `--syslog` (RFC 5424) and the alert channels
of settings.yaml.

Each output gets every poll through `Outputs.publish()`; one that fails says so once on stderr
(and again after it has worked in between) and never stops the watching. The alert channels
and the textfile's unacknowledged-alerts gauge need alerts: `watch` then runs the alert rules
(as the window does) with a memory of its own run, starting from the acknowledgements and
ignore rules the history file holds (made in the window) — so the baseline is this run's
first scan, and what opens afterwards alerts once.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from portwatch.core.monitor import PollResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--textfile", metavar="DIR", type=Path,
                        help="keep DIR/portwatch.prom up to date for node_exporter's textfile"
                        " collector (rewritten atomically each poll)")
    parser.add_argument("--journal", action="store_true",
                        help="write each event to the systemd journal with PORTWATCH_* fields")
    parser.add_argument("--syslog", action="store_true",
                        help="write each event to syslog (/dev/log) as RFC 5424")


class _Output:
    """One output: `publish(result)` (true when it wrote something); `close()`. `name` is
    used in messages."""

    name = "output"

    def publish(self, result: PollResult) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        pass


class TextfileOutput(_Output):
    def __init__(self, directory: Path, outstanding: Any) -> None:
        self.name = f"the textfile {directory / 'portwatch.prom'}"
        self.directory = directory
        self._outstanding = outstanding
        self._rows: tuple | None = None  # the rows the cached text was made from
        self._listeners_text = ""

    def publish(self, result: PollResult) -> bool:
        from portwatch.core.output.prometheus import (
            listener_families,
            scan_families,
            write_textfile,
        )

        unacknowledged = self._outstanding.update(result) if self._outstanding else None
        if result.rows is not self._rows:  # the Monitor hands the same tuple when unchanged
            self._rows, self._listeners_text = result.rows, listener_families(result.rows)
        snapshot = result.snapshot
        write_textfile(self.directory, self._listeners_text + scan_families(
            taken_at=snapshot.taken_at, duration=result.duration, partial=snapshot.partial,
            unacknowledged=unacknowledged))
        return True


def _events(result: PollResult):
    """The poll's events as `watch` prints them (none for the baseline)."""
    if result.first:
        return
    from portwatch.commands.watch import poll_events

    yield from poll_events(result)


class JournalOutput(_Output):
    def __init__(self) -> None:
        from portwatch.core.output.journal import JournalWriter

        self._writer = JournalWriter()
        self.name = f"the journal ({self._writer.path})"

    def publish(self, result: PollResult) -> bool:
        from portwatch.commands.watch import human_line
        from portwatch.core.output.journal import entry, event_fields, priority

        sent = False
        for event, when, row, previous in _events(result):
            self._writer.send(entry(human_line(event, when, row, previous),
                                    priority(event, row),
                                    event_fields(event, when, row, previous)))
            sent = True
        return sent

    def close(self) -> None:
        self._writer.close()


class SyslogOutput(_Output):
    def __init__(self) -> None:
        from portwatch.core.output.syslog5424 import SyslogWriter

        self._writer = SyslogWriter()
        self.name = f"syslog ({self._writer.path})"

    def publish(self, result: PollResult) -> bool:
        from portwatch.commands.watch import human_line
        from portwatch.core.output.journal import event_fields, priority
        from portwatch.core.output.syslog5424 import message

        sent = False
        for event, when, row, previous in _events(result):
            self._writer.send(message(priority(event, row), event,
                                      human_line(event, when, row, previous),
                                      event_fields(event, when, row, previous), when=when))
            sent = True
        return sent

    def close(self) -> None:
        self._writer.close()


class ChannelsOutput(_Output):
    name = "the alert channels"

    def __init__(self, channels: Any) -> None:
        self._channels = channels

    def publish(self, result: PollResult) -> bool:
        self._channels.submit(result.alerts)
        return False  # the channels report their own failures and recoveries

    def close(self) -> None:
        self._channels.close()


class Outputs:
    """Every output of this `watch`; a failing one is reported once per failure spell."""

    def __init__(self, outputs: list[_Output], say: Callable[[str], None]) -> None:
        self._outputs = outputs
        self._say = say
        self._failing: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._outputs)

    def publish(self, result: PollResult) -> None:
        for output in self._outputs:
            try:
                wrote = output.publish(result)
            except Exception as exc:
                if output.name not in self._failing:
                    self._failing.add(output.name)
                    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                    self._say(f"cannot write to {output.name}: {reason}; watching goes on")
            else:
                if wrote and output.name in self._failing:
                    self._failing.discard(output.name)
                    self._say(f"writing to {output.name} again")

    def close(self) -> None:
        for output in self._outputs:
            try:
                output.close()
            except Exception as exc:  # closing must not hide the real exit status
                self._say(f"closing {output.name}: {exc}")


def _alert_memory(history: Any) -> Any:
    """A memory for this run, with the window's acknowledgements and ignore rules."""
    from portwatch.core.alerts.memory import InMemoryAlertMemory

    memory = InMemoryAlertMemory()
    store = getattr(history, "store", None)
    if store is not None:
        for identity in store.acknowledged():
            memory.acknowledge(identity)
        for rule in store.ignore_rules():
            memory.add_ignore_rule(rule)
    return memory


def check_textfile_dir(directory: Path) -> str | None:
    """Why DIR cannot take portwatch.prom, or None."""
    if not directory.is_dir():
        return f"--textfile {directory}: no such directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"--textfile {directory}: portwatch may not write there"
    return None


def build_outputs(args: argparse.Namespace, settings: Any, monitor: Any, history: Any,
                  err: TextIO) -> Outputs:
    """The outputs `args` and the settings ask for; sets the monitor's alert rules when an
    output needs alerts. Raises UserError for a --textfile folder that cannot be used."""
    from portwatch.cli import UserError
    from portwatch.core.channels import Channels, load_channels

    def say(text: str) -> None:
        print(f"portwatch: {text}", file=err, flush=True)

    outputs: list[_Output] = []
    channels, messages = load_channels()
    for message in messages:
        say(f"warning: {message}")
    rules = None
    if channels or args.textfile is not None:
        from portwatch.core.alerts.rules import AlertRules

        rules = AlertRules.from_settings(settings, _alert_memory(history))
        monitor.alert_rules = rules
    if args.textfile is not None:
        problem = check_textfile_dir(args.textfile)
        if problem:
            raise UserError(problem)
        from portwatch.core.alerts.outstanding import OutstandingAlerts

        outputs.append(TextfileOutput(args.textfile, OutstandingAlerts(rules)))
    if args.journal:
        outputs.append(JournalOutput())
    if args.syslog:
        outputs.append(SyslogOutput())
    if channels:
        running = Channels(channels, say)
        say(f"alert channels: {', '.join(running.names)}")
        outputs.append(ChannelsOutput(running))
    return Outputs(outputs, say)
