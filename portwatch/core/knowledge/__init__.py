"""What a port means: the catalog (IANA registry + curated notes + your own files) and risk."""
