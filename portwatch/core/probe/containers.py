"""Which container a listener belongs to: engine, id, name, image, and what answers inside.

A published container port is held on the host by a forwarder — Docker's `docker-proxy`,
Podman's `rootlessport`, `slirp4netns` or `pasta`, a `conmon` or `containerd-shim` — or, with
host networking, by a process inside the container's cgroup (`libpod-<id>.scope`,
`docker-<id>.scope`, `/docker/<id>`). The engine's own REST API over its Unix socket (the
Docker-compatible `GET /containers/json`, which Podman's `podman system service` also serves)
says which container publishes the port: its id, name and image. Where root can, the program
that really answers is found inside the container's network namespace: the listener on the
container port there and the process holding it. The sockets are `DOCKER_HOST` and
`CONTAINER_HOST` when they name a `unix://` path, else the engines' usual places.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from typing import Any

from portwatch.core.model import ContainerInfo

log = logging.getLogger(__name__)

FORWARDERS = {
    "docker-proxy": "docker",
    "rootlessport": "podman",
    "rootlessport-child": "podman",
    "slirp4netns": "podman",
    "pasta": "podman",
    "pasta.avx2": "podman",
    "conmon": "podman",
    "containerd-shim": "docker",
}
def forwarder_engine(name: str) -> str | None:
    """The engine whose forwarder or monitor a process name is ("containerd-shim-runc-v2" too)."""
    engine = FORWARDERS.get(name)
    if engine is None and name.startswith("containerd-shim"):
        engine = "docker"
    return engine


_CGROUP_ID = re.compile(r"(libpod|docker)[-/]([0-9a-f]{64})(?:\.scope)?(?:/|$)")
_TIMEOUT = 2.0
_MAX_ANSWER = 16 << 20


def engine_sockets() -> list[tuple[str, str]]:
    """(engine, unix socket path) to ask, the user's choice (DOCKER_HOST, CONTAINER_HOST) first."""
    found: list[tuple[str, str]] = []
    for engine, variable in (("docker", "DOCKER_HOST"), ("podman", "CONTAINER_HOST")):
        value = os.environ.get(variable, "")
        if value.startswith("unix://"):
            found.append((engine, value.removeprefix("unix://")))
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    found += [("podman", "/run/podman/podman.sock"), ("docker", "/var/run/docker.sock")]
    if runtime:
        found.append(("podman", f"{runtime}/podman/podman.sock"))
    seen: set[str] = set()
    return [(e, p) for e, p in found if not (p in seen or seen.add(p))]


def _unix_connection(path: str) -> Any:
    """An http.client connection over the Unix socket `path` (http.client, with the email
    package it loads, costs tens of milliseconds to import: only when an engine is asked)."""
    import http.client

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(_TIMEOUT)
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            self.sock = sock

    return UnixConnection("localhost", timeout=_TIMEOUT)


def api_get(path: str, url: str) -> Any:
    """GET url from the engine listening on the Unix socket `path`; the decoded JSON. Raises
    OSError (no engine there, refused) or ValueError (not a JSON answer)."""
    import http.client

    conn = _unix_connection(path)
    try:
        conn.request("GET", url, headers={"Host": "localhost"})
        answer = conn.getresponse()
        body = answer.read(_MAX_ANSWER + 1)
        if answer.status != 200:
            raise ValueError(f"{url}: HTTP {answer.status}")
        if len(body) > _MAX_ANSWER:
            raise ValueError(f"{url}: answer too large")
        return json.loads(body)
    except http.client.HTTPException as exc:
        raise OSError(f"{url}: {exc}") from exc
    finally:
        conn.close()


def container_id_of_cgroup(text: str) -> tuple[str, str] | None:
    """(engine, id) when /proc/<pid>/cgroup puts the process inside a container."""
    match = _CGROUP_ID.search(text)
    if match is None:
        return None
    return ("podman" if match.group(1) == "libpod" else "docker"), match.group(2)


class Published:
    """One container as the engine lists it, with the host ports it publishes."""

    def __init__(self, engine: str, item: dict) -> None:
        self.engine = engine
        self.id = str(item.get("Id") or "")
        names = item.get("Names") or []
        self.name = str(names[0]).lstrip("/") if names else None
        self.image = str(item.get("Image")) if item.get("Image") else None
        # (proto, host port) -> container port
        self.ports: dict[tuple[str, int], int] = {}
        for port in item.get("Ports") or []:
            try:
                public = int(port.get("PublicPort") or 0)
                private = int(port.get("PrivatePort") or 0)
            except (TypeError, ValueError):
                continue
            if public:
                self.ports[(str(port.get("Type") or "tcp"), public)] = private

    def info(self, inner: str | None = None) -> ContainerInfo:
        return ContainerInfo(self.engine, self.id, self.name, self.image, inner)


def list_containers(sockets: list[tuple[str, str]] | None = None) -> list[Published]:
    """Every running container of every engine that answers (none: an empty list)."""
    found: list[Published] = []
    for engine, path in sockets if sockets is not None else engine_sockets():
        if not os.path.exists(path):
            continue
        try:
            answer = api_get(path, "/containers/json")
        except (OSError, ValueError) as exc:
            log.debug("%s at %s did not answer: %s", engine, path, exc)
            continue
        if isinstance(answer, list):
            found += [Published(engine, item) for item in answer if isinstance(item, dict)]
    return found


def container_pid(engine_path: str, container_id: str) -> int | None:
    """The container's main process on the host (State.Pid), or None."""
    try:
        answer = api_get(engine_path, f"/containers/{container_id}/json")
        pid = int(answer["State"]["Pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid or None


def inner_process(pid: int, port: int, proto: str, proc: str = "/proc") -> str | None:
    """Name of the process listening on `port` inside the network namespace of `pid` (root
    only: entering a namespace needs CAP_SYS_ADMIN); None when it cannot be told."""
    from portwatch.core.probe.nsenter import KeptSockDiag, open_inside
    from portwatch.core.probe.sockdiag import NETLINK_SOCK_DIAG

    path = f"{proc}/{pid}/ns/net"
    try:
        target = os.stat(path).st_ino
        (sock,) = open_inside(path, NETLINK_SOCK_DIAG)
    except OSError as exc:
        log.debug("cannot look inside the namespace of %s: %s", pid, exc)
        return None
    diag = KeptSockDiag(sock)
    try:
        inodes = {item.inode for item in diag.listeners()
                  if item.port == port and item.proto.value == proto}
    except OSError:
        return None
    finally:
        diag.release()
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"{proc}/{name}/ns/net").st_ino != target:
                continue
            for fd in os.listdir(f"{proc}/{name}/fd"):
                if os.readlink(f"{proc}/{name}/fd/{fd}") in wanted:
                    with open(f"{proc}/{name}/comm") as handle:
                        return handle.read().strip()
        except OSError:
            continue
    return None
