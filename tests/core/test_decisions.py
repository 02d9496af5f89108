"""The user's decisions: rules made from a listener, their sentences, and what adding or removing
a rule or an acknowledgement does to the alert rules and to the history file (no Qt)."""

from __future__ import annotations

import pytest
from test_alerts import Harness, ports, sock

from portwatch.core.alerts.decisions import (
    Decisions,
    IgnoreScope,
    describe_identity,
    describe_rule,
    make_rule,
    ports_text,
    program_choices,
)
from portwatch.core.alerts.memory import InMemoryAlertMemory
from portwatch.core.model import (
    Exposure,
    Family,
    IgnoreRule,
    Listener,
    ListenerIdentity,
    ProcessInfo,
    Proto,
)
from portwatch.core.store.history import HistoryStore


def python_on(port: int, proto: Proto = Proto.TCP) -> Listener:
    return Listener(proto, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(7, "python3", exe="/usr/bin/python3.11"))


@pytest.mark.parametrize(
    ("scope", "extra", "rule", "sentence"),
    [
        (IgnoreScope.PROGRAM_PORT, {"program": "python3", "proto": Proto.TCP},
         IgnoreRule("python3", 8000, 8000, Proto.TCP),
         "Never alert when python3 listens on port 8000/tcp."),
        (IgnoreScope.PROGRAM, {"program": "/usr/bin/python3.11"},
         IgnoreRule("/usr/bin/python3.11"),
         "Never alert when /usr/bin/python3.11 listens on any port."),
        (IgnoreScope.PROGRAM, {"program": "python3", "proto": Proto.UDP},
         IgnoreRule("python3", proto=Proto.UDP),
         "Never alert when python3 listens on any UDP port."),
        (IgnoreScope.PORT, {"proto": None}, IgnoreRule(None, 8000, 8000),
         "Never alert when any program listens on port 8000 (TCP or UDP)."),
        (IgnoreScope.RANGE, {"port_to": 7000, "proto": Proto.TCP},
         IgnoreRule(None, 7000, 8000, Proto.TCP),
         "Never alert when any program listens on ports 7000–8000/tcp."),
    ],
)
def test_rules_made_from_a_listener_and_their_sentences(scope, extra, rule, sentence):
    made = make_rule(scope, port_from=8000, **extra)
    assert made == rule
    assert describe_rule(made) == sentence
    assert made.matches(python_on(8000)) is (rule.proto in (None, Proto.TCP))


def test_a_rule_needs_what_its_scope_names():
    with pytest.raises(ValueError):
        make_rule(IgnoreScope.PROGRAM_PORT, port_from=80)
    with pytest.raises(ValueError):
        make_rule(IgnoreScope.PORT, program="x")


def test_program_choices_and_cells():
    assert program_choices(python_on(1)) == ["python3", "/usr/bin/python3.11"]
    same = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 1, Exposure.LOOPBACK,
                    ProcessInfo(7, "/opt/x", exe="/opt/x"))
    assert program_choices(same) == ["/opt/x"]
    hidden = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 1, Exposure.LOOPBACK, None, True)
    assert program_choices(hidden) == []
    assert ports_text(IgnoreRule("a")) == "any"
    assert ports_text(IgnoreRule(port_from=5)) == "5"
    assert describe_identity(ListenerIdentity("", Proto.UDP, 53, Exposure.ALL_INTERFACES)) \
        == "(hidden owner) on port 53/udp, all interfaces"


def test_untrusted_names_are_made_visible_in_sentences():
    rule = IgnoreRule("evil\x1b[2J\u202etxt.exe", 22)
    text = describe_rule(rule)
    assert "\x1b" not in text and "\u202e" not in text
    assert "evil\\x1b[2J\\u202etxt.exe" in text


def test_an_ignore_rule_added_while_listeners_wait_silences_them():
    h = Harness(min_polls=2)
    h.poll()
    assert h.poll(sock(8000), sock(8001, name="other", exe="/usr/bin/other")) == ()
    h.rules.add_ignore_rule(IgnoreRule(process="srv"))  # 8000 was waiting to persist
    h.poll(sock(8000), sock(8001, name="other", exe="/usr/bin/other"))
    (alert,) = h.poll(sock(8000), sock(8001, name="other", exe="/usr/bin/other"))
    assert ports(alert) == [8001]
    assert h.poll(sock(8000), sock(8001, name="other", exe="/usr/bin/other"),
                  sock(8002)) == ()  # a new listener of the ignored program stays quiet


def test_removing_a_rule_lets_new_listeners_alert_again():
    h = Harness(min_polls=0)
    rule = IgnoreRule(port_from=9000, port_to=9010)
    h.rules.add_ignore_rule(rule)
    h.poll()
    assert h.poll(sock(9001)) == ()
    h.rules.remove_ignore_rule(rule)
    assert [ports(a) for a in h.poll(sock(9001), sock(9002))] == [[9002]]
    assert h.rules.decisions() == Decisions((), ())


def test_removing_an_acknowledgement_alerts_the_next_time_it_listens():
    h = Harness(min_polls=0, rate_limit=0)
    h.poll()
    (alert,) = h.poll(sock(8000))
    h.rules.acknowledge(alert.listeners[0])
    ident = ListenerIdentity.of(sock(8000))
    assert h.rules.decisions().acknowledged == (ident,)
    h.poll()
    assert h.poll(sock(8000)) == ()  # acknowledged (and known)
    h.rules.unacknowledge(ident)
    assert h.rules.decisions().acknowledged == ()
    h.poll()
    assert [ports(a) for a in h.poll(sock(8000))] == [[8000]]


def test_decisions_are_sorted_values():
    memory = InMemoryAlertMemory()
    h = Harness(memory)
    for port in (22, 8000, 631):
        memory.acknowledge(ListenerIdentity.of(sock(port)))
    memory.add_ignore_rule(IgnoreRule("b"))
    memory.add_ignore_rule(IgnoreRule("a"))
    decisions = h.rules.decisions()
    assert [item.port for item in decisions.acknowledged] == [22, 631, 8000]
    assert decisions.ignore_rules == (IgnoreRule("b"), IgnoreRule("a"))  # as added


def test_unacknowledge_is_stored_in_the_history_file(tmp_path):
    path = tmp_path / "history.sqlite3"
    ident = ListenerIdentity.of(python_on(8000))
    other = ListenerIdentity.of(python_on(8001))
    with HistoryStore(path) as store:
        store.remember([ident, other])
        store.acknowledge(ident)
        store.acknowledge(other)
        store.unacknowledge(ident)
        assert store.acknowledged() == {other}
        assert store.known_identities() == {other}
    with HistoryStore(path) as again:
        assert again.acknowledged() == {other}
        assert again.known_identities() == {other}
        again.unacknowledge(ident)  # already gone: nothing to do
