"""The user's catalog.d/*.yaml: merged first with their origin, broken files skipped with a
sentence in `problems`, never a crash, never written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import Proto, Severity

GOOD = """\
    schema: 1
    topic: my machines
    entries:
      - ports: 6379
        proto: tcp
        uses:
          - software: Team cache
            note: our shared Redis on the build box
            refs: [https://wiki.example.org/cache]
        security:
          - title: Build cache open to the office network
            severity: medium
            kind: exposure
            note: Anyone in the office can flush it.
"""


@pytest.fixture
def user_dir(tmp_path):
    path = tmp_path / "catalog.d"
    path.mkdir()
    return path


def write(directory, name, text, encoding="utf-8"):
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding=encoding)
    return path


def test_user_facts_come_first_and_keep_their_origin(user_dir):
    mine = write(user_dir, "mine.yaml", GOOD)
    catalog = load_catalog(user_dir)
    bundled = load_catalog(None).lookup(6379, Proto.TCP)
    entry = catalog.lookup(6379, Proto.TCP)
    assert catalog.problems == ()
    assert entry.uses[0].software == "Team cache"
    assert entry.uses[0].origin == str(mine)
    assert entry.uses[0].refs == ("https://wiki.example.org/cache",)
    assert entry.security[0].title == "Build cache open to the office network"
    assert entry.security[0].severity is Severity.MEDIUM
    assert entry.security[0].origin == str(mine)
    # the bundled facts are still there, after the user's, still marked bundled
    assert entry.uses[1:] == bundled.uses
    assert entry.security[1:] == bundled.security
    assert entry.service == bundled.service == "redis"


def test_user_file_is_not_modified(user_dir):
    mine = write(user_dir, "mine.yaml", GOOD)
    os.utime(mine, (1_000_000_000, 1_000_000_000))
    before = (mine.read_bytes(), mine.stat().st_mtime_ns, sorted(os.listdir(user_dir)))
    load_catalog(user_dir).lookup(6379, Proto.TCP)
    after = (mine.read_bytes(), mine.stat().st_mtime_ns, sorted(os.listdir(user_dir)))
    assert after == before


def test_a_file_with_a_syntax_error_is_skipped_and_others_still_load(user_dir):
    write(user_dir, "good.yaml", GOOD)
    broken = write(user_dir, "broken.yaml",
                   "schema: 1\nentries:\n  - ports: [8080\n    proto: tcp\n")
    catalog = load_catalog(user_dir)
    (problem,) = catalog.problems
    assert str(broken) in problem and "not valid YAML" in problem and "line " in problem
    assert "skipped" in problem
    assert catalog.lookup(6379, Proto.TCP).uses[0].software == "Team cache"


def test_wrong_types_name_file_entry_and_field(user_dir):
    mine = write(user_dir, "mine.yaml", """\
        schema: 1
        entries:
          - ports: 22
            proto: tcp
            uses: [{software: A}]
          - ports: 23
            proto: tcp
            uses: [{software: B}]
          - ports: 8080
            proto: tcp
            security:
              - title: Typo
                severity: hgih
                kind: exposure
                note: the severity is misspelt
    """)
    catalog = load_catalog(user_dir)
    assert catalog.problems == (
        f"{mine}, entry 3 (ports 8080): security[0].severity must be one of info, low, medium,"
        " high, not 'hgih' (the file was skipped)",
    )
    # a broken file is skipped as a whole: its good entries are not half-applied
    assert "A" not in [use.software for use in catalog.lookup(22, Proto.TCP).uses]


@pytest.mark.parametrize(("text", "expected"), [
    ("- just a list\n", "must be a mapping"),
    ("schema: 2\nentries: []\n", "schema 2 is not supported"),
    ("entries: []\n", "schema is missing"),
    ("schema: 1\nentries: {ports: 1}\n", "entries must be a list"),
    ("schema: 1\nentries:\n  - ports: 99999\n    proto: tcp\n    uses: [{software: x}]\n",
     "entry 1: ports must be a port (0-65535)"),
    ("schema: 1\nentries:\n  - ports: 80\n    proto: sctp\n    uses: [{software: x}]\n",
     "entry 1 (ports 80): proto must be one of tcp, udp, both, not 'sctp'"),
    ("schema: 1\nentries:\n  - ports: 80\n    proto: tcp\n    uses: [{software: 5}]\n",
     "entry 1 (ports 80): uses[0].software must be a non-empty text, not 5"),
    ("schema: 1\nentries:\n  - ports: 80\n    proto: tcp\n    secutiry: []\n",
     "entry 1 (ports 80): unknown field 'secutiry'"),
    ("schema: 1\nentries:\n  - ports: 80\n    proto: tcp\n"
     "    uses: [{software: x, refs: ['ftp://example.org/']}]\n",
     "uses[0].refs[0] must start with https:// or http://"),
])
def test_schema_mistakes_are_reported_in_words(user_dir, text, expected):
    mine = write(user_dir, "mine.yaml", text)
    problems = load_catalog(user_dir).problems
    assert len(problems) == 1, problems
    assert problems[0].startswith(str(mine))
    assert expected in problems[0]


def test_a_directory_named_like_a_catalog_file_is_skipped(user_dir):
    (user_dir / "x.yaml").mkdir()
    write(user_dir, "good.yaml", GOOD)
    catalog = load_catalog(user_dir)
    assert catalog.problems == (f"{user_dir / 'x.yaml'}: is a directory, not a catalog file; "
                                "it was skipped.",)
    assert catalog.lookup(6379, Proto.TCP).uses[0].software == "Team cache"


def test_an_unreadable_file_is_skipped(user_dir):
    (user_dir / "gone.yaml").symlink_to(user_dir / "missing-target.yaml")  # dangling link
    (problem,) = load_catalog(user_dir).problems
    assert str(user_dir / "gone.yaml") in problem and "cannot be read" in problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_skipped(user_dir):
    path = write(user_dir, "secret.yaml", GOOD)
    path.chmod(0)
    try:
        (problem,) = load_catalog(user_dir).problems
    finally:
        path.chmod(0o600)
    assert "cannot be read" in problem


def test_a_fifo_named_like_a_catalog_file_does_not_block_the_load(user_dir):
    os.mkfifo(user_dir / "pipe.yaml")  # opening it for reading would wait for a writer forever
    (problem,) = load_catalog(user_dir).problems
    assert "pipe.yaml: is not a regular file" in problem


def test_a_huge_file_is_not_read(user_dir):
    path = user_dir / "huge.yaml"
    path.write_bytes(b"# padding\n" * 110_000)  # 1.1 MB of valid YAML comments
    (problem,) = load_catalog(user_dir).problems
    assert str(path) in problem and "1,074 KB" in problem and "over 1 MB" in problem


def test_a_file_that_is_not_utf8_is_skipped(user_dir):
    write(user_dir, "latin.yaml", GOOD.replace("our shared", "unsere gemütliche"),
          encoding="latin-1")
    (problem,) = load_catalog(user_dir).problems
    assert "not UTF-8" in problem


def test_deeply_nested_yaml_does_not_crash(user_dir):
    """libyaml's loader recurses once per level: this file crashed the interpreter (SIGSEGV)
    before nesting was refused, so it is loaded in a child process; a regression then fails
    this test instead of ending the whole run."""
    (user_dir / "deep.yaml").write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    code = ("import json, sys; from portwatch.core.knowledge.catalog import load_catalog;"
            " print(json.dumps(load_catalog(sys.argv[1]).problems))")
    result = subprocess.run([sys.executable, "-c", code, str(user_dir)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"exit status {result.returncode}: {result.stderr[-1000:]}"
    (problem,) = json.loads(result.stdout)
    assert "deep.yaml: is nested more than 32 levels deep at line 1" in problem


def test_an_empty_file_adds_nothing_and_is_no_problem(user_dir):
    (user_dir / "empty.yaml").write_text("")
    assert load_catalog(user_dir).problems == ()


def test_other_files_and_editor_leftovers_are_ignored(user_dir):
    (user_dir / "notes.txt").write_text("not yaml: [")
    (user_dir / ".#mine.yaml").write_text("not yaml: [")
    write(user_dir, "mine.yml", GOOD)
    catalog = load_catalog(user_dir)
    assert catalog.problems == ()
    assert catalog.lookup(6379, Proto.TCP).uses[0].software == "Team cache"


def test_a_missing_user_dir_is_fine(tmp_path):
    catalog = load_catalog(tmp_path / "does-not-exist")
    assert catalog.problems == ()
    assert catalog.lookup(22, Proto.TCP).service == "ssh"


def test_a_user_dir_that_is_a_file_is_reported(tmp_path):
    path = tmp_path / "catalog.d"
    path.write_text("oops")
    (problem,) = load_catalog(path).problems
    assert str(path) in problem


def test_user_refs_may_be_left_out(user_dir):
    write(user_dir, "mine.yaml", """\
        schema: 1
        entries:
          - ports: 65001
            proto: tcp
            uses:
              - software: Internal thing
                note: no public page
    """)
    entry = load_catalog(user_dir).lookup(65001, Proto.TCP)
    assert entry.uses[0].refs == ()
