"""Fixtures of the workflow tests: one time-skipping test server per module, and a worker with
the real activities (notify recorded). test_sla_timelines.py overrides both: a server per test,
and nobody on duty."""

import pytest

from tests.workflow import scenarios


@pytest.fixture(scope="module")
async def env():
    async with await scenarios.start_time_skipping_env() as env:
        yield env


@pytest.fixture
async def notifications(env, store):
    async with scenarios.complaint_worker(env.client, store) as recorded:
        yield recorded
