"""portwatch adds no attack surface of its own: the running window listens on no TCP or UDP
port (its single-instance socket is a Unix socket in a directory only its user can enter),
terminate never signals a PID that changed hands since it was shown, and no shell ever sees
text from other processes (no shell=True, os.system or os.popen anywhere; "Open containing
folder" hands the file manager a file:// URL of a directory, never a command)."""

from __future__ import annotations

import ast
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from rel_common import REPO, GuiProcess, tally

from portwatch.core import probe
from portwatch.core.probe import procinfo
from portwatch.core.probe.procinfo import TerminateOutcome
from portwatch.core.probe.scanner import ListenerScanner

SOURCE = REPO / "portwatch"


@pytest.fixture(scope="module")
def running_gui(tmp_path_factory):
    gui = GuiProcess(tmp_path_factory.mktemp("gui")).start()
    try:
        gui.wait_for("table populated", timeout=90)
        yield gui
    finally:
        gui.stop()


def test_the_running_window_listens_on_no_network_port(running_gui):
    pid = running_gui.pid
    inet = psutil.Process(pid).net_connections(kind="inet")
    assert inet == [], f"portwatch holds network sockets: {inet}"
    for fast in (False, True):  # and portwatch's own scanner agrees, on both paths
        scanner = ListenerScanner(fast=fast)
        try:
            mine = [row for row in scanner.scan().listeners if row.pid == pid]
        finally:
            scanner.close()
        assert mine == [], mine
    tally("attack-surface checks")


def socket_files(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if stat.S_ISSOCK(path.lstat().st_mode)]


def assert_private(folder: Path) -> None:
    info = folder.lstat()
    assert stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode)
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(info.st_mode) == 0o700, oct(info.st_mode)


def unix_listeners(pid: int) -> list[str]:
    """Paths the process's Unix sockets were bound to (Qt binds in a private temp folder
    inside the target folder, then renames the socket into place)."""
    return [c.laddr for c in psutil.Process(pid).net_connections(kind="unix")
            if c.laddr and c.laddr.startswith("/")]


def test_its_only_listening_socket_is_a_unix_socket_in_a_private_directory(running_gui):
    bound = unix_listeners(running_gui.pid)
    assert bound, "no single-instance socket found"
    assert all(Path(path).is_relative_to(running_gui.runtime) for path in bound), bound
    (sock,) = socket_files(running_gui.runtime)
    assert sock.name.startswith("portwatch-") and sock.name.endswith(".sock")
    assert sock.lstat().st_uid == os.geteuid()
    assert_private(running_gui.runtime)
    tally("attack-surface checks")


def test_without_a_private_runtime_dir_the_socket_goes_to_a_private_tmp_dir(tmp_path):
    """XDG_RUNTIME_DIR shared with others (mode 0777): portwatch makes its own 0700 folder."""
    import tempfile

    gui = GuiProcess(tmp_path)
    gui.runtime.chmod(0o777)
    gui.start()
    try:
        gui.wait_for("table populated", timeout=90)
        bound = unix_listeners(gui.pid)
        own = Path(tempfile.gettempdir()) / f"portwatch-{os.geteuid()}"
        assert bound and all(Path(path).is_relative_to(own) for path in bound), bound
        assert not socket_files(gui.runtime)
        assert_private(own)
        assert psutil.Process(gui.pid).net_connections(kind="inet") == []
    finally:
        gui.stop()
    tally("attack-surface checks")


# -- terminate ----------------------------------------------------------------------------------


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_terminate_refuses_a_pid_whose_start_time_changed(tmp_path):
    child = sleeper()
    try:
        started = psutil.Process(child.pid).create_time()
        for stale in (started - 1.0, started + 1.0, started - 3600):
            result = procinfo.terminate(child.pid, stale, timeout=0.5)
            assert result.outcome is TerminateOutcome.IDENTITY_CHANGED
            assert "now belongs to a different process" in result.message
            assert child.poll() is None  # not signalled
        unknown = procinfo.terminate(child.pid, None, timeout=0.5)
        assert unknown.outcome is TerminateOutcome.IDENTITY_UNKNOWN
        assert child.poll() is None
        assert procinfo.terminate(os.getpid(), psutil.Process().create_time()).outcome \
            is TerminateOutcome.IDENTITY_CHANGED  # never itself
        done = procinfo.terminate(child.pid, started, timeout=5)
        assert done.outcome is TerminateOutcome.TERMINATED, done.message
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(5)
    tally("attack-surface checks", 5)


def test_the_windows_terminate_passes_the_start_time_it_displayed(qtbot):
    """The details pane shows a process; meanwhile its PID belongs to another program (here:
    the displayed start time is an hour older than the live process's). Terminate must send
    the *displayed* start time, so the core refuses and the live process survives."""
    from portwatch.core.model import AnnotatedListener, Exposure, Family, Listener, ProcessInfo
    from portwatch.core.model import Proto as P
    from portwatch.gui.views.details_pane import DetailsPane

    child = sleeper()
    try:
        live = psutil.Process(child.pid)
        shown = ProcessInfo(child.pid, "web-server", "alice", "/usr/bin/web-server",
                            ("web-server",), live.create_time() - 3600, 1)
        item = AnnotatedListener(Listener(P.TCP, Family.IPV4, "127.0.0.1", 8080,
                                          Exposure.LOOPBACK, shown))
        pane = DetailsPane()
        qtbot.addWidget(pane)
        calls: list[tuple] = []
        real = probe.terminate

        def recording(pid, create_time, *rest):
            calls.append((pid, create_time))
            return real(pid, create_time, *rest)

        pane.confirm = lambda *_args: True
        original, probe.terminate = probe.terminate, recording
        try:
            pane.show_listener(item)
            with qtbot.waitSignal(pane.terminate_finished, timeout=10000) as finished:
                pane.request_terminate()
        finally:
            probe.terminate = original
        assert calls == [(child.pid, shown.create_time)]
        assert finished.args[0].outcome is TerminateOutcome.IDENTITY_CHANGED
        assert child.poll() is None
        pane.shutdown()
    finally:
        child.kill()
        child.wait(5)
    tally("attack-surface checks")


# -- no shell -----------------------------------------------------------------------------------


def python_files() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def calls_in(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return "?"


FORBIDDEN_CALLS = {"os.system", "os.popen", "os.execl", "os.execlp", "os.execle", "os.execv",
                   "os.execvp", "os.execvpe", "os.spawnl", "os.spawnlp", "os.spawnv",
                   "os.spawnvp", "os.startfile", "eval", "exec", "QProcess.startDetached",
                   "QProcess.execute", "pty.spawn", "commands.getoutput"}


FOLDER_OPENER = REPO / "portwatch" / "gui" / "desktop" / "folder_opener.py"


def test_no_shell_is_ever_invoked_anywhere_in_the_program():
    found = []
    checked = 0
    for path in python_files():
        for call in calls_in(path):
            checked += 1
            name = dotted(call.func)
            if name in FORBIDDEN_CALLS:
                found.append(f"{path.relative_to(REPO)}:{call.lineno}: {name}()")
            for keyword in call.keywords:
                if keyword.arg == "shell" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                    found.append(f"{path.relative_to(REPO)}:{call.lineno}: shell=...")
        text = path.read_text()
        # One exception: gui/desktop/folder_opener.py runs xdg-open to learn whether the folder
        # opened (Qt's service does not say); it hands xdg-open only a percent-encoded file
        # URL, checked by test_the_folder_opener_passes_only_an_encoded_file_url below.
        words = ("startDetached", "/bin/sh") if path == FOLDER_OPENER else (
            "QProcess", "startDetached", "/bin/sh", "xdg-open")
        for word in words:
            if word in text:
                found.append(f"{path.relative_to(REPO)}: mentions {word}")
    assert found == [], "\n".join(found)
    assert checked > 1000  # the scan really read the program
    tally("attack-surface checks")


def test_the_only_url_opened_is_a_local_directory(qtbot):
    """Every QDesktopServices.openUrl in the program gets QUrl.fromLocalFile(...), and the
    open-folder action with shell metacharacters in the path builds exactly that URL."""
    from PySide6.QtCore import QUrl

    from portwatch.core.model import AnnotatedListener, Exposure, Family, Listener, ProcessInfo
    from portwatch.core.model import Proto as P
    from portwatch.gui.views.details_pane import DetailsPane

    for path in python_files():
        text = path.read_text()
        if "openUrl" in text and path != FOLDER_OPENER:  # it opens what open_url() was given
            tree = ast.parse(text)
            for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
                if dotted(call.func).endswith("open_url") or dotted(call.func).endswith(
                        "openUrl"):
                    (arg,) = call.args
                    assert isinstance(arg, ast.Call) and \
                        dotted(arg.func) == "QUrl.fromLocalFile", \
                        f"{path}:{call.lineno} opens {ast.unparse(arg)}"
    hostile_dir = "/tmp/a;rm -rf ~ #/$(reboot)`id`|&& x"
    exe = f"{hostile_dir}/evil bin (deleted)"
    item = AnnotatedListener(Listener(P.TCP, Family.IPV4, "127.0.0.1", 8080, Exposure.LOOPBACK,
                                      ProcessInfo(4242, "evil", exe=exe)))
    pane = DetailsPane()
    qtbot.addWidget(pane)
    opened: list[QUrl] = []
    pane.open_url = lambda url: opened.append(url) or True
    pane.show_listener(item)
    pane.open_folder()
    (url,) = opened
    assert url == QUrl.fromLocalFile(hostile_dir)
    assert url.scheme() == "file" and url.isLocalFile()
    assert url.toLocalFile() == hostile_dir
    assert not url.query() and not url.fragment()  # ';', '#', '&' stayed in the path
    pane.shutdown()
    tally("attack-surface checks")


def test_the_folder_opener_passes_only_an_encoded_file_url(qtbot, tmp_path):
    """What xdg-open (a shell script) receives for a hostile folder: one argument, a file URL
    with every space and shell metacharacter percent-encoded. A stand-in program records it."""
    from PySide6.QtCore import QUrl

    from portwatch.gui.desktop.folder_opener import FolderOpener

    record = tmp_path / "argv.json"
    recorder = tmp_path / "pwtest-record-argv"
    recorder.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                        f"open({str(record)!r} + '.tmp', 'w').write(json.dumps(sys.argv[1:]))\n"
                        f"os.replace({str(record)!r} + '.tmp', {str(record)!r})\n")
    recorder.chmod(0o755)
    hostile_dir = "/tmp/a;rm -rf ~ #/$(reboot)`id`|&& x"
    opener = FolderOpener(program=str(recorder))
    assert opener.open_url(QUrl.fromLocalFile(hostile_dir))
    qtbot.waitUntil(record.exists, timeout=30_000)
    (argument,) = json.loads(record.read_text())
    assert argument.startswith("file:///tmp/a")
    assert not set(argument) & set(" ;~#$()`|&'\"\\<>*?!{}[]")
    assert QUrl.fromEncoded(argument.encode()).toLocalFile() == hostile_dir
    tally("attack-surface checks")


def test_portwatch_itself_opens_no_listening_socket_in_the_core(monkeypatch):
    """Belt and braces: every core entry point a poll uses runs with bind/listen forbidden."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("portwatch tried to listen")

    monkeypatch.setattr(socket.socket, "listen", refuse)
    from portwatch.core.knowledge.catalog import load_catalog
    from portwatch.core.monitor import Monitor

    scanner = ListenerScanner()
    try:
        Monitor(scanner.scan, load_catalog(None)).poll()
    finally:
        scanner.close()
    tally("attack-surface checks")


# -- the modes for many machines: metrics, textfile, journal, syslog, alert channels -------------

FORBID_LISTENING = """
import socket, sys
def refuse(*args, **kwargs):
    raise SystemExit("portwatch tried to listen")
real_bind = socket.socket.bind
def bind(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise SystemExit("portwatch tried to bind an internet socket")
    return real_bind(self, address)
socket.socket.listen = refuse
socket.socket.bind = bind
from portwatch.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_metrics_binds_and_listens_on_nothing():
    done = subprocess.run([sys.executable, "-c", FORBID_LISTENING, "metrics"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "portwatch_listener_info" in done.stdout
    tally("attack-surface checks")


def test_watch_with_every_output_listens_on_nothing(tmp_path, listener_factory):
    """`watch --textfile --journal --syslog` with a webhook and a command channel, run with
    bind/listen on internet sockets forbidden, delivers an alert through both channels; while
    it runs, the kernel lists no listening socket of its (inet or a bound Unix path)."""
    import queue
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import yaml

    got: queue.Queue[bytes] = queue.Queue()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.put(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    marker = tmp_path / "command-ran"
    config = Path(os.environ["PORTWATCH_CONFIG_DIR"]) / "settings.yaml"
    # alert_rate_limit 0: other python programs' listeners must not hold ours back
    config.write_text(yaml.safe_dump({"alert_min_polls": 0, "alert_rate_limit": 0, "channels": [
        {"type": "webhook", "url": f"http://127.0.0.1:{server.server_address[1]}/"},
        {"type": "command", "command": ["sh", "-c", f"cat > {marker}"]}]}))
    config.chmod(0o600)
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    env = {**os.environ, "PORTWATCH_JOURNAL_SOCKET": str(tmp_path / "no-journal"),
           "PORTWATCH_SYSLOG_SOCKET": str(tmp_path / "no-syslog")}
    log = (tmp_path / "watch.log").open("wb")
    watch = subprocess.Popen([sys.executable, "-c", FORBID_LISTENING, "watch", "--interval",
                              "0.3", "--no-history", "--textfile", str(textfile), "--journal",
                              "--syslog"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while b"watching" not in (tmp_path / "watch.log").read_bytes():
            assert watch.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "watch.log").read_text()
            time.sleep(0.1)
        child = listener_factory()
        while str(child.port).encode() not in got.get(timeout=30):
            pass  # other programs' listeners alert too
        while not marker.exists():
            assert time.monotonic() < deadline + 30
            time.sleep(0.1)
        assert (textfile / "portwatch.prom").exists()
        process = psutil.Process(watch.pid)
        listening = [c for c in process.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM
                                                          and not c.raddr)]
        assert listening == []
        bound = [c.laddr for c in process.net_connections(kind="unix") if c.laddr]
        assert bound == []
        assert watch.poll() is None
    finally:
        watch.terminate()
        watch.wait(30)
        log.close()
        server.shutdown()
        server.server_close()
    assert watch.returncode == 0, (tmp_path / "watch.log").read_text()
    tally("attack-surface checks", 2)
