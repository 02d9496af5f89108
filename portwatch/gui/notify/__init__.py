"""Telling the user outside the window: desktop notifications and the tray icon.

desktop.pick() chooses the notifier: notifier (the interface, the tray's messages, the null
fallback), freedesktop (the D-Bus notifications) over bus (the jeepney connection on the Qt
event loop); tray is the tray icon and its menu."""
