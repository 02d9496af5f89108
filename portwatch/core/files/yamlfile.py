"""Reading a user's YAML file (settings.yaml, catalog.d/*.yaml) within portwatch's own bounds.

One reader for every YAML file a person can edit, so each gets the same protection and the same
words: only a regular file is opened (without blocking, so a link to /proc/kmsg, a FIFO or a
device is refused instead of hanging the program), at most `max_bytes` are read, the text must be
UTF-8, and the document is checked before anything is built: nesting deeper than MAX_DEPTH
levels and aliases (*name) are refused with the line where they occur. The check walks the pure
Python parser's flat event stream, which has no limits of its own, so portwatch's message is the
one a user sees whatever the installed PyYAML does (6.0.4's libyaml build stops deep documents
with its own "exceeded maximum nesting depth"; older ones crashed the interpreter on them).

Every problem is a `YamlFileError` whose text completes a sentence that starts with the file's
path ("…/settings.yaml: is nested more than 32 levels deep at line 3 …").
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (≈ 4 ms of `lookup`)
if TYPE_CHECKING:
    from typing import Any

MAX_DEPTH = 32  # a settings file needs 1 level, a catalog file 6


class YamlFileError(Exception):
    """Why a file could not be used, in words that follow its path and a colon."""


class YamlFileMissing(YamlFileError):
    """The file does not exist (for settings: the defaults apply, nothing to say)."""


def read_yaml(path: Path, *, kind: str, max_bytes: int) -> Any:
    """The document in `path` (None for an empty file). `kind` names the file for messages
    ("settings file", "catalog file"). Raises YamlFileError (YamlFileMissing when absent)."""
    text = read_text(path, kind=kind, max_bytes=max_bytes)
    import yaml  # only when there is a file to read: importing yaml costs start-up time

    try:
        _check_shape(yaml, text, kind)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise YamlFileError(f"is not valid YAML{where} ({exc.problem or exc.context})") from exc
    except yaml.YAMLError as exc:
        raise YamlFileError(f"is not valid YAML ({exc})") from exc
    except RecursionError as exc:  # not reached after _check_shape; kept as the last guard
        raise YamlFileError(f"is nested more than {MAX_DEPTH} levels deep") from exc


def read_text(path: Path, *, kind: str, max_bytes: int) -> str:
    """The file's text, read only if it is a regular file of at most `max_bytes` bytes."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise YamlFileMissing(f"cannot be read ({exc.strerror})") from exc
    except IsADirectoryError as exc:
        raise YamlFileError(f"is a directory, not a {kind}") from exc
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO with no writer or a socket
            raise YamlFileError(_not_regular(kind)) from exc
        raise YamlFileError(f"cannot be read ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise YamlFileError(f"is a directory, not a {kind}")
        if not stat.S_ISREG(info.st_mode):
            raise YamlFileError(_not_regular(kind))
        if info.st_dev in _kernel_filesystems():  # /proc/kmsg looks regular; reading it blocks
            raise YamlFileError(f"is a file of the kernel's (under /proc or /sys), not a {kind}")
        if info.st_size > max_bytes:
            raise YamlFileError(_too_large(info.st_size, kind, max_bytes))
        raw = _read_at_most(fd, max_bytes + 1)
    except OSError as exc:
        raise YamlFileError(f"cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)
    if len(raw) > max_bytes:
        raise YamlFileError(_too_large(len(raw), kind, max_bytes) + " (it grew while being read)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"is not UTF-8 text (byte {exc.start} cannot be decoded)") from exc


def _kernel_filesystems() -> set[int]:
    devices = set()
    for root in ("/proc", "/sys"):
        with contextlib.suppress(OSError):
            devices.add(os.stat(root).st_dev)
    return devices


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _check_shape(yaml: Any, text: str, kind: str) -> None:
    """Refuse aliases and nesting deeper than MAX_DEPTH before anything is built, from the
    pure Python parser's events (flat, lazy: it stops at the first problem)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark else None
        at = f" at line {line}" if line else ""
        if isinstance(event, yaml.AliasEvent):  # a few hundred bytes can expand to billions
            raise YamlFileError(f"uses a YAML alias (*name){at}, which a {kind} does not need"
                                " (aliases can expand a small file into billions of values)")
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlFileError(f"is nested more than {MAX_DEPTH} levels deep{at};"
                                    f" portwatch reads a {kind} only up to {MAX_DEPTH} levels")
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1


def _not_regular(kind: str) -> str:
    return f"is not a regular file (a device, pipe or socket); a {kind} must be a plain file"


def _too_large(size: int, kind: str, limit: int) -> str:
    return f"is {size // 1024:,} KB; a {kind} over {_size(limit)} is not read"


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MB" if count >= 1024 * 1024 else f"{count // 1024} KB"
