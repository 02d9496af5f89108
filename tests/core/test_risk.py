"""risk.assess: every kind of note at every exposure, and the one-line reasons."""

from __future__ import annotations

import pytest

from portwatch.core.catalog import load_catalog
from portwatch.core.model import (
    CatalogEntry,
    Exposure,
    KnownUse,
    Proto,
    Risk,
    SecurityNote,
    Severity,
)
from portwatch.core.risk import NOTHING_KNOWN, assess

ALL, LAN, LOOP = Exposure.ALL_INTERFACES, Exposure.LOCAL_NETWORK, Exposure.LOOPBACK
REF = ("https://example.org/",)


def entry(*notes, registered=True, uses=()):
    return CatalogEntry(2375, Proto.TCP, "docker" if registered else None, None,
                        tuple(KnownUse(name, "", REF) for name in uses), notes)


def note(kind, severity, title="Docker API without TLS"):
    return SecurityNote(title, Severity(severity), kind, "what can happen", REF)


# (kind, severity, exposure) -> risk, straight from the table in risk.py's docstring
CASES = [
    ("exposure", "high", ALL, Risk.HIGH),
    ("exposure", "high", LAN, Risk.HIGH),
    ("exposure", "high", LOOP, Risk.LOW),
    ("exposure", "medium", ALL, Risk.MEDIUM),
    ("exposure", "medium", LOOP, Risk.LOW),
    ("exposure", "low", LAN, Risk.LOW),
    ("exposure", "info", ALL, Risk.NONE),
    ("exposure", "info", LOOP, Risk.NONE),
    ("vulnerability", "high", ALL, Risk.HIGH),
    ("vulnerability", "high", LAN, Risk.HIGH),
    ("vulnerability", "high", LOOP, Risk.MEDIUM),
    ("vulnerability", "medium", LOOP, Risk.MEDIUM),
    ("vulnerability", "low", LOOP, Risk.LOW),
    ("vulnerability", "info", ALL, Risk.NONE),
    ("amplification", "high", ALL, Risk.MEDIUM),
    ("amplification", "low", LAN, Risk.MEDIUM),
    ("amplification", "info", ALL, Risk.LOW),
    ("amplification", "high", LOOP, Risk.NONE),
    ("malware-history", "high", ALL, Risk.LOW),
    ("malware-history", "medium", LAN, Risk.LOW),
    ("malware-history", "low", LOOP, Risk.LOW),
    ("malware-history", "info", ALL, Risk.NONE),
]


@pytest.mark.parametrize(("kind", "severity", "exposure", "expected"), CASES)
def test_each_kind_at_each_exposure(kind, severity, exposure, expected):
    assert assess(entry(note(kind, severity)), exposure).risk is expected


def test_exposure_reasons_say_who_can_reach_it():
    high = entry(note("exposure", "high"))
    assert assess(high, ALL).reason == (
        "Docker API without TLS, reachable from every network this machine is on")
    assert assess(high, LOOP).reason == "Docker API without TLS; only this machine can reach it"
    assert "other machines" in assess(high, LAN).reason


def test_history_alone_is_never_high_and_says_so():
    history = note("malware-history", "high", title="MyDoom.A backdoor (2004)")
    result = assess(entry(history, uses=("devpi-server",)), ALL)
    assert result.risk is Risk.LOW
    assert result.reason == ("port once used by malware (MyDoom.A backdoor (2004)); "
                             "ordinary software uses it too")
    unknown = assess(entry(history, registered=False), ALL)
    assert "not a sign of infection" in unknown.reason


def test_the_worst_note_decides_and_the_first_wins_a_tie():
    notes = (note("malware-history", "low", "old worm"), note("exposure", "high", "open API"),
             note("vulnerability", "high", "famous CVE"))
    result = assess(entry(*notes), ALL)
    assert (result.risk, result.reason.split(",")[0]) == (Risk.HIGH, "open API")
    result = assess(entry(*notes), LOOP)  # exposure drops to low, the CVE only to medium
    assert (result.risk, result.reason.split(",")[0]) == (Risk.MEDIUM, "famous CVE")


def test_a_vulnerability_reason_does_not_claim_the_software_is_there():
    cve = note("vulnerability", "high", title="regreSSHion (CVE-2024-6387) in OpenSSH sshd")
    assert assess(entry(cve), ALL).reason == (
        "regreSSHion (CVE-2024-6387) in OpenSSH sshd, if that is the software listening here,"
        " reachable from every network this machine is on")


def test_no_notes_means_nothing_known():
    assert assess(entry(), ALL) == assess(entry(), LOOP)
    assert assess(entry(), ALL).risk is Risk.NONE
    assert assess(entry(), ALL).reason == NOTHING_KNOWN


def test_an_unknown_service_reachable_from_everywhere_is_low():
    unknown = entry(registered=False)
    assert assess(unknown, ALL).risk is Risk.LOW
    assert assess(unknown, ALL).reason == (
        "unknown service reachable from every network this machine is on")
    assert assess(unknown, LOOP).risk is Risk.NONE
    assert assess(unknown, LAN).risk is Risk.NONE
    assert assess(entry(registered=False, uses=("my game",)), ALL).risk is Risk.NONE


def test_info_notes_give_their_own_reason_not_nothing_known():
    result = assess(entry(note("exposure", "info", "Listens for printers")), ALL)
    assert result.risk is Risk.NONE and result.reason.startswith("Listens for printers")


def test_bundled_data_mydoom_port_is_at_most_low():
    catalog = load_catalog(None)
    for port in (3127, 3141, 3198):
        found = catalog.lookup(port, Proto.TCP)
        if any(n.kind == "malware-history" for n in found.security) and all(
                n.kind == "malware-history" for n in found.security):
            assert assess(found, ALL).risk.rank <= Risk.LOW.rank, port
