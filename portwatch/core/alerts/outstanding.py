"""Which alerts of this run are still outstanding: their listener still listens and has been
neither acknowledged nor ignored (the `portwatch_alerts_unacknowledged` gauge of `watch`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portwatch.core.alerts.rules import AlertRules, identity
from portwatch.core.model import ListenerIdentity

if TYPE_CHECKING:
    from portwatch.core.monitor import PollResult


class OutstandingAlerts:
    """Counts, after each poll, the listener identities that alerted and still need a look."""

    def __init__(self, rules: AlertRules) -> None:
        self._rules = rules
        self._alerted: set[ListenerIdentity] = set()

    def update(self, result: PollResult) -> int:
        """Take in one poll's alerts; returns how many alerted identities are outstanding."""
        for alert in result.alerts:
            self._alerted.update(identity(row) for row in alert.listeners)
        if not self._alerted:
            return 0
        listening = {identity(row): row for row in result.rows}
        self._alerted = {
            who for who in self._alerted
            if who in listening and not self._rules.silenced(listening[who])
        }
        return len(self._alerted)
