"""Alerts in the window: the banner, the wiring of alert rules, and the rule dialogs."""
