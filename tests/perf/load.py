"""The standard scanning load: ~2,000 listeners, ~400 processes, ~35,000 open fds, loopback only.

40 listener processes × (40 TCP on 127.0.0.1 + 10 TCP on ::1 + 5 UDP) with 5 established
loopback connection pairs each (200 pairs), and 300 idle processes × ~100 fds (pipes, /dev/null,
a file). The two kinds are started interleaved, so neither sits at the top of the pid range.

Bounded: every child exits when its controller goes away (it blocks reading a lifeline pipe whose
only writer is the controller) and after `ttl` seconds at the latest (SIGALRM); the controller ends
its children by PID. Use it as a context manager:

    with StandardLoad() as load:
        pid, port = load.spawn_listener()   # one more listener in a new process
        load.stop(pid)

or as a script: `python tests/perf/load.py [--ttl S]` starts the load and keeps it until Enter or
Ctrl-C (or the ttl). Internally the context manager runs this file with `--serve`: a controller
process that forks the children and answers `spawn` / `stop PID` lines on its stdin.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

LISTENER_PROCS = 40
TCP4_PER_PROC = 40
TCP6_PER_PROC = 10
UDP_PER_PROC = 5  # 3 on 127.0.0.1, 2 on ::1
PAIRS_PER_PROC = 5  # 40 × 5 = 200 established loopback pairs
IDLE_PROCS = 300
IDLE_PIPES = 40  # 80 fds
IDLE_FILES = 17  # + /dev/null and a temp file: ~100 fds with stdio and the lifeline

DEFAULT_TTL = 900.0  # seconds: the load never outlives this


def _raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _bind(family: int, kind: int, host: str) -> socket.socket:
    sock = socket.socket(family, kind)
    sock.bind((host, 0))
    if kind == socket.SOCK_STREAM:
        sock.listen(16)
    return sock


def _listener_child(keep: list) -> None:
    """50 TCP listeners, 5 UDP sockets, 5 established pairs (to its own first listener)."""
    for _ in range(TCP4_PER_PROC):
        keep.append(_bind(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"))
    for _ in range(TCP6_PER_PROC):
        keep.append(_bind(socket.AF_INET6, socket.SOCK_STREAM, "::1"))
    for i in range(UDP_PER_PROC):
        v6 = i >= 3
        keep.append(_bind(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM,
                          "::1" if v6 else "127.0.0.1"))
    server = keep[0]
    for _ in range(PAIRS_PER_PROC):
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        keep += [client, peer]


def _idle_child(keep: list, path: str) -> None:
    for _ in range(IDLE_PIPES):
        keep.extend(os.pipe())
    for i in range(IDLE_FILES):
        keep.append(os.open(os.devnull if i % 2 else path, os.O_RDONLY))


def _one_listener_child(keep: list, report: int) -> None:
    sock = _bind(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1")
    listening_at = time.monotonic()  # system-wide clock: comparable with other processes'
    keep.append(sock)
    os.write(report, f"{sock.getsockname()[1]} {listening_at}\n".encode())


def _fork(role, lifeline_r: int, lifeline_w: int, ready_w: int, ttl: float, *args) -> int:
    """Fork one child that runs role(keep, *args), says ready, then waits for the lifeline."""
    pid = os.fork()
    if pid:
        return pid
    status = 0
    try:
        os.close(lifeline_w)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(1, int(ttl)))
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        _raise_nofile(4096)
        keep: list = []
        role(keep, *args)
        os.write(ready_w, b"+")
        os.close(ready_w)
        os.read(lifeline_r, 1)  # returns (EOF) when the controller exits or closes the lifeline
    except BaseException:
        status = 1
        with contextlib.suppress(OSError):
            os.write(ready_w, b"!")
    os._exit(status)


def serve(ttl: float, seed: int = 7) -> int:
    """The controller: start the load, print one JSON line, then answer commands on stdin."""
    deadline = time.monotonic() + ttl
    signal.signal(signal.SIGALRM, _expired)
    signal.alarm(max(1, int(ttl)) + 5)
    lifeline_r, lifeline_w = os.pipe()
    ready_r, ready_w = os.pipe()
    fd, path = tempfile.mkstemp(prefix="portwatch-load-")
    os.close(fd)
    roles = ["listener"] * LISTENER_PROCS + ["idle"] * IDLE_PROCS
    random.Random(seed).shuffle(roles)  # interleaved pids: no kind sits at the top
    children: dict[int, str] = {}
    try:
        for role in roles:
            if role == "listener":
                pid = _fork(_listener_child, lifeline_r, lifeline_w, ready_w, ttl)
            else:
                pid = _fork(_idle_child, lifeline_r, lifeline_w, ready_w, ttl, path)
            children[pid] = role
        got = b""
        ready_by = time.monotonic() + 120
        while len(got) < len(roles) and time.monotonic() < ready_by:
            if select.select([ready_r], [], [], 1.0)[0]:
                got += os.read(ready_r, 4096)
        failed = len(roles) - got.count(b"+")
        print(json.dumps({"pids": sorted(children), "failed": failed,
                          "listener_pids": sorted(p for p, r in children.items()
                                                  if r == "listener")}), flush=True)
        for line in sys.stdin:
            if time.monotonic() > deadline:
                break
            words = line.split()
            if words[:1] == ["spawn"]:
                report_r, report_w = os.pipe()
                pid = _fork(_one_listener_child, lifeline_r, lifeline_w, ready_w,
                            deadline - time.monotonic(), report_w)
                os.close(report_w)
                words = os.read(report_r, 64).split(b"\n")[0].split()
                os.close(report_r)
                port, listening_at = (int(words[0]), float(words[1])) if words else (0, 0.0)
                children[pid] = "spawned"
                print(json.dumps({"pid": pid, "port": port, "listening_at": listening_at}),
                      flush=True)
            elif words[:1] == ["stop"] and len(words) == 2 and int(words[1]) in children:
                pid = int(words[1])
                _end([pid])
                del children[pid]
                print(json.dumps({"stopped": pid}), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
    finally:
        os.close(lifeline_w)  # every child sees EOF and exits on its own...
        _end(list(children))  # ...and is ended by PID anyway
        os.unlink(path)
    return 0


class _Expired(Exception):
    pass


def _expired(signum, frame):
    raise _Expired("the load reached its time limit")


def _end(pids: list[int], grace: float = 5.0) -> None:
    """Terminate our own children by PID and reap them."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    pending = set(pids)
    while pending:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                pending.discard(pid)
        if pending and time.monotonic() > deadline:
            for pid in pending:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        if pending:
            time.sleep(0.01)


class StandardLoad:
    """Context manager around the controller process (started with this file's --serve)."""

    def __init__(self, ttl: float = DEFAULT_TTL, python: str = sys.executable) -> None:
        self.ttl = ttl
        self.python = python
        self.proc: subprocess.Popen | None = None
        self.pids: list[int] = []
        self.listener_pids: list[int] = []

    def __enter__(self) -> StandardLoad:
        self.proc = subprocess.Popen(
            [self.python, os.path.abspath(__file__), "--serve", "--ttl", str(self.ttl)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError("the load controller exited before the load was ready")
        info = json.loads(line)
        self.pids, self.listener_pids = info["pids"], info["listener_pids"]
        if info["failed"]:
            self.__exit__(None, None, None)
            raise RuntimeError(f"{info['failed']} load processes failed to start")
        return self

    def _ask(self, command: str) -> dict:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def spawn_listener(self) -> tuple[int, int]:
        """One more process with one TCP listener on 127.0.0.1: (pid, port) once it listens."""
        pid, port, _listening_at = self.spawn_listener_at()
        return pid, port

    def spawn_listener_at(self) -> tuple[int, int, float]:
        """spawn_listener(), and the `time.monotonic()` just after its bind() and listen()
        (CLOCK_MONOTONIC is system-wide on Linux: comparable with other processes' times)."""
        answer = self._ask("spawn")
        return answer["pid"], answer["port"], answer["listening_at"]

    def stop(self, pid: int) -> None:
        self._ask(f"stop {pid}")

    def __exit__(self, *exc) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.stdin.close()  # the controller ends its children by PID and exits
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its PID; its children see the lifeline close
            proc.wait(5)
        proc.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ttl", type=float, default=DEFAULT_TTL, help="seconds the load lives")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        try:
            return serve(args.ttl)
        except _Expired:
            return 0
    with StandardLoad(ttl=args.ttl) as load:
        print(f"standard load running: {len(load.pids)} processes"
              f" ({len(load.listener_pids)} with listeners); Enter or Ctrl-C ends it", flush=True)
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            input()
    return 0


if __name__ == "__main__":
    sys.exit(main())
