"""Choose a table's columns: show, hide and reorder them, and give the spare width to the
columns that need it (Known uses and Security notes, not First seen).

`ColumnChooser(table, stretch=...)` makes the header's sections movable (drag a header), gives
the header a right-click menu and builds `menu` (the window puts it in View > Columns, so it
is reachable from the keyboard): a check box per column, *Move left* / *Move right* for the
column of the table's current cell (or the header clicked), and *Reset columns*. The header
itself keeps the choice, so the window state (window_state.py, QHeaderView.saveState)
remembers it. The `stretch` columns share whatever width the others leave, never below their
own starting width (the table then scrolls sideways).
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtWidgets import QHeaderView, QMenu, QTableView


class ColumnChooser(QObject):
    def __init__(self, table: QTableView, *, stretch: Iterable[int] = (),
                 keep: Iterable[int] = ()) -> None:
        super().__init__(table)
        self.table = table
        self.header: QHeaderView = table.horizontalHeader()
        self.stretch = tuple(int(c) for c in stretch)
        self.keep = {int(c) for c in keep}  # never hidden (the column that says what a row is)
        self.base = {c: self.header.sectionSize(c) for c in self.stretch}
        self._fitting = False
        self._clicked: int | None = None  # the header section right-clicked
        header = self.header
        header.setSectionsMovable(True)
        header.setStretchLastSection(False)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        self.menu = QMenu("&Columns", table)
        self.menu.setObjectName(f"{table.objectName() or 'table'}ColumnsMenu")
        self.menu.aboutToShow.connect(self._fill_menu)
        header.sectionResized.connect(self._section_resized)
        header.sectionMoved.connect(lambda *_args: self.fit())
        table.viewport().installEventFilter(self)
        self.fit()

    # -- the menu --------------------------------------------------------------------------

    def _title(self, logical: int) -> str:
        text = self.table.model().headerData(logical, Qt.Orientation.Horizontal)
        return str(text) if text is not None else f"Column {logical + 1}"

    def _fill_menu(self) -> None:
        menu, header = self.menu, self.header
        menu.clear()
        shown = [i for i in range(header.count()) if not header.isSectionHidden(i)]
        for visual in range(header.count()):
            logical = header.logicalIndex(visual)
            action = menu.addAction(self._title(logical))
            action.setCheckable(True)
            action.setChecked(logical in shown)
            action.setEnabled(logical not in self.keep and (logical not in shown
                                                             or len(shown) > 1))
            action.toggled.connect(lambda on, c=logical: self.set_shown(c, on))
        menu.addSeparator()
        target = self._target()
        name = f" “{self._title(target)}”" if target is not None else ""
        left = menu.addAction(f"Move{name} left", lambda: self.move(target, -1))
        right = menu.addAction(f"Move{name} right", lambda: self.move(target, +1))
        visual = header.visualIndex(target) if target is not None else -1
        left.setEnabled(visual > 0)
        right.setEnabled(0 <= visual < header.count() - 1)
        menu.addSeparator()
        menu.addAction("Reset columns", self.reset)

    def _target(self) -> int | None:
        if self._clicked is not None:
            return self._clicked
        current = self.table.currentIndex()
        return current.column() if current.isValid() else None

    def _header_menu(self, point: QPoint) -> None:
        section = self.header.logicalIndexAt(point)
        self._clicked = section if section >= 0 else None
        try:
            self.menu.exec(self.header.mapToGlobal(point))
        finally:
            self._clicked = None

    # -- what the menu does ----------------------------------------------------------------

    def set_shown(self, logical: int, shown: bool) -> None:
        if not shown and logical in self.keep:
            return
        self.header.setSectionHidden(logical, not shown)
        self.fit()

    def move(self, logical: int | None, step: int) -> None:
        if logical is None:
            return
        visual = self.header.visualIndex(logical)
        target = visual + step
        if 0 <= target < self.header.count():
            self.header.moveSection(visual, target)

    def reset(self) -> None:
        """Every column shown, in the original order."""
        header = self.header
        for logical in range(header.count()):
            header.setSectionHidden(logical, False)
            visual = header.visualIndex(logical)
            if visual != logical:
                header.moveSection(visual, logical)
        self.fit()

    # -- widths ----------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False

    def _section_resized(self, logical: int, _old: int, _new: int) -> None:
        if not self._fitting and logical not in self.stretch:
            self.fit()  # a column made wider or narrower: the stretching ones adjust

    def fit(self) -> None:
        """Give the spare width to the shown stretch columns, each at least its base width."""
        header = self.header
        stretch = [c for c in self.stretch if c < header.count() and not header.isSectionHidden(c)]
        if not stretch or self._fitting:
            return
        others = sum(header.sectionSize(i) for i in range(header.count())
                     if i not in stretch and not header.isSectionHidden(i))
        share = (self.table.viewport().width() - others) // len(stretch)
        self._fitting = True
        try:
            for column in stretch:
                header.resizeSection(column, max(self.base[column], share))
        finally:
            self._fitting = False
