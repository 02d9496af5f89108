"""The PySide6 front end: app.py wires the worker, models, views, alerts and notifications."""
