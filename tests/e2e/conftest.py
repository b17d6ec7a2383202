"""Fixtures of the end-to-end tests; each module starts its own `system` (a LocalSystem)."""

import httpx
import pytest


@pytest.fixture
async def http(system):
    """An HTTP client that authenticates as a channel adapter (the key allows every channel)."""
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as client:
        yield client
