"""Deciding what deserves a notification: alert rules, ignore rules, baseline, acknowledgements."""
