"""Record the histories that `test_replay.py` replays: `make histories`.

Run it only after a deliberate, compatible change (or with a `workflow.patched` guard in
place); the point of the saved histories is that a change which would break running
complaints fails CI instead."""

import asyncio
import tempfile
from pathlib import Path

from services.common.db import start_embedded_postgres
from services.workflow import inbox
from services.workflow.eventstore import EventStore
from tests.conftest import migrated_pool
from tests.workflow import scenarios

HISTORIES = Path(__file__).parent / "histories"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_embedded_postgres(Path(tmp))
        pool = await migrated_pool(server.get_uri("postgres"), "workflow")
        env = await scenarios.start_time_skipping_env()
        try:
            async with scenarios.complaint_worker(env.client, EventStore(pool, project=inbox.project)):
                for name, drive in scenarios.SCENARIOS.items():
                    handle = await drive(env)
                    history = await handle.fetch_history()
                    (HISTORIES / f"{scenarios.GENERATION}__{name}.json").write_text(history.to_json())
                    print(f"recorded {name}: {len(history.events)} events")
        finally:
            await env.shutdown()
            await pool.close()
            server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
