"""Batch incidents (domain §3): many customers with the same cause within a window are one
incident. Found after the 202, one check per cause per pass; each member's workflow is linked
and managers are warned once per incident."""

import logging
import secrets
from datetime import timedelta

import asyncpg

from services.intake.alerts import StaffAlerts
from services.workflow.contract import (
    ActionRefused,
    BatchLink,
    ComplaintClient,
    ComplaintClosed,
    ComplaintNotFound,
    EngineUnavailable,
)

log = logging.getLogger(__name__)


class BatchIncidents:
    def __init__(
        self,
        pool: asyncpg.Pool,
        complaints: ComplaintClient,
        window: timedelta,
        min_customers: int,
        notify: StaffAlerts | None = None,
    ):
        self.pool, self.complaints, self.notify = pool, complaints, notify
        self.window, self.min_customers = window, min_customers

    async def check_causes(self, limit: int = 1000) -> int:
        """Many customers, one cause, within the window: open (or join) a batch incident. Runs after
        the 202, for every complaint that came in since the last pass, one check per cause: while
        thousands complain about one outage, the work stays one statement per pass, not per complaint.
        Rows a pass of another replica holds are skipped, not waited for."""
        async with self.pool.acquire() as conn, conn.transaction():
            # A pass lost in a crash is lost whole and the rows are checked again: no need to wait
            # for the disk, which the submissions' own commits and the Temporal server need.
            await conn.execute("SET LOCAL synchronous_commit TO OFF")
            rows = await conn.fetch(
                """SELECT complaint_id, cause, received_at FROM intake.submissions
                   WHERE cause IS NOT NULL AND cause_checked_at IS NULL
                   ORDER BY received_at LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED""",
                limit,
            )
            if not rows:
                return 0  # nothing came in: no update to send, five times a second
            by_cause: dict[str, list[asyncpg.Record]] = {}
            for row in rows:
                by_cause.setdefault(row["cause"], []).append(row)
            # No deadlock between replicas' passes: the causes' locks are taken in one order, and
            # NO KEY UPDATE lets another pass add these rows to an incident (a foreign key check).
            for cause in sorted(by_cause):
                await self._note_cause(conn, cause, by_cause[cause])
            await conn.execute(
                "UPDATE intake.submissions SET cause_checked_at = now() WHERE complaint_id = ANY($1)",
                [row["complaint_id"] for row in rows],
            )
        return len(rows)

    async def _note_cause(self, conn: asyncpg.Connection, cause: str, arrived: list[asyncpg.Record]) -> None:
        """Join the cause's open incident, or open one if enough customers complained within the
        window (all of their complaints become members)."""
        latest = max(row["received_at"] for row in arrived)
        since = latest - self.window
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('batch:' || $1))", cause)
        batch_id = await conn.fetchval(
            """UPDATE intake.batch_incidents SET last_seen_at = $2
               WHERE batch_id = (SELECT batch_id FROM intake.batch_incidents
                                 WHERE cause = $1 AND last_seen_at > $3 ORDER BY opened_at DESC LIMIT 1)
               RETURNING batch_id""",
            cause,
            latest,
            since,
        )
        members = [row["complaint_id"] for row in arrived]
        if batch_id is None:
            if (
                await conn.fetchval(
                    """SELECT count(DISTINCT customer_keys[1]) FROM intake.submissions
                       WHERE cause = $1 AND received_at > $2""",
                    cause,
                    since,
                )
                < self.min_customers
            ):
                return
            batch_id = f"B{latest:%Y%m%d}-{secrets.token_hex(3).upper()}"
            await conn.execute(
                "INSERT INTO intake.batch_incidents (batch_id, cause, opened_at, last_seen_at) VALUES ($1, $2, $3, $3)",
                batch_id,
                cause,
                latest,
            )
            members = [
                r["complaint_id"]
                for r in await conn.fetch(
                    "SELECT complaint_id FROM intake.submissions WHERE cause = $1 AND received_at > $2", cause, since
                )
            ]
        await conn.executemany(
            "INSERT INTO intake.batch_members (batch_id, complaint_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(batch_id, m) for m in members],
        )

    async def process_batches(self) -> int:
        """Link batch members in their workflows and warn managers once per incident; what fails
        now is retried on the next pass."""
        done = 0
        rows = await self.pool.fetch(
            """SELECT m.batch_id, m.complaint_id, b.cause,
                      (SELECT count(DISTINCT s.customer_keys[1]) FROM intake.batch_members x
                         JOIN intake.submissions s USING (complaint_id) WHERE x.batch_id = m.batch_id) AS customers
               FROM intake.batch_members m JOIN intake.batch_incidents b USING (batch_id)
               JOIN intake.submissions s ON s.complaint_id = m.complaint_id
               WHERE m.linked_at IS NULL AND s.workflow_started_at IS NOT NULL
               ORDER BY m.batch_id LIMIT 200"""
        )
        for row in rows:
            link = BatchLink(batch_id=row["batch_id"], cause=row["cause"], customers=row["customers"])
            try:
                await self.complaints.link_batch(row["complaint_id"], link, rpc_timeout=timedelta(seconds=10))
            except (ActionRefused, ComplaintClosed, ComplaintNotFound):
                pass  # closed already: nothing to link, the incident still lists it
            except EngineUnavailable as exc:
                # No answer: the next pass tries again instead of waiting on every row.
                log.warning("batch link failed; will retry", extra={"batch_id": row["batch_id"], "error": exc.message})
                break
            await self.pool.execute(
                "UPDATE intake.batch_members SET linked_at = now() WHERE batch_id = $1 AND complaint_id = $2",
                row["batch_id"],
                row["complaint_id"],
            )
            done += 1
        if self.notify:
            for incident in await self.pool.fetch(
                """SELECT b.batch_id, b.cause, b.opened_at, count(m.complaint_id) AS complaints
                       FROM intake.batch_incidents b JOIN intake.batch_members m USING (batch_id)
                       WHERE b.warned_at IS NULL GROUP BY b.batch_id"""
            ):
                if await self.notify.batch_incident(incident["batch_id"], incident["cause"], incident["complaints"]):
                    await self.pool.execute(
                        "UPDATE intake.batch_incidents SET warned_at = now() WHERE batch_id = $1", incident["batch_id"]
                    )
        return done
