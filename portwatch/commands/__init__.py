"""The command line: one module per subcommand (`list`, `lookup`, `watch`, `history`)."""
