"""The PySide6 front end: app.py wires the worker, models, views, alerts and notifications.

By role: models (Qt item models), views (the window and its parts), alerts, notify (outside the
window), style (colours, icons, plain text), desktop (fitting into the session). At the top stay
app.py (the composition root), worker.py and jobs.py (the two threading patterns every package
uses).
"""
