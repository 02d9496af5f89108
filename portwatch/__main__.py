"""`python -m portwatch`: the same entry point as the `portwatch` command."""

import sys

from portwatch.cli import main

sys.exit(main())
