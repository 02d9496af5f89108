"""Files and folders that only their user can read, and what is wrong with one, in words.

portwatch's files hold every listener's command line and the rules that silence alerts, so
the folders it creates are 0700 and its files 0600 whatever the umask (the umask can only take
bits away, and the modes are set again explicitly after creating). A history file that belongs
to another user is refused: a file someone else can write could feed this user's window
anything. Each problem with a folder or a file becomes `PrivateFileError`, whose text says
what is wrong and what to do, never a bare errno.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class PrivateFileError(OSError):
    """A folder or file portwatch cannot use; str() is a sentence for the user."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unusable"


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _me() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else 0


def folder_problem(folder: Path, what: str = "data folder") -> str | None:
    """Why `folder` (which should be a folder this user can read and write) cannot be used,
    or None when it can, or does not exist yet (then it can be created)."""
    try:
        info = os.stat(folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return (f"the {what} {folder} is a symbolic link that leads back to itself (a loop);"
                    f" remove the link or point it at a folder")
        if exc.errno == errno.ENOENT:
            if os.path.islink(folder):
                return (f"the {what} {folder} is a symbolic link to"
                        f" {os.readlink(folder)}, which does not exist; create that folder"
                        f" or remove the link")
            parent = folder.parent
            return folder_problem(parent, what) if parent != folder else None
        if exc.errno == errno.ENOTDIR:
            return _not_a_folder(folder, what)
        if exc.errno == errno.EACCES:
            return (f"the {what} {folder} cannot be reached: a folder above it does not let"
                    f" {_user(_me())} in")
        return f"the {what} {folder} cannot be used ({exc.strerror or exc})"
    if not stat.S_ISDIR(info.st_mode):
        return _not_a_folder(folder, what)
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return (f"the {what} {folder} does not let {_user(_me())} read and write in it"
                f" (mode {stat.filemode(info.st_mode)}, owner {_user(info.st_uid)});"
                f" fix it with: chmod 700 {folder}")
    return None


def _not_a_folder(folder: Path, what: str) -> str:
    # Walk up: the first part of the path that is not a folder is the one to name.
    for part in [*reversed(folder.parents), folder]:
        with contextlib.suppress(OSError):
            if os.path.lexists(part) and not os.path.isdir(part):
                return (f"the {what} {folder} cannot be created: {part} is a file, not a"
                        f" folder; move that file away")
    return f"the {what} {folder} is not a folder"


def make_private_dir(folder: Path, what: str = "data folder") -> None:
    """Create `folder` and any missing parents with mode 0700 (the XDG rule for folders an
    application creates). An existing folder is left as it is. Raises PrivateFileError."""
    problem = folder_problem(folder, what)
    if problem:
        raise PrivateFileError(problem)
    missing = []
    for part in [folder, *folder.parents]:
        if os.path.isdir(part):
            break
        missing.append(part)
    for part in reversed(missing):
        try:
            os.mkdir(part, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process
        except OSError as exc:
            raise PrivateFileError(folder_problem(folder, what)
                                   or f"the {what} {folder} cannot be created"
                                      f" ({exc.strerror or exc})") from exc
        os.chmod(part, PRIVATE_DIR_MODE)  # exactly 0700, whatever the umask


def check_own_file(path: Path, what: str = "history file") -> bool:
    """Whether `path` exists (False: it does not). Raises PrivateFileError when it belongs to
    another user. Only looks: see tighten()."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        problem = folder_problem(path.parent)
        raise PrivateFileError(problem or f"the {what} {path} cannot be used"
                                          f" ({exc.strerror or exc})") from exc
    if info.st_uid != _me():
        raise PrivateFileError(
            f"the {what} {path} belongs to another user, {_user(info.st_uid)}; portwatch"
            f" uses only a file of its own user, {_user(_me())} (another user could have"
            f" written anything into it); move it away or give it to this user with chown")
    return True


def tighten(path: Path) -> None:
    """Make a file of ours, and its SQLite companions (-wal, -shm), readable by us only."""
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = os.stat(each).st_mode
            if mode & 0o077:
                os.chmod(each, stat.S_IMODE(mode) & PRIVATE_FILE_MODE)
        except OSError:
            continue


def create_private_file(path: Path) -> bool:
    """Create an empty file with mode 0600 unless it exists; True when it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_NOFOLLOW", 0), PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        if hasattr(os, "fchmod"):  # not on Windows, where the profile's ACLs decide
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return True


def writable_problem(path: Path, what: str = "history file") -> str | None:
    """Why an existing file of ours cannot be written (read-only), or None."""
    if os.access(path, os.W_OK):
        return None
    mode = stat.filemode(os.stat(path).st_mode)
    return (f"the {what} {path} is read-only ({mode}): portwatch can show it but cannot"
            f" record into it; make it writable with: chmod 600 {path}")
