"""The table of listeners: a Qt item model that applies each PollResult incrementally.

Rows are keyed by ListenerKey. A poll becomes one `beginInsertRows` for the new rows (appended
at the end), `dataChanged` for rows whose details changed, and closed rows turn "closing" (red)
for `highlight_seconds` before one batched removal; new rows are green for as long. Nothing is
ever reset per poll, so the view keeps its selection and scroll position. Sorting and filtering
live in the proxy (filter_proxy.py), on the native values of SORT_ROLE.
"""

from __future__ import annotations

import enum
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QColor

from portwatch.core.model import (
    FLAG_TEXT,
    AnnotatedListener,
    Exposure,
    Family,
    ListenerKey,
    Risk,
    Severity,
)
from portwatch.core.monitor import PollResult
from portwatch.core.reach import reach_label, reach_text
from portwatch.core.text import visible
from portwatch.gui import risk_style
from portwatch.gui.plain import plain_tooltip

log = logging.getLogger(__name__)

HIGHLIGHT_SECONDS = 3.0  # how long new rows stay green and closed rows stay red


class Column(enum.IntEnum):
    RISK = 0
    PROTO = 1
    ADDRESS = 2
    PORT = 3
    PROCESS = 4
    PID = 5
    USER = 6
    SERVICE = 7
    USES = 8
    SECURITY = 9
    FIRST_SEEN = 10
    REACH = 11


HEADERS = {
    Column.RISK: "Risk",
    Column.PROTO: "Proto",
    Column.ADDRESS: "Address",
    Column.PORT: "Port",
    Column.PROCESS: "Process",
    Column.PID: "PID",
    Column.USER: "User",
    Column.SERVICE: "Service (registry)",
    Column.USES: "Known uses",
    Column.SECURITY: "Security notes",
    Column.FIRST_SEEN: "First seen",
    Column.REACH: "Reach",
}
HEADER_TIPS = {
    Column.RISK: "How much to worry: the port's security notes weighed by who can reach it",
    Column.ADDRESS: "The address the socket is bound to (hover a cell for who can reach it)",
    Column.SERVICE: "What IANA registered this port for",
    Column.USES: "Software that really listens on this port in practice; when the listening"
                 " program matches one, that one (hover a cell for the others)",
    Column.SECURITY: "What is known about this port's security history; notes about the"
                      " listening program first (grey: none of the notes is about it)",
    Column.FIRST_SEEN: "When portwatch first saw this listener in this session",
    Column.REACH: "Who can really connect: the bind address combined with the host firewall's"
                  " verdict for a new connection from outside (hover for the deciding rule)",
}

SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # native Python values (int, float, str)
ROW_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # the AnnotatedListener
STATE_ROLE = int(Qt.ItemDataRole.UserRole) + 3  # RowState

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_COLUMN_COUNT = len(Column)
_LAST_COLUMN = _COLUMN_COUNT - 1
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_HIGHLIGHT_ROLES = [_BACKGROUND, _FOREGROUND, STATE_ROLE]


class RowState(enum.Enum):
    NORMAL = "normal"
    NEW = "new"  # appeared in the last highlight_seconds (green)
    CLOSING = "closing"  # closed; removed after highlight_seconds (red)


_AF = {Family.IPV4: socket.AF_INET, Family.IPV6: socket.AF_INET6}
_FAMILY_PREFIX = {Family.IPV4: "4:", Family.IPV6: "6:"}
_RISK_RANK = {risk: risk.rank for risk in Risk}
_SEVERITY_RANK = {severity: severity.rank for severity in Severity}


def address_sort_key(family: Family, address: str) -> str:
    """(family, packed address) as one string Qt compares natively: IPv4 before IPv6, then
    numerically (10.0.0.9 before 10.0.0.10)."""
    try:
        packed = socket.inet_pton(_AF[family], address.split("%", 1)[0]).hex()
    except (OSError, ValueError):
        packed = "g" + address  # unparseable text sorts after every real address
    return _FAMILY_PREFIX[family] + packed


def _risk_rank(item: AnnotatedListener) -> int:
    return _RISK_RANK[item.assessment.risk] if item.assessment is not None else -1


class _Row:
    """One table row: the listener, its highlight state and lazily computed cell values."""

    __slots__ = ("_display", "first_seen", "item", "key", "sort_keys", "state")

    def __init__(self, item: AnnotatedListener, state: RowState, first_seen: float) -> None:
        self.item = item
        self.key = item.key  # never changes for a row (building it is not free)
        self.state = state
        self.first_seen = first_seen
        self._display: tuple[str, ...] | None = None
        self.sort_keys: tuple | None = None  # computed on the first SORT_ROLE request

    def replace(self, item: AnnotatedListener) -> None:
        self.item = item
        self._display = None
        self.sort_keys = None

    @property
    def display(self) -> tuple[str, ...]:
        if self._display is None:
            self._display = _display_cells(self.item, self.first_seen)
        return self._display

    def compute_sort_keys(self) -> tuple:
        self.sort_keys = _sort_cells(self.item, self.first_seen)
        return self.sort_keys


def _display_cells(item: AnnotatedListener, first_seen: float) -> tuple[str, ...]:
    sock = item.listener
    proc = sock.process
    entry = item.entry
    user = visible(sock.user, 40)  # the socket's user when the owner is hidden
    if proc is not None:
        process, pid = owner_text(sock), str(proc.pid)
    else:
        process, pid = ("(hidden)" if sock.owner_hidden else ""), ""
    if entry is None:
        service = uses = security = ""
    else:
        service = visible(entry.service, 40) if entry.service else "(not registered)"
        uses = visible(_uses_text(item), 160)
        security = visible("; ".join(n.title for n in _notes_in_order(item)), 200)
    risk = item.assessment.risk if item.assessment is not None else None
    return (
        risk_style.risk_label(risk),
        sock.proto.value.upper(),
        visible(sock.address, 60),
        str(sock.port),
        process,
        pid,
        user,
        service,
        uses,
        security,
        _clock_text(first_seen),
        reach_label(sock, item.firewall),
    )


_REACH_RANK = {"accept": 3, "unknown": 2, "reject": 1, "drop": 1}


def _reach_rank(item: AnnotatedListener) -> int:
    """Sort order of the Reach column: open to the network first, loopback last."""
    if item.firewall is None:
        return 0 if item.listener.exposure is Exposure.LOOPBACK else 2
    return _REACH_RANK.get(item.firewall.verdict, 2)


FLAG_MARKER = "\u26a0 "  # ⚠ before a process whose provenance deserves a second look


def owner_text(sock) -> str:
    """The Process cell: the name, a ⚠ when a trust flag is raised, and "shared with N
    processes" when other processes hold the socket too."""
    proc = sock.process
    provenance = proc.provenance
    text = visible(proc.name, 80)
    if provenance is not None and provenance.flags:
        text = FLAG_MARKER + text
    others = sock.shared_with
    if others:
        text += f" (shared with {others} process{'es' if others > 1 else ''})"
    return text


def _uses_text(item: AnnotatedListener) -> str:
    """The "Known uses" cell: the uses whose patterns fit the listening program when there are
    any (the software it probably is), else every known use of the port."""
    uses = item.likely_uses or (item.entry.uses if item.entry is not None else ())
    return ", ".join(dict.fromkeys(use.software for use in uses))


def _by_severity(notes: Iterable) -> list:
    return sorted(notes, key=lambda n: -n.severity.rank)


def _applicable(item: AnnotatedListener) -> tuple:
    """The notes that count for this listener (all of them when nothing was assessed)."""
    if item.assessment is None:
        return item.entry.security if item.entry is not None else ()
    return item.assessment.applicable


def _notes_in_order(item: AnnotatedListener) -> list:
    """The port's notes, those that apply to the listening program first, each part worst
    first: a CVE of another product that once used the port comes after what matters here."""
    notes = item.entry.security if item.entry is not None else ()
    applicable = _applicable(item)
    return sorted(notes, key=lambda n: (n not in applicable, -n.severity.rank))


def _notes_are_context(item: AnnotatedListener) -> bool:
    """True when the port has notes but none applies to the listening program (grey text)."""
    entry = item.entry
    return entry is not None and bool(entry.security) and not _applicable(item)


def _clock_text(moment: float) -> str:
    local = time.localtime(moment)
    if time.strftime("%Y%m%d", local) == time.strftime("%Y%m%d"):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def _sort_cells(item: AnnotatedListener, first_seen: float) -> tuple:
    sock = item.listener
    proc = sock.process
    entry = item.entry
    severity = 0
    if entry is not None and entry.security:
        # the worst note that applies, then the worst of all (context), then how many
        applicable = _applicable(item)
        counted = max((_SEVERITY_RANK[n.severity] + 1 for n in applicable), default=0)
        highest = max(_SEVERITY_RANK[n.severity] for n in entry.security)
        severity = counted * 100_000 + (highest + 1) * 1000 + len(entry.security)
    return (
        # risk first, then port ascending within a risk when sorted descending
        (_risk_rank(item) + 1) * 100_000 + (65_535 - sock.port),
        sock.proto.value,
        address_sort_key(sock.family, sock.address),
        sock.port,
        proc.name.casefold() if proc is not None else "",
        proc.pid if proc is not None else -1,
        (sock.user or "").casefold(),
        (entry.service or "").casefold() if entry is not None else "",
        _uses_text(item).casefold(),
        severity,
        first_seen,
        _reach_rank(item),
    )


def _tooltip(item: AnnotatedListener, column: int) -> str:
    sock = item.listener
    proc = sock.process
    entry = item.entry
    lines: list[str] = []
    if column == Column.RISK and item.assessment is not None:
        lines.append(f"{risk_style.risk_label(item.assessment.risk)} risk: "
                     f"{visible(item.assessment.reason)}")
    elif column == Column.ADDRESS:
        lines.append(f"{visible(sock.endpoint)} — {sock.exposure.label}")
    elif column == Column.REACH:
        lines.append(reach_text(sock, item.firewall))
    elif column in (Column.PROCESS, Column.PID, Column.USER):
        if proc is None:
            if sock.socket_user:
                lines.append(f"A process of user {visible(sock.socket_user)}.")
            lines.append(visible(sock.hidden_reason) or "owner unknown")
        else:
            lines.append(f"{visible(proc.name)} (PID {proc.pid}, user {visible(sock.user) or '?'})")
            if proc.exe:
                lines.append(visible(proc.exe))
            if proc.cmdline:
                lines.append(visible(" ".join(proc.cmdline), 2000))
            lines.extend(_owner_notes(sock))
    elif column == Column.SERVICE and entry is not None:
        if entry.registered:
            lines.append(f"{visible(entry.service)}: {visible(entry.description)}")
        else:
            lines.append("not registered with IANA")
    elif column == Column.USES and entry is not None:
        likely = item.likely_uses
        others = [use for use in entry.uses if use not in likely]
        if likely:
            lines.append("Matches the listening program:")
            lines.extend(visible(use.text, 400) for use in likely)
            if others:
                lines.append("")
                lines.append("Also known on this port (other programs):")
        lines.extend(visible(use.text, 400) for use in others)
    elif column == Column.SECURITY and entry is not None:
        applicable = _applicable(item)
        for note in _notes_in_order(item):
            context = "" if note in applicable else (
                " — about other software: does not count toward the risk")
            lines.append(f"[{note.severity.value}] {visible(note.title)} ({visible(note.kind)})"
                         f"{context}")
            lines.append(visible(note.note, 600))
    return plain_tooltip("\n".join(lines))


def _owner_notes(sock) -> list[str]:
    """Tooltip lines for the trust flags and the other holders of a socket."""
    lines = []
    provenance = sock.process.provenance
    for flag in provenance.flags if provenance is not None else ():
        lines.append(f"\u26a0 {FLAG_TEXT.get(flag, flag)}")
    if sock.shared_with:
        others = ", ".join(f"{visible(name, 40)} ({pid})" for pid, name in sock.holders[1:])
        lines.append(f"Shared with {others}")
    return lines


def _changed_columns(old: AnnotatedListener, new: AnnotatedListener) -> list[Column]:
    """Columns whose text, sort value or tooltip can differ between two versions of one row
    (the key columns, proto, address, port and PID, never change)."""
    columns: list[Column] = []
    if old.assessment != new.assessment:
        columns.append(Column.RISK)
    if old.listener.exposure != new.listener.exposure:
        columns.append(Column.ADDRESS)
    if old.listener.exposure != new.listener.exposure or old.firewall != new.firewall:
        columns.append(Column.REACH)
    if old.listener.process != new.listener.process or \
            old.listener.hidden_reason != new.listener.hidden_reason or \
            old.listener.holders != new.listener.holders or \
            old.listener.socket_user != new.listener.socket_user:
        columns += [Column.PROCESS, Column.PID, Column.USER]
    if old.entry is not new.entry and old.entry != new.entry:
        columns += [Column.SERVICE, Column.USES, Column.SECURITY]
    elif old.likely_uses != new.likely_uses:  # another program now (same PID after exec)
        columns.append(Column.USES)
    return columns


class ListenerModel(QAbstractTableModel):
    """Listeners as table rows; `apply(PollResult)` updates them in place."""

    def __init__(self, parent: QObject | None = None, *,
                 highlight_seconds: float = HIGHLIGHT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._rows: list[_Row] = []
        self._index: dict[ListenerKey, int] = {}
        self._deadlines: dict[ListenerKey, float] = {}  # rows that are NEW or CLOSING
        self._closing = 0
        self._highlight = highlight_seconds
        self._clock = clock
        self._sweep = QTimer(self)
        self._sweep.setSingleShot(True)
        self._sweep.timeout.connect(self.expire_highlights)
        self._brushes = {
            RowState.NEW: QBrush(QColor(risk_style.NEW_ROW_BACKGROUND)),
            RowState.CLOSING: QBrush(QColor(risk_style.CLOSING_ROW_BACKGROUND)),
        }
        self._highlight_fg = QBrush(QColor(risk_style.HIGHLIGHT_FOREGROUND))
        self._muted_fg = QBrush(QColor(risk_style.MUTED_FOREGROUND))

    # --- Qt model interface -------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _COLUMN_COUNT

    def index(self, row: int, column: int,
              parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own index() asks rowCount() and columnCount(): two Python calls instead of one,
        # for every comparison the sorting proxy makes.
        if 0 <= row < len(self._rows) and 0 <= column < _COLUMN_COUNT and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = _DISPLAY) -> object:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section <= _LAST_COLUMN:
            return None
        if role == _DISPLAY:
            return HEADERS[Column(section)]
        if role == _TOOLTIP:
            return HEADER_TIPS.get(Column(section))
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> object:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == SORT_ROLE:  # the proxy asks this most (every comparison when sorting)
            keys = row.sort_keys
            if keys is None:
                keys = row.compute_sort_keys()
            return keys[index.column()]
        if role == _DISPLAY:
            return row.display[index.column()]
        if role == _BACKGROUND:
            return self._brushes.get(row.state)
        if role == _FOREGROUND:
            if row.state is not RowState.NORMAL:
                return self._highlight_fg
            column = index.column()
            item = row.item
            if column == Column.SERVICE and item.entry is not None and not item.entry.registered:
                return self._muted_fg
            if column == Column.RISK and (item.assessment is None
                                          or item.assessment.risk is Risk.NONE):
                return self._muted_fg
            if column == Column.SECURITY and _notes_are_context(item):
                return self._muted_fg
            return None
        if role == _DECORATION:
            if index.column() == Column.RISK:
                assessment = row.item.assessment
                return risk_style.risk_icon(assessment.risk if assessment else None)
            return None
        if role == ROW_ROLE:
            return row.item
        if role == _TOOLTIP:
            return _tooltip(row.item, index.column())
        if role == _ALIGNMENT:
            return _RIGHT if index.column() in (Column.PORT, Column.PID) else None
        if role == STATE_ROLE:
            return row.state
        return None

    # --- lookups for views and proxies --------------------------------------------------
    def item_at(self, row: int) -> AnnotatedListener:
        return self._rows[row].item

    def state_at(self, row: int) -> RowState:
        return self._rows[row].state

    def row_of(self, key: ListenerKey) -> int | None:
        return self._index.get(key)

    def items(self) -> list[AnnotatedListener]:
        """Listeners currently open (closing rows excluded)."""
        return [row.item for row in self._rows if row.state is not RowState.CLOSING]

    @property
    def open_count(self) -> int:
        return len(self._rows) - self._closing

    # --- applying polls -----------------------------------------------------------------
    def apply(self, result: PollResult) -> None:
        """Bring the table up to date with one poll (no highlight on the first poll)."""
        if result.first:
            self._reconcile(result.rows, highlight=False, seen=result.snapshot.taken_at)
            return
        self._apply_changes(result.opened, result.closed, result.changed, highlight=True,
                            seen=result.snapshot.taken_at)
        if self.open_count != len(result.rows):  # a missed poll or a monitor restart
            log.warning("table out of step with the scan (%d rows, scan has %d); reconciling",
                        self.open_count, len(result.rows))
            self._reconcile(result.rows, highlight=True, seen=result.snapshot.taken_at)

    def _reconcile(self, rows: Sequence[AnnotatedListener], highlight: bool,
                   seen: float) -> None:
        current = {item.key: item for item in rows}
        closed = [row.item for row in self._rows
                  if row.state is not RowState.CLOSING and row.key not in current]
        opened: list[AnnotatedListener] = []
        changed: list[AnnotatedListener] = []
        for key, item in current.items():
            index = self._index.get(key)
            if index is None or self._rows[index].state is RowState.CLOSING:
                opened.append(item)
            elif self._rows[index].item != item:
                changed.append(item)
        self._apply_changes(opened, closed, changed, highlight, seen)

    def _apply_changes(self, opened: Iterable[AnnotatedListener],
                       closed: Iterable[AnnotatedListener],
                       changed: Iterable[AnnotatedListener], highlight: bool,
                       seen: float) -> None:
        highlight = highlight and self._highlight > 0
        deadline = self._clock() + self._highlight
        doomed: list[int] = []
        for item in closed:
            index = self._index.get(item.key)
            if index is None or self._rows[index].state is RowState.CLOSING:
                continue
            if highlight:
                self._set_state(index, RowState.CLOSING, deadline)
            else:
                doomed.append(index)
        fresh: list[_Row] = []
        for item in (*changed, *opened):
            index = self._index.get(item.key)
            if index is None:
                state = RowState.NEW if highlight else RowState.NORMAL
                fresh.append(_Row(item, state, seen))
                if highlight:
                    self._deadlines[item.key] = deadline
                continue
            row = self._rows[index]
            if row.state is RowState.CLOSING:  # reopened before its red time was up
                self._set_state(index, RowState.NORMAL, None)
            if row.item != item:
                self._replace(index, item)
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self._rows.extend(fresh)
            for offset, row in enumerate(fresh, first):
                self._index[row.key] = offset
            self.endInsertRows()
        if doomed:
            self._remove(doomed)
        self._schedule_sweep()

    def _replace(self, index: int, item: AnnotatedListener) -> None:
        row = self._rows[index]
        columns = _changed_columns(row.item, item)
        row.replace(item)  # cells are recomputed lazily, when a view or the proxy asks
        left, right = (columns[0], columns[-1]) if columns else (0, _LAST_COLUMN)
        self.dataChanged.emit(self.index(index, left), self.index(index, right))

    def _set_state(self, index: int, state: RowState, deadline: float | None) -> None:
        row = self._rows[index]
        if row.state is RowState.CLOSING:
            self._closing -= 1
        if state is RowState.CLOSING:
            self._closing += 1
        row.state = state
        key = row.key
        if deadline is None:
            self._deadlines.pop(key, None)
        else:
            self._deadlines[key] = deadline
        self.dataChanged.emit(self.index(index, 0), self.index(index, _LAST_COLUMN),
                              _HIGHLIGHT_ROLES)

    def _remove(self, indexes: Iterable[int]) -> None:
        """Remove rows, one beginRemoveRows per contiguous run (highest first), then renumber
        only the rows after the first removed one."""
        ordered = sorted(set(indexes), reverse=True)
        if not ordered:
            return
        runs: list[tuple[int, int]] = []
        high = low = ordered[0]
        for index in ordered[1:]:
            if index == low - 1:
                low = index
            else:
                runs.append((low, high))
                high = low = index
        runs.append((low, high))
        for low, high in runs:
            self.beginRemoveRows(QModelIndex(), low, high)
            for row in self._rows[low:high + 1]:
                del self._index[row.key]
                self._deadlines.pop(row.key, None)
                if row.state is RowState.CLOSING:
                    self._closing -= 1
            del self._rows[low:high + 1]
            self.endRemoveRows()
        first = runs[-1][0]
        rows = self._rows
        index = self._index
        for offset in range(first, len(rows)):
            index[rows[offset].key] = offset

    # --- highlight expiry ---------------------------------------------------------------
    def expire_highlights(self) -> None:
        """End highlights whose time is up: green rows turn normal, red rows are removed."""
        now = self._clock()
        doomed: list[int] = []
        for key, deadline in list(self._deadlines.items()):
            if deadline > now:
                continue
            index = self._index[key]
            if self._rows[index].state is RowState.CLOSING:
                doomed.append(index)
            else:
                self._set_state(index, RowState.NORMAL, None)
        self._remove(doomed)
        self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        if not self._deadlines:
            self._sweep.stop()
            return
        wait = min(self._deadlines.values()) - self._clock()
        self._sweep.start(max(int(wait * 1000) + 1, 0))

