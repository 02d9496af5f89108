"""The History tab is built when it is first opened, draws its timeline without a plotting
library, and takes in each poll signalled from the worker thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from portwatch.gui.views.history_tab import LazyHistoryTab


def test_tab_builds_its_view_when_shown_and_for_exports(qtbot, tmp_path):
    tab = LazyHistoryTab(tmp_path / "history.sqlite3")
    qtbot.addWidget(tab)
    assert not tab.built
    assert tab.visible_events() == []  # an export asks: the view is built for it
    assert tab.built
    other = LazyHistoryTab(tmp_path / "history.sqlite3")
    qtbot.addWidget(other)
    other.show()
    qtbot.waitUntil(lambda: other.built)


def test_the_history_tab_needs_no_plotting_library(tmp_path):
    """The window and its History tab, open, import neither pyqtgraph nor numpy (0.6 s and
    40 MB of the tab's start and memory before it drew its own timeline)."""
    code = textwrap.dedent(
        """
        import sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from portwatch.gui.app import add_history_tab
        from portwatch.gui.views.main_window import MainWindow
        from portwatch.core.store.settings import Settings
        window = MainWindow(Settings())
        tab = add_history_tab(window)
        print(tab.built)
        window.tabs.setCurrentIndex(window.tabs.count() - 1)
        window.show()
        app.processEvents()
        print(tab.built, "pyqtgraph" in sys.modules, "numpy" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env={**__import__("os").environ,
                                             "QT_QPA_PLATFORM": "offscreen",
                                             "PORTWATCH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "False", "False"]


def test_an_open_tab_takes_in_a_poll_signalled_from_the_worker_thread(qtbot, tmp_path):
    """The window connects its worker's `polled` (emitted in the worker's thread) to the tab:
    the tab must read the file in the GUI thread, whose connection it is."""
    import threading

    from PySide6.QtCore import QObject, Signal
    from test_history_view import record, write_history

    class Worker(QObject):
        polled = Signal(object)

    path = tmp_path / "history.sqlite3"
    write_history(path)
    tab = LazyHistoryTab(path)
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitUntil(lambda: tab.built and tab.view().model.rowCount() == 5)
    worker = Worker()
    worker.polled.connect(tab.after_poll)
    record(path, "opened", 9999, 1_795_000_500.0, 4)
    thread = threading.Thread(target=worker.polled.emit, args=(None,))
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: tab.view().model.rowCount() == 6, timeout=10_000)
    assert tab.view().status_label.isHidden()  # read without a problem
