"""Alert channels against real receivers on 127.0.0.1: a webhook (generic JSON, ntfy and
Gotify), a command fed the alert on stdin, e-mail through SMTP (plain on loopback with AUTH,
and STARTTLS with a certificate the test makes); the rate limit folds a burst; a failing
channel is reported once, recovers, and never holds up whoever submits; secrets stay in a
private settings file and out of every message; `watch` delivers its alerts end to end."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml
from fleet import annotated, portwatch_env, wait_until
from receivers import HttpReceiver, SmtpReceiver

from portwatch.core.channels import Channels, load_channels
from portwatch.core.channels.config import ChannelConfig, parse_channels
from portwatch.core.channels.send import ChannelError, send
from portwatch.core.model import Alert, AlertKind, Risk
from portwatch.core.store.settings import Settings, load_settings, save_settings

SECRET = "s3cret-Tok3n"  # noqa: S105 - the tests' own made-up secret


def alert(port: int = 2375, risk: Risk = Risk.HIGH, name: str = "dockerd") -> Alert:
    row = annotated(name, port, risk)
    return Alert(AlertKind.OPENED, (row,), risk, 1_700_000_000.0,
                 f"New listener: port {port}/tcp ({name})", f"{name} on tcp 0.0.0.0:{port}")


def channel(items: list[dict], tmp_path: Path, mode: int = 0o600) -> list[ChannelConfig]:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"channels": items}))
    path.chmod(mode)
    channels, messages = parse_channels(items, path)
    assert messages == []
    return list(channels)


class Collector:
    """The report callback: every sentence a channel says."""

    def __init__(self) -> None:
        self.said: queue.Queue[str] = queue.Queue()

    def __call__(self, text: str) -> None:
        self.said.put(text)

    def next(self) -> str:
        return self.said.get(timeout=30)


# -- settings -----------------------------------------------------------------------------------


def test_settings_keep_channels_and_check_each(tmp_path):
    path = tmp_path / "settings.yaml"
    items = [
        {"type": "webhook", "url": "https://hooks.example.org/T0/" + SECRET, "name": "ops"},
        {"type": "gotify", "url": "https://gotify.example.org"},  # no token
        {"type": "email", "host": "mail.example.org", "security": "none", "from": "pw@x.org",
         "to": "me@x.org", "username": "me", "password": SECRET},  # a password in clear text
        {"type": "command", "command": "notify-ops --urgent", "min_risk": "medium"},
        {"type": "pager"},
        {"type": "ntfy", "url": "file:///etc/passwd"},
    ]
    path.write_text(yaml.safe_dump({"poll_interval": 3, "channels": items}))
    path.chmod(0o600)
    settings, messages = load_settings(path)
    assert messages == [] and settings.poll_interval == 3  # channels are not an unknown key
    channels, messages = load_channels(path)
    assert [c.name for c in channels] == ["ops", "command 4"]
    assert channels[1].options["command"] == ("notify-ops", "--urgent")
    assert channels[1].min_risk is Risk.MEDIUM and not channels[1].wants(Risk.LOW)
    assert len(messages) == 4
    assert "channel 2 a gotify channel needs token" in messages[0]
    assert "never sent unencrypted" in messages[1]
    assert "type must be one of" in messages[2]
    assert "http:// or https://" in messages[3]
    assert not any(SECRET in message for message in messages)
    assert channels[0].where() == "https://hooks.example.org"  # no path: it holds the token
    # Preferences saves the settings: the channels stay as they were.
    save_settings(Settings(poll_interval=5.0), path)
    assert yaml.safe_load(path.read_text())["channels"] == items


def test_a_secret_in_a_file_others_can_read_is_not_used(tmp_path):
    path = tmp_path / "settings.yaml"
    items = [{"type": "ntfy", "url": "https://ntfy.example.org/alerts", "token": SECRET},
             {"type": "ntfy", "url": "https://ntfy.example.org/public"}]
    path.write_text(yaml.safe_dump({"channels": items}))
    path.chmod(0o644)
    channels, messages = load_channels(path)
    assert [c.options["url"] for c in channels] == ["https://ntfy.example.org/public"]
    (message,) = messages
    assert "holds a secret (token)" in message and f"chmod 600 {path}" in message
    assert "mode 0644" in message and SECRET not in message
    path.chmod(0o600)
    assert len(load_channels(path)[0]) == 2


def test_saved_settings_are_private(tmp_path):
    path = tmp_path / "new" / "settings.yaml"
    save_settings(Settings(), path)
    assert path.stat().st_mode & 0o077 == 0


# -- webhooks -----------------------------------------------------------------------------------


def test_generic_webhook_posts_the_alert_as_json(tmp_path):
    with HttpReceiver() as server:
        (hook,) = channel([{"type": "webhook", "url": server.url + "/hook/" + SECRET,
                            "headers": {"Authorization": "Bearer " + SECRET}}], tmp_path)
        send(hook, alert())
        request = server.next()
    assert request.path == "/hook/" + SECRET
    assert request.headers["Authorization"] == "Bearer " + SECRET
    assert request.headers["Content-Type"] == "application/json"
    document = json.loads(request.body)
    assert document["source"] == "portwatch" and document["risk"] == "high"
    assert document["title"] == "New listener: port 2375/tcp (dockerd)"
    (listener,) = document["listeners"]
    assert (listener["port"], listener["process"], listener["exposure"]) == (
        2375, "dockerd", "all-interfaces")


def test_ntfy_and_gotify_formats(tmp_path):
    hostile = alert(name="evil\nTitle: x")
    with HttpReceiver() as server:
        ntfy, gotify = channel([
            {"type": "ntfy", "url": server.url + "/portwatch", "token": SECRET},
            {"type": "gotify", "url": server.url + "/", "token": SECRET}], tmp_path)
        send(ntfy, hostile)
        first = server.next()
        send(gotify, alert(risk=Risk.MEDIUM))
        second = server.next()
    assert first.path == "/portwatch"
    assert first.headers["Priority"] == "5" and first.headers["Tags"] == "portwatch,risk-high"
    assert first.headers["Authorization"] == "Bearer " + SECRET
    assert first.headers["Title"] == "New listener: port 2375/tcp (evil\\x0aTitle: x)"
    assert "Title: x" not in [line.strip() for line in first.headers.values()]
    assert first.body.decode() == "evil\nTitle: x on tcp 0.0.0.0:2375"
    assert second.path == "/message" and second.headers["X-Gotify-Key"] == SECRET
    assert json.loads(second.body) == {"title": "New listener: port 2375/tcp (dockerd)",
                                       "message": "dockerd on tcp 0.0.0.0:2375", "priority": 5}


def test_redirects_and_errors_are_clear_and_never_followed(tmp_path):
    with HttpReceiver() as server, HttpReceiver() as elsewhere:
        server.status, server.location = 302, elsewhere.url + "/stolen"
        (hook,) = channel([{"type": "webhook", "url": server.url + "/x/" + SECRET,
                            "headers": {"X-Key": SECRET}}], tmp_path)
        with pytest.raises(ChannelError, match="redirect") as caught:
            send(hook, alert())
        server.next()
        server.status, server.location = 503, None
        with pytest.raises(ChannelError, match="HTTP 503") as failed:
            send(hook, alert())
        assert elsewhere.requests.empty()
    for exc in (caught.value, failed.value):
        assert SECRET not in str(exc) and "/x/" not in str(exc)


# -- command ------------------------------------------------------------------------------------


def test_command_gets_the_alert_on_stdin_and_its_failure_is_said(tmp_path):
    out = tmp_path / "got.json"
    script = tmp_path / "page-me"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        data = sys.stdin.read()
        if "fail" in sys.argv:
            print("pager quota exceeded", file=sys.stderr)
            sys.exit(3)
        open({str(out)!r}, "w").write(data)
        """))
    script.chmod(0o755)
    good, bad, missing = channel([
        {"type": "command", "command": [str(script), "it's ok; rm -rf /"]},
        {"type": "command", "command": [str(script), "fail"]},
        {"type": "command", "command": [str(tmp_path / "nothing-here")]}], tmp_path)
    send(good, alert())
    assert json.loads(out.read_text())["listeners"][0]["pid"] == 4242
    with pytest.raises(ChannelError, match="ended with status 3: pager quota exceeded"):
        send(bad, alert())
    with pytest.raises(ChannelError, match="does not exist"):
        send(missing, alert())


# -- e-mail -------------------------------------------------------------------------------------


def test_email_through_smtp_with_login(tmp_path):
    with SmtpReceiver(password=SECRET) as server:
        (mail,) = channel([{"type": "email", "host": "127.0.0.1", "port": server.port,
                            "security": "none", "username": "pw", "password": SECRET,
                            "from": "portwatch@example.org",
                            "to": ["a@example.org", "b@example.org"]}], tmp_path)
        send(mail, alert(name="x\r\nBcc: victim@example.org"))
        got = server.mails.get(timeout=30)
        (wrong,) = channel([{"type": "email", "host": "127.0.0.1", "port": server.port,
                             "security": "none", "username": "pw", "password": "nope",
                             "from": "p@example.org", "to": "a@example.org"}], tmp_path)
        with pytest.raises(ChannelError, match="refused the login"):
            send(wrong, alert())
    assert got.login == ("pw", SECRET) and not got.tls
    assert got.recipients == ["a@example.org", "b@example.org"]
    assert got.message["Subject"].startswith("[portwatch] New listener: port 2375/tcp (x\\x0d")
    assert got.message["Bcc"] is None  # the hostile name did not add a header
    assert got.message["X-Portwatch-Risk"] == "high"
    assert "0.0.0.0:2375" in got.message.get_content()


def test_email_with_starttls_verifies_the_server(tmp_path, monkeypatch):
    import ssl

    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make the test's certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with SmtpReceiver(context=context) as server:
        (mail,) = channel([{"type": "email", "host": "127.0.0.1", "port": server.port,
                            "from": "portwatch@example.org", "to": "a@example.org"}], tmp_path)
        with pytest.raises(ChannelError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            send(mail, alert())  # not signed by a CA the system trusts: nothing is sent
        assert server.mails.empty()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted, as a private CA would be
        send(mail, alert())
        got = server.mails.get(timeout=30)
    assert got.tls


# -- dispatch: rate limit, folding, failures, never blocking ------------------------------------


def test_a_burst_is_rate_limited_and_folded(tmp_path):
    with HttpReceiver() as server:
        configs = channel([{"type": "webhook", "url": server.url},
                           {"type": "webhook", "url": server.url, "min_risk": "high",
                            "name": "only-high"}], tmp_path)
        said = Collector()
        channels = Channels(configs, said, burst_window=1.0)
        try:
            channels.submit([alert(port=8000 + n, risk=Risk.LOW) for n in range(8)])
            bodies = [json.loads(server.next().body) for _ in range(6)]
        finally:
            channels.close()
        assert server.requests.empty()  # only-high got none of the low alerts
    assert [b["title"] for b in bodies[:5]] == [
        f"New listener: port {8000 + n}/tcp (dockerd)" for n in range(5)]
    folded = bodies[5]
    assert folded["title"] == "3 more new-listener alerts" and folded["kind"] == "summary"
    assert [item["port"] for item in folded["listeners"]] == [8005, 8006, 8007]
    assert said.said.empty()


def test_a_failing_channel_is_reported_once_and_never_blocks(tmp_path):
    with HttpReceiver() as server:
        server.status = 500
        (hook,) = channel([{"type": "webhook", "url": server.url, "timeout": 2}], tmp_path)
        said = Collector()
        channels = Channels([hook], said, burst_window=0.2)
        try:
            channels.submit([alert(port=1), alert(port=2), alert(port=3)])
            for _ in range(3):
                server.next()
            first = said.next()
            assert "'webhook 1' (webhook) failed" in first and "HTTP 500" in first
            assert said.said.empty()  # three failures, one report
            server.status = 200
            channels.submit([alert(port=4)])
            server.next()
            assert said.next() == "alert channel 'webhook 1' works again"
            # A server that does not answer: submit() returns while the request is held.
            server.hold = threading.Event()
            channels.submit([alert(port=5)])
            server.next()
            channels.submit([alert(port=6)])  # returns at once although port 5 is in flight
            server.hold.set()
            server.next()
        finally:
            channels.close()


# -- watch, end to end --------------------------------------------------------------------------


def test_watch_sends_its_alerts_to_a_webhook(tmp_path, listener_factory, isolated_dirs):
    config, _ = isolated_dirs
    with HttpReceiver() as server:
        settings = config / "settings.yaml"
        settings.write_text(yaml.safe_dump({
            # other python programs open listeners here too: no per-program hold of ours
            "alert_min_polls": 0, "alert_rate_limit": 0,
            "channels": [{"type": "webhook", "url": server.url + "/pw",
                          "headers": {"Authorization": "Bearer " + SECRET}}]}))
        settings.chmod(0o600)
        log = (tmp_path / "watch.log").open("wb")
        watch = subprocess.Popen([sys.executable, "-m", "portwatch", "watch", "--interval",
                                  "0.3", "--no-history"], stdout=log, stderr=subprocess.STDOUT,
                                 env=portwatch_env())
        try:
            wait_until(lambda: b"watching" in (tmp_path / "watch.log").read_bytes(),
                       "the baseline")
            child = listener_factory()
            deadline = time.monotonic() + 30
            while True:  # other programs open listeners too: find the alert about ours
                document = json.loads(server.next(max(0.1, deadline - time.monotonic())).body)
                ports = [item["port"] for item in document["listeners"]]
                if child.port in ports:
                    break
        finally:
            watch.terminate()
            watch.wait(30)
            log.close()
    output = (tmp_path / "watch.log").read_text()
    assert watch.returncode == 0, output
    assert "alert channels: webhook 1" in output and SECRET not in output
    assert document["source"] == "portwatch"
    assert os.stat(settings).st_mode & 0o077 == 0
