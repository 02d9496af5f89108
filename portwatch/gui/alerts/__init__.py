"""Alerts in the window: the banner and its dock, the wiring of alert rules and alert channels,
and the rule dialogs."""
