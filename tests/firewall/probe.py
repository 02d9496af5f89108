"""Real connection attempts for the firewall lab, all at once: each target "tcp:ADDR:PORT" or
"udp:ADDR:PORT" ends as "accept:<who answered>", "reject" (refused, ICMP error) or "drop" (no
answer within the timeout). Prints one JSON object."""

import json
import socket
import sys
import threading


def attempt(target: str, timeout: float) -> str:
    proto, rest = target.split(":", 1)
    addr, port = rest.rsplit(":", 1)
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((addr, int(port)))
            if proto == "udp":
                sock.send(b"ping")
            return "accept:" + sock.recv(64).decode()
        except TimeoutError:
            return "drop"
        except OSError:  # refused, host/admin unreachable: an ICMP error or a reset came back
            return "reject"


def main() -> None:
    timeout = float(sys.argv[1])
    results = {}

    def run(target: str) -> None:
        results[target] = attempt(target, timeout)

    threads = [threading.Thread(target=run, args=(t,)) for t in sys.argv[2:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
