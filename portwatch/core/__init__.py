"""Plain-Python core of portwatch: scanning, catalog, diffing, alert rules, history, settings.

Nothing under portwatch.core imports Qt; the command line, the GUI and the tests share it.
"""
