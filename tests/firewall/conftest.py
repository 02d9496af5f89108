"""The firewall lab fixture: one set of namespaces for the module, emptied before each case."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab import Lab, skip_reason


@pytest.fixture(scope="module")
def lab():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    built = Lab()
    try:
        built.start()
        yield built
    finally:
        built.stop()
