"""Migrations that fill a new column from what is already stored, run on a database made by
the migrations before them, as a running system's database is when it is upgraded."""

import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from services.common.db import create_pool, migrate
from tests.conftest import SERVICES_DIR

WORKFLOW_MIGRATIONS = SERVICES_DIR / "workflow" / "migrations"
INTAKE_MIGRATIONS = SERVICES_DIR / "intake" / "migrations"


def migrations_before(name: str, of: Path, into: Path) -> Path:
    """A folder holding a service's migrations older than `name`."""
    for path in sorted(of.glob("*.sql")):
        if path.name < name:
            shutil.copy(path, into / path.name)
    return into


async def test_the_inbox_learns_who_took_each_complaint_down_from_its_received_event(fresh_database_url, tmp_path):
    pool = await create_pool(fresh_database_url)
    try:
        older = await migrate(
            pool, "workflow", migrations_before("017_inbox_recorded_by.sql", WORKFLOW_MIGRATIONS, tmp_path)
        )
        assert older[-1] == "016_contact_showings.sql"
        received_at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        complaints = {"C-hotline": "zhou.ting", "C-store": "zhao.min", "C-webform": None}
        for complaint_id, recorder in complaints.items():
            data = {"channel": "hotline", "received_at": received_at.isoformat()}
            if recorder:
                data["recorded_by"] = recorder
            await pool.execute(
                """INSERT INTO workflow.events (event_id, stream_id, version, type, data, occurred_at)
                   VALUES ($1, $2, 1, 'ComplaintReceived', $3, $4)""",
                uuid.uuid4(),
                complaint_id,
                json.dumps(data),
                received_at,
            )
            await pool.execute(
                """INSERT INTO workflow.inbox (complaint_id, received_at, group_name)
                   VALUES ($1, $2, 'front-line-service')""",
                complaint_id,
                received_at,
            )
        # A later event of the hotline complaint that names nobody leaves the recorder as it is.
        await pool.execute(
            """INSERT INTO workflow.events (event_id, stream_id, version, type, data, occurred_at)
               VALUES ($1, 'C-hotline', 2, 'ComplaintAcknowledged', '{"staff_id": "liu.yang"}', $2)""",
            uuid.uuid4(),
            received_at,
        )

        upgraded = await migrate(pool, "workflow", WORKFLOW_MIGRATIONS)
        assert upgraded[0] == "017_inbox_recorded_by.sql"
        rows = await pool.fetch("SELECT complaint_id, recorded_by FROM workflow.inbox")
        assert {r["complaint_id"]: r["recorded_by"] for r in rows} == complaints
        # and My work finds them by it (the index the column came with)
        assert await pool.fetchval("SELECT count(*) FROM workflow.inbox WHERE recorded_by = 'zhou.ting'") == 1
    finally:
        await pool.close()


async def test_a_submission_whose_cause_was_checked_on_arrival_is_not_checked_again(fresh_database_url, tmp_path):
    """Before 005 intake checked a batch cause on arrival; after it, a pass checks every row whose
    `cause_checked_at` is empty. The rows stored before are marked checked, so an upgrade does not
    open batch incidents again for causes already seen."""
    pool = await create_pool(fresh_database_url)
    try:
        await migrate(pool, "intake", migrations_before("005_causes_checked_after.sql", INTAKE_MIGRATIONS, tmp_path))
        received_at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        for complaint_id, cause in (("C-outage", "payment-outage"), ("C-plain", None)):
            await pool.execute(
                """INSERT INTO intake.submissions (complaint_id, idempotency_key, request_hash, tracking_token,
                                                   channel, workflow_input, received_at, cause)
                   VALUES ($1, $1, 'h', $1, 'app', '{}', $2, $3)""",
                complaint_id,
                received_at,
                cause,
            )
        assert (await migrate(pool, "intake", INTAKE_MIGRATIONS))[0] == "005_causes_checked_after.sql"
        rows = await pool.fetch("SELECT complaint_id, cause_checked_at FROM intake.submissions")
        assert {r["complaint_id"]: r["cause_checked_at"] for r in rows} == {"C-outage": received_at, "C-plain": None}
    finally:
        await pool.close()
