"""Whether a package version lies in a catalog note's `versions` condition ("< 7.2.4",
">= 2.4.49, <= 2.4.50"): a comma means "and". Debian's epoch ("1:") and revision ("-2") are
ignored; versions compare number by number ("2.4.9" < "2.4.50"). None when either side cannot
be read, so the caller treats the version as unknown."""

from __future__ import annotations

import operator
import re

_COMPARATOR = re.compile(r"\s*(<=|>=|==|!=|<|>|=)\s*([0-9][0-9A-Za-z.+~]*)\s*")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "=": operator.eq, "==": operator.eq, "!=": operator.ne}


def parse(version: str) -> tuple[int, ...] | None:
    """"1:2.4.57-2+deb12u1" -> (2, 4, 57); None when it does not start with a number."""
    upstream = version.strip().split(":", 1)[-1].split("-", 1)[0]
    numbers = re.match(r"\d+(?:\.\d+)*", upstream)
    return tuple(int(part) for part in numbers.group().split(".")) if numbers else None


def condition_problem(spec: str) -> str | None:
    """Why `spec` is not a versions condition (None when it is)."""
    for part in spec.split(","):
        if not _COMPARATOR.fullmatch(part):
            return (f"must be comparisons such as \"< 7.2.4\" or \">= 2.4.49, <= 2.4.50\", "
                    f"not {spec!r}")
    return None


def in_versions(version: str, spec: str) -> bool | None:
    """Whether `version` satisfies every comparison in `spec`; None when unreadable."""
    have = parse(version)
    if have is None or condition_problem(spec):
        return None
    for part in spec.split(","):
        op, wanted = _COMPARATOR.fullmatch(part).groups()
        other = parse(wanted)
        if other is None:
            return None
        width = max(len(have), len(other))
        if not _OPS[op](have + (0,) * (width - len(have)), other + (0,) * (width - len(other))):
            return False
    return True
