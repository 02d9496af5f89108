"""Deciding what deserves a notification: alert rules, ignore rules, baseline, acknowledgements,
and which of a run's alerts are still outstanding."""
