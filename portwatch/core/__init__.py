"""Plain-Python core of portwatch, grouped by role along the data flow of one poll:

probe (read the OS) → model/fields (the values) → knowledge (what a port means, risk, reach
through the firewall) → monitor/diff (what changed) → alerts (what deserves a notification) →
store (history, settings) → output (JSON records, exports, metrics, journal, syslog); channels
carry alerts beyond the desktop. files, desktop and text.py hold the shared plumbing. Only
model, text, monitor and diff stay at the top: every layer reads the first two, and the last
two are the pipeline itself.

Nothing under portwatch.core imports Qt, portwatch.cli, portwatch.commands or portwatch.gui
(tests/core/test_layers.py checks every module).
"""
