"""Listeners as records for people and programs: the JSON contract, the CSV/JSON exports, and
what `watch` publishes to other programs: Prometheus metrics, journal entries, syslog messages."""
