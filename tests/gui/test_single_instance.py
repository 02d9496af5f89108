"""One instance per user: the first listens on a Unix socket, a second launch raises it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from PySide6.QtNetwork import QLocalSocket

from portwatch.core.desktop import instance
from portwatch.gui.desktop.single_instance import RAISE, SingleInstance, socket_path

SECOND_LAUNCH = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QCoreApplication
    from portwatch.gui.desktop.single_instance import SingleInstance
    app = QCoreApplication([])
    sys.exit(0 if SingleInstance(sys.argv[1]).claim() else 3)
    """
)


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch):
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


def test_the_socket_is_private_and_per_config_dir(runtime_dir, tmp_path):
    first = socket_path(tmp_path / "a")
    assert first is not None and first.startswith(str(runtime_dir))
    assert socket_path(tmp_path / "b") != first
    assert socket_path(tmp_path / "a") == first


def test_a_shared_runtime_dir_is_not_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    monkeypatch.setattr(instance.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = socket_path(tmp_path / "config")
    assert path is not None and not path.startswith(str(shared))
    folder = Path(path).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_first_claim_listens_on_a_unix_socket_not_a_network_port(qapp, runtime_dir):
    instance = SingleInstance(str(runtime_dir / "pw.sock"))
    try:
        assert instance.claim()
        mode = os.stat(instance.path).st_mode
        assert stat.S_ISSOCK(mode)
        assert not mode & (stat.S_IRWXG | stat.S_IRWXO)  # only this user may connect
        inet = [c for c in psutil.Process().net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN]
        assert inet == []
    finally:
        instance.close()


def test_a_client_asking_to_raise_is_heard(qapp, qtbot, runtime_dir):
    instance = SingleInstance(str(runtime_dir / "pw.sock"))
    assert instance.claim()
    try:
        client = QLocalSocket()
        with qtbot.waitSignal(instance.activation_requested, timeout=3000):
            client.connectToServer(instance.path)
            client.write(RAISE)
            client.flush()
        client.abort()
    finally:
        instance.close()


def test_garbage_does_not_raise(qapp, qtbot, runtime_dir):
    instance = SingleInstance(str(runtime_dir / "pw.sock"))
    assert instance.claim()
    try:
        client = QLocalSocket()
        with qtbot.assertNotEmitted(instance.activation_requested, wait=300):
            client.connectToServer(instance.path)
            client.write(b"x" * 100 + b"\n")
            client.flush()
        client.abort()
    finally:
        instance.close()


def test_a_second_launch_raises_the_first_and_exits(qapp, qtbot, runtime_dir):
    path = str(runtime_dir / "pw.sock")
    instance = SingleInstance(path)
    assert instance.claim()
    try:
        with qtbot.waitSignal(instance.activation_requested, timeout=10_000):
            second = subprocess.Popen([sys.executable, "-c", SECOND_LAUNCH, path])
        assert second.wait(10) == 3  # claim() was False: it should exit
    finally:
        instance.close()


def test_a_stale_socket_from_a_crashed_instance_is_replaced(qapp, runtime_dir):
    path = str(runtime_dir / "pw.sock")
    crashed = subprocess.run([sys.executable, "-c", textwrap.dedent(
        """
        import os, sys
        from PySide6.QtCore import QCoreApplication
        from portwatch.gui.desktop.single_instance import SingleInstance
        app = QCoreApplication([])
        instance = SingleInstance(sys.argv[1])
        assert instance.claim()
        os._exit(0)  # no cleanup: the lock and socket files stay behind
        """), path], timeout=20)
    assert crashed.returncode == 0
    assert os.path.exists(path)
    instance = SingleInstance(path)
    try:
        assert instance.claim()
    finally:
        instance.close()
