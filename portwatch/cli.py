"""Command line: no arguments opens the window; subcommands run the plain-Python core.

Exit status: 0 success, 2 usage error (message on stderr), 1 runtime error (a clear message,
no traceback unless --debug).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from portwatch import __version__

log = logging.getLogger("portwatch")

# Each subcommand lives in portwatch/commands/<module>.py with add_parser(subparsers) and
# run(args) -> int. Listed here in the order --help shows them.
COMMAND_MODULES = ("listing", "lookup", "watch", "history", "metrics")
# Command name -> module, so that `portwatch list` imports only what `list` needs (start-up
# time counts: see README "Performance"). A command missing here still works: all load then.
COMMAND_NAMES = {"list": "listing", "lookup": "lookup", "watch": "watch", "history": "history",
                 "metrics": "metrics"}


class UserError(Exception):
    """A failure the user can act on: printed as one clear message, exit status 1."""


HELP_EPILOG = """\
Without a command, portwatch opens the window (and its tray icon); a second launch brings the
running window forward. `portwatch COMMAND --help` describes each command and its options.

Tables fit the terminal's width ($COLUMNS, else the terminal's), cutting the widest text
columns first; --wide prints every cell in full, which is also the default into a pipe or file.

Exit status: 0 success (also when Ctrl-C ends `watch`, and when the reader of a pipe goes
away); 2 usage error; 1 runtime error (a clear message; a traceback only with --debug).

Files (Linux): settings and window state in ~/.config/portwatch/ (settings.yaml,
window-state.json, your catalog additions in catalog.d/*.yaml); history, baseline,
acknowledgements and ignore rules in ~/.local/share/portwatch/history.sqlite3.
PORTWATCH_CONFIG_DIR and PORTWATCH_DATA_DIR override these folders.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: exit 2 with a clear message
        self.print_usage(sys.stderr)  # this command's usage (`portwatch list ...`)
        self.exit(2, f"portwatch: error: {message}\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter at every add_argument, and its own asks shutil for the
        # width: importing shutil (and the archive modules it loads) is ≈ 3 ms of a start-up.
        return self.formatter_class(prog=self.prog, width=terminal_columns() - 2)


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns without importing shutil: $COLUMNS, else the
    terminal's width, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or 80


def _command_module(argv: Sequence[str]) -> str | None:
    """The module of the command named in argv (the first word that is not an option); ""
    when argv names no command and asks for no help: the window opens, which needs none of
    the commands' modules (launch time counts: README "Performance")."""
    for word in argv:
        if not word.startswith("-"):
            return COMMAND_NAMES.get(word)
    return None if {"-h", "--help"} & set(argv) else ""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, just that command's module is imported (none for "")."""
    parser = _Parser(
        prog="portwatch",
        description="What is listening on this machine, what the port means, and whether to worry."
        " Without a command, opens the window.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the epilog's paragraphs
    )
    parser.add_argument("--version", action="version", version=f"portwatch {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logging and tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        if only is not None and name != only:
            continue
        importlib.import_module(f"portwatch.commands.{name}").add_parser(subparsers)
    for command in subparsers.choices.values():  # usage errors print that command's usage
        command.set_defaults(command_parser=command)
    return parser


def configure_logging(debug: bool) -> None:
    """Configure the `portwatch` logger once (never the root logger)."""
    logger = logging.getLogger("portwatch")
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("portwatch: %(levelname)s: %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_module(argv))
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # `list --foo`: the error belongs to `list`, so does the usage
        culprit = getattr(args, "command_parser", None) or parser
        culprit.error(f"unrecognized arguments: {' '.join(unknown)}")
    configure_logging(args.debug)
    try:
        if args.command is None:
            # imported late: the command-line commands never need Qt
            from portwatch.gui.desktop.launch import run_gui

            return run_gui(debug=args.debug)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `portwatch list | head`: the reader went away; that is not an error of ours.
        sys.stderr.close()
        return 0
    except UserError as exc:
        print(f"portwatch: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.debug:
            raise
        print(f"portwatch: error: {exc} (run with --debug for details)", file=sys.stderr)
        return 1
