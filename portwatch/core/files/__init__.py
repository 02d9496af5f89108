"""Where portwatch keeps its files, writing them whole (atomically), reading YAML safely."""
