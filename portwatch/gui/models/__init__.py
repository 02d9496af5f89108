"""Qt item models: the listener table, its filter proxy, the history events table."""
