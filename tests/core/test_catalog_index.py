"""The compact catalog index (core/knowledge/catalog_index.py) gives exactly the catalog the full
parse gives, is believed only when made from the bundled files found now by this user, and a
missing, stale, damaged or foreign index costs one full parse, never a wrong answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portwatch.assets import data_file
from portwatch.core.knowledge import catalog_index
from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.knowledge.catalog_layers import IndexedFacts
from portwatch.core.model import Proto


def index_path():
    return catalog_index.index_path(Path(os.environ["PORTWATCH_DATA_DIR"]))


def indexed(catalog) -> bool:
    return isinstance(catalog._layers[-1], IndexedFacts)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """(the catalog parsed whole, the catalog read through a fresh index), bundled only; in a
    data directory of its own (built once for the module, before the per-test one exists)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PORTWATCH_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        full = load_catalog(None, use_index=False)
        assert not index_path().exists()  # use_index=False writes nothing
        first = load_catalog(None)  # no index yet: parses whole and writes one
        assert not indexed(first) and index_path().exists()
        second = load_catalog(None)
        assert indexed(second)
    return full, second


def test_every_port_and_protocol_has_the_same_entry_through_the_index(both):
    full, fast = both
    for port in range(65536):
        for proto in Proto:
            assert fast.lookup(port, proto) == full.lookup(port, proto), (port, proto)


def test_every_name_stands_for_the_same_ports_through_the_index(both):
    full, fast = both
    names = {row[2] for row in full._rows[::25] if row[2]}  # 1 in 25: ≈ 200 service names
    names |= {software.name for software in full.software.software}
    names |= {word for software in full.software.software for word in software.executables}
    names |= {"redis", "devpi", "ssh", "http", "Jupyter", "nope-not-a-name", "node.js"}
    for name in sorted(names):
        assert fast.ports_named(name) == full.ports_named(name), name


def test_the_users_facts_still_come_first_with_the_index(tmp_path):
    user = tmp_path / "catalog.d"
    user.mkdir()
    (user / "mine.yaml").write_text(
        "schema: 1\n"
        "topic: ours\n"
        "entries:\n"
        "  - ports: 3141\n"
        "    proto: tcp\n"
        "    uses:\n"
        "      - software: my package index\n"
        "        note: ours\n")
    load_catalog(user)  # writes the index
    full, fast = load_catalog(user, use_index=False), load_catalog(user)
    assert indexed(fast) and fast.problems == ()
    assert fast.lookup(3141, Proto.TCP) == full.lookup(3141, Proto.TCP)
    assert fast.lookup(3141, Proto.TCP).uses[0].software == "my package index"
    assert fast.ports_named("my package index") == [(3141, Proto.TCP)]


def test_an_index_of_other_bundled_files_is_not_believed():
    load_catalog(None)
    sources = {name: data_file(name) for name in catalog_index.SOURCES}
    stamp = catalog_index.source_stamp(sources)
    assert catalog_index.read(index_path(), stamp) is not None
    older = {**stamp, "curated.json": [stamp["curated.json"][0], 1]}  # a file replaced since
    assert catalog_index.read(index_path(), older) is None
    assert catalog_index.read(index_path(), {**stamp, "portwatch": "0.0.1"}) is None
    assert catalog_index.read(index_path(), None) is None  # sources not files (a zip)


@pytest.mark.parametrize("damage", ["truncated", "foreign", "others-can-write", "format",
                                    "link", "bit-flip"])
def test_a_damaged_or_foreign_index_costs_a_full_parse_and_is_rewritten(damage, tmp_path):
    load_catalog(None)
    path = index_path()
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "foreign":
        path.write_bytes(b"something else entirely\n" + data)
    elif damage == "bit-flip":  # in a port's facts, far from anything checked before use
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0x20]) + data[middle + 1:])
    elif damage == "others-can-write":
        path.chmod(0o666)
    elif damage == "format":
        start = len(catalog_index.MAGIC) + 4
        length = int.from_bytes(data[len(catalog_index.MAGIC):start], "little")
        header = json.loads(data[start:start + length])
        header["format"] = catalog_index.FORMAT + 1
        text = json.dumps(header).encode().ljust(length)  # the same length: offsets hold
        path.write_bytes(data[:start] + text + data[start + length:])
    else:
        moved = tmp_path / "elsewhere.bin"
        path.rename(moved)
        path.symlink_to(moved)
    catalog = load_catalog(None)
    assert not indexed(catalog)  # parsed whole...
    assert catalog.lookup(3141, Proto.TCP).service == "vmodem"
    assert not path.is_symlink() and path.stat().st_mode & 0o777 == 0o600
    assert indexed(load_catalog(None))  # ...and a good index written in its place


def test_no_data_directory_is_created_for_the_index(tmp_path, monkeypatch):
    missing = tmp_path / "not-yet"
    monkeypatch.setenv("PORTWATCH_DATA_DIR", str(missing))
    assert load_catalog(None).lookup(22, Proto.TCP).service == "ssh"
    assert not missing.exists()


def test_lookup_prints_the_same_with_and_without_the_index():
    """The whole command, twice: the first run parses the catalog and writes the index, the
    second reads through it."""
    queries = ["3141", "22", "53/udp", "0", "65535", "3127", "6942", "8080", "redis", "devpi",
               "ssh", "jupyter", "postgresql"]
    runs = []
    for _ in range(2):
        outputs = []
        for arguments in ([*queries], [*queries, "--json"]):
            result = subprocess.run([sys.executable, "-m", "portwatch", "lookup", *arguments],
                                    capture_output=True, text=True, check=True)
            outputs.append(result.stdout)
        runs.append(outputs)
        assert index_path().exists()
    assert runs[0] == runs[1]
    assert "3141/tcp — IANA name: vmodem" in runs[1][0]
    assert json.loads(runs[1][1])[0]["port"] == 3141


def test_threads_asking_for_the_same_ports_get_each_fact_once():
    """The window's lookup dialog and the worker's annotate share the catalog: a port read
    twice at once must not list its facts twice."""
    import threading

    load_catalog(None)
    fast, full = load_catalog(None), load_catalog(None, use_index=False)
    assert indexed(fast)
    ports = [3141, 22, 80, 443, 6379, 8080, 5432, 3306, 53, 123] * 3
    start = threading.Barrier(4)

    def ask():
        start.wait(30)
        for port in ports:
            fast.lookup(port, Proto.TCP)
            fast._cache.clear()  # every call builds the entry again from the layer

    threads = [threading.Thread(target=ask) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: without the lock this fails most runs
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    for port in set(ports):
        assert fast.lookup(port, Proto.TCP) == full.lookup(port, Proto.TCP), port
