"""What portwatch keeps on disk: the history database (events, runs, alert memory) and settings."""
