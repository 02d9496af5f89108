"""Whether a portwatch window is running for this user, asked without Qt (by `watch`).

The window holds a single-instance lock (gui/desktop/single_instance.py): a QLockFile named
`<private dir>/portwatch-<digest of the config directory>.sock.lock`, where the private
directory is $XDG_RUNTIME_DIR, else /tmp/portwatch-<uid>. On Linux and the BSDs Qt keeps an
flock() on that file while the window runs, and the kernel drops it when the process ends, so a
lock file left by a crash does not count. The file's first line is the window's PID.
`private_directory()` and `instance_name()` are the ones single_instance.py uses too, so
`lock_path()` names the file the window locks (a GUI test checks they agree).

`RecorderLock` is the same kind of lock (an flock and a PID) for one `watch` among several on
one data folder: the one holding it records, the others only print.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import sys
import tempfile
from pathlib import Path

from portwatch.core.files import paths

log = logging.getLogger(__name__)


def is_private(folder: Path) -> bool:
    """True when `folder` is a real directory (not a link) of this user that no one else
    may enter."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def private_directory(create: bool = False) -> Path | None:
    """The directory only this user can use: $XDG_RUNTIME_DIR, else /tmp/portwatch-<uid>
    (made with mode 0700 when `create`). None (logged when creating) when there is none.
    On Windows, where the window uses a named pipe, the temp directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and is_private(Path(runtime)):
        return Path(runtime)
    if not hasattr(os, "getuid"):
        return Path(tempfile.gettempdir())
    folder = Path(tempfile.gettempdir()) / f"portwatch-{os.getuid()}"
    if create:
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            log.warning("single instance: cannot create %s (%s)", folder, exc)
            return None
    if not is_private(folder):
        if create:
            log.warning("single instance: %s is not a private directory of this user", folder)
        return None
    return folder


def instance_name(config_dir: Path | None = None) -> str:
    """`portwatch-<digest of the config directory>`: one window per user and config
    directory, so test runs with their own PORTWATCH_CONFIG_DIR never meet the real one."""
    config = str((config_dir or paths.config_dir()).expanduser().resolve())
    return "portwatch-" + hashlib.sha256(config.encode()).hexdigest()[:12]


def lock_path(config_dir: Path | None = None) -> Path | None:
    """The window's lock file for this user and config directory (None: no private
    directory exists, so no window can hold a lock there). Creates nothing."""
    if not hasattr(os, "getuid"):
        return None  # Windows: the window uses a named pipe, no lock file to look at
    folder = private_directory()
    if folder is None:
        return None
    return folder / f"{instance_name(config_dir)}.sock.lock"


def window_running(config_dir: Path | None = None) -> int | None:
    """The PID of the portwatch window of this user and config directory, or None when none
    runs. Cheap (an open and a non-blocking flock): `watch` asks before each recording."""
    path = lock_path(config_dir)
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        held = _locked(fd)
        if held is False:
            return None
        pid = _pid(fd)
        if held is None and (pid is None or not _alive(pid)):
            return None  # no flock to ask (macOS): trust the PID when it runs
        return pid if pid is not None else -1
    finally:
        os.close(fd)


def _locked(fd: int) -> bool | None:
    """True when another open file holds an flock on it, False when none does, None when
    this system's Qt does not flock (macOS)."""
    if sys.platform == "darwin":
        return None
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        first = os.pread(fd, 64, 0).split(b"\n", 1)[0]
        return int(first)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RecorderLock:
    """Who records into a data folder: an flock on `<data folder>/recorder.lock` held by the
    `watch` that records (the window's own lock above tells watch when a window records).
    The file's first line is the holder's PID; the kernel drops the flock when the process
    ends, so a crashed holder never blocks the next one. Being a file in the data folder, it
    is the same lock whatever path (or symbolic link) names that folder."""

    NAME = "recorder.lock"

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / self.NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if no other process holds it (non-blocking); True when we hold it."""
        if self._fd is not None:
            return True
        if sys.platform == "win32":
            return True  # no flock: one recorder is not enforced there
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return True  # no lock possible: record, as before there was one
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> int | None:
        """The PID written by the process that holds the lock (None when unknown)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return _pid(fd)
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the flock
            self._fd = None
