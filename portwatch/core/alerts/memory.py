"""What portwatch remembers between runs for its alert rules: the baseline of known listeners,
the user's acknowledgements and ignore rules.

`AlertMemory` is the interface; `InMemoryAlertMemory` keeps it for one run only (tests, and the
fallback when the history database cannot be opened). The history store (core/store/history.py)
implements the same interface in SQLite so it survives restarts; `MonitorAlertMemory` is the
one of a Monitor's history store, whenever that is opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from portwatch.core.model import IgnoreRule, ListenerIdentity


class AlertMemory(Protocol):
    def has_baseline(self) -> bool:
        """True once any run has recorded its listeners (false on the very first run)."""

    def known_identities(self) -> set[ListenerIdentity]:
        """Every identity seen listening in this or an earlier run."""

    def remember(self, identities: Iterable[ListenerIdentity]) -> None:
        """Add identities to the known set (and mark the baseline as taken)."""

    def acknowledged(self) -> set[ListenerIdentity]: ...

    def acknowledge(self, identity: ListenerIdentity) -> None: ...

    def unacknowledge(self, identity: ListenerIdentity) -> None:
        """Alert again for `identity`: drop its acknowledgement and forget that it was seen, so
        the next time it starts listening it is new."""

    def ignore_rules(self) -> list[IgnoreRule]: ...

    def add_ignore_rule(self, rule: IgnoreRule) -> None: ...

    def remove_ignore_rule(self, rule: IgnoreRule) -> None: ...


class InMemoryAlertMemory:
    """AlertMemory that lasts for one run."""

    def __init__(self) -> None:
        self._known: set[ListenerIdentity] = set()
        self._baseline = False
        self._acked: set[ListenerIdentity] = set()
        self._rules: list[IgnoreRule] = []

    def has_baseline(self) -> bool:
        return self._baseline

    def known_identities(self) -> set[ListenerIdentity]:
        return set(self._known)

    def remember(self, identities: Iterable[ListenerIdentity]) -> None:
        self._known.update(identities)
        self._baseline = True

    def acknowledged(self) -> set[ListenerIdentity]:
        return set(self._acked)

    def acknowledge(self, identity: ListenerIdentity) -> None:
        self._acked.add(identity)

    def unacknowledge(self, identity: ListenerIdentity) -> None:
        self._acked.discard(identity)
        self._known.discard(identity)

    def ignore_rules(self) -> list[IgnoreRule]:
        return list(self._rules)

    def add_ignore_rule(self, rule: IgnoreRule) -> None:
        if rule not in self._rules:
            self._rules.append(rule)

    def remove_ignore_rule(self, rule: IgnoreRule) -> None:
        if rule in self._rules:
            self._rules.remove(rule)


class MonitorAlertMemory:
    """The alert memory of the Monitor's history store when it has one (SQLite: the baseline
    and acknowledgements survive restarts), else one that lasts for this run.

    Looked up at each call, so it works whether the history store is set before the worker
    starts or opened by the worker's thread; every call comes from that thread (the rules'
    evaluate() and the Acknowledger), the thread the SQLite connection belongs to."""

    _METHODS = ("has_baseline", "known_identities", "remember", "acknowledged", "acknowledge",
                "unacknowledge", "ignore_rules", "add_ignore_rule", "remove_ignore_rule")

    def __init__(self, monitor: Any) -> None:
        self._monitor = monitor
        self._fallback = InMemoryAlertMemory()

    @property
    def target(self) -> AlertMemory:
        history = getattr(self._monitor, "history", None)
        if history is not None and all(hasattr(history, name) for name in self._METHODS):
            return history
        return self._fallback

    def __getattr__(self, name: str) -> Any:
        if name in self._METHODS:
            return getattr(self.target, name)
        raise AttributeError(name)
