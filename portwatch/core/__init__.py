"""Plain-Python core of portwatch, grouped by role along the data flow of one poll:

probe (read the OS) → model/fields (the values) → knowledge (what a port means, risk) →
monitor/diff (what changed) → alerts (what deserves a notification) → store (history,
settings) → output (JSON records, exports). files and desktop hold the shared plumbing.

Nothing under portwatch.core imports Qt, portwatch.cli, portwatch.commands or portwatch.gui
(tests/core/test_layers.py checks every module).
"""
