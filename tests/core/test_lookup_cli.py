"""`portwatch lookup` run as a real program: JSON contract, person-readable text, bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import Proto


def portwatch(*args, env=None):
    return subprocess.run([sys.executable, "-m", "portwatch", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_lookup_json_is_an_array_of_entry_records():
    result = portwatch("lookup", "3141", "53/udp", "--json")
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    assert [(i["port"], i["proto"]) for i in items] == [(3141, "tcp"), (3141, "udp"), (53, "udp")]
    first = items[0]
    assert first["service"] == "vmodem" and first["registered"] is True
    assert set(first) >= {"port", "proto", "service", "description", "uses", "security", "refs"}
    expected = load_catalog(None).lookup(3141, Proto.TCP)
    assert [n["title"] for n in first["security"]] == [n.title for n in expected.security]
    assert first["refs"] == list(expected.refs)
    assert items[2]["service"] == "domain"


def test_lookup_text_tells_a_person_everything_with_sources():
    result = portwatch("lookup", "3141")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    entry = load_catalog(None).lookup(3141, Proto.TCP)
    assert "vmodem" in text and "VMODEM" in text
    for fact in (*entry.uses, *entry.security):
        for ref in fact.refs:
            assert ref in text
    for use in entry.uses:
        assert use.software in text
    for note in entry.security:
        assert note.title in " ".join(text.split())  # titles may be wrapped
        assert f"[{note.severity.value}]" in text
    assert all(len(line) <= 80 or "://" in line for line in text.splitlines())


def test_lookup_3141_mentions_devpi_mydoom_and_finjan_once_the_data_has_them():
    entry = load_catalog(None).lookup(3141, Proto.TCP)
    facts = " ".join([*(u.text for u in entry.uses), *(n.title + " " + n.note
                                                      for n in entry.security)]).lower()
    missing = [name for name in ("devpi", "mydoom", "finjan") if name not in facts]
    if missing:
        pytest.skip(f"the curated data does not cover {missing} for 3141/tcp yet")
    text = " ".join(portwatch("lookup", "3141/tcp").stdout.split()).lower()
    for name in ("vmodem", "devpi", "mydoom", "finjan", "source: https://"):
        assert name in text


def test_an_unregistered_port_says_so_in_plain_words():
    result = portwatch("lookup", "48620/tcp")
    assert result.returncode == 0
    assert "not registered with IANA" in result.stdout


@pytest.mark.parametrize(("arg", "words"), [
    ("ab%c", "'ab%c' is not a port"),  # (a word like abc is a name: see test_terminal_output)
    ("70000", "0 to 65535"),
    ("80/sctp", "tcp or udp"),
    ("-5", "not a port"),
    ("", "not a port"),
])
def test_bad_arguments_exit_2_with_a_clear_message(arg, words):
    result = portwatch("lookup", arg)
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_broken_user_file_is_reported_but_lookup_still_works(tmp_path):
    import os

    config = tmp_path / "config"
    (config / "catalog.d").mkdir(parents=True)
    (config / "catalog.d" / "bad.yaml").write_text("schema: 1\nentries: [\n")
    (config / "catalog.d" / "mine.yaml").write_text(textwrap.dedent("""\
        schema: 1
        entries:
          - ports: 48620
            proto: tcp
            uses: [{software: Our build agent, note: "CI runner \\e[31m"}]
    """))
    env = {**os.environ, "PORTWATCH_CONFIG_DIR": str(config)}
    result = portwatch("lookup", "48620/tcp", env=env)
    assert result.returncode == 0
    assert "bad.yaml" in result.stderr and "skipped" in result.stderr
    assert "Our build agent" in result.stdout
    assert "mine.yaml" in result.stdout  # the origin of a user fact is shown
    assert "\x1b" not in result.stdout  # terminal escapes from a file are shown, not obeyed


def test_product_notes_say_which_programs_they_apply_to():
    result = portwatch("lookup", "2375/tcp", "22/tcp", "23/tcp")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "applies to: dockerd, docker" in text
    # regreSSHion is a note of the software OpenSSH, listed on its default port
    assert "applies to: sshd, sshd.exe" in text
    # a note about the port itself names no program
    block = text[text.index("Mirai and BASHLITE"):text.index("Telnet sends logins")]
    assert "applies to:" not in block


def test_lookup_json_has_the_patterns():
    result = portwatch("lookup", "3141/tcp", "--json")
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    devpi = next(u for u in item["uses_detail"] if u["software"] == "devpi-server")
    assert devpi["match"] == ["devpi-server", "devpi"]
    notes = {n["title"]: n for n in item["security"]}
    finjan = next(n for title, n in notes.items() if "Finjan" in title)
    assert finjan["applies_to"] == ["surfingate", "finjan"]
    assert notes["MyDoom.A backdoor range (2004)"]["applies_to"] == []
    assert all("applies" not in n for n in item["security"])  # no process, no verdict


def test_conditions_of_notes_are_shown():
    result = portwatch("lookup", "68/udp", "8888/tcp", "2375/tcp")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "only on: rhel, fedora" in text  # CVE-2018-1111 is Red Hat's and Fedora's
    assert "unless: a token or password is set" in text  # Jupyter: a setting to check
    assert "matters on loopback too: other users of this machine" in text  # Docker's API
    data = json.loads(portwatch("lookup", "68/udp", "--json").stdout)
    (cve,) = [n for n in data[0]["security"] if "1111" in n["title"]]
    assert cve["platforms"] == ["rhel", "fedora"] and cve["unless"] is None


@pytest.mark.parametrize("columns", ["57", "", "not a number", "-3", "0"])
def test_the_terminal_width_is_shutils_without_importing_shutil(monkeypatch, columns):
    import shutil

    from portwatch.cli import terminal_columns

    monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size((80, 24)).columns
