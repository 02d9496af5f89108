"""The probe's one error boundary: every psutil and OS fault becomes one of three answers.

Like psutil's own `wrap_exceptions`, the probe's modules read the system inside `boundary()`,
which turns what the OS or psutil raised into `ProcessGone` (the process exited, or is a zombie:
it holds nothing any more), `AccessDenied` (another user's process, no privileges) or
`Unreadable` (any other fault: a /proc read that failed, psutil's generic Error). The modules
then turn those three into data for the user (a row with an unknown owner, a problem sentence),
so nothing outside `portwatch.core.probe` ever sees an OSError or a psutil exception.

The reads of process details go through it (scanner, procinfo); two places catch psutil's
own answers because they mean something else there: AccessDenied from net_connections() (on
macOS: ask each process instead) and TimeoutExpired from wait(). The Linux readers that never
call psutil keep their few OS errors where they read, in the same spirit: `sockdiag` raises
SockDiagError, which the scanner turns into the psutil fallback and a reason; `owners` and
`provenance` read a /proc entry that vanished as a process that is gone, and one they may not
read as not known; `procread` (the fast path's owner details) raises ProcessGone and
AccessDenied itself, as psutil's would have come through here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType


class ProbeError(Exception):
    """A fault reading the system; str() is the original fault's message."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause

    @property
    def strerror(self) -> str:
        """The OS's words for it when there are some (e.g. "Permission denied"), else str()."""
        return getattr(self.cause, "strerror", None) or str(self)


class ProcessGone(ProbeError):
    """The process no longer exists (psutil's NoSuchProcess, which includes ZombieProcess)."""


class AccessDenied(ProbeError):
    """The OS refused to say (psutil's AccessDenied)."""


class Unreadable(ProbeError):
    """Any other fault: an OSError, psutil's generic Error."""


class _NoPsutil:
    """psutil not imported (yet): none of its exceptions can have been raised."""

    class Error(Exception):
        pass

    NoSuchProcess = AccessDenied = Error


@contextmanager
def boundary(ps: ModuleType | object | None = None) -> Iterator[None]:
    """Translate psutil and OS faults raised inside into ProbeError subclasses.

    `ps` is the psutil module in use (tests inject a faulty one with its own classes); by
    default the real one when something imported it (the Linux fast path does not)."""
    if ps is None:
        ps = sys.modules.get("psutil") or _NoPsutil
    try:
        yield
    except ProbeError:
        raise
    except ps.NoSuchProcess as exc:  # type: ignore[attr-defined]
        raise ProcessGone(exc) from exc
    except ps.AccessDenied as exc:  # type: ignore[attr-defined]
        raise AccessDenied(exc) from exc
    except (ps.Error, OSError) as exc:  # type: ignore[attr-defined]
        raise Unreadable(exc) from exc
