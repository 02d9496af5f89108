"""The `channels:` list of settings.yaml: where alerts go besides the window and the desktop.

Each item is a mapping with a `type` and that type's keys (README, "Many machines"):

    webhook  url, headers (mapping)        a JSON document of the alert, POSTed
    ntfy     url (the topic's URL), token  ntfy's plain-text publish with Title/Priority/Tags
    gotify   url (the server), token       Gotify's POST /message
    command  command (argv list or string split like a shell would, never run by one), timeout
    email    host, port, security (starttls | tls | none), username, password, from, to, timeout

and, for every type, `name` (how messages call it; default "<type> <n>") and `min_risk`
(none | low | medium | high: alerts below it are not sent; default none).

Loading never fails: an item with a mistake is skipped with a message naming the file, the
item and what is wrong; the others are used. Secrets (a token, a password, header values, a
password in a URL) belong only in a settings file no other user can read: a channel holding one
in a file readable by group or others (mode & 0o077) is not used, and the message says which
`chmod` fixes it. Messages never quote a secret, nor a URL's path (webhook URLs often carry
their token there).
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from portwatch.core.model import Risk

TYPES = ("webhook", "ntfy", "gotify", "command", "email")
SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_TIMEOUT = 10.0
MAX_CHANNELS = 32
_COMMON = {"type", "name", "min_risk"}
_KEYS = {
    "webhook": {"url", "headers", "timeout"},
    "ntfy": {"url", "token", "timeout"},
    "gotify": {"url", "token", "timeout"},
    "command": {"command", "timeout"},
    "email": {"host", "port", "security", "username", "password", "from", "to", "timeout"},
}
_REQUIRED = {"webhook": ("url",), "ntfy": ("url",), "gotify": ("url", "token"),
             "command": ("command",), "email": ("host", "from", "to")}


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One validated channel. `options` holds the type's keys with their checked values."""

    kind: str
    name: str
    min_risk: Risk = Risk.NONE
    timeout: float = DEFAULT_TIMEOUT
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def wants(self, risk: Risk) -> bool:
        return risk.rank >= self.min_risk.rank

    def where(self) -> str:
        """Where it sends, safe to show: scheme://host[:port], the SMTP server or the program."""
        if "url" in self.options:
            return safe_url(self.options["url"])
        if self.kind == "email":
            return f"smtp {self.options['host']}:{self.options['port']}"
        return self.options["command"][0]


class _Bad(ValueError):
    """One item's mistake; the message is shown after "channel N (name): "."""


def safe_url(url: str) -> str:
    """scheme://host[:port] of a URL: what may be shown (no user, password, path or query)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _text(item: dict, key: str, kind: str = "text") -> str:
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{key} must be a non-empty {kind}")
    if any(ord(ch) < 32 for ch in value):
        raise _Bad(f"{key} must not hold control characters (a line break?)")
    return value.strip()


def _url(item: dict) -> str:
    url = _text(item, "url", "URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _Bad("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Bad("url must start with http:// or https:// and name a host")
    return url


def _timeout(item: dict) -> float:
    value = item.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 300:
        raise _Bad("timeout must be a number of seconds from 1 to 300")
    return float(value)


def _addresses(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise _Bad("to must be an e-mail address or a list of them")
    for address in items:
        if not isinstance(address, str) or "@" not in address or any(
                ord(ch) < 33 or ch in ",<>" for ch in address):
            raise _Bad("to must hold plain e-mail addresses (name@example.org)")
    return tuple(items)


def _options(kind: str, item: dict) -> tuple[dict[str, Any], list[str]]:
    """The type's checked options and the names of the secrets among them."""
    options: dict[str, Any] = {}
    secrets: list[str] = []
    if kind in ("webhook", "ntfy", "gotify"):
        options["url"] = _url(item)
        if urlsplit(options["url"]).password:
            secrets.append("a password in url")
    if kind in ("ntfy", "gotify") and "token" in item:
        options["token"] = _text(item, "token")
        secrets.append("token")
    if kind == "webhook" and "headers" in item:
        headers = item["headers"]
        if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and k.strip()
                for k, v in headers.items()):
            raise _Bad("headers must be a mapping of header names to text")
        if any(ord(ch) < 32 for pair in headers.items() for ch in "".join(pair)):
            raise _Bad("headers must not hold control characters")
        options["headers"] = dict(headers)
        if headers:
            secrets.append("headers")
    if kind == "command":
        command = item["command"]
        if isinstance(command, str):
            try:
                command = shlex.split(command)
            except ValueError as exc:
                raise _Bad(f"command cannot be split into words ({exc})") from None
        if not isinstance(command, list) or not command or not all(
                isinstance(word, str) and word for word in command):
            raise _Bad("command must be a program and its arguments (a list of words)")
        options["command"] = tuple(command)
    if kind == "email":
        options["host"] = _text(item, "host")
        security = item.get("security", "starttls")
        if security not in SECURITY:
            raise _Bad(f"security must be one of {', '.join(SECURITY)}")
        options["security"] = security
        port = item.get("port", DEFAULT_PORTS[security])
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise _Bad("port must be a whole number from 1 to 65535")
        options["port"] = port
        options["from"] = _addresses(item["from"])[0]
        options["to"] = _addresses(item["to"])
        if ("username" in item) != ("password" in item):
            raise _Bad("username and password go together (give both or neither)")
        if "username" in item:
            options["username"] = _text(item, "username")
            options["password"] = _text(item, "password")
            secrets.append("password")
            if security == "none" and options["host"] not in ("localhost", "127.0.0.1", "::1"):
                raise _Bad("a password is never sent unencrypted: use security starttls or tls")
    return options, secrets


def _channel(item: Any, number: int, private: bool) -> ChannelConfig:
    if not isinstance(item, dict):
        raise _Bad("must be a mapping with a type (webhook, ntfy, gotify, command, email)")
    kind = item.get("type")
    if kind not in TYPES:
        raise _Bad(f"type must be one of {', '.join(TYPES)}")
    unknown = sorted(str(key) for key in item if key not in _COMMON | _KEYS[kind])
    if unknown:
        raise _Bad(f"unknown key(s) {', '.join(unknown)} for a {kind} channel"
                   f" (known: {', '.join(sorted(_COMMON | _KEYS[kind]))})")
    missing = [key for key in _REQUIRED[kind] if key not in item]
    if missing:
        raise _Bad(f"a {kind} channel needs {' and '.join(missing)}")
    name = _text(item, "name") if "name" in item else f"{kind} {number}"
    try:
        min_risk = Risk(item.get("min_risk", "none"))
    except ValueError:
        raise _Bad("min_risk must be one of none, low, medium, high") from None
    options, secrets = _options(kind, item)
    if secrets and not private:
        raise _Bad(f"holds a secret ({', '.join(secrets)}) in a file other users can read")
    return ChannelConfig(kind, name, min_risk, _timeout(item), options)


def _private(path: Path) -> tuple[bool, str]:
    """Whether only its owner can read the file, and its mode for the message."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return False, "unknown"
    return not mode & 0o077, f"{mode:04o}"


def parse_channels(raw: Any, path: Path) -> tuple[tuple[ChannelConfig, ...], list[str]]:
    """The valid channels of a `channels:` value and a message for each item left out."""
    if raw is None:
        return (), []
    if not isinstance(raw, list):
        return (), [f"{path}: channels must be a list of channels (- type: webhook …);"
                    " no alert channel is used"]
    private, mode = _private(path)
    channels: list[ChannelConfig] = []
    messages: list[str] = []
    for number, item in enumerate(raw[:MAX_CHANNELS], start=1):
        label = f"channel {number}"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            label += f" ({item['name'][:40]!r})"
        try:
            channels.append(_channel(item, number, private))
        except _Bad as exc:
            fix = (f" (mode {mode}; `chmod 600 {path}` fixes it)"
                   if "other users can read" in str(exc) else "")
            messages.append(f"{path}: {label} {exc}{fix}; it is not used")
    if len(raw) > MAX_CHANNELS:
        messages.append(f"{path}: only the first {MAX_CHANNELS} channels are used")
    names = [channel.name for channel in channels]
    if len(set(names)) != len(names):
        messages.append(f"{path}: two channels share a name; messages about them will be"
                        " ambiguous (give each a name)")
    return tuple(channels), messages


def load_channels(path: Path | None = None) -> tuple[tuple[ChannelConfig, ...], list[str]]:
    """The channels configured in settings.yaml (default: the user's) and messages."""
    from portwatch.core.files import paths
    from portwatch.core.store.settings import read_settings_mapping

    path = Path(path) if path is not None else paths.settings_file()
    data, problem = read_settings_mapping(path)
    if problem:
        return (), []  # load_settings already says what is wrong with the file
    return parse_channels(data.get("channels"), path)
