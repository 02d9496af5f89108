"""The window and its parts: main window, details pane, filter bar, History tab, dialogs."""
