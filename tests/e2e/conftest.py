"""Fixtures of the end-to-end tests; each module starts its own `system` (a LocalSystem)."""

import os
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from services.run import LocalSystem, settings_on_free_ports

# Debian's chromium, installed by `make test` (the Makefile); Playwright's own download cannot
# reach the internet here. Flags: no sandbox as root, and no calls home on a closed network.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]

# What a page shows after another process acts (an Update through the engine, the relay, notify)
# may take seconds on two busy cores: assertions wait up to 20 s, not Playwright's default 5 s.
# A page that never shows it still fails, only later.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
async def system(request, tmp_path_factory):
    """The module's own system, shared by its tests: its folder and task queue named after the
    module, its settings changed by the module's `SYSTEM_SETTINGS`. Every process is gone after."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    settings = settings_on_free_ports(
        tmp_path_factory.mktemp(name),
        temporal_task_queue=f"{name}-{uuid.uuid4().hex[:6]}",
        **getattr(request.module, "SYSTEM_SETTINGS", {}),
    )
    async with LocalSystem(settings) as local:
        yield local
    assert not local.processes


@pytest.fixture
async def http(system):
    """An HTTP client that authenticates as a channel adapter (the key allows every channel)."""
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as client:
        yield client


@pytest.fixture(scope="module")
async def browser():
    """Chromium, headless, for the pages' tests (the console's, the customer's)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: `make test` installs Debian's chromium (apt-get install chromium)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()
