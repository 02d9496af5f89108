"""Fitting the window into the desktop session: opening it from the command line (launch.py),
one window per user, quitting on SIGTERM and SIGINT, opening folders in the user's file
manager."""
