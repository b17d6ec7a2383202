"""The engine's own limit for a timer storm, the baseline of `make bench`: bare workflows
whose timer fires in the same second, each then running one local activity that writes a row
to PostgreSQL (what an escalation costs at the least), on a worker process of their own set up
like the workflow service's (its sandbox, its garbage collector).

    python -m tests.bench.bare_timers --temporal HOST:PORT --task-queue Q --database-url URL
        [--payload-keys FILE] [--event-store]

With --event-store the local activity appends the escalation's two events and its message
through the real event store instead (a decomposition: the engine plus our transaction).
"""

import argparse
import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import asyncpg
    from temporalio.client import Client
    from temporalio.worker import Worker

    from services.common.events import NewEvent
    from services.notify.contract import KeyedNotificationRequest
    from services.workflow import inbox
    from services.workflow.eventstore import EventStore
    from services.workflow.heap import settle_heap
    from services.workflow.sandbox import runner_for

TABLE = "bench_bare_timer_fired"


@workflow.defn
class BareTimer:
    @workflow.run
    async def run(self, deadline_iso: str) -> None:
        deadline = datetime.fromisoformat(deadline_iso)
        await workflow.sleep(max(0.0, (deadline - workflow.now()).total_seconds()))
        await workflow.execute_local_activity(
            "record_fired", workflow.info().workflow_id, start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.sleep(timedelta(days=1))  # then waits for its next deadline, as a complaint does


class Fired:
    def __init__(self, pool: asyncpg.Pool, event_store: bool = False):
        self.pool, self.store = pool, EventStore(pool, inbox=inbox.changes_of) if event_store else None

    @activity.defn(name="record_fired")
    async def record_fired(self, workflow_id: str) -> None:
        if self.store is not None:
            now = datetime.now(UTC)
            facts = {"target": "first_response", "deadline": now.isoformat(), "due_at": now.isoformat()}
            await self.store.append(
                [
                    NewEvent(
                        event_id=uuid.uuid4(),
                        stream_id=workflow_id,
                        version=1,
                        type="SlaBreached",
                        occurred_at=now,
                        data=facts,
                    ),
                    NewEvent(
                        event_id=uuid.uuid4(),
                        stream_id=workflow_id,
                        version=2,
                        type="Escalated",
                        occurred_at=now,
                        data={**facts, "level": 1, "to": "lead"},
                    ),
                ],
                messages=[
                    KeyedNotificationRequest(
                        idempotency_key=f"{workflow_id}/escalation",
                        complaint_id=workflow_id,
                        template="sla_escalation",
                        channel="internal",
                        recipient_name="lead",
                        recipient_address="role:lead",
                        variables=facts,
                    )
                ],
            )
        await self.pool.execute(f"INSERT INTO {TABLE} (workflow_id) VALUES ($1) ON CONFLICT DO NOTHING", workflow_id)


async def create_table(pool: asyncpg.Pool) -> None:
    await pool.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                               workflow_id text PRIMARY KEY, recorded_at timestamptz NOT NULL DEFAULT now())""")


async def serve(temporal: str, task_queue: str, database_url: str, event_store: bool, keys: Path | None) -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter

    from services.common.codec import with_encryption

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    # The system's payload codec: its clients start these workflows, and the codec is part of the engine's cost.
    client = await Client.connect(temporal, data_converter=with_encryption(pydantic_data_converter, keys))
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[BareTimer],
        activities=[Fired(pool, event_store).record_fired],
        # The runner our worker has (services/workflow/sandbox.py): the same settings on both sides.
        workflow_runner=runner_for(client.data_converter),
    )
    settle_heap()  # the workflow service's worker process is set up so too
    await worker.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temporal", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--payload-keys", type=Path, default=None, help="the system's payload key file")
    parser.add_argument("--event-store", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.temporal, args.task_queue, args.database_url, args.event_store, args.payload_keys))
