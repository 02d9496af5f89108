"""Fitting into the desktop session without Qt: one window per user, start at login."""
