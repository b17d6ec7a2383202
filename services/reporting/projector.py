"""Follows the workflow service's event feed into reporting's own tables, exactly once:
each page of events and the checkpoint that says it was read commit in one transaction."""

import logging

import asyncpg
import httpx

from services.common.domain_events import ComplaintReceived, Retiered, TierAssigned, payload_of
from services.common.events import STAGE_AFTER, EventPage, StoredEvent

log = logging.getLogger(__name__)

PROJECTION = "complaints"


async def _apply(conn: asyncpg.Connection, event: StoredEvent) -> None:
    payload = payload_of(event.type, event.data)
    if isinstance(payload, ComplaintReceived):
        await conn.execute(
            """INSERT INTO reporting.complaints (complaint_id, channel, status, received_at, last_position)
               VALUES ($1, $2, 'received', $3, $4) ON CONFLICT (complaint_id) DO NOTHING""",
            event.stream_id,
            payload.channel,
            event.occurred_at,
            event.position,
        )
    elif isinstance(payload, TierAssigned | Retiered):
        await conn.execute(
            "UPDATE reporting.complaints SET tier = $2, last_position = $3 WHERE complaint_id = $1",
            event.stream_id,
            payload.tier if isinstance(payload, TierAssigned) else payload.to_tier,
            event.position,
        )
    if event.type in STAGE_AFTER and event.type != ComplaintReceived.type:
        await conn.execute(
            """UPDATE reporting.complaints SET status = $2, last_position = $3,
                   closed_at = CASE WHEN $2 = 'closed' THEN $4 ELSE closed_at END
               WHERE complaint_id = $1""",
            event.stream_id,
            STAGE_AFTER[event.type],
            event.position,
            event.occurred_at,
        )


class Projector:
    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient, feed_url: str, page_size: int = 500):
        self.pool, self.http, self.feed_url, self.page_size = pool, http, feed_url, page_size

    async def checkpoint(self) -> int:
        position = await self.pool.fetchval(
            "SELECT position FROM reporting.checkpoints WHERE projection = $1", PROJECTION
        )
        return position or 0

    async def catch_up_once(self) -> int:
        """Read and apply one page; returns how many events it applied."""
        after = await self.checkpoint()
        response = await self.http.get(self.feed_url, params={"after": after, "limit": self.page_size})
        response.raise_for_status()
        page = EventPage.model_validate(response.json())
        if not page.events:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            # Guard against a second projector replica having moved on meanwhile.
            current = await conn.fetchval(
                "SELECT position FROM reporting.checkpoints WHERE projection = $1 FOR UPDATE", PROJECTION
            )
            if (current or 0) != after:
                return 0
            for event in page.events:
                await _apply(conn, event)
            await conn.execute(
                """INSERT INTO reporting.checkpoints (projection, position) VALUES ($1, $2)
                   ON CONFLICT (projection) DO UPDATE SET position = excluded.position""",
                PROJECTION,
                page.next_after,
            )
        return len(page.events)
