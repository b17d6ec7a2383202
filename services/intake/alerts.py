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
    threshold, complaints are marked for overflow and on call is warned once per surge."""

    def __init__(self, pool: asyncpg.Pool, threshold: int, alerts: StaffAlerts | None = None):
        self.pool, self.threshold, self.alerts = pool, threshold, alerts
        self._counted, self._since_count = 0, 0
        self.episode: datetime | None = None  # when the current surge began
        self._warnings: set[asyncio.Task] = set()
        self._unsent: tuple[datetime, int] | None = None  # a warning notify has not taken yet

    def rate(self) -> int:
        return self._counted + self._since_count

    def count_one(self, now: datetime) -> bool:
        """Count an accepted complaint; True when it arrives during a surge (it overflows)."""
        self._since_count += 1
        if self.rate() <= self.threshold:
            return False
        if self.episode is None:
            self.episode = now
            if self.alerts:
                self._unsent = (now, self.rate())
                self._send_warning()
        return True

    def _send_warning(self) -> None:
        task = asyncio.create_task(self._warn())  # the request that crossed the threshold does not wait
        self._warnings.add(task)  # kept until done: a task nobody holds may be collected
        task.add_done_callback(self._warnings.discard)

    async def _warn(self) -> None:
        """Send the surge's warning; kept for the next refresh until notify takes it (its key
        is the surge's start, so a repeat is one message)."""
        unsent = self._unsent
        if unsent is None or self.alerts is None:
            return
        if await self.alerts.surge(unsent[0], unsent[1], self.threshold) and self._unsent == unsent:
            self._unsent = None

    async def refresh(self) -> None:
        if self._unsent is not None and not self._warnings:
            self._send_warning()  # a warning notify did not take (it was down) goes again
        since = datetime.now(UTC) - timedelta(minutes=1)
        self._counted = await self.pool.fetchval(
            "SELECT count(*) FROM intake.submissions WHERE received_at > $1", since
        )
        self._since_count = 0
        if self.episode is not None and self.rate() <= self.threshold:
            log.info("intake surge over", extra={"since": self.episode.isoformat()})
            self.episode = None
