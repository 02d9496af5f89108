"""The nftables part of a firewall snapshot, kept between runs by its generation id.

`nft -j list ruleset` (and iptables-nft-save for the tables nft's JSON cannot show) is most of
what a one-shot `portwatch list` spends reading the firewall. nftables numbers every ruleset
change (the generation id, one netlink request: probe/nftgen.py), so a later run of the same
boot whose generation is still the one read before that ruleset reuses it. Everything without
such a number is read again every time: iptables-legacy tables, interfaces, routes and
forwarding. The file is this user's cache (core/files/cache.py), believed only by a run with
the privileges it was read with (one that cannot read nftables must say so, not show root's
ruleset); a read with problems is not kept.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from portwatch.core.files.cache import read_cache, write_cache
from portwatch.core.probe.kernel import boot_id, privileges

_FORMAT = 2


def default_ruleset_cache() -> Path:
    """Where one-shot runs keep it: the data directory (beside the owner map), and only once
    that exists, so `list` alone creates nothing."""
    from portwatch.core.files.paths import data_dir

    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    return data_dir() / f"nft-ruleset-{uid}.json"


def load_ruleset(path: str | os.PathLike, generation: int) -> list[dict[str, Any]] | None:
    """The nft objects saved for this boot and `generation`, else None."""
    saved = read_cache(path)
    if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
        return None
    if saved.get("boot") != boot_id() or saved.get("generation") != generation:
        return None
    if saved.get("privileges") != privileges():
        return None
    objects = saved.get("objects")
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        return None
    return objects


def store_ruleset(path: str | os.PathLike, generation: int,
                  objects: list[dict[str, Any]]) -> None:
    """Keep the nft objects read after `generation` was (a change meanwhile gives the next run
    another generation: it reads again). Never raises: a cache that cannot be written costs
    the next run one read."""
    with contextlib.suppress(OSError):
        write_cache(path, {"format": _FORMAT, "boot": boot_id(), "privileges": privileges(),
                           "generation": generation, "objects": objects})
