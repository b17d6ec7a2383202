"""The staff console: server-rendered pages on the workflow service (see pages.py)."""
