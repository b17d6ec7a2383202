"""The engine's own limit for a timer storm, the baseline of `make bench`: bare workflows
whose timer fires in the same second, each then running one local activity that writes a row
to PostgreSQL (what an escalation costs at the least), on a worker process of their own like
the workflow service's.

    python -m tests.bench.bare_timers --temporal HOST:PORT --task-queue Q --database-url URL
"""

import argparse
import asyncio
from datetime import datetime, timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import asyncpg
    from temporalio.client import Client
    from temporalio.worker import Worker

    from services.workflow.worker import SANDBOX

TABLE = "bench_bare_timer_fired"


@workflow.defn
class BareTimer:
    @workflow.run
    async def run(self, deadline_iso: str) -> None:
        deadline = datetime.fromisoformat(deadline_iso)
        await workflow.sleep(max(0.0, (deadline - workflow.now()).total_seconds()))
        await workflow.execute_local_activity("record_fired", workflow.info().workflow_id,
                                              start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(timedelta(days=1))  # then waits for its next deadline, as a complaint does


class Fired:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    @activity.defn(name="record_fired")
    async def record_fired(self, workflow_id: str) -> None:
        await self.pool.execute(f"INSERT INTO {TABLE} (workflow_id) VALUES ($1) ON CONFLICT DO NOTHING", workflow_id)


async def create_table(pool: asyncpg.Pool) -> None:
    await pool.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                               workflow_id text PRIMARY KEY, recorded_at timestamptz NOT NULL DEFAULT now())""")


async def serve(temporal: str, task_queue: str, database_url: str) -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    client = await Client.connect(temporal, data_converter=pydantic_data_converter)
    worker = Worker(client, task_queue=task_queue, workflows=[BareTimer], activities=[Fired(pool).record_fired],
                    workflow_runner=SANDBOX)
    await worker.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temporal", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.temporal, args.task_queue, args.database_url))
