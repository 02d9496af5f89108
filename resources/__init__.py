"""Icons and other runtime assets (installed as the package portwatch.resources)."""
