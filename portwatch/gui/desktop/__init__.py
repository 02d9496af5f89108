"""Fitting the window into the desktop session: one window per user, quitting on SIGTERM and
SIGINT, opening folders in the user's file manager."""
