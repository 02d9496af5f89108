"""Real local receivers for the alert-channel tests, on 127.0.0.1 only: an HTTP server that
records each request (and answers as told), and a small SMTP server (socketserver; the
standard library's smtpd is deprecated and aiosmtpd is not installed) that speaks enough of
RFC 5321 for smtplib: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

from __future__ import annotations

import base64
import http.server
import queue
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """ThreadingHTTPServer on 127.0.0.1; `requests` gets every request; `status` (and
    `location`) say how to answer; `hold` (an Event) keeps answers back until set."""

    def __init__(self) -> None:
        self.requests: queue.Queue[Request] = queue.Queue()
        self.status = 200
        self.location: str | None = None
        self.hold: threading.Event | None = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.put(Request("POST", self.path, dict(self.headers), body))
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def next(self, timeout: float = 30.0) -> Request:
        return self.requests.get(timeout=timeout)


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: tuple[str, str] | None
    tls: bool


@dataclass
class SmtpReceiver:
    """An SMTP server on 127.0.0.1. `context` (server side) enables STARTTLS; `password`
    is what AUTH PLAIN must carry (any user)."""

    context: ssl.SSLContext | None = None
    password: str | None = None
    mails: queue.Queue = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def finish(self) -> None:
                super().finish()
                if isinstance(self.connection, ssl.SSLSocket):  # the server closes the plain one
                    self.connection.close()

            def handle(self) -> None:
                self.reply("220 pwtest ESMTP")
                self.tls = False
                self.login: tuple[str, str] | None = None
                self.sender, self.rcpts = "", []
                while True:
                    line = self.rfile.readline(4096)
                    if not line:
                        return
                    verb, _, arg = line.decode().strip().partition(" ")
                    if not self.command(verb.upper(), arg):
                        return

            def command(self, verb: str, arg: str) -> bool:
                if verb in ("EHLO", "HELO"):
                    extensions = ["250-pwtest"]
                    if receiver.context is not None and not self.tls:
                        extensions.append("250-STARTTLS")
                    extensions.append("250 AUTH PLAIN")
                    for line in extensions:
                        self.reply(line)
                elif verb == "STARTTLS" and receiver.context is not None:
                    self.reply("220 go ahead")
                    try:
                        wrapped = receiver.context.wrap_socket(self.connection,
                                                               server_side=True)
                    except (ssl.SSLError, OSError):  # the client refused our certificate
                        return False
                    self.connection = self.request = wrapped
                    self.rfile = wrapped.makefile("rb")
                    self.wfile = wrapped.makefile("wb")
                    self.tls = True
                elif verb == "AUTH":
                    _, _, blob = arg.partition(" ")
                    _, user, password = base64.b64decode(blob).decode().split("\0")
                    if password != receiver.password:
                        self.reply("535 5.7.8 authentication failed")
                    else:
                        self.login = (user, password)
                        self.reply("235 ok")
                elif verb == "MAIL":
                    if receiver.password is not None and self.login is None:
                        self.reply("530 5.7.0 authentication required")
                    else:
                        self.sender = arg.partition(":")[2].strip("<> ")
                        self.reply("250 ok")
                elif verb == "RCPT":
                    self.rcpts.append(arg.partition(":")[2].strip("<> "))
                    self.reply("250 ok")
                elif verb == "DATA":
                    self.reply("354 end with .")
                    lines = []
                    while (line := self.rfile.readline()) not in (b".\r\n", b""):
                        lines.append(line[1:] if line.startswith(b"..") else line)
                    message = message_from_bytes(b"".join(lines), policy=policy.default)
                    receiver.mails.put(Mail(self.sender, self.rcpts, message, self.login,
                                            self.tls))
                    self.sender, self.rcpts = "", []
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return False
                elif verb in ("RSET", "NOOP"):
                    self.reply("250 ok")
                else:
                    self.reply("502 not implemented")
                return True

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SmtpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
