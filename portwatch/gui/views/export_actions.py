"""File > Export listeners… and File > Export history…: what the tables show, as CSV or JSON.

The rows are taken in the GUI thread when the user asks (the listener table as filtered and
sorted, or the History tab's visible events: immutable values), the file is chosen in a save
dialog whose filter (or the name's .csv/.json ending) picks the format, and
core/output/export.py writes it off the GUI thread: the fields of `list --json`, formula cells
neutralised in CSV, written atomically (a failed export leaves no partial file, and an existing
file keeps its content).
Failures (read-only folder, disk full) end in a message box that names the file and the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QDir, QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from portwatch.core.model import AnnotatedListener
from portwatch.core.output import export
from portwatch.core.store.history import HistoryEvent
from portwatch.gui.jobs import JobRunner

log = logging.getLogger(__name__)

CSV_FILTER = "CSV for spreadsheets (*.csv)"
JSON_FILTER = "JSON, as portwatch list --json prints it (*.json)"
FILTERS = {CSV_FILTER: "csv", JSON_FILTER: "json"}
# Events the History export holds in memory at once; `portwatch history` streams any number.
HISTORY_EXPORT_MAX = 200_000


class ExportSource(Protocol):
    """What the export needs from the main window."""

    def shown_listeners(self) -> tuple[list[AnnotatedListener], int]: ...
    def history_view(self) -> Any: ...
    def show_message(self, text: str, timeout_ms: int = ...) -> None: ...


# (parent, title, suggested path) -> (chosen path or "", the chosen filter)
AskPath = Callable[[QWidget, str, str], tuple[str, str]]


def save_dialog(parent: QWidget | None, title: str, suggested: str) -> QFileDialog:
    """The save dialog: CSV or JSON; the file name's ending follows the chosen filter."""
    dialog = QFileDialog(parent, title, suggested)
    dialog.setObjectName("exportDialog")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setNameFilters(list(FILTERS))
    fmt = "json" if suggested.endswith(".json") else "csv"
    dialog.selectNameFilter(JSON_FILTER if fmt == "json" else CSV_FILTER)
    dialog.setDefaultSuffix(fmt)
    dialog.resize(820, 520)  # Qt's own dialog starts cramped (its side bar cut off)
    dialog.filterSelected.connect(lambda name: _follow_filter(dialog, name))
    return dialog


def _follow_filter(dialog: QFileDialog, name_filter: str) -> None:
    """Choosing CSV or JSON changes the ending of the name typed so far to match."""
    fmt = FILTERS.get(name_filter, "csv")
    dialog.setDefaultSuffix(fmt)
    files = dialog.selectedFiles()
    if len(files) == 1:
        current = Path(files[0])
        if current.suffix.lower().lstrip(".") in export.FORMATS and current.suffix != f".{fmt}":
            dialog.selectFile(current.with_suffix(f".{fmt}").name)


def ask_save_path(parent: QWidget, title: str, suggested: str) -> tuple[str, str]:
    dialog = save_dialog(parent, title, suggested)
    if dialog.exec() != QFileDialog.DialogCode.Accepted or not dialog.selectedFiles():
        return "", dialog.selectedNameFilter()
    return dialog.selectedFiles()[0], dialog.selectedNameFilter()


def chosen_target(path: str, name_filter: str) -> tuple[Path, str]:
    """The file and format: the name's .csv/.json ending decides; a name without one gets
    the chosen filter's ending."""
    target = Path(path)
    suffix = target.suffix.lower().lstrip(".")
    if suffix in export.FORMATS:
        return target, suffix
    fmt = FILTERS.get(name_filter, "csv")
    return target.with_name(f"{target.name}.{fmt}"), fmt


def _write(kind: str, rows: Sequence[Any], target: Path, fmt: str) -> Path | OSError:
    """Runs in a pool thread: the path written, or the OSError (an expected outcome, shown to
    the user; not a bug to log with a traceback)."""
    try:
        if kind == "listeners":
            return export.export_listeners(rows, target, fmt)
        return export.export_events(rows, target, fmt)
    except OSError as exc:
        return exc


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class ExportActions(QObject):
    """The two File menu actions and the exports they run. `finished(Path | Exception)` after
    each export (tests wait on it); `ask_path` is replaceable (tests, other front ends)."""

    finished = Signal(object)

    def __init__(self, window: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.ask_path: AskPath = ask_save_path
        self.folder = QDir.homePath()  # where the next dialog opens (the last one used)
        self.listeners_action = QAction("Export &listeners…", window)
        self.listeners_action.setObjectName("exportListenersAction")
        self.listeners_action.setStatusTip("Save the listeners the table shows as CSV or JSON")
        self.listeners_action.triggered.connect(self.export_listeners)
        self.history_action = QAction("Export &history…", window)
        self.history_action.setObjectName("exportHistoryAction")
        self.history_action.setStatusTip("Save the events the History tab shows as CSV or JSON")
        self.history_action.triggered.connect(self.export_history)
        self.jobs = JobRunner(self, max_threads=1)
        self.jobs.finished.connect(self._done)
        self._busy = False

    @property
    def actions(self) -> tuple[QAction, QAction]:
        return self.listeners_action, self.history_action

    def update_enabled(self) -> None:
        """History export only with a History tab; neither while an export runs (call before
        the File menu shows)."""
        has_history = getattr(self.window, "history_view", lambda: None)() is not None
        self.listeners_action.setEnabled(not self._busy)
        self.history_action.setEnabled(not self._busy and has_history)

    # -- the two exports ---------------------------------------------------------------------

    @Slot()
    def export_listeners(self) -> None:
        rows, total = self.window.shown_listeners()
        if len(rows) == total:
            title = f"Export listeners: all {plural(total, 'listener')}"
        else:
            title = (f"Export listeners: the {plural(len(rows), 'listener')} shown by the"
                     f" filter (of {total:,})")
        self._export("listeners", rows, title, "listener")

    @Slot()
    def export_history(self) -> None:
        view = self.window.history_view()
        if view is None:
            self.window.show_message("There is no history to export (the History tab is not"
                                     " available).")
            return
        shown = view.model.rowCount()
        if shown > HISTORY_EXPORT_MAX:
            self.window.show_message(
                f"The History tab shows {shown:,} events; File > Export history writes at most"
                f" {HISTORY_EXPORT_MAX:,} at once. Narrow them with the tab's filter, or use"
                " `portwatch history --json` (with --since/--until), which writes any number.",
                20_000)
            return
        events: list[HistoryEvent] = view.visible_events()
        total = view.model.event_count()
        needle = view.model.needle
        if needle and len(events) != total:
            title = (f"Export history: the {plural(len(events), 'event')} matching"
                     f" “{needle}” (of {total:,})")
        else:
            title = f"Export history: all {plural(len(events), 'event')}"
        self._export("history", events, title, "event")

    def _export(self, kind: str, rows: Sequence[Any], title: str, noun: str) -> None:
        if self._busy:
            return
        stamp = time.strftime("%Y-%m-%d-%H%M")
        suggested = str(Path(self.folder) / f"portwatch-{kind}-{stamp}.csv")
        path, name_filter = self.ask_path(self.window, title, suggested)
        if not path:
            return
        target, fmt = chosen_target(path, name_filter)
        self.folder = str(target.parent)
        self._busy = True
        self.update_enabled()
        self.window.show_message(f"Exporting {plural(len(rows), noun)} to {target.name}…")
        log.info("exporting %d %s to %s (%s)", len(rows), kind, target, fmt)
        self.jobs.submit((kind, target, len(rows), noun), _write, kind, rows, target, fmt)

    @Slot(object, object)
    def _done(self, token: object, result: object) -> None:
        kind, target, count, noun = token  # type: ignore[misc]
        self._busy = False
        self.update_enabled()
        if isinstance(result, Path):
            self.window.show_message(f"Exported {plural(count, noun)} to {result}.")
            self.finished.emit(result)
            return
        reason = (result.strerror if isinstance(result, OSError) and result.strerror
                  else str(result))
        log.warning("export of %s to %s failed: %s", kind, target, reason)
        self.window.show_message(f"Export failed: {reason}.")
        box = QMessageBox(QMessageBox.Icon.Warning, "Export failed", "",
                          QMessageBox.StandardButton.Ok, self.window)
        box.setObjectName("exportFailedBox")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"{target} could not be written: {reason}.")
        box.setInformativeText("Nothing was written there (a file of that name keeps its"
                               " old content). Choose another folder, or free some space,"
                               " and export again.")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.finished.emit(result)

    def shutdown(self) -> None:
        """Wait for a running export (the file is then complete or not there at all)."""
        self.jobs.shutdown()
