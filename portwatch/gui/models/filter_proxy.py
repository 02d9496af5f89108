"""Sort and filter the listener table: the model the window's table shows.

`ListenerFilterProxy` shows a ListenerModel's rows (the store, in arrival order) filtered and
sorted. It is a plain table model, not a QSortFilterProxyModel: the store tells it about each
poll's rows directly (ListenerModel.follow) and sorted_rows.py files them by bisection, so a
poll costs the view a few ranged inserts, removals, moves and dataChanged signals and no
re-sorting, re-filtering or mapping of the other rows. It keeps the proxy's interface that the
window uses (mapToSource, mapFromSource, sourceModel, sort) and answers data() from the same
rows and CellLook as the store.
Filters: free text (process, port, service, address, user, known uses; case-insensitive),
TCP and UDP toggles, "reachable from the network only", "not in catalog only", "other network
namespaces" (off: only the host's listeners are shown) and the machine (all, this one, or one
of the remote hosts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from portwatch.core import fields
from portwatch.core.knowledge.reach import reachable
from portwatch.core.model import AnnotatedListener, Proto
from portwatch.gui.models.listener_cells import (
    COLUMN_COUNT,
    DISPLAY,
    HIGHLIGHT_ROLES,
    LAST_COLUMN,
    NEVER,
    Row,
    header_data,
)
from portwatch.gui.models.listener_model import ListenerModel
from portwatch.gui.models.sorted_rows import SortedRows

IndexLike = QModelIndex | QPersistentModelIndex

ALL_MACHINES = "*"  # ListenerFilter.host: every machine's listeners (never an ssh destination)
THIS_MACHINE = ""  # ListenerFilter.host: this machine's only


@dataclass(frozen=True, slots=True)
class ListenerFilter:
    """What the filter bar asks for; the default shows everything."""

    text: str = ""
    tcp: bool = True
    udp: bool = True
    network_only: bool = False  # hide loopback-only listeners
    unknown_only: bool = False  # only ports with no IANA registration and no curated facts
    all_netns: bool = False  # also listeners in other network namespaces (containers, sandboxes)
    host: str = ALL_MACHINES  # or THIS_MACHINE, or one remote host's ssh destination

    @property
    def active(self) -> bool:
        return self != ListenerFilter()


def in_catalog(item: AnnotatedListener) -> bool:
    """True when the catalog knows anything about the port: a registration or curated facts."""
    entry = item.entry
    return entry is not None and (entry.registered or bool(entry.uses) or bool(entry.security))


def _haystack(item: AnnotatedListener) -> str:
    """The texts of every searchable field (fields.search_texts), one per line."""
    return "\n".join(fields.search_texts(item)).casefold()


def matches(item: AnnotatedListener, wanted: ListenerFilter) -> bool:
    sock = item.listener
    if sock.netns is not None and not wanted.all_netns:
        return False
    if wanted.host != ALL_MACHINES and (sock.host or THIS_MACHINE) != wanted.host:
        return False
    if sock.proto is Proto.TCP and not wanted.tcp:
        return False
    if sock.proto is Proto.UDP and not wanted.udp:
        return False
    if wanted.network_only and not reachable(item):
        return False
    if wanted.unknown_only and in_catalog(item):
        return False
    text = wanted.text.strip().casefold()
    return not text or text in _haystack(item)


class ListenerFilterProxy(QAbstractTableModel):
    """Sorted, filtered rows of a ListenerModel. Set filters with `set_filter()`."""

    filter_changed = Signal(object)  # ListenerFilter

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._filter = ListenerFilter()
        self._source: ListenerModel | None = None
        self._order = SortedRows()

    # --- the source ---------------------------------------------------------------------
    def setSourceModel(self, model: ListenerModel) -> None:
        self.beginResetModel()
        if self._source is not None:
            self._source.unfollow(self)
        self._source = model
        model.follow(self)
        self._order.rebuild(row for row in model.rows() if self._accepts(row))
        self.endResetModel()

    def sourceModel(self) -> ListenerModel | None:
        return self._source

    def mapToSource(self, index: IndexLike) -> QModelIndex:
        if self._source is None or not index.isValid() or index.model() is not self:
            return QModelIndex()
        source_row = self._source.row_of(self._order.at(index.row()).key)
        if source_row is None:
            return QModelIndex()
        return self._source.index(source_row, index.column())

    def mapFromSource(self, index: IndexLike) -> QModelIndex:
        if self._source is None or not index.isValid():
            return QModelIndex()
        position = self._order.position(self._source.row_object(index.row()))
        return QModelIndex() if position is None else self.createIndex(position, index.column())

    # --- filtering and sorting ----------------------------------------------------------
    @property
    def listener_filter(self) -> ListenerFilter:
        return self._filter

    def set_filter(self, wanted: ListenerFilter) -> None:
        if wanted == self._filter:
            return
        self._filter = wanted
        if self._source is not None:
            order, shown = self._order, [row for row in self._source.rows() if self._accepts(row)]
            kept = set(shown)
            order.remove([row for row in order.rows() if row not in kept], self)
            order.insert(shown, self)
        self.filter_changed.emit(wanted)

    def update_filter(self, **changes: object) -> None:
        """Change some fields of the filter, e.g. `update_filter(udp=False)`."""
        self.set_filter(replace(self._filter, **changes))

    def _accepts(self, row: Row) -> bool:
        wanted = self._filter
        if wanted.tcp and wanted.udp and not wanted.network_only and not wanted.unknown_only \
                and not wanted.text and wanted.host == ALL_MACHINES:
            # the usual case, cheaply: the host's view or everything
            return wanted.all_netns or row.item.listener.netns is None
        return matches(row.item, wanted)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by `column` (-1: arrival order); rows move, selections stay on their rows."""
        descending = order == Qt.SortOrder.DescendingOrder
        rows = self._order
        if (column, descending) == (rows.column, rows.descending):
            return
        self.layoutAboutToBeChanged.emit()  # (with arguments: a crash in PySide 6.11)
        before = self.persistentIndexList()
        kept = [(rows.at(index.row()), index.column()) for index in before]
        rows.resort(column, descending)
        self.changePersistentIndexList(
            before, [self.createIndex(rows.position(row) or 0, at) for row, at in kept])
        self.layoutChanged.emit()

    # --- the store's changes (ListenerModel.follow) -------------------------------------
    def rows_inserted(self, rows: list[Row]) -> None:
        self._order.insert([row for row in rows if self._accepts(row)], self)

    def rows_removed(self, rows: list[Row]) -> None:
        self._order.remove(rows, self)

    def rows_changed(self, changes: list[tuple[Row, int, int]]) -> None:
        order, emit, index = self._order, self.dataChanged.emit, self.createIndex
        for row, left, right in changes:
            position = order.update(row, self._accepts(row), self)
            if position is not None:
                emit(index(position, left), index(position, right))

    def rows_restyled(self, rows: list[Row]) -> None:
        order, emit, index = self._order, self.dataChanged.emit, self.createIndex
        for row in rows:
            position = order.position(row)
            if position is not None:
                emit(index(position, 0), index(position, LAST_COLUMN), HIGHLIGHT_ROLES)

    def all_restyled(self) -> None:
        if len(self._order):
            self.dataChanged.emit(self.createIndex(0, 0),
                                  self.createIndex(len(self._order) - 1, LAST_COLUMN))

    # --- sorted_rows.Signals: the begin/end calls in this model's rows ------------------
    def begin_insert(self, first: int, last: int) -> None:
        self.beginInsertRows(QModelIndex(), first, last)

    def end_insert(self) -> None:
        self.endInsertRows()

    def begin_remove(self, first: int, last: int) -> None:
        self.beginRemoveRows(QModelIndex(), first, last)

    def end_remove(self) -> None:
        self.endRemoveRows()

    def begin_move(self, row: int, destination: int) -> None:
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), destination)

    def end_move(self) -> None:
        self.endMoveRows()

    # --- Qt model interface -------------------------------------------------------------
    def rowCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def index(self, row: int, column: int,
              parent: IndexLike = QModelIndex()) -> QModelIndex:  # noqa: B008
        if 0 <= row < len(self._order) and 0 <= column < COLUMN_COUNT and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = DISPLAY) -> object:
        return header_data(section, orientation, role)

    def data(self, index: IndexLike, role: int = DISPLAY) -> object:
        if role in NEVER or not index.isValid() or self._source is None:
            return None
        return self._source.look.data(self._order.at(index.row()), index.column(), role)

    def cell_key(self, row: int, column: int) -> tuple | None:
        """What a cell's picture depends on in this model: the same key, the same cell (the
        delegate's cache of painted cells, cell_delegate.py)."""
        if self._source is None or not 0 <= row < len(self._order) \
                or not 0 <= column < COLUMN_COUNT:
            return None
        return self._source.look.picture_key(self._order.at(row), column)

    def row_key(self, row: int) -> tuple | None:
        """What a row's picture depends on in this model (row_pictures.py): its listener's
        version, its highlight and the colours."""
        if self._source is None or not 0 <= row < len(self._order):
            return None
        cells = self._order.at(row)
        return cells.serial, cells.version, cells.state, self._source.look.generation

    def cell_style(self, row: int, column: int) -> tuple | None:
        """What a cell looks like, in one call (cell_delegate.py)."""
        if self._source is None or not 0 <= row < len(self._order) \
                or not 0 <= column < COLUMN_COUNT:
            return None
        return self._source.look.style(self._order.at(row), column)
