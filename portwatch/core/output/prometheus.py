"""The current scan in the Prometheus text exposition format (version 0.0.4), written by hand.

`render()` builds the text that `portwatch metrics` prints and `watch --textfile DIR` keeps in
DIR/portwatch.prom for node_exporter's textfile collector; `write_textfile()` replaces that file
in one step (a temp file whose name node_exporter ignores, then a rename), so the collector
never reads half a file.

Series (values are gauges):

- `portwatch_listener_info{proto, address, port, exposure, process, unit, container, risk}`:
  one series per distinct label set; its value is the number of sockets with those labels
  (two processes of the same name sharing a port with SO_REUSEPORT are one series of value 2:
  Prometheus rejects a scrape with duplicate series). The labels are the listener fields
  declared with a `metric` (portwatch.core.fields), in their order. `process` is "(hidden)"
  when the system did not say who owns the socket; `unit` and `container` are empty when
  unknown, `risk` is "unknown" without a catalog.
- `portwatch_listeners{exposure, risk}`: totals, every combination present (zeros included) so
  that rules and dashboards need no `absent()`.
- `portwatch_listeners_owner_hidden`: sockets whose owner the scan could not see.
- `portwatch_alerts_unacknowledged`: alerts raised by this run of `watch` whose listener still
  listens and has been neither acknowledged nor ignored (only when the caller knows it).
- `portwatch_scan_timestamp_seconds`, `portwatch_scan_duration_seconds`, `portwatch_scan_partial`.

Label values are escaped as the format demands (backslash, double quote, line feed), and text
that was not UTF-8 keeps its bad bytes as \\xNN: a process may call itself `a"} 1\\nevil 1`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from portwatch.core.fields import FIELDS
from portwatch.core.fields.listener import UNKNOWN_RISK, risk_value
from portwatch.core.model import AnnotatedListener, Exposure, Risk
from portwatch.core.text import encodable

TEXTFILE_NAME = "portwatch.prom"
INFO_LABELS = tuple(field.key for field in FIELDS if field.metric is not None)
_LABEL_READERS = tuple(field.metric for field in FIELDS if field.metric is not None)


def escape_label(value: str) -> str:
    """A label value as the text format writes it between double quotes."""
    text = encodable(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs)
    return "{" + inner + "}" if inner else ""


def info_labels(row: AnnotatedListener) -> tuple[str, ...]:
    """The label values of the row's info series, in INFO_LABELS order."""
    return tuple(read(row) for read in _LABEL_READERS)


def _family(lines: list[str], name: str, help_text: str,
            samples: Iterable[tuple[str, float | int]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    for labels, value in samples:
        lines.append(f"{name}{labels} {_number(value)}")


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def listener_families(rows: Iterable[AnnotatedListener]) -> str:
    """The series that depend only on the rows (the costly part: callers may keep it while
    the rows stay the same)."""
    rows = list(rows)
    info = Counter(info_labels(row) for row in rows)
    totals = Counter((row.listener.exposure.value, risk_value(row)) for row in rows)
    risks = [risk.value for risk in Risk]
    if any(row.assessment is None for row in rows):
        risks.append(UNKNOWN_RISK)
    lines: list[str] = []
    _family(lines, "portwatch_listener_info",
            "A listening socket (value: how many sockets share these labels).",
            ((_labels(zip(INFO_LABELS, key, strict=True)), count)
             for key, count in sorted(info.items())))
    _family(lines, "portwatch_listeners", "Listening sockets by exposure and risk.",
            ((_labels((("exposure", exposure.value), ("risk", risk))),
              totals.get((exposure.value, risk), 0))
             for exposure in Exposure for risk in risks))
    hidden = sum(1 for row in rows if row.listener.owner_hidden)
    _family(lines, "portwatch_listeners_owner_hidden",
            "Listening sockets whose owning process the scan could not see.", (("", hidden),))
    return "\n".join(lines) + "\n"


def scan_families(*, taken_at: float, duration: float | None = None, partial: bool = False,
                  unacknowledged: int | None = None) -> str:
    """The series about the scan itself (they change every poll)."""
    lines: list[str] = []
    if unacknowledged is not None:
        _family(lines, "portwatch_alerts_unacknowledged",
                "Alerts of this run whose listener still listens, neither acknowledged nor"
                " ignored.", (("", unacknowledged),))
    _family(lines, "portwatch_scan_timestamp_seconds", "When the scan finished (Unix time).",
            (("", float(taken_at)),))
    if duration is not None:
        _family(lines, "portwatch_scan_duration_seconds", "How long the scan took.",
                (("", float(duration)),))
    _family(lines, "portwatch_scan_partial",
            "1 when the scan could not see everything (see portwatch's messages).",
            (("", int(partial)),))
    return "\n".join(lines) + "\n"


def render(rows: Iterable[AnnotatedListener], *, taken_at: float, duration: float | None = None,
           partial: bool = False, unacknowledged: int | None = None) -> str:
    """The exposition text for one scan (ends with a newline)."""
    return listener_families(rows) + scan_families(
        taken_at=taken_at, duration=duration, partial=partial, unacknowledged=unacknowledged)


def write_textfile(directory: Path | str, text: str) -> Path:
    """Replace DIRECTORY/portwatch.prom with `text` in one step; returns its path. The temp
    file starts with a dot and ends in .tmp, names the textfile collector skips. No fsync:
    the file is rewritten every poll and means nothing after a crash."""
    target = Path(directory) / TEXTFILE_NAME
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{TEXTFILE_NAME}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(temp_name, 0o644)  # node_exporter runs as another user and must read it
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    return target
