"""portwatch: a desktop port monitor.

It tells you what is listening on this machine, what the port means and whether to worry.
"""

__version__ = "0.1.0"
