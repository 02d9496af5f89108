"""Replace a file in one step: readers see the old file or the complete new one, never a part.

Every file portwatch writes whole (settings, exports, the autostart entry, the saved owner map,
the window's state) goes through `write_atomic()`: a temporary file in the same directory,
written, flushed and fsync'd, given its mode, then os.replace()d over the target, and the
directory fsync'd so the rename survives a power cut. On any failure, an interrupt included,
the temporary file is removed and the old file is left as it was.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def umask_mode() -> int:
    """The mode a plain open() would give a new file: 0o666 less the umask."""
    # os.umask can only be read by setting it; the moment in between uses 0o077, which can
    # only make files more private.
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, mode: int | None = None,
                 new_mode: int | None = None, bom: bool = False, durable: bool = True) -> None:
    """Replace `path` with `data` (str is written as UTF-8, newlines as given).

    The file gets `mode` when given; otherwise an existing file keeps its mode and a new one
    gets `new_mode` (default: what open() would give under the umask). `bom` starts a text
    file with a UTF-8 byte order mark (spreadsheets need it to read CSV as UTF-8). `durable`
    fsyncs the file and its directory; a cache that can be rebuilt may skip that.
    Raises OSError; the old file is then left as it was."""
    target = Path(path)
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = umask_mode() if new_mode is None else new_mode
    if isinstance(data, str):
        data = data.encode("utf-8-sig" if bom else "utf-8")
    handle, temp_name = _temp_file(target)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    if durable:
        fsync_directory(target.parent)


def _temp_file(target: Path) -> tuple[int, str]:
    """A new file beside `target`, readable by this user only, open for writing: what
    tempfile.mkstemp makes (a random name, created exclusively, no link followed), without
    importing tempfile (≈ 5 ms of a `list` that keeps a cache)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = str(target.parent / f".{target.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no temporary file name was free beside {target}")


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename in `directory` durable where the system allows it (silently not, else)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
