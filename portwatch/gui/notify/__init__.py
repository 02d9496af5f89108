"""Telling the user outside the window: desktop notifications and the tray icon."""
