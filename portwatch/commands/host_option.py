"""The `--host USER@HOST` option of `list` and `watch` (cheap to add: the ssh code in
remote_cli.py and core/probe/remote.py is imported only when the option is used)."""

from __future__ import annotations

import argparse


def host(text: str) -> str:
    from portwatch.core.probe.remote import check_host

    try:
        return check_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_host_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", type=host, metavar="USER@HOST",
                        help="run it on another machine through ssh (your ~/.ssh/config,"
                        " keys and agent; portwatch must be installed there)")
