"""The journal fields, the syslog structured data and the Prometheus info labels come from the
field declarations (portwatch.core.fields): every field declared `log` reaches the first two,
every field declared with a `metric` labels the third, and a field added to the registry
reaches them with no edit to the outputs."""

from __future__ import annotations

import importlib
import re
import socket

import pytest

from portwatch.core import fields
from portwatch.core.fields import FIELDS, Field
from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    ContainerInfo,
    Exposure,
    Family,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
)
from portwatch.core.output import export, journal, prometheus, records
from portwatch.core.output.syslog5424 import message


def nginx(pid: int = 4187, name: str = "nginx") -> AnnotatedListener:
    proc = ProcessInfo(pid, name, "www-data", "/usr/sbin/nginx", ("nginx", "-g", "daemon off;"),
                       1_700_000_000.5, 1, parent="systemd")
    sock = Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 80, Exposure.ALL_INTERFACES, proc,
                    holders=((pid, name),), unit="nginx.service",
                    container=ContainerInfo("podman", "c0ffee", "web", "nginx:1.25"))
    return AnnotatedListener(sock, assessment=Assessment(Risk.HIGH, "open to everyone"))


def expected_journal_keys(item: AnnotatedListener, logged: bool) -> set[str]:
    """The journal keys the fields declared (or not declared) `log` give this listener."""
    keys = set()
    for field in FIELDS:
        if not field.json or field.log is not logged:
            continue
        value = field.read(item)
        if isinstance(value, dict):
            keys |= {f"{field.key}_{sub}".upper() for sub, item in value.items()
                     if item is not None}
        elif value is not None and value != []:
            keys.add(field.key.upper())
    return keys


def sd_params(datagram: bytes) -> dict[str, str]:
    """name -> value of an RFC 5424 message's structured data (values unescaped)."""
    structured = re.search(rb"\[portwatch@32473(.*?)(?<!\\)\]", datagram).group(1).decode()
    return {name: re.sub(r"\\(.)", r"\1", value)
            for name, value in re.findall(r' ([^=]+)="((?:[^"\\]|\\.)*)"', structured)}


def test_the_logged_fields_are_the_declared_ones():
    item = nginx()
    sent = dict(journal.event_fields("opened", 1.0e9, item))
    assert set(sent) - {"EVENT", "TIME"} == expected_journal_keys(item, logged=True)
    assert not expected_journal_keys(item, logged=False) & set(sent)  # holders, security notes
    assert sent["CONTAINER_NAME"] == "web" and sent["UNIT"] == "nginx.service"
    params = sd_params(message(3, "opened", "line", journal.event_fields("opened", 1.0e9, item),
                               when=1.0e9, hostname="h", procid=1))
    assert params == {key.lower(): value for key, value in sent.items()}


def test_the_previous_owner_keys_are_the_declared_ones():
    declared = [field.key for field in FIELDS if field.owner]
    assert declared == ["pid", "process", "user", "exe", "cmdline"]
    event = export.event_record("changed", 1.0e9, nginx(), nginx(7, "sleep"))
    assert list(event["previous"]) == declared and event["previous"]["process"] == "sleep"
    sent = dict(journal.event_fields("changed", 1.0e9, nginx(), nginx(7, "sleep")))
    assert {key for key in sent if key.startswith("PREVIOUS_")} == {
        f"PREVIOUS_{key.upper()}" for key in declared}


def test_the_metric_labels_are_the_declared_ones():
    declared = [field.key for field in FIELDS if field.metric is not None]
    assert list(prometheus.INFO_LABELS) == declared
    (line,) = [line for line in prometheus.render([nginx()], taken_at=1.0).splitlines()
               if line.startswith("portwatch_listener_info{")]
    assert re.findall(r'(\w+)="', line) == declared
    assert ('process="nginx"' in line and 'unit="nginx.service"' in line
            and 'container="web"' in line and 'risk="high"' in line)
    hidden = AnnotatedListener(Listener(Proto.UDP, Family.IPV4, "0.0.0.0", 53,
                                        Exposure.ALL_INTERFACES, owner_hidden=True))
    assert prometheus.info_labels(hidden) == (
        "udp", "0.0.0.0", "53", "all-interfaces", "(hidden)", "", "", "unknown")


@pytest.fixture()
def registry_with(monkeypatch):
    """Declare extra fields after the built-in ones, as a new declaration in listener.py
    would, and load the outputs again from that registry; the real one is back afterwards."""
    outputs = (records, journal, prometheus)  # records first: the journal uses it

    def declare(*extra: Field) -> None:
        monkeypatch.setattr(fields, "FIELDS", (*FIELDS, *extra))
        for module in outputs:
            importlib.reload(module)

    try:
        yield declare
    finally:
        monkeypatch.undo()
        for module in outputs:
            importlib.reload(module)


def test_a_new_registry_field_reaches_the_journal_syslog_and_metrics(registry_with, tmp_path):
    """Declared after the built-in fields, as a new one in listener.py would be: the outputs
    are loaded again from the registry, none of them edited."""
    registry_with(
        Field("pwtest_site", "Site", lambda item: "rack 7", metric=lambda item: "rack-7",
              owner=True),
        Field("pwtest_secret", "Secret", lambda item: "s3cret", log=False),
    )
    item = nginx()
    sent = dict(journal.event_fields("opened", 1.0e9, item))
    assert sent["PWTEST_SITE"] == "rack 7" and "PWTEST_SECRET" not in sent
    changed = dict(journal.event_fields("changed", 1.0e9, item, nginx(7, "sleep")))
    assert changed["PREVIOUS_PWTEST_SITE"] == "rack 7"  # declared an owner field too

    # The journal entry travels through a real datagram socket, as `watch --journal` sends it.
    path = str(tmp_path / "journal.socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        writer = journal.JournalWriter(path)
        try:
            writer.send(journal.entry("line", 3, journal.event_fields("opened", 1.0e9, item)))
        finally:
            writer.close()
        datagram = receiver.recv(65536)
    assert b"\nPORTWATCH_PWTEST_SITE=rack 7\n" in datagram and b"s3cret" not in datagram

    params = sd_params(message(3, "opened", "line", journal.event_fields("opened", 1.0e9, item),
                               when=1.0e9, hostname="h", procid=1))
    assert params["pwtest_site"] == "rack 7" and "pwtest_secret" not in params

    assert prometheus.INFO_LABELS[-1] == "pwtest_site"
    text = prometheus.render([item], taken_at=1.0)
    assert re.search(r'^portwatch_listener_info\{[^}]*,pwtest_site="rack-7"\} 1$', text, re.M)


def test_the_outputs_are_back_on_the_real_registry():
    """The fixture above restores the registry (this runs after it in file order)."""
    assert "pwtest_site" not in prometheus.INFO_LABELS
    assert "PWTEST_SITE" not in dict(journal.event_fields("opened", 1.0e9, nginx()))
    assert "pwtest_site" not in records.owner_record(nginx())
