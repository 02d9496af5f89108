"""Process details for the details pane: parent chain, sockets, executable hash, terminate."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import psutil

from portwatch.core.model import Proto
from portwatch.core.probe import procinfo
from portwatch.core.probe.procinfo import (
    NO_PRIVILEGES,
    TerminateOutcome,
    process_details,
    sha256_file,
    terminate,
)


def test_details_of_a_child_listener(listener_factory):
    child = listener_factory("tcp", "127.0.0.1")
    created = psutil.Process(child.pid).create_time()
    details = process_details(child.pid, created)
    assert details.running
    assert details.parents[0].pid == os.getpid()
    listening = [s for s in details.sockets if s.status == "LISTEN"]
    assert [(s.proto, s.local) for s in listening] == [(Proto.TCP, f"127.0.0.1:{child.port}")]
    assert details.problems == ()


def test_details_refuse_a_process_that_is_not_the_one_shown(listener_factory):
    child = listener_factory("tcp", "127.0.0.1")
    created = psutil.Process(child.pid).create_time()
    details = process_details(child.pid, created - 100)
    assert not details.running
    assert details.sockets == () and "different process" in details.problems[0]


def test_details_of_a_gone_process(listener_factory):
    child = listener_factory("udp", "127.0.0.1")
    pid = child.pid
    child.stop()
    details = process_details(pid)
    assert not details.running and "no longer running" in details.problems[0]


def test_sha256_of_a_file(tmp_path):
    path = tmp_path / "blob"
    data = os.urandom(3 * procinfo.HASH_CHUNK + 17)
    path.write_bytes(data)
    digest = sha256_file(str(path))
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data) and digest.error is None


def test_sha256_of_the_interpreter_matches():
    exe = os.path.realpath(sys.executable)
    with open(exe, "rb") as handle:
        expected = hashlib.sha256(handle.read()).hexdigest()
    assert sha256_file(exe).sha256 == expected


def test_sha256_reports_unreadable_files(tmp_path, monkeypatch):
    assert sha256_file(str(tmp_path / "missing")).error == "not readable: the file no longer exists"
    assert "deleted or replaced" in sha256_file("/usr/bin/thing (deleted)").error

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(procinfo, "open", denied, raising=False)  # root can read anything
    digest = sha256_file(str(tmp_path / "secret"))
    assert digest.sha256 is None
    assert digest.error == "not readable: permission denied"


def test_terminate_refuses_a_changed_identity_then_stops_the_right_one(listener_factory):
    child = listener_factory("tcp", "127.0.0.1")
    created = psutil.Process(child.pid).create_time()

    refused = terminate(child.pid, created + 3600)
    assert refused.outcome is TerminateOutcome.IDENTITY_CHANGED
    assert "not stopped" in refused.message
    assert child.proc.poll() is None  # still alive

    unknown = terminate(child.pid, None)
    assert unknown.outcome is TerminateOutcome.IDENTITY_UNKNOWN
    assert child.proc.poll() is None

    done = terminate(child.pid, created, timeout=5)
    assert done.outcome is TerminateOutcome.TERMINATED and done.stopped
    assert not psutil.pid_exists(child.pid) or psutil.Process(child.pid).status() in (
        psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)

    again = terminate(child.pid, created)
    assert again.outcome is TerminateOutcome.NOT_RUNNING


def test_terminate_permission_denied_says_what_to_do(listener_factory, monkeypatch):
    child = listener_factory("tcp", "127.0.0.1")
    created = psutil.Process(child.pid).create_time()

    def denied(self):
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "terminate", denied)
    result = terminate(child.pid, created)
    assert result.outcome is TerminateOutcome.PERMISSION_DENIED
    assert result.message.startswith(NO_PRIVILEGES)
    assert "sudo" in result.message
    assert child.proc.poll() is None


def test_terminate_never_stops_portwatch_itself():
    result = terminate(os.getpid(), psutil.Process().create_time())
    assert result.outcome is TerminateOutcome.IDENTITY_CHANGED


def test_terminate_reports_a_process_that_ignores_the_request():
    script = ("import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
              " print('ready', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        result = terminate(proc.pid, psutil.Process(proc.pid).create_time(), timeout=0.2)
        assert result.outcome is TerminateOutcome.STILL_RUNNING
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdin.close()
        proc.stdout.close()
