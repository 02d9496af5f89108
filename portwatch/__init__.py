"""portwatch: a desktop port monitor that tells you what is listening, what the port means and whether to worry."""

__version__ = "0.1.0"
