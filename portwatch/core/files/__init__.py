"""Where portwatch keeps its files, and writing them whole (atomically)."""
