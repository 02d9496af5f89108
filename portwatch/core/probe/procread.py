"""Linux: an owner's details read straight from /proc, the same values psutil gives.

The fast scanner path reads the few processes that own listeners itself instead of importing
psutil (≈ 10 ms of a `portwatch list`) and building a psutil.Process for each: name, executable,
command line, user, start time and parent, with psutil's own rules (psutil 7, `_pslinux`):

- the name is /proc/<pid>/stat's; a 15-character (cut) name is completed from the command
  line's first word when that starts with it;
- the executable is the /proc/<pid>/exe link, cut at a NUL, without " (deleted)" when no file
  has that name; when it may not be read (or is empty), the command line's first word if that
  is an absolute path to an executable file, else unknown;
- the command line is split at NULs (or at spaces when a program rewrote it with spaces);
- the user is the real uid's name (the uid as text when it has none);
- the start time is the boot time (/proc/stat's btime) plus the start ticks.

Every fault becomes the probe's answers (`errors`): a process that is gone or a zombie raises
ProcessGone, a detail the OS refuses is None (or empty). The portable path keeps psutil, and a
test compares both on every process of the machine.
"""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Callable
from typing import Any

from portwatch.core.model import ProcessInfo
from portwatch.core.probe.errors import AccessDenied, ProcessGone

_ENCODING = sys.getfilesystemencoding()
_ERRORS = sys.getfilesystemencodeerrors()
_DELETED = " (deleted)"
_COMM_LEN = 15


class ProcReader:
    """Reads owners' details under a /proc root (user names remembered per uid)."""

    def __init__(self, proc: str = "/proc") -> None:
        self._proc = proc
        self._users: dict[int, str] = {}

    def details(self, pid: int, provenance: Callable[..., Any],
                parent: Callable[[int], str | None]) -> ProcessInfo:
        """pid's details, with `provenance(pid, name, exe, cmdline)` and `parent(ppid)` (its
        name). Raises ProcessGone when it no longer exists or is a zombie, AccessDenied when
        even its stat may not be read."""
        name, state, ppid, start = self._stat(pid)
        if state == "Z":
            raise ProcessGone(ProcessLookupError(f"process {pid} is a zombie"))
        cmdline = self._cmdline(pid)
        name = _full_name(name, cmdline) or "?"
        exe = self._exe(pid, cmdline) or None
        user = self._user(pid)
        words = tuple(cmdline)
        return ProcessInfo(pid=pid, name=name, user=user, exe=exe, cmdline=words,
                           create_time=self._boot_time() + start / _CLOCK_TICKS, ppid=ppid,
                           provenance=provenance(pid, name, exe, words), parent=parent(ppid))

    def name(self, pid: int) -> str | None:
        """pid's name as psutil gives it (a parent's), or None when it is gone or hidden."""
        try:
            name, _, _, _ = self._stat(pid)
            return _full_name(name, self._cmdline(pid)) or None
        except (ProcessGone, AccessDenied):
            return None

    # -- the reads ---------------------------------------------------------------------

    def _stat(self, pid: int) -> tuple[str, str, int, int]:
        """(name, state, ppid, start ticks) from /proc/<pid>/stat."""
        try:
            with open(f"{self._proc}/{pid}/stat", "rb") as handle:
                data = handle.read()
        except PermissionError as exc:
            raise AccessDenied(exc) from exc
        except OSError as exc:
            raise ProcessGone(exc) from exc
        right = data.rfind(b")")
        fields = data[right + 2:].split()
        try:
            return (data[data.find(b"(") + 1:right].decode(_ENCODING, _ERRORS),
                    fields[0].decode("ascii"), int(fields[1]), int(fields[19]))
        except (IndexError, ValueError, UnicodeDecodeError) as exc:
            raise ProcessGone(exc) from exc

    def _cmdline(self, pid: int) -> list[str]:
        try:
            with open(f"{self._proc}/{pid}/cmdline", encoding=_ENCODING,
                      errors=_ERRORS) as handle:
                data = handle.read()
        except PermissionError:
            return []
        except OSError as exc:
            self._gone_unless_there(pid, exc)
            return []
        if not data:
            return []
        sep = "\x00" if data.endswith("\x00") else " "
        if data.endswith(sep):
            data = data[:-1]
        words = data.split(sep)
        if sep == "\x00" and len(words) == 1 and " " in data:  # rewritten with spaces
            words = data.split(" ")
        return words

    def _exe(self, pid: int, cmdline: list[str]) -> str | None:
        try:
            path = os.readlink(f"{self._proc}/{pid}/exe")
        except PermissionError:
            return _guess_exe(cmdline)
        except (FileNotFoundError, ProcessLookupError) as exc:
            if not os.path.lexists(f"{self._proc}/{pid}"):
                raise ProcessGone(exc) from exc
            return _guess_exe(cmdline) or None  # a kernel thread: no executable
        except OSError:
            return None
        path = path.split("\x00")[0]
        if path.endswith(_DELETED) and not _exists(path):
            path = path[:-len(_DELETED)]
        return path or _guess_exe(cmdline)

    def _user(self, pid: int) -> str | None:
        try:
            with open(f"{self._proc}/{pid}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Uid:"):
                        uid = int(line.split()[1])
                        break
                else:
                    return None
        except (FileNotFoundError, ProcessLookupError) as exc:
            self._gone_unless_there(pid, exc)
            return None
        except (OSError, ValueError, IndexError):
            return None
        user = self._users.get(uid)
        if user is None:
            try:
                user = pwd.getpwuid(uid).pw_name
            except KeyError:
                user = str(uid)
            self._users[uid] = user
        return user

    def _boot_time(self) -> float:
        """/proc/stat's boot time, read each time as psutil does: it is now minus the uptime,
        so it moves with the wall clock (an NTP step), and a start time compared with psutil's
        (procinfo's "still the same process?") must move with it."""
        try:
            with open(f"{self._proc}/stat", "rb") as handle:
                for line in handle:
                    if line.startswith(b"btime"):
                        return float(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0.0

    def _gone_unless_there(self, pid: int, exc: OSError) -> None:
        if not os.path.exists(f"{self._proc}/{pid}/stat"):
            raise ProcessGone(exc) from exc


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _full_name(name: str, cmdline: list[str]) -> str:
    """The kernel keeps 15 characters of a name: the command line's first word completes it."""
    if len(name) >= _COMM_LEN and cmdline:
        extended = os.path.basename(cmdline[0])
        if extended.startswith(name):
            return extended
    return name


def _guess_exe(cmdline: list[str]) -> str | None:
    """psutil's guess when the link cannot be read: an absolute, executable first word."""
    if cmdline:
        exe = cmdline[0]
        if os.path.isabs(exe) and os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    return None


def _exists(path: str) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True
