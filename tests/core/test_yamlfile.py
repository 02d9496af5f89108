"""The one reader of users' YAML files (core/files/yamlfile.py): portwatch's own limits decide its
messages, whatever the installed PyYAML does, and files that are not plain files are refused
without being read."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from portwatch.core.files.yamlfile import MAX_DEPTH, YamlFileError, read_yaml
from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.store.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
DEEP_LINE = 3  # where the nesting passes the limit in deep_document()


def deep_document(levels: int = 50_000) -> str:
    # Two harmless lines first, so the message's line number is not trivially 1.
    return "# a comment\nkey: value\nother: " + "[" * levels + "]" * levels + "\n"


def test_too_deep_gets_portwatchs_message_with_the_line_and_the_limit(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(deep_document())
    with pytest.raises(YamlFileError) as caught:
        read_yaml(path, kind="catalog file", max_bytes=1024 * 1024)
    assert str(caught.value).startswith(
        f"is nested more than {MAX_DEPTH} levels deep at line {DEEP_LINE};")


def test_exactly_at_the_limit_is_read(tmp_path):
    path = tmp_path / "edge.yaml"
    inner = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    path.write_text(f"key: {inner}\n")  # the mapping is level 1
    data = read_yaml(path, kind="catalog file", max_bytes=1024)
    depth, value = 1, data["key"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert (depth, value) == (MAX_DEPTH, 1)


def test_an_alias_is_refused_with_its_line(tmp_path):
    path = tmp_path / "alias.yaml"
    path.write_text("a: &x [1, 2]\nb: *x\n")
    with pytest.raises(YamlFileError, match=r"uses a YAML alias \(\*name\) at line 2"):
        read_yaml(path, kind="settings file", max_bytes=1024)


def test_a_link_to_a_kernel_file_is_refused_without_reading_it(tmp_path):
    """/proc/kmsg passes a regular-file check and blocks on read (and reading it consumes the
    kernel's log): it must be refused before any read. /proc/self/status stands in where
    /proc/kmsg cannot be opened (not root)."""
    target = "/proc/kmsg" if os.access("/proc/kmsg", os.R_OK) else "/proc/self/status"
    link = tmp_path / "kmsg.yaml"
    link.symlink_to(target)
    with pytest.raises(YamlFileError, match=r"is a file of the kernel's"):
        read_yaml(link, kind="catalog file", max_bytes=1024 * 1024)


def test_kmsg_in_catalog_d_does_not_hang_the_catalog_or_the_settings(tmp_path):
    """End to end in a child with a deadline: a hang fails the test instead of the run."""
    user_dir = tmp_path / "catalog.d"
    user_dir.mkdir()
    target = "/proc/kmsg" if os.access("/proc/kmsg", os.R_OK) else "/proc/self/status"
    (user_dir / "kmsg.yaml").symlink_to(target)
    settings = tmp_path / "settings.yaml"
    settings.symlink_to(target)
    code = ("import json, sys; from portwatch.core.knowledge.catalog import load_catalog;"
            " from portwatch.core.store.settings import load_settings;"
            " print(json.dumps([load_catalog(sys.argv[1]).problems,"
            " load_settings(sys.argv[2])[1]]))")
    result = subprocess.run([sys.executable, "-c", code, str(user_dir), str(settings)],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    (catalog_problem,), (settings_problem,) = json.loads(result.stdout)
    assert "kmsg.yaml: is a file of the kernel's" in catalog_problem
    assert "settings.yaml: is a file of the kernel's" in settings_problem


def test_settings_and_catalog_share_one_depth_limit(tmp_path):
    (tmp_path / "settings.yaml").write_text(deep_document())
    user_dir = tmp_path / "catalog.d"
    user_dir.mkdir()
    (user_dir / "deep.yaml").write_text(deep_document())
    _, messages = load_settings(tmp_path / "settings.yaml")
    problems = load_catalog(user_dir).problems
    expected = f"is nested more than {MAX_DEPTH} levels deep at line {DEEP_LINE}"
    assert expected in messages[0] and expected in problems[0]


def _locked_pyyaml() -> str:
    text = (REPO / "requirements" / "test.txt").read_text()
    return re.search(r"^pyyaml==(\S+)", text, re.MULTILINE | re.IGNORECASE).group(1)


def _oldest_allowed_pyyaml() -> str:
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'"pyyaml>=([^",]+)', text).group(1)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["oldest allowed", "locked"])
def test_the_message_is_the_same_on_every_allowed_pyyaml(tmp_path, which):
    """The oldest release pyproject.toml allows and the locked one (`make test-latest` runs the
    whole suite on the newest) are installed from the package registry into a folder of their
    own; a child process loads both kinds of deep file with that PyYAML first on its path."""
    version = _oldest_allowed_pyyaml() if which == "oldest allowed" else _locked_pyyaml()
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--only-binary", ":all:", "--no-deps", "--target", str(site), f"pyyaml=={version}"],
        capture_output=True, text=True, timeout=300)
    if install.returncode != 0:
        pytest.skip(f"PyYAML {version} could not be installed from the registry here:"
                    f" {install.stderr.strip()[-300:]}")
    (tmp_path / "settings.yaml").write_text(deep_document())
    user_dir = tmp_path / "catalog.d"
    user_dir.mkdir()
    (user_dir / "deep.yaml").write_text(deep_document())
    code = ("import json, sys, yaml; from portwatch.core.knowledge.catalog import load_catalog;"
            " from portwatch.core.store.settings import load_settings;"
            " print(json.dumps([yaml.__version__, load_settings(sys.argv[1])[1],"
            " list(load_catalog(sys.argv[2]).problems)]))")
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{REPO}")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "settings.yaml"),
                             str(user_dir)], capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    used, settings_messages, catalog_problems = json.loads(result.stdout)
    assert used == version
    expected = f"is nested more than {MAX_DEPTH} levels deep at line {DEEP_LINE}"
    assert expected in settings_messages[0]
    assert expected in catalog_problems[0]
