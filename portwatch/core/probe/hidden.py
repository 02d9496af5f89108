"""Why a socket's owner is hidden: whether this process may see every owner, and the words.

Seeing who owns another user's socket means listing its /proc/<pid>/fd (CAP_DAC_READ_SEARCH or
CAP_DAC_OVERRIDE) and reading the links there (the ptrace read check: CAP_SYS_PTRACE); without
them an owner is hidden because portwatch may not look, with them only because no process
holds the socket. Both scanner paths give a hidden owner `hidden_reason()`.
"""

from __future__ import annotations

import os
import sys

HIDDEN_NEEDS_PRIVILEGES = (
    "owned by another user: the system tells only administrators which process this is"
    " (run portwatch with sudo to see it)"
)
HIDDEN_NO_PROCESS = (
    "no process owns this socket: it belongs to the kernel (for example NFS, WireGuard or"
    " a socket handed over at boot), to a process in another container, or its owner exited a"
    " moment ago"
)

# Seeing who owns another user's socket means listing its /proc/<pid>/fd (CAP_DAC_READ_SEARCH or
# CAP_DAC_OVERRIDE) and reading the links there (the ptrace read check: CAP_SYS_PTRACE).
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_SYS_PTRACE = 1, 2, 19


def _effective_capabilities(path: str = "/proc/self/status") -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _is_privileged() -> bool:
    """Whether the system would show this process every socket's owner: root (or a service
    granted the capabilities) with what the /proc walk needs. Root whose capabilities were
    bounded away is not: its hidden owners are hidden, not the kernel's."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return True  # Windows: psutil tells what it can
    caps = _effective_capabilities() if sys.platform.startswith("linux") else None
    if caps is None:
        return geteuid() == 0
    search = caps & (1 << _CAP_DAC_READ_SEARCH | 1 << _CAP_DAC_OVERRIDE)
    return bool(search and caps & 1 << _CAP_SYS_PTRACE)


def hidden_reason() -> str:
    """The reason a row with no owner gets: the kernel's (privileged) or "run with sudo"."""
    return HIDDEN_NO_PROCESS if _is_privileged() else HIDDEN_NEEDS_PRIVILEGES
