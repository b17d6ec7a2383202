"""What owners of improvement actions are told (services/reporting/reviews.py, ActionMessages),
on a real PostgreSQL and the notify service as its own process: an action given on is told to
its last owner once; a pass while notify is down leaves it to the next, nothing lost."""

import uuid
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.common.service_auth import bearer
from services.reporting import reviews
from services.reporting.access import Reader
from services.run import free_port
from tests.conftest import TOKENS, migrated_pool

LEAD = Reader("liu.yang", "group_lead")
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def an_overdue_action(pool, owner: str) -> uuid.UUID:
    review_id, action_id = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        """INSERT INTO reporting.reviews (review_id, complaint_id, what, why, who, when_, where_, how, created_by)
           VALUES ($1, 'C-1', 'w', 'y', 'o', 'n', 'e', 'h', 'liu.yang')""",
        review_id,
    )
    await pool.execute(
        """INSERT INTO reporting.review_actions (action_id, review_id, action, owner, due_at)
           VALUES ($1, $2, 'call every refund caller back', $3, now() - interval '1 day')""",
        action_id, review_id, owner,
    )  # fmt: skip
    return action_id


async def told(pool, template: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT recipient_address FROM notify.notifications WHERE template = $1 ORDER BY created_at", template
    )
    return [r["recipient_address"] for r in rows]


async def test_an_action_given_on_twice_before_a_pass_is_told_and_reminded_to_its_last_owner_once(
    fresh_database_url, notify
):
    pool = await migrated_pool(fresh_database_url, "reporting")
    try:
        action_id = await an_overdue_action(pool, "zhou.ting")
        await reviews.give_to(pool, action_id, "zhao.min", LEAD)
        given = await reviews.give_to(pool, action_id, "chen.jie", LEAD)
        assert [(m.from_owner, m.to_owner) for m in given.moves] == [
            ("zhou.ting", "zhao.min"),
            ("zhao.min", "chen.jie"),
        ]
        async with httpx.AsyncClient(headers=bearer(TOKENS["reporting"]), timeout=10) as http:
            messages = reviews.ActionMessages(pool, http, notify, "http://console.local/console", SHANGHAI)
            await messages.send_once()
            await messages.send_once()  # a second pass: nothing more
        assert await told(pool, "review_action_given") == ["staff:chen.jie"]
        assert await told(pool, "review_action_overdue") == ["staff:chen.jie"]
        assert await pool.fetchval("SELECT count(*) FROM reporting.review_action_moves WHERE told_at IS NULL") == 0
    finally:
        await pool.close()


async def test_a_move_made_while_notify_is_down_is_told_once_it_is_back(fresh_database_url, notify):
    pool = await migrated_pool(fresh_database_url, "reporting")
    try:
        action_id = await an_overdue_action(pool, "zhou.ting")
        await reviews.give_to(pool, action_id, "zhao.min", LEAD)
        async with httpx.AsyncClient(headers=bearer(TOKENS["reporting"]), timeout=10) as http:
            nobody_there = f"http://127.0.0.1:{free_port()}"
            down = reviews.ActionMessages(pool, http, nobody_there, "http://console.local/console", SHANGHAI)
            with pytest.raises(httpx.TransportError):  # its loop logs it and tries again
                await down.send_once()
            assert await pool.fetchval("SELECT count(*) FROM reporting.review_action_moves WHERE told_at IS NULL") == 1
            back = reviews.ActionMessages(pool, http, notify, "http://console.local/console", SHANGHAI)
            await back.send_once()
        assert await told(pool, "review_action_given") == ["staff:zhao.min"]
        assert await told(pool, "review_action_overdue") == ["staff:zhao.min"]
    finally:
        await pool.close()
