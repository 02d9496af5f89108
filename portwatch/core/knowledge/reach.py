"""Effective reach: a listener's bind exposure combined with the host firewall's verdict.

`ReachAnnotator` wraps the catalog's annotator: each listener bound beyond loopback gets the
firewall's verdict (`AnnotatedListener.firewall`): the host's ruleset for the host's listeners,
each other network namespace's own ruleset for its listeners. One the firewall provably blocks
is assessed like a loopback listener, the risk's reason saying once that the firewall is why
(`shielded_reach`, the words risk.assess takes for who can reach it). `reach_label` /
`reach_text` are the words the table, the details and `list` use.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from portwatch.core.model import AnnotatedListener, Exposure, Listener

if TYPE_CHECKING:  # the firewall package is imported by the first ReachAnnotator, not by the
    # field declarations that only name its words (lookup and the window's start-up need no
    # ruleset reader)
    from portwatch.core.firewall import Firewall, FirewallVerdict
    from portwatch.core.firewall.namespaces import NamespaceFirewalls

log = logging.getLogger(__name__)

_VERDICT_WORDS = {"accept": "accepts", "drop": "drops", "reject": "rejects"}


class _Bare:
    """No catalog: listeners without meanings (the firewall verdict still applies)."""

    def annotate(self, listener: Listener, reach: str | None = None) -> AnnotatedListener:
        return AnnotatedListener(listener)


class ReachAnnotator:
    """Catalog annotation plus the firewall verdict (see the module docstring)."""

    def __init__(self, annotator: Any | None, firewall: Firewall | None = None,
                 namespaces: NamespaceFirewalls | None = None) -> None:
        if firewall is None:
            from portwatch.core.firewall import Firewall

            firewall = Firewall()
        if namespaces is None:
            from portwatch.core.firewall.namespaces import NamespaceFirewalls

            namespaces = NamespaceFirewalls()
        self._annotator = annotator or _Bare()
        self._firewall = firewall
        self._namespaces = namespaces
        self._token: tuple | None = None  # read on the first poll, not when built

    def refresh_needed(self) -> bool:
        """Whether a ruleset changed since the last call (then every row is annotated again)."""
        token = (self._firewall.token(), self._namespaces.token())
        changed = self._token is not None and token != self._token
        self._token = token
        return changed

    def annotate(self, listener: Listener) -> AnnotatedListener:
        verdict = None
        if listener.exposure is not Exposure.LOOPBACK:
            # Another network namespace has its own ruleset: the host's says nothing about it.
            verdict = (self._firewall.verdict_for(listener.proto.value, listener.family.value,
                                                  listener.address, listener.port)
                       if listener.netns is None else self._namespaces.verdict_for(listener))
        if verdict is None or not verdict.blocked:
            item = self._annotator.annotate(listener)
            if verdict is None and item.firewall is None:  # loopback: nothing to add
                return item
            return dataclasses.replace(item, firewall=verdict)
        # Provably blocked from outside: weigh its notes as for a loopback listener.
        shielded = self._annotator.annotate(
            dataclasses.replace(listener, exposure=Exposure.LOOPBACK),
            reach=shielded_reach(verdict))
        return dataclasses.replace(shielded, listener=listener, firewall=verdict)


def shielded_reach(verdict: FirewallVerdict) -> str:
    """Who can reach a listener the firewall blocks, in the words of a risk's reason."""
    return (f"the firewall {_VERDICT_WORDS[verdict.verdict]} new connections from outside, so"
            " only this machine can reach it")


def reachable(item: AnnotatedListener) -> bool:
    """Whether other machines can connect: bound beyond loopback and not provably blocked by
    the firewall (an unknown verdict counts as reachable)."""
    firewall = item.firewall
    return item.listener.exposure is not Exposure.LOOPBACK and not (firewall and
                                                                   firewall.blocked)


def reach_label(listener: Listener, verdict: FirewallVerdict | None) -> str:
    """Short words for the Reach column: "loopback only", "all interfaces · firewall drops"."""
    exposure = listener.exposure.label
    if verdict is None:
        return exposure
    if verdict.verdict == "accept":
        return f"{exposure} · open"
    if verdict.verdict == "unknown":
        return f"{exposure} · firewall unknown"
    return f"{exposure} · firewall {_VERDICT_WORDS[verdict.verdict]}"


def reach_text(listener: Listener, verdict: FirewallVerdict | None) -> str:
    """One sentence for the details: the bind exposure, then what the firewall does."""
    exposure = listener.exposure.label
    if verdict is None:
        return exposure
    return f"{exposure}; {verdict.reason}"
