"""risk.assess: every kind of note at every exposure, which notes apply to which program, and
the one-line reasons."""

from __future__ import annotations

import pytest

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.knowledge.recognition import recognise
from portwatch.core.knowledge.risk import (
    CANNOT_SEE,
    NOTHING_KNOWN,
    Fit,
    assess,
    forwarder,
    note_fit,
)
from portwatch.core.model import (
    CatalogEntry,
    Exposure,
    KnownUse,
    ProcessInfo,
    Proto,
    Risk,
    SecurityNote,
    Severity,
)

ALL, LAN, LOOP = Exposure.ALL_INTERFACES, Exposure.LOCAL_NETWORK, Exposure.LOOPBACK
REF = ("https://example.org/",)


def entry(*notes, registered=True, uses=(), proto=Proto.TCP):
    """An entry for port 2375; `uses` are names or KnownUse values."""
    uses = tuple(u if isinstance(u, KnownUse) else KnownUse(u, "", REF) for u in uses)
    return CatalogEntry(2375, proto, "docker" if registered else None, None, uses, notes)


def note(kind, severity, title="Docker API without TLS", applies_to=()):
    return SecurityNote(title, Severity(severity), kind, "what can happen", REF,
                        applies_to=tuple(applies_to))


def proc(name, *cmdline, exe=None):
    return ProcessInfo(4242, name, "alice", exe or f"/usr/bin/{name}", (name, *cmdline))


DOCKER_USE = KnownUse("Docker Engine API (unencrypted)", "", REF, match=("dockerd", "docker"))
DOCKER_NOTE = note("exposure", "high", "Unauthenticated Docker API is root on the host",
                   applies_to=("dockerd", "docker"))
DEVPI = KnownUse("devpi-server", "package index", REF, match=("devpi-server", "devpi"))
MYDOOM = note("malware-history", "info", "MyDoom.A backdoor range (2004)")
FINJAN = note("vulnerability", "medium", "Finjan SurfinGate management commands (CVE-2004-2107)",
              applies_to=("surfingate", "finjan"))
SSH_USE = KnownUse("OpenSSH (sshd)", "", REF, match=("sshd",))
REGRESSHION = note("vulnerability", "high", "regreSSHion (CVE-2024-6387) in OpenSSH sshd",
                   applies_to=("sshd",))
DOCKERD = proc("dockerd", "-H", "tcp://0.0.0.0:2375")
PYTHON = proc("python3", "-m", "myproxy", "--listen", "2375", exe="/usr/bin/python3.11")


# (kind, severity, exposure) -> risk, straight from the table in risk.py's docstring, for a note
# that applies (no applies_to) and a program that is none of the port's known uses.
CASES = [
    ("exposure", "high", ALL, Risk.HIGH),
    ("exposure", "high", LAN, Risk.HIGH),
    ("exposure", "high", LOOP, Risk.NONE),  # only this machine can reach it
    ("exposure", "medium", ALL, Risk.MEDIUM),
    ("exposure", "medium", LOOP, Risk.NONE),
    ("exposure", "low", LAN, Risk.LOW),
    ("exposure", "info", ALL, Risk.NONE),
    ("exposure", "info", LOOP, Risk.NONE),
    ("vulnerability", "high", ALL, Risk.MEDIUM),  # the version decides: medium at most
    ("vulnerability", "high", LAN, Risk.MEDIUM),
    ("vulnerability", "medium", ALL, Risk.MEDIUM),
    ("vulnerability", "low", ALL, Risk.LOW),
    ("vulnerability", "high", LOOP, Risk.NONE),
    ("vulnerability", "medium", LOOP, Risk.NONE),
    ("vulnerability", "low", LOOP, Risk.NONE),
    ("vulnerability", "info", ALL, Risk.NONE),
    ("malware-history", "high", ALL, Risk.LOW),
    ("malware-history", "medium", LAN, Risk.LOW),
    ("malware-history", "info", ALL, Risk.LOW),  # an unidentified program in a backdoor's port
    ("malware-history", "low", LOOP, Risk.NONE),  # the backdoors served other machines
    ("malware-history", "info", LOOP, Risk.NONE),
]
UDP_CASES = [
    ("amplification", "high", ALL, Risk.LOW),  # the protocol itself (mDNS, SSDP): LAN normal
    ("amplification", "low", LAN, Risk.LOW),
    ("amplification", "info", ALL, Risk.LOW),
    ("amplification", "high", LOOP, Risk.NONE),
]


@pytest.mark.parametrize(("kind", "severity", "exposure", "expected"), CASES)
def test_each_kind_at_each_exposure(kind, severity, exposure, expected):
    assert assess(entry(note(kind, severity)), exposure, PYTHON).risk is expected


@pytest.mark.parametrize(("kind", "severity", "exposure", "expected"), UDP_CASES)
def test_amplification_on_udp(kind, severity, exposure, expected):
    assert assess(entry(note(kind, severity), proto=Proto.UDP), exposure,
                  PYTHON).risk is expected


def test_amplification_flaw_of_one_product_is_medium():
    flaw = SecurityNote("memcached UDP reflection", Severity.HIGH, "amplification", "n",
                        ("https://example.org/",), applies_to=("memcached",))
    memcached = ProcessInfo(7, "memcached", exe="/usr/bin/memcached")
    found = assess(entry(flaw, proto=Proto.UDP), ALL, memcached)
    assert found.risk is Risk.MEDIUM
    generic = assess(entry(note("amplification", "high"), proto=Proto.UDP), ALL, PYTHON)
    assert "only if this machine is reachable from the Internet" in generic.reason


def test_amplification_does_not_apply_to_tcp():
    found = assess(entry(note("amplification", "high")), ALL, PYTHON)
    assert (found.risk, found.applicable) == (Risk.NONE, ())


def test_exposure_reasons_say_who_can_reach_it():
    high = entry(note("exposure", "high"))
    assert assess(high, ALL, PYTHON).reason == (
        "Docker API without TLS, reachable from every network this machine is on")
    assert assess(high, LOOP, PYTHON).reason == "docker: only this machine can reach it"
    assert "other machines" in assess(high, LAN, PYTHON).reason


FIREWALLED = ("the firewall drops new connections from outside, so only this machine can"
              " reach it")


@pytest.mark.parametrize("item", [
    entry(note("exposure", "high")),  # defused: the reach is the whole reason
    entry(note("malware-history", "info", title="MyDoom.A backdoor (2004)")),  # in the note's
    entry(note("exposure", "high", "Local API", applies_to=()), uses=("python3",)),
    entry(),  # nothing known: the reach comes first
], ids=["defused", "history", "usual", "nothing-known"])
def test_the_reach_given_is_said_once(item):
    """A listener the firewall blocks is assessed at loopback with the firewall's words for who
    can reach it: the reason says "only this machine can reach it" once, and why."""
    reason = assess(item, LOOP, PYTHON, reach=FIREWALLED).reason
    assert reason.count("only this machine can reach it") == 1, reason
    assert reason.count("the firewall drops") == 1, reason
    assert assess(item, LOOP, PYTHON).reason.count("only this machine") <= 1


def test_history_alone_is_never_high_and_says_what_to_check():
    history = note("malware-history", "high", title="MyDoom.A backdoor (2004)")
    result = assess(entry(history, uses=("devpi-server",)), ALL, PYTHON)
    assert result.risk is Risk.LOW
    assert result.reason == ("port once used by malware (MyDoom.A backdoor (2004)); "
                             "ordinary software uses it too — check what this program is")
    unknown = assess(entry(history, registered=False), ALL, PYTHON)
    assert "not a sign of infection" in unknown.reason
    hidden = assess(entry(history, uses=("devpi-server",)), ALL, None)
    assert hidden.risk is Risk.LOW and hidden.reason.endswith(CANNOT_SEE)


def test_the_worst_note_decides_and_the_first_wins_a_tie():
    notes = (note("malware-history", "low", "old worm"), note("exposure", "high", "open API"),
             note("vulnerability", "high", "famous CVE"), note("exposure", "medium", "second"))
    result = assess(entry(*notes), ALL, PYTHON)
    assert (result.risk, result.reason.split(",")[0]) == (Risk.HIGH, "open API")
    assert result.applicable == notes
    result = assess(entry(*notes), LOOP, PYTHON)  # loopback defuses exposure and the CVE
    assert (result.risk, result.applicable) == (Risk.NONE, (notes[0],))
    medium = assess(entry(notes[2], notes[3]), ALL, PYTHON)
    assert (medium.risk, medium.reason.split(",")[0]) == (Risk.MEDIUM, "famous CVE")


def test_a_vulnerability_reason_asks_to_check_the_version():
    found = assess(entry(REGRESSHION, uses=(SSH_USE,)), ALL, proc("sshd", "-D"))
    assert found.risk is Risk.MEDIUM
    assert found.reason == ("regreSSHion (CVE-2024-6387) in OpenSSH sshd: check your version;"
                            " reachable from every network this machine is on")
    assert found.applicable == (REGRESSHION,)
    loop = assess(entry(REGRESSHION, uses=(SSH_USE,)), LOOP, proc("sshd", "-D"))
    assert loop.risk is Risk.NONE and loop.reason == "OpenSSH: only this machine can reach it"
    unnamed = note("vulnerability", "high", title="Famous CVE")  # no applies_to: hedged
    assert assess(entry(unnamed), ALL, PYTHON).reason.startswith(
        "Famous CVE, if that is the software listening here: check your version")


def test_no_notes_means_nothing_known():
    assert assess(entry(), ALL) == assess(entry(), LOOP)
    assert assess(entry(), ALL).risk is Risk.NONE
    assert assess(entry(), ALL).reason == NOTHING_KNOWN
    assert assess(entry(), ALL, PYTHON).reason == NOTHING_KNOWN


def test_an_unknown_service_reachable_from_everywhere_is_low():
    unknown = entry(registered=False)
    assert assess(unknown, ALL).risk is Risk.LOW
    assert assess(unknown, ALL).reason == (
        "unknown service reachable from every network this machine is on")
    assert assess(unknown, LOOP).risk is Risk.NONE
    assert assess(unknown, LAN).risk is Risk.NONE
    assert assess(entry(registered=False, uses=("my game",)), ALL).risk is Risk.NONE


def test_info_notes_give_their_own_reason_not_nothing_known():
    result = assess(entry(note("exposure", "info", "Listens for printers")), ALL, PYTHON)
    assert result.risk is Risk.NONE and result.reason.startswith("Listens for printers")


# --------------------------------------------------------------------------- which notes apply


def test_a_product_note_applies_to_that_product():
    docker = entry(DOCKER_NOTE, uses=(DOCKER_USE,))
    found = assess(docker, ALL, DOCKERD)
    assert found.risk is Risk.HIGH and found.applicable == (DOCKER_NOTE,)
    assert found.reason == ("Unauthenticated Docker API is root on the host, reachable from"
                            " every network this machine is on")
    loop = assess(docker, LOOP, DOCKERD)
    assert loop.risk is Risk.NONE and loop.applicable == ()
    assert loop.reason == "Docker Engine API: only this machine can reach it"


def test_a_product_note_is_context_for_another_program():
    """A python program on 0.0.0.0:2375 whose command line does not mention docker: the Docker
    note is shown but does not count; with no other note the risk is none, and the reason
    says why."""
    found = assess(entry(DOCKER_NOTE, uses=(DOCKER_USE,)), ALL, PYTHON)
    assert (found.risk, found.applicable) == (Risk.NONE, ())
    assert found.reason == ("the notes for this port are about Docker Engine API, and this"
                            " program is not it")
    generic = note("exposure", "medium", "Open proxy")  # no applies_to: still counts
    found = assess(entry(DOCKER_NOTE, generic, uses=(DOCKER_USE,)), ALL, PYTHON)
    assert (found.risk, found.applicable) == (Risk.MEDIUM, (generic,))


def test_a_hidden_owner_cannot_rule_a_product_note_out():
    found = assess(entry(DOCKER_NOTE, uses=(DOCKER_USE,)), ALL, None)
    assert found.risk is Risk.MEDIUM and found.applicable == (DOCKER_NOTE,)  # hedged
    assert found.reason == ("Unauthenticated Docker API is root on the host, reachable from"
                            " every network this machine is on, if the listener is Docker"
                            f" Engine API; {CANNOT_SEE}")
    nameless = ProcessInfo(7, "")  # a process that told nothing counts as unknown
    assert assess(entry(DOCKER_NOTE, uses=(DOCKER_USE,)), ALL, nameless) == found


def test_a_forwarder_cannot_rule_a_product_note_out():
    redis_use = KnownUse("Redis", "", REF, match=("redis-server", "redis"))
    redis_note = note("exposure", "high", "Redis without a password",
                      applies_to=("redis-server", "redis"))
    proxy = proc("docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0", "-host-port", "6379",
                 "-container-ip", "172.17.0.2", "-container-port", "6379")
    found = assess(entry(redis_note, uses=(redis_use,)), ALL, proxy)
    assert found.risk is Risk.MEDIUM and found.applicable == (redis_note,)  # hedged
    assert found == assess(entry(redis_note, uses=(redis_use,)), ALL, proxy,
                           recognise(proxy, (redis_use,)))
    assert found.reason.endswith("if the listener is Redis; this is a container's published"
                                 " port, so portwatch cannot see which program answers")
    socket_activated = ProcessInfo(1, "systemd", "root", "/usr/lib/systemd/systemd",
                                   ("/sbin/init", "splash"))
    assert note_fit(REGRESSHION, entry(REGRESSHION), recognise(socket_activated),
                    held_for_another=True) is Fit.UNSURE
    assert "starts on demand" in assess(entry(REGRESSHION, uses=(SSH_USE,)), ALL,
                                         socket_activated).reason


@pytest.mark.parametrize(("name", "exe", "expected"), [
    ("docker-proxy", "/usr/bin/docker-proxy", True),
    ("systemd", "/usr/lib/systemd/systemd", True),
    ("sshd", "/usr/sbin/sshd", False),
    ("ssh", "/usr/bin/ssh", True),
    ("qemu-system-x86_64", "/usr/bin/qemu-system-x86_64", True),
    ("svchost.exe", "C:\\Windows\\System32\\svchost.exe", True),
    ("python3", "/usr/bin/python3.11", False),
    ("my-ssh-tool", "/opt/ssh", True),  # the executable's file name counts too
])
def test_forwarders_are_known_by_name(name, exe, expected):
    assert (forwarder(ProcessInfo(1, name, exe=exe)) is not None) is expected
    assert forwarder(None) is None


def test_sshd_on_all_interfaces_is_medium_at_most_with_a_version_check():
    found = assess(entry(REGRESSHION, uses=(SSH_USE,)), ALL, proc("sshd", "-D"))
    assert found.risk is Risk.MEDIUM and "check your version" in found.reason
    # A hidden owner: neither the program nor its version is known, so low at most
    hidden = assess(entry(REGRESSHION, uses=(SSH_USE,)), ALL, None)
    assert hidden.risk is Risk.LOW and hidden.applicable == (REGRESSHION,)
    assert hidden.reason == ("regreSSHion (CVE-2024-6387) in OpenSSH sshd: check your version;"
                             " reachable from every network this machine is on, if the"
                             f" listener is OpenSSH; {CANNOT_SEE}")
    dropbear = assess(entry(REGRESSHION, uses=(SSH_USE,)), ALL, proc("dropbear", "-F"))
    assert (dropbear.risk, dropbear.applicable) == (Risk.NONE, ())


def test_the_usual_software_with_no_applicable_notes_is_none():
    found = assess(entry(MYDOOM, FINJAN, uses=(DEVPI,)), LOOP,
                   proc("devpi-server", "--host", "127.0.0.1", exe="/opt/devpi/devpi-server"))
    assert found == type(found)(Risk.NONE, "devpi-server, the usual software on this port", ())
    on_network = assess(entry(MYDOOM, FINJAN, uses=(DEVPI,)), ALL, proc("devpi-server"))
    assert on_network.risk is Risk.NONE


def test_an_unknown_program_in_a_backdoor_port_is_low():
    found = assess(entry(MYDOOM, FINJAN, uses=(DEVPI,)), ALL, PYTHON)
    assert found.risk is Risk.LOW and found.applicable == (MYDOOM,)  # Finjan: context only
    assert found.reason == ("port once used by malware (MyDoom.A backdoor range (2004));"
                            " ordinary software uses it too — check what this program is")


def test_on_loopback_an_applicable_note_explains_before_the_context_does():
    found = assess(entry(MYDOOM, FINJAN, uses=(DEVPI,)), LOOP, PYTHON)
    assert (found.risk, found.applicable) == (Risk.NONE, (MYDOOM,))
    assert found.reason == ("port once used by malware (MyDoom.A backdoor range (2004)); only"
                            " this machine can reach it")


def test_malware_history_is_context_for_the_usual_software_even_by_command_line():
    devpi_in_python = proc("python3", "/home/alice/.venv/bin/devpi-server", "--port", "3141",
                           exe="/usr/bin/python3.11")
    found = assess(entry(MYDOOM, uses=(DEVPI,)), ALL, devpi_in_python)
    assert (found.risk, found.applicable) == (Risk.NONE, ())


def test_bundled_data_mydoom_port_is_at_most_low():
    catalog = load_catalog(None)
    for port in (3127, 3141, 3198):
        found = catalog.lookup(port, Proto.TCP)
        for process in (None, PYTHON, proc("devpi-server")):
            for exposure in Exposure:
                assert assess(found, exposure, process).risk.rank <= Risk.LOW.rank, port
