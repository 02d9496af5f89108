"""`portwatch metrics`: one scan printed in the Prometheus text exposition format (the same
series `watch --textfile DIR` keeps in DIR/portwatch.prom; see core/output/prometheus.py)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from portwatch.commands.listing import annotate, sort_key
from portwatch.core.output.prometheus import render
from portwatch.core.probe.scanner import default_owner_cache, scan_listeners


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="print one scan in the Prometheus text format",
        description="One scan in the Prometheus text exposition format: an info series per"
        " listener and totals by exposure and risk. For node_exporter's textfile collector,"
        " use `portwatch watch --textfile DIR`.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from portwatch.core.firewall import Firewall

    started = time.perf_counter()
    snapshot = scan_listeners(owner_cache=default_owner_cache())
    duration = time.perf_counter() - started
    for problem in snapshot.problems:
        print(f"portwatch: {problem}", file=sys.stderr)
    rows = sorted(annotate(snapshot, Firewall()), key=sort_key)  # risk as `list` judges it
    sys.stdout.write(render(rows, taken_at=snapshot.taken_at, duration=duration,
                            partial=snapshot.partial))
    return 0
