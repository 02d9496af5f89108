"""Catalog.lookup and annotate: registry meaning, ranges, protocols, unknown ports, risk."""

from __future__ import annotations

import textwrap

import pytest

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import Exposure, Family, Listener, Proto, Risk


@pytest.fixture(scope="module")
def bundled():
    return load_catalog(None)


def write(directory, name, text):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


RANGE_FILE = """\
    schema: 1
    topic: test ranges
    entries:
      - ports: "3127-3198"
        proto: tcp
        security:
          - title: Test worm
            severity: low
            kind: malware-history
            note: A worm used these ports.
      - ports: 3150
        proto: tcp
        uses:
          - software: Exact-port server
            note: listens on 3150 only
      - ports: [7000, "7100-7102"]
        proto: both
        uses:
          - software: Both protocols
"""


@pytest.fixture
def ranged(tmp_path):
    write(tmp_path / "catalog.d", "ranges.yaml", RANGE_FILE)
    catalog = load_catalog(tmp_path / "catalog.d")
    assert catalog.problems == ()
    return catalog


def test_a_range_fact_covers_every_port_of_the_range_and_no_other(ranged):
    for port in (3127, 3150, 3198):
        titles = [note.title for note in ranged.lookup(port, Proto.TCP).security]
        assert "Test worm" in titles, port
    for port in (3126, 3199):
        assert "Test worm" not in [n.title for n in ranged.lookup(port, Proto.TCP).security]


def test_exact_and_range_facts_combine(ranged):
    entry = ranged.lookup(3150, Proto.TCP)
    assert [use.software for use in entry.uses if use.origin != "bundled"] == ["Exact-port server"]
    assert "Test worm" in [note.title for note in entry.security]
    assert "Exact-port server" not in [use.software for use in ranged.lookup(3151, "tcp").uses]


def test_protocols_are_kept_apart(ranged):
    assert "Test worm" not in [n.title for n in ranged.lookup(3150, Proto.UDP).security]
    for port in (7000, 7100, 7102):
        for proto in Proto:
            assert "Both protocols" in [u.software for u in ranged.lookup(port, proto).uses]
    assert "Both protocols" not in [u.software for u in ranged.lookup(7103, Proto.TCP).uses]


def test_registry_meaning_of_registered_ports(bundled):
    ssh = bundled.lookup(22, Proto.TCP)
    assert (ssh.service, ssh.registered) == ("ssh", True)
    assert "Secure Shell" in ssh.description
    assert bundled.lookup(1, Proto.TCP).service == "tcpmux"
    assert bundled.lookup(3147, Proto.UDP).description == "RFIO"


def test_a_port_registered_for_tcp_only(bundled):
    # ircu is registered for 6665-6669/tcp; the same ports are only "Reserved" for udp.
    assert bundled.lookup(6667, Proto.TCP).service == "ircu"
    udp = bundled.lookup(6667, Proto.UDP)
    assert udp.service is None and not udp.registered


@pytest.mark.parametrize("port", [4, 48620])  # IANA: Unassigned; nothing curated
def test_unknown_ports_give_an_honest_empty_entry(bundled, port):
    for proto in Proto:
        entry = bundled.lookup(port, proto)
        assert entry.port == port and entry.proto is proto
        assert entry.service is None and not entry.registered
        assert entry.description is None  # "Unassigned" is not a description worth showing
        assert entry.uses == () and entry.security == () and entry.refs == ()


def test_reserved_ports_keep_the_registry_word(bundled):
    entry = bundled.lookup(0, Proto.TCP)
    assert entry.service is None and entry.description == "Reserved"


@pytest.mark.parametrize("port", [-1, 65536, 70000])
def test_a_port_outside_the_range_is_refused(bundled, port):
    with pytest.raises(ValueError, match=str(port)):
        bundled.lookup(port, Proto.TCP)


def test_an_unknown_protocol_is_refused(bundled):
    with pytest.raises(ValueError):
        bundled.lookup(80, "sctp")


def test_lookup_accepts_proto_text_and_is_stable(bundled):
    assert bundled.lookup(53, "udp") is bundled.lookup(53, Proto.UDP)


def test_annotate_joins_entry_and_assessment(bundled):
    sock = Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 48620, Exposure.ALL_INTERFACES)
    annotated = bundled.annotate(sock)
    assert annotated.listener is sock
    assert annotated.entry == bundled.lookup(48620, Proto.TCP)
    assert annotated.assessment.risk is Risk.LOW  # unknown service reachable from the network
    loop = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 48620, Exposure.LOOPBACK)
    assert bundled.annotate(loop).assessment.risk is Risk.NONE


def test_default_user_dir_is_the_config_catalog_d(isolated_dirs):
    config, _ = isolated_dirs
    write(config / "catalog.d", "mine.yaml", """\
        schema: 1
        entries:
          - ports: 48620
            proto: udp
            uses:
              - software: My game server
    """)
    entry = load_catalog().lookup(48620, Proto.UDP)
    assert [use.software for use in entry.uses] == ["My game server"]
    assert entry.uses[0].origin == str(config / "catalog.d" / "mine.yaml")
    assert load_catalog(None).lookup(48620, Proto.UDP).uses == ()


def test_start_up_parses_no_yaml_without_user_files():
    import subprocess
    import sys

    code = ("import sys; from portwatch.core.knowledge.catalog import load_catalog; "
            "c = load_catalog(None); c.lookup(22, 'tcp'); print('yaml' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "False"
