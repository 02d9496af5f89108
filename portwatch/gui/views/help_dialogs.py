"""Help > Keyboard shortcuts and Help > Manual: what the keys do and a short guide to the window.

The shortcut list is read from the window's own menus (each action with a shortcut, under its
menu), plus the keys Qt's widgets give the table and the fields, so it cannot drift from the
menus. The manual is a few paragraphs of fixed text (no user data), shown read-only.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMainWindow,
    QMenu,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from portwatch.gui.style.plain import esc

# Keys that belong to widgets rather than to menu actions.
WIDGET_KEYS = (
    ("Tab, Shift+Tab", "move between the filter field, the toggles, the table, the details and"
     " their buttons (the focused one is outlined)"),
    ("Up, Down, Page Up, Page Down, Home, End", "move the selection in the table; the details"
     " follow"),
    ("Menu key, Shift+F10", "the selected row's menu (Copy, Look up, Acknowledge, Ignore…,"
     " Terminate…)"),
    ("Space", "toggle the focused filter box (TCP, UDP, …)"),
    ("Escape", "close a dialog"),
    ("Alt + underlined letter", "open a menu or press a button or field label"),
)

MANUAL_HTML = """
<h2>portwatch</h2>
<p>portwatch lists every socket listening on this computer, the program that opened it, what the
port is registered for, the software that really uses it and what is known about its security,
and tells you when something new starts listening.</p>
<h3>The table</h3>
<p>One row per listening socket. <b>Risk</b> is a word and a symbol (High, Medium, Low, None),
never a colour alone; hover it for the reason. It counts only the security notes about the
program listening, weighed by who can reach the socket: <i>loopback only</i> (this machine),
<i>local network</i> or <i>all interfaces</i>. New rows are highlighted for a few seconds and
rows of listeners that closed are shown struck out in red before they go; the count beside the
filters counts only open listeners. Click a header to sort; the first click gives each
column's usual order (ports lowest first, risk highest first). Right-click a header to choose
and reorder the columns.</p>
<h3>Filters</h3>
<p>The field above the table (Ctrl+F) matches process, port, service, address, user and known
uses. The toggles show TCP or UDP, only listeners reachable from the network, or only ports
the catalog knows nothing about. <i>View &gt; Show all listeners</i> clears them.</p>
<h3>Details</h3>
<p>Below the table: everything about the selected listener, with links to sources, the process
(executable, checksum, command line, parent chain, other sockets) and buttons to copy it, open
the program's folder, look the port up, ignore it or terminate the process (after asking).</p>
<h3>Alerts</h3>
<p>A new listener that stays for a scan raises an alert: in the alert list (its count is on the
toolbar button <i>Alerts</i>), on the tray icon and as a desktop notification. Each alert says
when the listener started listening and whether it has closed since; <i>Acknowledge</i> means
never again for this program on this port, <i>Ignore…</i> makes a rule (Tools &gt; Alert
rules… lists them).</p>
<h3>Other machines</h3>
<p><i>File &gt; Add host…</i> reads another machine's listeners over ssh (your keys and
~/.ssh/config; portwatch must be installed there): they join the table with their host in the
<b>Host</b> column, the filter bar can show one machine, and the status bar says each host's
state (hover it for why one is unreachable). <i>File &gt; Remove host</i> forgets one;
<i>File &gt; Alerts from host</i> switches a host's alerts off or on (its listeners still
show).</p>
<h3>History</h3>
<p>The History tab draws the number of listeners over time and lists every opened and closed
event; while its filter is set, the chart marks only the events the filter finds.
<code>portwatch history</code> prints the same in a terminal.</p>
<h3>In a terminal</h3>
<p><code>portwatch list</code>, <code>portwatch lookup PORT|NAME</code>, <code>portwatch
watch</code> and <code>portwatch history</code> work without the window; <code>portwatch
--help</code> describes them.</p>
"""


def menu_shortcuts(window: QMainWindow) -> list[tuple[str, str]]:
    """(keys, "Menu > Action") for every menu action of `window` that has a shortcut."""
    rows: list[tuple[str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            sub = action.menu()
            if isinstance(sub, QMenu):
                walk(sub, f"{path} > {_plain(action.text())}")
            elif action.shortcuts():
                keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText)
                                 for s in action.shortcuts())
                rows.append((keys, f"{path} > {_plain(action.text())}"))

    for top in window.menuBar().actions():
        if isinstance(top.menu(), QMenu):
            walk(top.menu(), _plain(top.text()))
    return rows


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(".…")


class _TextDialog(QDialog):
    def __init__(self, title: str, html: str, name: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName(name)
        self.resize(620, 560)
        self.view = QTextBrowser(self)
        self.view.setObjectName(f"{name}Text")
        self.view.setAccessibleName(title)
        self.view.setHtml(html)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)


def shortcuts_dialog(window: QMainWindow) -> QDialog:
    rows = [(keys, what) for keys, what in menu_shortcuts(window)] + list(WIDGET_KEYS)
    cells = "".join(f"<tr><td style='padding-right:16px; white-space:nowrap'><b>{esc(keys)}"
                    f"</b></td><td>{esc(what)}</td></tr>" for keys, what in rows)
    html = f"<h3>Keyboard shortcuts</h3><table cellpadding='3'>{cells}</table>"
    return _TextDialog("Keyboard shortcuts", html, "shortcutsDialog", window)


def manual_dialog(window: QMainWindow) -> QDialog:
    return _TextDialog("portwatch manual", MANUAL_HTML, "manualDialog", window)


def install_help(window: QMainWindow, help_menu: QMenu, before: QAction | None) -> None:
    """Help > Manual (F1) and Help > Keyboard shortcuts (Ctrl+?) before `before` (About)."""
    opened: dict[str, QDialog] = {}

    def show(name: str, build: object) -> None:
        dialog = opened.get(name)
        if dialog is None:
            dialog = opened[name] = build(window)  # type: ignore[operator]
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    manual = QAction("&Manual", window)
    manual.setObjectName("manualAction")
    manual.setShortcut(QKeySequence.StandardKey.HelpContents)
    manual.triggered.connect(lambda: show("manual", manual_dialog))
    shortcuts = QAction("&Keyboard shortcuts", window)
    shortcuts.setObjectName("shortcutsAction")
    shortcuts.setShortcuts([QKeySequence("Ctrl+?"), QKeySequence("Ctrl+/")])
    shortcuts.triggered.connect(lambda: show("shortcuts", shortcuts_dialog))
    help_menu.insertAction(before, manual)
    help_menu.insertAction(before, shortcuts)
    help_menu.insertSeparator(before)
    window.help_dialogs = opened  # type: ignore[attr-defined]
