"""Listener churn for the soak test: opens and closes about RATE listeners a second on
127.0.0.1 (TCP, and one in five UDP) for DURATION seconds, never more than MAX_OPEN at once,
and logs every listener's life as one JSON line: {"proto", "port", "opened", "closed"} with
time.time() values. Ends by itself (at the deadline, or when its parent is gone) after closing
everything; the last line is {"done": true, "generated": N}.

    python churn.py LOG DURATION [RATE] [MAX_OPEN] [FIRST_PORT] [PORTS]

Ports are taken in turn from FIRST_PORT .. FIRST_PORT+PORTS-1 (a port in use by another
program is skipped), so one port comes back only after the others had their turn.
"""

from __future__ import annotations

import errno
import heapq
import json
import os
import random
import socket
import sys
import time

HOST = "127.0.0.1"  # loopback only, always


def main(argv: list[str]) -> int:
    log_path = argv[1]
    duration = float(argv[2])
    rate = float(argv[3]) if len(argv) > 3 else 100.0
    max_open = int(argv[4]) if len(argv) > 4 else 200
    first_port = int(argv[5]) if len(argv) > 5 else 20000
    ports = int(argv[6]) if len(argv) > 6 else 10000
    rng = random.Random(1234)
    parent = os.getppid()
    start = time.time()
    deadline = start + duration
    open_now: list[tuple[float, int, socket.socket, str, int, float]] = []  # heap by close
    serial = 0
    generated = 0
    next_port = 0
    with open(log_path, "w", buffering=1) as log:
        def close(entry) -> None:
            _due, _serial, sock, proto, port, opened = entry
            closed = time.time()
            sock.close()
            log.write(json.dumps({"proto": proto, "port": port, "opened": opened,
                                  "closed": closed}) + "\n")

        tick = 1.0 / rate
        next_open = start
        print("started", flush=True)
        while time.time() < deadline and os.getppid() == parent:
            now = time.time()
            while open_now and open_now[0][0] <= now:
                close(heapq.heappop(open_now))
            while next_open <= now:
                next_open += tick
                if len(open_now) >= max_open:
                    close(heapq.heappop(open_now))
                proto = "udp" if rng.random() < 0.2 else "tcp"
                for _attempt in range(20):
                    port = first_port + next_port
                    next_port = (next_port + 1) % ports
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp"
                                         else socket.SOCK_STREAM)
                    try:
                        sock.bind((HOST, port))
                        if proto == "tcp":
                            sock.listen(1)
                    except OSError as exc:
                        sock.close()
                        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                            continue  # another program's port: take the next one
                        raise
                    opened = time.time()
                    # Some die before any poll can see them, most live across a few.
                    life = rng.choice((rng.uniform(0.01, 0.3), rng.uniform(0.3, 3.0),
                                       rng.uniform(0.3, 3.0)))
                    serial += 1
                    heapq.heappush(open_now, (opened + life, serial, sock, proto, port, opened))
                    generated += 1
                    break
            time.sleep(max(0.0, min(next_open, open_now[0][0] if open_now else next_open)
                           - time.time()))
        while open_now:
            close(heapq.heappop(open_now))
        log.write(json.dumps({"done": True, "generated": generated,
                              "seconds": time.time() - start}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
