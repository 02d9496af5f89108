"""Containers behind listeners: real Podman (root, a busybox rootfs, slirp4netns, published
through rootlessport, its API from `podman system service`), and Docker's docker-proxy against a
recorded API answer (Docker's daemon cannot run on this machine)."""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import ClassVar

import pytest
from namespaces import root_skip_reason, scan_until

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import ContainerInfo, Exposure, Listener, ProcessInfo, Proto, Risk
from portwatch.core.output.records import listener_record
from portwatch.core.probe import containers
from portwatch.core.probe.scanner import ListenerScanner

BUSYBOX = "/bin/busybox"  # busybox-static: runs in a rootfs without a libc
RUNTIME = ["--runtime", "runc"]  # crun refuses the hybrid cgroup layout of these machines
# The sandbox's hard limits are below Podman's defaults, which crun/runc would try to set.
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def local_podman() -> dict[str, str]:
    """The environment for podman commands: with CONTAINER_HOST set podman is a remote client."""
    return {key: value for key, value in os.environ.items() if key != "CONTAINER_HOST"}


@pytest.fixture
def podman_api(tmp_path, monkeypatch):
    reason = root_skip_reason("podman", "runc", "slirp4netns")
    if reason or not os.path.exists(BUSYBOX):
        pytest.skip(reason or f"needs {BUSYBOX} (package busybox-static)")
    path = tmp_path / "podman.sock"
    service = subprocess.Popen(["podman", *RUNTIME, "system", "service", "--time=0",
                                f"unix://{path}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not path.exists():
            assert service.poll() is None, "podman system service ended"
            assert time.monotonic() < deadline, "podman system service never listened"
            time.sleep(0.1)
        monkeypatch.setenv("CONTAINER_HOST", f"unix://{path}")
        yield path
    finally:
        service.terminate()  # our own child, by its PID
        service.wait(30)


@pytest.fixture
def busybox_rootfs(tmp_path) -> Path:
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "www").mkdir()
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for tool in ("sh", "httpd"):
        (root / "bin" / tool).symlink_to("busybox")
    (root / "www" / "index.html").write_text("pwtest\n")
    return root


def free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_podman_container_published_through_rootlessport(podman_api, busybox_rootfs):
    name = f"pwtest-ctr-{uuid.uuid4().hex[:6]}"
    port = free_port(8088)  # the example: a busybox httpd called Hadoop YARN
    started = subprocess.run(
        ["podman", *RUNTIME, "run", "-d", "--name", name, *LIMITS, "--network", "slirp4netns",
         "-p", f"127.0.0.1:{port}:80", "--rootfs", str(busybox_rootfs),
         "/bin/httpd", "-f", "-p", "80", "-h", "/www"],
        capture_output=True, text=True, timeout=180, env=local_podman())
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip().splitlines()[-1]
    scanner = ListenerScanner(all_netns=True)
    try:
        (row,) = scan_until(scanner, lambda r: r.port == port and r.netns is None,
                            "the published port")
        assert row.process.name == "rootlessport"
        # The program inside may start after the forwarder: asked again until it is seen.
        deadline = time.monotonic() + 60
        while row.container is None or row.container.inner_process is None:
            assert time.monotonic() < deadline, f"inner program never found: {row.container}"
            time.sleep(0.5)
            row = next(r for r in scanner.scan().listeners if r.port == port and r.netns is None)
        record = listener_record(row)["container"]
        assert record == {"engine": "podman", "id": cid, "name": name, "image": None,
                          "inner_process": "httpd"}
        # Inside the container's own namespace: httpd on 80, in the container's cgroup.
        inner = [r for r in scanner.scan().listeners
                 if r.netns is not None and r.port == 80 and r.container is not None
                 and r.container.id == cid]
        assert inner and inner[0].process.name == "httpd"
        assert inner[0].container.inner_process == "httpd"
        # Judged as httpd, not as the product that usually owns the host port.
        on_8088 = load_catalog().annotate(dataclasses.replace(row, port=8088))
        assert on_8088.assessment.risk is Risk.NONE
        assert on_8088.assessment.applicable == ()
        # Only the inner program's name is known ("httpd"): recognised by that name, never
        # described as YARN, the product that usually owns 8088.
        assert "YARN" not in on_8088.assessment.reason
        assert on_8088.assessment.reason == "Apache HTTP Server, recognised by its process name"
    finally:
        scanner.close()
        subprocess.run(["podman", *RUNTIME, "rm", "-f", "-t", "0", name], capture_output=True,
                       timeout=120, env=local_podman())


def test_a_forwarder_with_an_unknown_inner_program_is_hedged_and_medium_at_most():
    proxy = ProcessInfo(4321, "rootlessport", "root", "/usr/lib/podman/rootlessport",
                        ("rootlessport",))
    row = Listener(Proto.TCP, "ipv4", "0.0.0.0", 8088, Exposure.ALL_INTERFACES, proxy,
                   container=ContainerInfo("podman", "abc", "web", None, None))
    item = load_catalog().annotate(row)
    assert item.assessment.risk.rank <= Risk.MEDIUM.rank
    assert "if the listener is" in item.assessment.reason
    assert "container's published port" in item.assessment.reason


class _Recorded(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, object]] = {}  # set by a subclass per test

    def do_GET(self) -> None:
        answer = self.answers.get(self.path.split("?")[0])
        body = json.dumps(answer).encode()
        self.send_response(200 if answer is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def test_docker_proxy_against_a_recorded_docker_answer(tmp_path, monkeypatch, listener_factory):
    """Docker's daemon cannot run here: its API is a recorded answer (the shape of Docker
    Engine API 1.43's GET /containers/json and /containers/{id}/json) served on a real Unix
    socket. The forwarder is a real process named docker-proxy with docker-proxy's arguments,
    and the container's process a real listener in a real `unshare --net` namespace."""
    reason = root_skip_reason("unshare")
    if reason:
        pytest.skip(reason)
    proxy_exe = tmp_path / "docker-proxy"
    proxy_exe.symlink_to(os.path.realpath(sys.executable))
    proxy = listener_factory(executable=str(proxy_exe))
    inside = listener_factory("tcp", "0.0.0.0", prefix=("unshare", "--net"))
    cid = "8dfafdbc3a40" + "0" * 52
    answers = {
        "/containers/json": [{
            "Id": cid, "Names": ["/boring_feynman"], "Image": "nginx:1.25",
            "ImageID": "sha256:" + "1" * 64, "Command": "nginx -g 'daemon off;'",
            "State": "running", "Status": "Up 2 minutes",
            "Ports": [{"IP": "127.0.0.1", "PrivatePort": inside.port, "PublicPort": proxy.port,
                       "Type": "tcp"}],
        }],
        f"/containers/{cid}/json": {"Id": cid, "State": {"Status": "running",
                                                         "Pid": inside.pid}},
    }
    path = tmp_path / "docker.sock"
    server = _UnixHTTPServer(str(path), type("Answers", (_Recorded,), {"answers": answers}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    scanner = ListenerScanner()
    try:
        (row,) = scan_until(scanner, lambda r: r.pid == proxy.pid, "docker-proxy")
        assert row.process.name == "docker-proxy"
        assert listener_record(row)["container"] == {
            "engine": "docker", "id": cid, "name": "boring_feynman", "image": "nginx:1.25",
            "inner_process": Path(f"/proc/{inside.pid}/comm").read_text().strip()}
    finally:
        scanner.close()
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_no_engine_answering_gives_an_empty_list(tmp_path):
    assert containers.list_containers([("podman", str(tmp_path / "absent.sock"))]) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("0::/machine.slice/libpod-" + "a" * 64 + ".scope/container\n", ("podman", "a" * 64)),
    ("12:pids:/docker/" + "b" * 64 + "\n", ("docker", "b" * 64)),
    ("0::/system.slice/docker-" + "c" * 64 + ".scope\n", ("docker", "c" * 64)),
    ("0::/system.slice/docker.service\n", None),
])
def test_container_ids_in_cgroups(text, expected):
    assert containers.container_id_of_cgroup(text) == expected


@pytest.mark.parametrize(("name", "engine"), [
    ("docker-proxy", "docker"), ("rootlessport", "podman"), ("pasta.avx2", "podman"),
    ("containerd-shim-runc-v2", "docker"), ("conmon", "podman"), ("nginx", None),
])
def test_forwarders_by_process_name(name, engine):
    assert containers.forwarder_engine(name) == engine
