"""The window and its parts: main window, details pane, filter bar, History tab, dialogs, the
table's cell painter and column chooser, the Help dialogs."""
