"""Benchmark: how long loading the catalog and looking ports up take (run by hand, not by pytest).

    PYTHONPATH=. python tests/perf/bench_catalog.py [--runs 30]

Each load runs in a fresh interpreter so module imports count, as they do at start-up; the
figure printed is the time of `load_catalog()` itself (bundled data only; with one small user
file; with five 50-entry user files) plus, separately, the import costs.
Lookups are timed warm (cached) and cold (first lookup of each port) in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    from portwatch.core.knowledge.catalog import load_catalog
    t1 = time.perf_counter()
    import yaml  # settings.yaml needs it too; timed apart from the catalog's own work
    t2 = time.perf_counter()
    catalog = load_catalog(None if sys.argv[1] == "-" else sys.argv[1])
    t3 = time.perf_counter()
    assert not catalog.problems, catalog.problems
    print(json.dumps({"import": (t1 - t0) * 1000, "yaml": (t2 - t1) * 1000,
                      "load": (t3 - t2) * 1000}))
""")



def user_file(n: int, entries: int) -> str:
    items = "".join(f"""\
  - ports: {20000 + 100 * n + i}
    proto: tcp
    uses:
      - software: Service {i}
        note: something we run
        refs: [https://example.org/{i}]
""" for i in range(entries))
    return f"schema: 1\ntopic: bench {n}\nentries:\n{items}"


def spread(values: list[float]) -> str:
    values = sorted(values)
    q1, q3 = values[len(values) // 4], values[(3 * len(values)) // 4]
    return (f"median {statistics.median(values):6.2f} ms  (min {values[0]:.2f}, "
            f"IQR {q1:.2f}-{q3:.2f}, max {values[-1]:.2f})")


def bench_load(runs: int, user_dir: str, label: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times: dict[str, list[float]] = {"load": [], "import": [], "yaml": []}
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CHILD, user_dir], capture_output=True,
                             text=True, env=env, check=True).stdout
        for key, value in json.loads(out).items():
            times[key].append(value)
    print(f"load_catalog(), {label:24}: {spread(times['load'])}")
    if user_dir == "-":
        print(f"import portwatch.core.knowledge.catalog  {'':10}: {spread(times['import'])}"
              "  (stdlib + model; shared with the rest of the program)")
        print(f"import yaml (only with user files){'':6}: {spread(times['yaml'])}"
              "  (settings.yaml needs it anyway)")


def bench_lookup() -> None:
    sys.path.insert(0, str(REPO))
    from portwatch.core.knowledge.catalog import load_catalog
    from portwatch.core.model import Proto

    catalog = load_catalog(None)
    ports = range(0, 65536)
    started = time.perf_counter()
    for port in ports:
        catalog.lookup(port, Proto.TCP)
    cold = (time.perf_counter() - started) / len(ports) * 1e6
    started = time.perf_counter()
    for port in ports:
        catalog.lookup(port, Proto.TCP)
    warm = (time.perf_counter() - started) / len(ports) * 1e6
    print(f"lookup, first time per port  : {cold:6.2f} µs   (all 65,536 tcp ports)")
    print(f"lookup, cached               : {warm:6.2f} µs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    bench_load(args.runs, "-", "bundled only")
    for files, entries in ((1, 10), (5, 50)):
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(files):
                Path(tmp, f"bench{n}.yaml").write_text(user_file(n, entries), encoding="utf-8")
            bench_load(args.runs, tmp, f"+ {files} user file(s) x {entries}")
    bench_lookup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
