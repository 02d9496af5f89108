"""Fixtures for tests that need a real desktop: Xvfb, a private D-Bus session bus, dunst and
trayer (see desktop.py). Skipped with the reason when the programs are not installed."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from desktop import DesktopSession, missing_programs


def _skip_unless_ready() -> None:
    missing = missing_programs()
    if missing:
        pytest.skip("needs " + ", ".join(missing) + " (xvfb, dbus, dunst, trayer, xdotool,"
                    " x11-utils: see .ci/system-packages)")


@pytest.fixture(scope="module")
def desktop_session() -> Iterator[DesktopSession]:
    """One private desktop (Xvfb + D-Bus + dunst + trayer) for a test module."""
    _skip_unless_ready()
    with DesktopSession() as session:
        yield session


@pytest.fixture
def desktop_factory() -> Iterator:
    """Start desktops with options (e.g. no notification server); all are stopped after."""
    _skip_unless_ready()
    started: list[DesktopSession] = []

    def factory(**options) -> DesktopSession:
        session = DesktopSession(**options).start()
        started.append(session)
        return session

    yield factory
    for session in started:
        session.stop()
