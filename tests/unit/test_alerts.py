"""Intake's alerts to staff reach notify even when it was down when they were raised."""

import asyncio
from datetime import UTC, datetime

import httpx

from services.common.service_auth import bearer
from services.intake.alerts import StaffAlerts, SurgeMonitor
from services.run import free_port
from tests.conftest import TOKENS, migrated_pool


async def test_a_surge_warning_notify_did_not_take_goes_again_once_and_only_once(fresh_database_url, notify):
    pool = await migrated_pool(fresh_database_url, "intake")
    as_intake = bearer(TOKENS["intake"])
    try:
        async with httpx.AsyncClient(timeout=5, headers=as_intake) as http:
            alerts = StaffAlerts(http, f"http://127.0.0.1:{free_port()}")  # notify is down
            monitor = SurgeMonitor(pool, threshold=2, alerts=alerts)
            surge_began = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
            assert [monitor.count_one(surge_began) for _ in range(4)] == [False, False, True, True]
            await asyncio.gather(*monitor._warnings)

            alerts.notify_url = notify  # notify is back
            for _ in range(3):  # each pass of the surge-count loop
                await monitor.refresh()
                await asyncio.gather(*monitor._warnings)
        rows = await pool.fetch("SELECT template, body FROM notify.notifications")
        assert [r["template"] for r in rows] == ["surge_warning"]
        assert "2026-11-24T09:30:00+00:00" in rows[0]["body"]
    finally:
        await pool.close()
