"""Every alert rule, driven through a real Monitor with scripted scans and a fake clock."""

from __future__ import annotations

import pytest

from portwatch.core.alerts.memory import InMemoryAlertMemory
from portwatch.core.alerts.rules import AlertRules
from portwatch.core.model import (
    AlertKind,
    AnnotatedListener,
    Assessment,
    Exposure,
    Family,
    IgnoreRule,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
    Snapshot,
)
from portwatch.core.monitor import Monitor
from portwatch.core.probe import ephemeral_port_range


def sock(port, pid=100, exe="/usr/bin/srv", proto=Proto.TCP, address="127.0.0.1", name="srv"):
    from portwatch.core.probe.exposure import classify

    return Listener(proto, Family.IPV4, address, port, classify(address),
                    ProcessInfo(pid, name, exe=exe))


class RiskByPort:
    """Annotator: port 2375 is high risk, everything else low."""

    def annotate(self, listener):
        risk = Risk.HIGH if listener.port == 2375 else Risk.LOW
        return AnnotatedListener(listener, None, Assessment(risk, "test reason"))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Harness:
    """A Monitor whose scans the test sets, with alert rules and memory shared across 'runs'."""

    def __init__(self, memory=None, **kwargs):
        self.memory = memory or InMemoryAlertMemory()
        self.clock = Clock()
        self.current: list[Listener] = []
        kwargs.setdefault("ephemeral_range", (32768, 60999))
        self.rules = AlertRules(self.memory, clock=self.clock, **kwargs)
        self.monitor = Monitor(lambda: Snapshot(self.clock(), tuple(self.current)),
                               RiskByPort(), alert_rules=self.rules)

    def poll(self, *listeners, advance=1.0):
        self.current = list(listeners)
        self.clock.now += advance
        return self.monitor.poll().alerts

    def restart(self, **kwargs):
        """A new run of portwatch with the same persistent memory."""
        return Harness(self.memory, **kwargs)


def ports(alert):
    return [row.listener.port for row in alert.listeners]


def test_first_run_ever_learns_silently():
    h = Harness()
    assert h.poll(sock(22), sock(631)) == ()
    assert h.poll(sock(22), sock(631)) == ()
    assert h.memory.has_baseline()


def test_known_listeners_raise_nothing_after_restart_and_new_ones_are_reported_once():
    h = Harness()
    h.poll(sock(22))
    h2 = h.restart()
    (alert,) = h2.poll(sock(22), sock(8000))
    assert alert.kind is AlertKind.OPENED_SINCE_LAST_RUN
    assert ports(alert) == [8000]
    assert "not running" in alert.title
    assert h2.poll(sock(22), sock(8000)) == ()
    assert h.restart().poll(sock(22), sock(8000)) == ()  # and never again


def test_listener_must_persist_one_more_poll():
    h = Harness(min_polls=1)
    h.poll(sock(22))
    assert h.poll(sock(22), sock(8000)) == ()  # just opened
    (alert,) = h.poll(sock(22), sock(8000))  # still there a poll later
    assert alert.kind is AlertKind.OPENED and ports(alert) == [8000]
    assert "8000" in alert.title and "srv" in alert.body
    assert h.poll(sock(22), sock(8000)) == ()


def test_short_lived_socket_does_not_alert():
    h = Harness(min_polls=1)
    h.poll()
    assert h.poll(sock(9999)) == ()
    assert h.poll() == ()
    assert h.poll() == ()
    # it was never alerted, so it is not "known": a later long-lived one still alerts
    h.poll(sock(9999))
    assert len(h.poll(sock(9999))) == 1


def test_min_polls_setting():
    h = Harness(min_polls=2)
    h.poll()
    assert h.poll(sock(8000)) == ()
    assert h.poll(sock(8000)) == ()
    assert len(h.poll(sock(8000))) == 1
    h0 = Harness(min_polls=0)
    h0.poll()
    assert len(h0.poll(sock(8000))) == 1


def test_identity_survives_pid_change():
    h = Harness(min_polls=0)
    h.poll()
    assert len(h.poll(sock(8000, pid=1))) == 1
    assert h.poll() == ()  # server stopped
    assert h.poll(sock(8000, pid=2)) == ()  # restarted with a new PID: not new
    # a different program on the same port is new
    assert len(h.poll(sock(8000, pid=3, exe="/usr/bin/other"))) == 1


def test_exposure_change_is_a_new_identity():
    h = Harness(min_polls=0)
    h.poll(sock(8000))
    (alert,) = h.poll(sock(8000, address="0.0.0.0"))
    assert alert.listeners[0].listener.exposure is Exposure.ALL_INTERFACES


def test_ephemeral_udp_clients_do_not_alert_by_default():
    h = Harness(min_polls=0)
    h.poll()
    assert h.poll(sock(45000, proto=Proto.UDP)) == ()
    assert len(h.poll(sock(45000, proto=Proto.UDP), sock(5353, proto=Proto.UDP))) == 1
    h2 = Harness(min_polls=0, ephemeral_udp=True)
    h2.poll()
    assert len(h2.poll(sock(45000, proto=Proto.UDP))) == 1
    # TCP in the ephemeral range is a server: it alerts
    h3 = Harness(min_polls=0)
    h3.poll()
    assert len(h3.poll(sock(45000))) == 1


def test_many_new_listeners_coalesce_into_one_summary():
    h = Harness(min_polls=0, coalesce=5)
    h.poll()
    new = [sock(9000 + i, pid=200 + i, exe=f"/opt/s{i}") for i in range(12)]
    (alert,) = h.poll(*new)
    assert alert.kind is AlertKind.SUMMARY
    assert len(alert.listeners) == 12
    assert alert.title == "12 new listeners"
    assert "and 6 more" in alert.body


def test_fewer_than_coalesce_are_separate():
    h = Harness(min_polls=0, coalesce=5)
    h.poll()
    alerts = h.poll(sock(9001, exe="/a"), sock(9002, exe="/b"))
    assert [a.kind for a in alerts] == [AlertKind.OPENED, AlertKind.OPENED]


def test_repeats_from_one_program_are_rate_limited_then_summarised():
    h = Harness(min_polls=0, rate_limit=60)
    h.poll()
    assert len(h.poll(sock(40001))) == 1
    # the same program opens another port 10 s later: held, not shown yet
    assert h.poll(sock(40001), sock(40002), advance=10) == ()
    assert h.poll(sock(40001), sock(40002), sock(40003), advance=10) == ()
    # after the window it arrives as one summary of what was held
    (alert,) = h.poll(sock(40001), sock(40002), sock(40003), advance=45)
    assert alert.kind is AlertKind.SUMMARY
    assert sorted(ports(alert)) == [40002, 40003]


def test_held_listener_that_closed_is_not_reported():
    h = Harness(min_polls=0, rate_limit=60)
    h.poll()
    h.poll(sock(40001))
    h.poll(sock(40001), sock(40002), advance=5)
    assert h.poll(sock(40001), advance=100) == ()


def test_acknowledged_identity_never_alerts_again_across_restarts():
    h = Harness(min_polls=0)
    h.poll()
    (alert,) = h.poll(sock(8000, pid=1))
    h.rules.acknowledge(alert.listeners[0])
    h2 = h.restart(min_polls=0)
    assert h2.poll(sock(8000, pid=9)) == ()
    assert h2.poll(sock(8000, pid=9)) == ()


def test_acknowledgement_alone_silences_an_identity_never_seen():
    from portwatch.core.model import ListenerIdentity

    h = Harness(min_polls=0)
    h.memory.acknowledge(ListenerIdentity.of(sock(8000)))
    h.poll()
    assert h.poll(sock(8000)) == ()
    assert len(h.poll(sock(8000), sock(8001))) == 1


@pytest.mark.parametrize(
    "rule",
    [
        IgnoreRule(process="srv"),
        IgnoreRule(port_from=8000),
        IgnoreRule(port_from=7000, port_to=9000),
        IgnoreRule(process="/usr/bin/srv", port_from=8000, proto=Proto.TCP),
    ],
)
def test_ignore_rules(rule):
    h = Harness(min_polls=0)
    h.memory.add_ignore_rule(rule)
    h.poll()
    assert h.poll(sock(8000)) == ()


def test_ignore_rule_that_does_not_match_lets_alerts_through():
    h = Harness(min_polls=0)
    h.memory.add_ignore_rule(IgnoreRule(process="other", port_from=8000))
    h.memory.add_ignore_rule(IgnoreRule(port_from=8000, proto=Proto.UDP))
    h.poll()
    assert len(h.poll(sock(8000))) == 1


def test_severity_follows_catalog_risk():
    h = Harness(min_polls=0)
    h.poll()
    (low,) = h.poll(sock(8000, exe="/a"))
    assert low.risk is Risk.LOW
    (high,) = h.poll(sock(8000, exe="/a"), sock(2375, exe="/usr/bin/dockerd", address="0.0.0.0"))
    assert high.risk is Risk.HIGH
    assert "all interfaces" in high.body


def test_hostile_names_are_escaped_in_text():
    h = Harness(min_polls=0)
    h.poll()
    (alert,) = h.poll(sock(8000, name="evil\u202etxt.exe\x1b[2J"))
    assert "\u202e" not in alert.body and "\x1b" not in alert.body
    assert "evil\\u202etxt.exe\\x1b[2J" in alert.body


def test_ephemeral_range_reads_the_os_setting(tmp_path):
    path = tmp_path / "range"
    path.write_text("32768\t60999\n")
    assert ephemeral_port_range(str(path)) == (32768, 60999)
    assert ephemeral_port_range(str(tmp_path / "missing")) == (49152, 65535)
