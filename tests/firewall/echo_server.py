"""Echo server for the firewall lab: answers every TCP connection and UDP datagram on the given
ports (both IPv4 and IPv6) with its name, so a probe knows who answered. Prints "ready" once
bound; runs until terminated."""

import selectors
import socket
import sys


def main() -> None:
    answer = sys.argv[1].encode()
    sel = selectors.DefaultSelector()
    for spec in sys.argv[2:]:
        proto, port = spec.split(":")
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET6, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", int(port)))
        if proto == "tcp":
            sock.listen(64)
        sel.register(sock, selectors.EVENT_READ, proto)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if key.data == "tcp":
                conn, _ = sock.accept()
                with conn:
                    conn.sendall(answer)
            else:
                _, peer = sock.recvfrom(512)
                sock.sendto(answer, peer)


if __name__ == "__main__":
    main()
