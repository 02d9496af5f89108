"""Deliver one alert through one channel: the payload each type expects, and the sending.

- webhook: POST of `alert_document()` as JSON (the listeners as `list --json` records).
- ntfy: POST of the body as plain text to the topic's URL, with Title, Priority (high 5,
  medium 4, low 3, none 2) and Tags headers, and `Authorization: Bearer <token>` if given.
- gotify: POST {url}/message with {"title", "message", "priority"} (high 8, medium 5, low 3,
  none 1) and the token in the X-Gotify-Key header (never in the URL, where logs keep it).
- command: the program run without a shell, the alert document as JSON on its stdin; exit
  status 0 is success; it is killed after the timeout.
- email: one message through SMTP (STARTTLS, TLS or, on loopback only with a password,
  neither), subject "[portwatch] <title>".

Every send has a timeout and raises `ChannelError` with a sentence safe to show (no secret,
no URL path). HTTP redirects are refused: following one would send the alert and its headers
to a host the settings do not name.
"""

from __future__ import annotations

import email.utils
import json
import smtplib
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

from portwatch import __version__
from portwatch.core.channels.config import ChannelConfig
from portwatch.core.model import Alert, Risk
from portwatch.core.output import records
from portwatch.core.store.history import iso_utc
from portwatch.core.text import encodable, visible

NTFY_PRIORITY = {Risk.HIGH: "5", Risk.MEDIUM: "4", Risk.LOW: "3", Risk.NONE: "2"}
GOTIFY_PRIORITY = {Risk.HIGH: 8, Risk.MEDIUM: 5, Risk.LOW: 3, Risk.NONE: 1}
USER_AGENT = f"portwatch/{__version__}"
MAX_ERROR_TEXT = 200


class ChannelError(Exception):
    """A channel could not deliver; the message names why and is safe to show."""


def alert_document(alert: Alert, host: str | None = None) -> dict[str, Any]:
    """The alert as JSON: what webhooks receive and commands read on stdin."""
    return {
        "source": "portwatch",
        "host": host or socket.gethostname(),
        "time": iso_utc(alert.created_at),
        "kind": alert.kind.value,
        "risk": alert.risk.value,
        "title": alert.title,
        "body": alert.body,
        "listeners": [records.listener_record(row) for row in alert.listeners],
    }


def _title(alert: Alert) -> str:
    """One line: a header must not carry a line break (nor control characters)."""
    return visible(alert.title, 200)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        fp.close()
        raise ChannelError(f"the server answered with a redirect (HTTP {code}); portwatch"
                           " does not follow it: put the final URL in the settings")


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(channel: ChannelConfig, url: str, data: bytes, headers: dict[str, str]) -> None:
    # config.py admits only http:// and https:// URLs
    request = urllib.request.Request(url, data=data, method="POST",  # noqa: S310
                                     headers={"User-Agent": USER_AGENT, **headers})
    try:
        with _OPENER.open(request, timeout=channel.timeout) as response:
            response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ChannelError(f"{channel.where()} answered HTTP {exc.code}"
                           f" {visible(str(exc.reason), 60)}") from None
    except urllib.error.URLError as exc:
        raise ChannelError(f"cannot reach {channel.where()}: {_reason(exc.reason)}") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, a bad header value
        raise ChannelError(f"cannot reach {channel.where()}: {_reason(exc)}") from None


def _reason(exc: Any) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return visible(text, MAX_ERROR_TEXT)


def send_webhook(channel: ChannelConfig, alert: Alert) -> None:
    data = json.dumps(alert_document(alert)).encode("utf-8")
    headers = {"Content-Type": "application/json", **channel.options.get("headers", {})}
    _post(channel, channel.options["url"], data, headers)


def send_ntfy(channel: ChannelConfig, alert: Alert) -> None:
    headers = {"Title": _title(alert), "Priority": NTFY_PRIORITY[alert.risk],
               "Tags": f"portwatch,risk-{alert.risk.value}",
               "Content-Type": "text/plain; charset=utf-8"}
    if "token" in channel.options:
        headers["Authorization"] = f"Bearer {channel.options['token']}"
    # ntfy reads header values as Latin-1 unless told otherwise: RFC 2047 keeps any title.
    headers["Title"] = _rfc2047(headers["Title"])
    _post(channel, channel.options["url"], encodable(alert.body).encode("utf-8"), headers)


def _rfc2047(text: str) -> str:
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        from email.header import Header

        return Header(text, "utf-8").encode()
    return text


def send_gotify(channel: ChannelConfig, alert: Alert) -> None:
    url = channel.options["url"].rstrip("/") + "/message"
    data = json.dumps({"title": _title(alert), "message": encodable(alert.body),
                       "priority": GOTIFY_PRIORITY[alert.risk]}).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Gotify-Key": channel.options["token"]}
    _post(channel, url, data, headers)


def send_command(channel: ChannelConfig, alert: Alert) -> None:
    argv = list(channel.options["command"])
    data = json.dumps(alert_document(alert)).encode("utf-8")
    try:
        done = subprocess.run(argv, input=data, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=channel.timeout, check=False)
    except FileNotFoundError:
        raise ChannelError(f"the program {argv[0]!r} does not exist") from None
    except PermissionError:
        raise ChannelError(f"the program {argv[0]!r} cannot be run (permission denied)") from None
    except subprocess.TimeoutExpired:
        raise ChannelError(f"{argv[0]!r} did not finish within {channel.timeout:g} s and"
                           " was killed") from None
    except OSError as exc:
        raise ChannelError(f"{argv[0]!r} could not start: {_reason(exc)}") from None
    if done.returncode != 0:
        said = visible(done.stderr.decode("utf-8", "replace").strip()[-MAX_ERROR_TEXT:])
        raise ChannelError(f"{argv[0]!r} ended with status {done.returncode}"
                           + (f": {said}" if said else ""))


def email_message(channel: ChannelConfig, alert: Alert, host: str | None = None) -> EmailMessage:
    message = EmailMessage()
    where = host or socket.gethostname()
    message["Subject"] = f"[portwatch] {_title(alert)} on {visible(where, 60)}"
    message["From"] = channel.options["from"]
    message["To"] = ", ".join(channel.options["to"])
    message["Date"] = email.utils.formatdate(alert.created_at, localtime=False)
    message["Message-ID"] = email.utils.make_msgid("portwatch")
    message["X-Portwatch-Risk"] = alert.risk.value
    lines = [encodable(alert.body), "", f"Host: {where}", f"Time: {iso_utc(alert.created_at)}",
             f"Risk: {alert.risk.value}"]
    message.set_content("\n".join(lines))
    return message


def send_email(channel: ChannelConfig, alert: Alert) -> None:
    options = channel.options
    security = options["security"]
    context = ssl.create_default_context()
    try:
        if security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(options["host"], options["port"],
                                                    timeout=channel.timeout, context=context)
        else:
            client = smtplib.SMTP(options["host"], options["port"], timeout=channel.timeout)
        with client:
            if security == "starttls":
                client.starttls(context=context)
            if "username" in options:
                client.login(options["username"], options["password"])
            client.send_message(email_message(channel, alert))
    except smtplib.SMTPAuthenticationError as exc:
        raise ChannelError(f"{channel.where()} refused the login (SMTP {exc.smtp_code})") from None
    except smtplib.SMTPNotSupportedError:
        raise ChannelError(f"{channel.where()} does not offer STARTTLS; set security: tls,"
                           " or none for a server on this machine") from None
    except smtplib.SMTPResponseException as exc:
        raise ChannelError(f"{channel.where()} answered SMTP {exc.smtp_code}") from None
    except smtplib.SMTPRecipientsRefused:
        raise ChannelError(f"{channel.where()} refused every recipient") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise ChannelError(f"cannot send through {channel.where()}: {_reason(exc)}") from None


SENDERS = {"webhook": send_webhook, "ntfy": send_ntfy, "gotify": send_gotify,
           "command": send_command, "email": send_email}


def send(channel: ChannelConfig, alert: Alert) -> None:
    """Deliver `alert` through `channel`, or raise ChannelError."""
    SENDERS[channel.kind](channel, alert)
