"""Intake's alerts to staff reach notify even when it was down when they were raised, and even
when the intake process that raised them is gone."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.common.service_auth import bearer
from services.intake.alerts import StaffAlerts, SurgeMonitor
from services.run import free_port
from tests.conftest import TOKENS, migrated_pool

SURGE_BEGAN = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture
async def pool(fresh_database_url):
    pool = await migrated_pool(fresh_database_url, "intake")
    yield pool
    await pool.close()


@pytest.fixture
async def as_intake():
    async with httpx.AsyncClient(timeout=5, headers=bearer(TOKENS["intake"])) as http:
        yield http


def notify_down() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def crossing(monitor: SurgeMonitor, at: datetime = SURGE_BEGAN) -> list[bool]:
    """Four complaints against a threshold of 2; waits for what the third one set off."""
    overflowed = [monitor.count_one(at) for _ in range(4)]
    await asyncio.gather(*monitor._beginning)
    return overflowed


async def surge_warnings(pool) -> list[tuple[str, str]]:
    """(key, body) of the messages notify took, oldest first: all surge warnings, or it fails. The
    key names the surge's first second; the body, its first minute as people read it."""
    rows = await pool.fetch("SELECT template, idempotency_key, body FROM notify.notifications ORDER BY created_at")
    assert {r["template"] for r in rows} <= {"surge_warning"}, rows
    return [(r["idempotency_key"], r["body"]) for r in rows]


async def test_a_surge_warning_notify_did_not_take_goes_again_once_and_only_once(pool, as_intake, notify):
    alerts = StaffAlerts(as_intake, notify_down())
    monitor = SurgeMonitor(pool, threshold=2, alerts=alerts)
    assert await crossing(monitor) == [False, False, True, True]
    assert await pool.fetchval("SELECT count(*) FROM intake.surges WHERE warned_at IS NULL") == 1

    alerts.notify_url = notify  # notify is back
    for _ in range(3):  # each pass of the surge-count loop
        await monitor.refresh()
    [(key, warning)] = await surge_warnings(pool)
    assert key == "intake/surge/20261124T093000" and "Since Tue 24 Nov 2026, 17:30 (China Standard Time)" in warning


async def test_a_surge_is_warned_once_over_intake_processes_even_when_the_first_one_died(pool, as_intake, notify):
    # The process that saw the surge begin could not reach notify, then died.
    await crossing(SurgeMonitor(pool, threshold=2, alerts=StaffAlerts(as_intake, notify_down())))
    # Its successor, and a second replica, meet the same surge seconds later.
    replicas = [SurgeMonitor(pool, threshold=2, alerts=StaffAlerts(as_intake, notify)) for _ in range(2)]
    for n, replica in enumerate(replicas, start=1):
        assert await crossing(replica, SURGE_BEGAN + timedelta(seconds=n)) == [False, False, True, True]
    [(key, _)] = await surge_warnings(pool)  # the first process's surge, once
    assert key == "intake/surge/20261124T093000"
    assert await pool.fetchval("SELECT count(*) FROM intake.surges") == 1


async def test_a_surge_that_ended_is_closed_and_the_next_one_warns_again(pool, as_intake, notify):
    monitor = SurgeMonitor(pool, threshold=2, alerts=StaffAlerts(as_intake, notify))
    await crossing(monitor)
    await monitor.refresh()  # no submissions in the last minute: the surge is over
    assert monitor.episode is None
    assert await pool.fetchval("SELECT count(*) FROM intake.surges WHERE ended_at IS NULL") == 0
    await crossing(monitor, SURGE_BEGAN + timedelta(hours=1))
    warnings = await surge_warnings(pool)
    assert [key for key, _ in warnings] == ["intake/surge/20261124T093000", "intake/surge/20261124T103000"]
    assert "自 周二 2026年11月24日 18:30（北京时间） 起" in warnings[1][1]
