"""The bundle's entry point: the same as the `portwatch` command and `python -m portwatch`."""

import sys

from portwatch.cli import main

if __name__ == "__main__":
    sys.exit(main())
