"""A small JSON cache file of this user's, kept between runs of portwatch: read it back only if
this user wrote it and nobody else could have, write it atomically as 0600.

One-shot commands (`list`) keep what a later run may start from here — the owner map
(core/probe/owner_cache.py), the nftables ruleset by generation (core/firewall/saved.py), the
catalog's compact index (core/knowledge/catalog_index.py, bytes: `read_cache_bytes`) —
and each cache checks that its content still holds before believing it. A lost or refused
cache file only costs the next run the work it saved; it is never an error.
"""

from __future__ import annotations

import json
import os

MAX_BYTES = 16 << 20


def read_cache(path: str | os.PathLike) -> object | None:
    """The JSON value in `path` when this user wrote it (not a link, not writable by others,
    not larger than 16 MB), else None."""
    data = read_cache_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def read_cache_bytes(path: str | os.PathLike) -> bytes | None:
    """The bytes of `path` under the same conditions as `read_cache`, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022 or st.st_size > MAX_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def write_cache(path: str | os.PathLike, value: object) -> None:
    """Write atomically, readable by this user only, into a directory that exists already
    (this never creates one). Raises OSError."""
    from portwatch.core.files.atomic import write_atomic

    # A cache rebuilt by the next run if lost: not worth an fsync at every `list`.
    write_atomic(path, json.dumps(value, separators=(",", ":")), mode=0o600, durable=False)
