"""The starter: hands accepted complaints to Temporal (starts each workflow once, or links a
repeat to the open complaint), at accept time and again from a supervised loop for whatever
could not be handed over then, so an accepted complaint always ends up running."""

import logging
from collections.abc import Callable
from datetime import timedelta

import asyncpg
from prometheus_client import Gauge

from services.intake.repeats import similarity
from services.workflow.contract import (
    ActionRefused,
    ComplaintClient,
    ComplaintClosed,
    ComplaintInput,
    ComplaintNotFound,
    EngineUnavailable,
    RepeatSubmission,
)

log = logging.getLogger(__name__)


BACKLOG = Gauge("starter_backlog", "complaints accepted (202) whose workflow has not started yet")
BACKLOG_OLDEST = Gauge("starter_backlog_oldest_seconds", "age of the oldest accepted complaint not started yet")


async def refresh_gauges(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow(
        """SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(received_at)), 0) AS age
           FROM intake.submissions WHERE workflow_started_at IS NULL"""
    )
    BACKLOG.set(row["n"])
    BACKLOG_OLDEST.set(float(row["age"]))


class Starter:
    def __init__(self, pool: asyncpg.Pool, complaints: ComplaintClient, page_url: Callable[[str], str]):
        self.pool, self.complaints, self.page_url = pool, complaints, page_url
        self._started: list[str] = []  # started, not yet marked: see flush_started

    async def hand_over(self, row, in_request: bool = False) -> bool:
        """Start the complaint's workflow, or link a repeat to the open one. In a request the
        adapter waits for the answer, so a link that a busy or absent worker would hold up is
        left to the starter after 2 s: the row is stored, the 202 goes out."""
        complaint = row["workflow_input"]
        if isinstance(complaint, str):
            complaint = ComplaintInput.model_validate_json(complaint)
        if row["repeat_of"]:
            timeout = timedelta(seconds=2 if in_request else 10)
            return await self._link_repeat(complaint, row["repeat_of"], rpc_timeout=timeout)
        return await self.start(complaint)

    async def _link_repeat(
        self, complaint: ComplaintInput, original_id: str, rpc_timeout: timedelta = timedelta(seconds=10)
    ) -> bool:
        """Add the repeat to the open complaint (its words are kept there, the customer is told).
        If that complaint has closed meanwhile, this one starts as a complaint of its own."""
        repeat = RepeatSubmission(
            submission_id=complaint.complaint_id,
            channel=complaint.channel,
            received_at=complaint.received_at,
            description=complaint.description,
            demand=complaint.demand,
            similarity=round(similarity(complaint.description, await self._description_of(original_id)), 3),
        )
        try:
            await self.complaints.link_repeat(original_id, repeat, rpc_timeout=rpc_timeout)
        except ActionRefused:
            return await self._start_on_its_own(complaint)
        except (ComplaintClosed, ComplaintNotFound):
            original_started = await self.pool.fetchval(
                "SELECT workflow_started_at FROM intake.submissions WHERE complaint_id = $1", original_id
            )
            if original_started is not None:  # closed, or gone from the engine (retention)
                return await self._start_on_its_own(complaint)
            return False  # not started yet itself: the starter starts it first, then links this
        except EngineUnavailable as exc:
            # No worker took the update in time (workers down or busy): the starter links it later.
            log.warning(
                "linking a repeat failed; will retry",
                extra={"complaint_id": complaint.complaint_id, "error": exc.message},
            )
            return False
        await self._mark_started(complaint.complaint_id)
        return True

    async def _start_on_its_own(self, complaint: ComplaintInput) -> bool:
        token = await self.pool.fetchval(
            """UPDATE intake.submissions SET repeat_of = NULL WHERE complaint_id = $1 RETURNING tracking_token""",
            complaint.complaint_id,
        )
        return await self.start(complaint.model_copy(update={"status_url": self.page_url(token)}))

    async def _description_of(self, complaint_id: str) -> str:
        return (
            await self.pool.fetchval(
                "SELECT workflow_input->>'description' FROM intake.submissions WHERE complaint_id = $1", complaint_id
            )
            or ""
        )

    async def start(self, complaint: ComplaintInput) -> bool:
        """Start the workflow once; on failure leave the row for `start_pending`."""
        try:
            await self.complaints.start(complaint)
        except EngineUnavailable as exc:
            log.warning(
                "workflow start failed; will retry",
                extra={"complaint_id": complaint.complaint_id, "error": exc.message},
            )
            return False
        await self._mark_started(complaint.complaint_id)
        return True

    async def _mark_started(self, complaint_id: str) -> None:
        self._started.append(complaint_id)

    async def flush_started(self) -> int:
        """Mark started workflows in one statement, without waiting for the disk: the mark only
        saves the starter work. If it is lost, the starter starts the workflow again, which
        Temporal answers with the running one. The submission itself was committed durably."""
        ids, self._started = self._started, []
        if ids:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SET LOCAL synchronous_commit TO OFF")
                await conn.execute(
                    "UPDATE intake.submissions SET workflow_started_at = now() WHERE complaint_id = ANY($1)", ids
                )
        return len(ids)

    async def start_pending(self, older_than_seconds: float = 5.0) -> int:
        rows = await self.pool.fetch(
            """SELECT complaint_id, workflow_input, repeat_of FROM intake.submissions
               WHERE workflow_started_at IS NULL AND received_at < now() - make_interval(secs => $1)
               ORDER BY received_at LIMIT 100""",
            older_than_seconds,
        )
        started = 0
        for row in rows:
            started += await self.hand_over(row)
        return started
