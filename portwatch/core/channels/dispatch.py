"""Alerts to the configured channels without ever holding up the monitor.

`Channels.submit(alerts)` only puts the alerts on each channel's queue; one thread per channel
sends them. Like desktop notifications, each channel sends at most `BURST` alerts per
`BURST_WINDOW` seconds and folds the rest into one "N more new-listener alerts" when the window
has passed (core/alerts.more_alerts). An alert below the channel's `min_risk` is not sent.

A failure is reported once through `report` (a sentence naming the channel and the reason,
never a secret) and again only after the channel has worked in between ("works again"); the
alert that failed is not retried (it is in the window, `watch`'s output and the history). A
full queue (a channel far slower than the alerts) drops the oldest and says so once.
`close()` lets each thread send what is queued (folded) for at most a few seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from portwatch.core.alerts.rules import more_alerts
from portwatch.core.channels.config import ChannelConfig
from portwatch.core.channels.send import ChannelError, send
from portwatch.core.model import Alert

log = logging.getLogger(__name__)

BURST = 5  # alerts per channel at most per BURST_WINDOW seconds (as desktop notifications)
BURST_WINDOW = 10.0
QUEUE_SIZE = 200
CLOSE_TIMEOUT = 5.0  # seconds close() waits for each channel's last sends
FOOTER = "Every alert is in portwatch's history (`portwatch history`)."
_STOP = object()

Report = Callable[[str], None]
Sender = Callable[[ChannelConfig, Alert], None]


class _Burst:
    """At most BURST sends per BURST_WINDOW seconds; what comes over is held, to be folded."""

    def __init__(self, clock: Callable[[], float], window: float = BURST_WINDOW) -> None:
        self._clock = clock
        self.window = window
        self._sent_at: deque[float] = deque()
        self.held: list[Alert] = []

    def _expire(self, now: float) -> None:
        while self._sent_at and now - self._sent_at[0] >= self.window:
            self._sent_at.popleft()

    def offer(self, alert: Alert) -> Alert | None:
        """The alert when it may go now, else None (held)."""
        now = self._clock()
        self._expire(now)
        if len(self._sent_at) >= BURST or self.held:
            self.held.append(alert)
            return None
        self._sent_at.append(now)
        return alert

    def wait(self) -> float | None:
        """Seconds until the held alerts may go (None when nothing is held)."""
        if not self.held:
            return None
        now = self._clock()
        self._expire(now)
        return 0.0 if len(self._sent_at) < BURST else self.window - (now - self._sent_at[0])

    def release(self, force: bool = False) -> Alert | None:
        """The held alerts as one (folded when several), when their turn has come."""
        if not self.held or (not force and (self.wait() or 0.0) > 0):
            return None
        held, self.held = self.held, []
        self._sent_at.append(self._clock())
        return held[0] if len(held) == 1 else more_alerts(held, time.time(), FOOTER)


class _ChannelThread(threading.Thread):
    def __init__(self, channel: ChannelConfig, report: Report, sender: Sender,
                 clock: Callable[[], float], window: float) -> None:
        super().__init__(name=f"portwatch channel {channel.name}", daemon=True)
        self.channel = channel
        self._report = report
        self._send_one = sender
        self._queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self._burst = _Burst(clock, window)
        self._failing = False
        self._overflowed = False
        self.sent = 0  # alerts delivered (tests and the log read it)

    def submit(self, alert: Alert) -> None:
        while True:
            try:
                self._queue.put_nowait(alert)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # drop the oldest, keep the newest
                except queue.Empty:
                    continue
                if not self._overflowed:
                    self._overflowed = True
                    self._say(f"alert channel {self.channel.name!r} cannot keep up; the"
                              " oldest waiting alerts are dropped")

    def stop(self) -> None:
        self._queue.put(_STOP)

    def run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._burst.wait())
            except queue.Empty:
                item = None
            if item is _STOP:
                self._deliver(self._burst.release(force=True))
                return
            if item is not None:
                self._deliver(self._burst.offer(item))
            self._deliver(self._burst.release())

    def _deliver(self, alert: Alert | None) -> None:
        if alert is None:
            return
        try:
            self._send_one(self.channel, alert)
        except ChannelError as exc:
            self._failed(str(exc))
            return
        except Exception as exc:  # a bug must not end the thread: report it like a failure
            log.exception("alert channel %s", self.channel.name)
            self._failed(f"unexpected error {type(exc).__name__}")
            return
        self.sent += 1
        if self._failing:
            self._failing = False
            self._say(f"alert channel {self.channel.name!r} works again")

    def _failed(self, reason: str) -> None:
        if not self._failing:
            self._failing = True
            self._say(f"alert channel {self.channel.name!r} ({self.channel.kind}) failed:"
                      f" {reason}; its alerts are not delivered until it works again")

    def _say(self, text: str) -> None:
        log.warning("%s", text)
        try:
            self._report(text)
        except Exception:  # the reporter is the caller's; it must not end the thread
            log.exception("reporting a channel problem failed")


class Channels:
    """The running channels. `submit()` never blocks; `close()` ends the threads."""

    def __init__(self, channels: Iterable[ChannelConfig], report: Report = lambda text: None,
                 *, sender: Sender = send, clock: Callable[[], float] = time.monotonic,
                 burst_window: float = BURST_WINDOW) -> None:
        self._threads = [_ChannelThread(channel, report, sender, clock, burst_window)
                         for channel in channels]
        for thread in self._threads:
            thread.start()

    def __bool__(self) -> bool:
        return bool(self._threads)

    @property
    def names(self) -> list[str]:
        return [thread.channel.name for thread in self._threads]

    def submit(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            for thread in self._threads:
                if thread.channel.wants(alert.risk):
                    thread.submit(alert)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        for thread in self._threads:
            thread.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
