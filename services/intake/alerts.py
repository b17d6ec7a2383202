"""Intake's own alerts to staff, through notify's outbox (HTTP, with an idempotency key so a
retry sends once): batch incidents to managers and intake surges to the on-call group."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from services.notify.contract import NOTIFICATIONS_PATH, NotificationRequest

log = logging.getLogger(__name__)


class StaffAlerts:
    def __init__(self, http: httpx.AsyncClient, notify_url: str):
        self.http, self.notify_url = http, notify_url.rstrip("/")

    async def send(self, key: str, template: str, name: str, address: str, variables: dict) -> bool:
        request = NotificationRequest(
            template=template, channel="internal", recipient_name=name, recipient_address=address, variables=variables
        )
        try:
            response = await self.http.post(
                f"{self.notify_url}{NOTIFICATIONS_PATH}",
                headers={"Idempotency-Key": f"intake/{key}"},
                json=request.model_dump(mode="json"),
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("staff alert not accepted yet; will retry", extra={"key": key, "error": str(exc)})
            return False
        return True

    async def batch_incident(self, batch_id: str, cause: str, complaints: int) -> bool:
        return await self.send(
            f"batch/{batch_id}",
            "batch_incident",
            "managers",
            "role:manager@special-team",
            {"batch_id": batch_id, "cause": cause, "complaints": complaints},
        )

    async def surge(self, episode: datetime, per_minute: int, threshold: int) -> bool:
        return await self.send(
            f"surge/{episode:%Y%m%dT%H%M%S}",
            "surge_warning",
            "on-call",
            "role:on-call",
            {
                "since": episode.isoformat(timespec="seconds"),
                "per_minute": per_minute,
                "threshold": threshold,
                "overflow_group": "standby",
            },
        )


class SurgeMonitor:
    """Complaints per minute over all channels (and all intake processes: the count comes from
    the submissions table, refreshed every second, plus this process's since then). Above the
    threshold, complaints are marked for overflow and on call is warned once per surge: the
    surge is a row (`intake.surges`) that every intake process shares, and the warning goes
    out from it until notify takes it, whichever process is still running."""

    def __init__(self, pool: asyncpg.Pool, threshold: int, alerts: StaffAlerts | None = None):
        self.pool, self.threshold, self.alerts = pool, threshold, alerts
        self._counted, self._since_count = 0, 0
        self.episode: datetime | None = None  # when the current surge began, as this process saw it
        self._beginning: set[asyncio.Task] = set()

    def rate(self) -> int:
        return self._counted + self._since_count

    def count_one(self, now: datetime) -> bool:
        """Count an accepted complaint; True when it arrives during a surge (it overflows)."""
        self._since_count += 1
        if self.rate() <= self.threshold:
            return False
        if self.episode is None:
            self.episode = now
            task = asyncio.create_task(self._begin())  # the request that crossed the threshold does not wait
            self._beginning.add(task)  # kept until done: a task nobody holds may be collected
            task.add_done_callback(self._beginning.discard)
        return True

    async def _begin(self) -> None:
        try:
            await self._record_and_warn()
        except Exception as exc:  # noqa: BLE001 - the surge-count loop tries again within a second
            log.warning("intake surge not recorded yet", extra={"error": repr(exc)})

    async def _record_and_warn(self) -> None:
        if self.episode is not None:
            # Another process's open surge stands (the one-open index): this one joins it.
            await self.pool.execute(
                "INSERT INTO intake.surges (started_at, per_minute) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                self.episode,
                self.rate(),
            )
        if self.alerts is None:
            return
        for surge in await self.pool.fetch(
            "SELECT started_at, per_minute FROM intake.surges WHERE warned_at IS NULL ORDER BY started_at"
        ):
            # Its key is the surge's start: sent again after a crash, it is one message.
            if await self.alerts.surge(surge["started_at"], surge["per_minute"], self.threshold):
                await self.pool.execute(
                    "UPDATE intake.surges SET warned_at = now() WHERE started_at = $1", surge["started_at"]
                )

    async def refresh(self) -> None:
        since = datetime.now(UTC) - timedelta(minutes=1)
        self._counted = await self.pool.fetchval(
            "SELECT count(*) FROM intake.submissions WHERE received_at > $1", since
        )
        self._since_count = 0
        if self.rate() <= self.threshold:  # the count every process shares
            if self.episode is not None:
                log.info("intake surge over", extra={"since": self.episode.isoformat()})
                self.episode = None
            await self.pool.execute("UPDATE intake.surges SET ended_at = now() WHERE ended_at IS NULL")
        await self._record_and_warn()
