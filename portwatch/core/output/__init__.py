"""Listeners as records for people and programs: the JSON contract and the CSV/JSON exports."""
