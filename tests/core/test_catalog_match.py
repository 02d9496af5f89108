"""Process patterns: `match` on uses and `applies_to` on notes, from the schema to
Catalog.annotate (likely uses, applicable notes, risk) on the bundled data and user files."""

from __future__ import annotations

import textwrap

import pytest

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.knowledge.catalog_schema import SchemaError, check_document
from portwatch.core.knowledge.risk import CANNOT_SEE
from portwatch.core.model import (
    Exposure,
    Family,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
)

ALL, LOOP = Exposure.ALL_INTERFACES, Exposure.LOOPBACK


@pytest.fixture(scope="module")
def bundled():
    return load_catalog(None)


def listen(port, process=None, address="0.0.0.0", proto=Proto.TCP, hidden=False):
    exposure = LOOP if address.startswith("127.") else ALL
    return Listener(proto, Family.IPV4, address, port, exposure, process, owner_hidden=hidden,
                    hidden_reason="owned by another user" if hidden else None)


def proc(name, *args, exe=None, pid=4242):
    return ProcessInfo(pid, name, "alice", exe or f"/usr/bin/{name}", (exe or name, *args))


PYTHON = "/usr/bin/python3.11"


# --------------------------------------------------------------------------- schema


def doc(use_extra="", note_extra=""):
    return {"schema": 1, "topic": "t", "entries": [{
        "ports": 2375, "proto": "tcp",
        "uses": [{"software": "Docker", "refs": ["https://docs.docker.com/"],
                  **({"match": use_extra} if use_extra != "" else {})}],
        "security": [{"title": "Open API", "severity": "high", "kind": "exposure",
                      "note": "root", "refs": ["https://docs.docker.com/"],
                      **({"applies_to": note_extra} if note_extra != "" else {})}],
    }]}


def test_patterns_are_optional_and_compiled_as_lists():
    (entry,) = check_document(doc(), "f.yaml", bundled=True)
    assert entry["uses"][0]["match"] == [] and entry["security"][0]["applies_to"] == []
    (entry,) = check_document(doc(["dockerd", "docker", "dockerd"], ["org.apache.catalina",
                                                                     "python -m http.server"]),
                              "f.yaml", bundled=True)
    assert entry["uses"][0]["match"] == ["dockerd", "docker"]  # repeats dropped
    assert entry["security"][0]["applies_to"] == ["org.apache.catalina",
                                                  "python -m http.server"]


@pytest.mark.parametrize(("value", "words"), [
    (["Dockerd"], "must be lower case (matching ignores case): write 'dockerd'"),
    ([""], "must not be empty"),
    (["   "], "must not be empty"),
    (["x" * 65], "65 characters long; a pattern has at most 64"),
    (["a\nb"], "line breaks or control characters"),
    ([" docker"], "must not start or end with a space"),
    ([3], "must be a text"),
    ("docker", "must be a non-empty list of process patterns such as [redis-server], not"
               " 'docker'"),
    ([], "not an empty list"),
    (None, "not empty"),
])
def test_bad_patterns_are_explained(value, words):
    for use_extra, note_extra, field in ((value, "", "uses[0].match"),
                                         ("", value, "security[0].applies_to")):
        with pytest.raises(SchemaError) as caught:
            check_document(doc(use_extra, note_extra), "mine.yaml", bundled=False)
        (message,) = caught.value.messages
        assert message.startswith(f"mine.yaml, entry 1 (ports 2375): {field}")
        assert words in message


def test_a_pattern_of_64_characters_is_fine():
    check_document(doc(["x" * 64]), "f.yaml", bundled=True)


def test_user_files_may_use_both_fields_and_keep_their_origin(tmp_path):
    directory = tmp_path / "catalog.d"
    directory.mkdir()
    mine = directory / "mine.yaml"
    mine.write_text(textwrap.dedent("""\
        schema: 1
        entries:
          - ports: 48620
            proto: tcp
            uses:
              - software: Our build agent
                match: [build-agent]
            security:
              - title: The agent runs any job it is sent
                severity: high
                kind: exposure
                applies_to: [build-agent]
                note: No authentication.
    """), encoding="utf-8")
    catalog = load_catalog(directory)
    assert catalog.problems == ()
    entry = catalog.lookup(48620, Proto.TCP)
    assert entry.uses[0].match == ("build-agent",) and entry.uses[0].origin == str(mine)
    assert entry.security[0].applies_to == ("build-agent",)
    agent = catalog.annotate(listen(48620, proc("build-agent", "--serve")))
    assert [u.software for u in agent.likely_uses] == ["Our build agent"]
    assert agent.assessment.risk is Risk.HIGH
    other = catalog.annotate(listen(48620, proc("nc", "-l", "48620")))
    assert other.likely_uses == () and other.assessment.applicable == ()
    assert other.assessment.risk is Risk.NONE


def test_a_bad_pattern_in_a_user_file_skips_that_file_with_a_message(tmp_path):
    directory = tmp_path / "catalog.d"
    directory.mkdir()
    (directory / "bad.yaml").write_text(textwrap.dedent("""\
        schema: 1
        entries:
          - ports: 48620
            proto: tcp
            uses: [{software: Agent, match: [Build-Agent]}]
    """), encoding="utf-8")
    catalog = load_catalog(directory)
    (problem,) = catalog.problems
    assert "uses[0].match[0] must be lower case" in problem and "skipped" in problem


# --------------------------------------------------------------------------- annotate, bundled


def test_devpi_on_loopback_3141_is_devpi_and_risk_none(bundled):
    devpi = ProcessInfo(4242, "devpi-server", "alice", "/usr/bin/python3.11",
                        ("/home/alice/.venv/bin/python3", "/home/alice/.venv/bin/devpi-server",
                         "--host", "127.0.0.1", "--port", "3141"))
    item = bundled.annotate(listen(3141, devpi, "127.0.0.1"))
    assert [u.software for u in item.likely_uses] == ["devpi-server"]
    assert item.assessment.risk is Risk.NONE
    assert item.assessment.reason == "devpi-server, the usual software on this port"
    assert item.assessment.applicable == ()
    titles = " ".join(n.title for n in item.entry.security)
    assert "MyDoom" in titles and "Finjan" in titles  # still there, as context


def test_devpi_started_by_python_is_recognised_by_its_command_line(bundled):
    devpi = proc("python3", "/home/alice/.venv/bin/devpi-server", exe=PYTHON)
    item = bundled.annotate(listen(3141, devpi))
    assert [u.software for u in item.likely_uses] == ["devpi-server"]
    assert item.assessment.risk is Risk.NONE


def test_an_unknown_program_on_3141_is_low_for_the_mydoom_range(bundled):
    item = bundled.annotate(listen(3141, proc("python3", "serve.py", exe=PYTHON)))
    assert item.likely_uses == ()
    assert item.assessment.risk is Risk.LOW
    assert "MyDoom" in item.assessment.reason
    assert item.assessment.reason.endswith("check what this program is")
    kinds = {n.kind for n in item.assessment.applicable}
    assert kinds == {"malware-history"}  # Finjan's CVE is context only


def test_dockerd_on_all_interfaces_is_high_and_on_loopback_medium_for_local_users(bundled):
    dockerd = proc("dockerd", "-H", "tcp://0.0.0.0:2375")
    item = bundled.annotate(listen(2375, dockerd))
    assert item.assessment.risk is Risk.HIGH
    assert [u.software for u in item.likely_uses] == ["Docker Engine API (unencrypted)"]
    assert "root on the host" in item.assessment.reason
    loop = bundled.annotate(listen(2375, dockerd, "127.0.0.1"))
    assert loop.assessment.risk is Risk.MEDIUM  # the note is about local users too
    assert "any user or program on this machine can reach it" in loop.assessment.reason


def test_python_on_2375_gets_the_docker_note_as_context_only(bundled):
    item = bundled.annotate(listen(2375, proc("python3", "-m", "myapp", exe=PYTHON)))
    assert item.assessment.applicable == ()
    assert item.assessment.risk is Risk.NONE  # no other note on 2375 applies
    assert "about Docker Engine API, and this program is not it" in item.assessment.reason


def test_a_hidden_owner_on_2375_is_medium_if_it_is_docker(bundled):
    item = bundled.annotate(listen(2375, None, hidden=True))
    assert item.assessment.risk is Risk.MEDIUM  # hedged: it may not be Docker
    assert item.assessment.reason.endswith(f"if the listener is Docker Engine API; {CANNOT_SEE}")
    assert item.likely_uses == ()


def test_sshd_on_all_interfaces_is_medium_with_a_version_check(bundled):
    item = bundled.annotate(listen(22, proc("sshd", "-D", exe="/usr/sbin/sshd")))
    assert item.assessment.risk is Risk.MEDIUM
    assert "CVE-2024-6387" in item.assessment.reason
    assert "check your version" in item.assessment.reason
    assert [u.software for u in item.likely_uses] == ["OpenSSH (sshd)"]
    dropbear = bundled.annotate(listen(22, proc("dropbear", "-F", "-E")))
    assert all("CVE-2024-6387" not in n.title for n in dropbear.assessment.applicable)
    assert dropbear.assessment.risk.rank <= Risk.LOW.rank


def test_a_container_publishing_redis_keeps_the_redis_note(bundled):
    proxy = proc("docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0", "-host-port", "6379",
                 "-container-ip", "172.17.0.2", "-container-port", "6379")
    item = bundled.annotate(listen(6379, proxy))
    assert item.assessment.risk is Risk.MEDIUM  # hedged, at most medium
    assert "container's published port" in item.assessment.reason
    assert "if the listener is Redis" in item.assessment.reason
    assert item.likely_uses == ()  # not presented as Redis


def test_coldfusion_notes_do_not_land_on_consul(bundled):
    consul = bundled.annotate(listen(8500, proc("consul", "agent", "-dev")))
    titles = [n.title for n in consul.assessment.applicable]
    assert titles and all("ColdFusion" not in t for t in titles)
    assert any("Consul" in t for t in titles)
    coldfusion = bundled.annotate(listen(8500, proc(
        "java", "-Dcoldfusion.home=/opt/coldfusion2021/cfusion", "com.adobe.coldfusion.Start")))
    assert [n.title for n in coldfusion.assessment.applicable if "ColdFusion" in n.title]
    assert [u.software for u in coldfusion.likely_uses] == [
        "Adobe ColdFusion (built-in web server)"]


def test_annotate_is_cached_per_program(bundled):
    sshd = proc("sshd", "-D", pid=1)
    first = bundled.annotate(listen(22, sshd))
    again = bundled.annotate(listen(22, proc("sshd", "-D", pid=2)))  # a restart: same program
    assert again.assessment is first.assessment and again.likely_uses == first.likely_uses
    assert again.listener.pid == 2
    # 2,000 sockets of 50 programs on 500 ports: one assessment per program and port, shared
    # (what it costs is a figure of `make bench`, not an assertion).
    sockets = [listen(20000 + n % 500, proc(f"server{n % 50}", "--port", str(n % 50)))
               for n in range(2000)]
    assessments = {id(bundled.annotate(sock).assessment) for sock in sockets}
    assert len(assessments) == 500


# --------------------------------------------------------------------------- records


def test_listener_records_show_likely_software_and_which_notes_apply(bundled):
    from portwatch.core.output import records

    devpi = records.listener_record(bundled.annotate(listen(3141, proc("devpi-server"),
                                                            "127.0.0.1")))
    assert devpi["likely_software"] == ["devpi-server"]
    assert devpi["risk"] == "none"
    assert devpi["security"] and not any(n["applies"] for n in devpi["security"])
    finjan = next(n for n in devpi["security"] if "Finjan" in n["title"])
    assert finjan["applies_to"] == ["surfingate", "finjan"]
    other = records.listener_record(bundled.annotate(listen(3141, proc("nc", "-l", "3141"))))
    assert other["likely_software"] == []
    applies = {n["title"]: n["applies"] for n in other["security"]}
    assert applies[finjan["title"]] is False
    assert applies["MyDoom.A backdoor range (2004)"] is True
    bare = records.listener_record(listen(3141, proc("nc")))
    assert bare["likely_software"] is None and bare["security"] is None
    entry = records.entry_record(bundled.lookup(3141, Proto.TCP))
    assert {"software": "devpi-server", "match": ["devpi-server", "devpi"]}.items() <= next(
        u for u in entry["uses_detail"] if u["software"] == "devpi-server").items()
    assert all("applies" not in n for n in entry["security"])  # no process: no verdict


def test_a_softwares_notes_come_along_to_another_port(bundled):
    """Redis on 7777: the notes that make it medium are in list --json's "security" (they are
    not the port's), marked as applying, and the window's Security cell names them."""
    from portwatch.core.output import records

    redis = proc("redis-server", "*:7777", exe="/usr/bin/redis-server")
    item = bundled.annotate(listen(7777, redis))
    assert item.entry.security == ()  # 7777 itself has no notes
    record = records.listener_record(item)
    assert record["risk"] == "medium" and record["likely_software"] == ["Redis"]
    applying = [n["title"] for n in record["security"] if n["applies"]]
    assert "Redis server, meant for trusted networks only" in applying
    (note,) = [n for n in record["security"] if n["title"].startswith("Redis server")]
    assert note["software"] == "Redis" and note["unless"].startswith("a password is set")
