"""Catalog data shipped with portwatch (installed as the package portwatch.data). See SOURCES."""
