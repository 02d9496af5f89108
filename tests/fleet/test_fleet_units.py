"""Pure pieces of the many-machines modes: records from another machine become listeners
again, ssh hosts and failures are checked and explained, and the unacknowledged-alerts gauge
follows acknowledgements and ignore rules."""

from __future__ import annotations

import json

import pytest
from fleet import annotated

from portwatch.core.alerts.memory import InMemoryAlertMemory
from portwatch.core.alerts.outstanding import OutstandingAlerts
from portwatch.core.alerts.rules import AlertRules
from portwatch.core.model import IgnoreRule, Risk, Snapshot
from portwatch.core.monitor import PollResult
from portwatch.core.output import records
from portwatch.core.output.export import event_record
from portwatch.core.probe.remote import (
    check_host,
    event_time,
    explain,
    from_record,
    ssh_command,
)


def test_a_record_comes_back_as_the_same_listener():
    row = annotated("nginx", 443, Risk.MEDIUM, cmdline=("nginx", "-g", "daemon off;"))
    record = json.loads(json.dumps(records.listener_record(row)))
    back = from_record(record)
    assert back.listener == row.listener
    assert back.assessment.risk is Risk.MEDIUM
    assert records.listener_record(back)["cmdline"] == ["nginx", "-g", "daemon off;"]
    hidden = from_record(records.listener_record(annotated(None, 22)))
    assert hidden.listener.process is None and hidden.listener.owner_hidden
    assert event_time(event_record("opened", 1_700_000_000, row)) == 1_700_000_000
    for bad in ([], {"proto": "sctp"}, {**record, "port": 70000}, {**record, "risk": "dire"},
                {**record, "exposure": None}):
        with pytest.raises(ValueError):
            from_record(bad)


def test_hosts_cannot_be_ssh_options_and_arguments_are_quoted(monkeypatch):
    for good in ("web1", "alice@web1.example.org", "root@fe80::1%eth0", "10.0.0.2"):
        assert check_host(good) == good
    for bad in ("-oProxyCommand=id", "a b", "web1;id", "", "@web1", "[-x]"):
        with pytest.raises(ValueError):
            check_host(bad)
    monkeypatch.setenv("PORTWATCH_SSH_COMMAND", "ssh -F '/tmp/my config'")
    monkeypatch.setenv("PORTWATCH_REMOTE_COMMAND", "~/.local/bin/portwatch")
    argv = ssh_command("web1", ["watch", "--interval", "2", "it's"])
    assert argv[:3] == ["ssh", "-F", "/tmp/my config"] and "BatchMode=yes" in argv
    assert argv[-3:] == ["--", "web1", "~/.local/bin/portwatch watch --interval 2 'it'\"'\"'s'"]


def test_failures_are_explained():
    assert explain("h", 255, "ssh: connect to host h port 22: Connection refused\n") == (
        "cannot reach h with ssh: ssh: connect to host h port 22: Connection refused")
    missing = explain("h", 127, "bash: line 1: portwatch: command not found\n")
    assert missing.startswith("portwatch is not installed on h") and "scp" in missing
    assert explain("h", 1, "portwatch: no such file\x1b[2J") == (
        "portwatch on h failed (exit status 1): no such file\\x1b[2J")


def poll(rows, alerts=(), first=False) -> PollResult:
    return PollResult(Snapshot(1.0, tuple(r.listener for r in rows)), tuple(rows), (), (), (),
                      first=first, duration=0.0, alerts=tuple(alerts))


def test_outstanding_alerts_follow_acknowledgement_rules_and_closing():
    rules = AlertRules(InMemoryAlertMemory(), min_polls=0)
    outstanding = OutstandingAlerts(rules)
    web, db = annotated("web", 8080, Risk.LOW), annotated("db", 5432, Risk.HIGH, pid=7)
    rules.evaluate(poll([], first=True))
    result = PollResult(Snapshot(2.0, (web.listener, db.listener)), (web, db), (web, db), (),
                        (), first=False, duration=0.0)
    alerts = rules.evaluate(result)
    assert len(alerts) == 2
    assert outstanding.update(poll([web, db], alerts)) == 2
    rules.acknowledge(web)
    assert outstanding.update(poll([web, db])) == 1
    rules.add_ignore_rule(IgnoreRule(process="db", port_from=5432, port_to=5432))
    assert outstanding.update(poll([web, db])) == 0
    assert outstanding.update(poll([])) == 0


def test_journal_fields_of_a_changed_event():
    from portwatch.core.output.journal import event_fields

    now, before = annotated("sleep", 8080, Risk.NONE, pid=2), annotated("python3", 8080, pid=1)
    fields = dict(event_fields("changed", 1.0e9, now, before))
    assert fields["EVENT"] == "changed" and fields["PID"] == "2" and fields["PROCESS"] == "sleep"
    assert fields["PREVIOUS_PID"] == "1" and fields["PREVIOUS_PROCESS"] == "python3"
    assert "SECURITY" not in fields and "HOLDERS" not in fields  # lists of objects stay out
    assert all(key.replace("_", "").isalnum() and key.isupper() for key in fields)
