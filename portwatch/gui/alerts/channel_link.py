"""The window's alerts to the alert channels of settings.yaml (webhook, ntfy, Gotify, command,
e-mail): each poll's alerts are handed to core/channels' threads, which never block the GUI or
the worker; a channel's failure (reported once by those threads) is shown in the status bar.
The channels are read when portwatch starts."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from portwatch.core.channels import Channels, load_channels
from portwatch.core.monitor import PollResult

log = logging.getLogger(__name__)


class ChannelLink(QObject):
    """Hands alerts to the channels; `problem` carries their reports to the GUI thread."""

    problem = Signal(str)

    def __init__(self, configured: Any, window: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._window = window
        # A bound slot of this GUI-thread object: emitted from a channel's thread, the call
        # is queued to the GUI thread.
        self.problem.connect(self._show_problem)
        self.channels = Channels(configured, self.problem.emit)

    @Slot(str)
    def _show_problem(self, text: str) -> None:
        self._window.show_problems([text])

    @Slot(object)
    def on_polled(self, result: PollResult) -> None:
        if result.alerts:
            self.channels.submit(result.alerts)

    def close(self) -> None:
        self.channels.close()


def install_channels(app: Any, gui: Any, polls: Any = None) -> ChannelLink | None:
    """Start the configured channels for the running window (None when there are none);
    `polls` (default: the worker) delivers the PollResults."""
    configured, messages = load_channels()
    gui.window.show_problems(messages)
    if not configured:
        return None
    link = ChannelLink(configured, gui.window, parent=app)
    (polls or gui.worker).polled.connect(link.on_polled)
    app.aboutToQuit.connect(link.close)
    log.info("alert channels: %s", ", ".join(link.channels.names))
    return link
