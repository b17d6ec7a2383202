"""Secrets a local system makes for itself on its first run and keeps in its data folder
(`make run`, `make compose-env`); production sets them from its secret store instead."""

import secrets
from pathlib import Path


def kept_secret(path: Path, size: int) -> str:
    """The secret in `path`, made (`size` random bytes, URL-safe text) when there is none yet,
    readable by its owner only."""
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(size)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret
