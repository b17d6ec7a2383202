"""Record the histories that `test_replay.py` replays: `make histories`.

Run it only after a deliberate, compatible change (or with a `workflow.patched` guard in
place); the point of the saved histories is that a change which would break running
complaints fails CI instead.

One history comes from the dev server, not the time-skipping one: a complaint queried while its
first workflow task runs. The dev server ends that task to answer the query, between two local
activities, and replay must still take the same branches (the test server never does this)."""

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from services.run import LocalSystem, settings_on_free_ports
from services.workflow.contract import ComplaintClient
from tests.workflow import scenarios

HISTORIES = Path(__file__).parent / "histories"
TEST_PAYLOAD_KEYS = Path(__file__).parent / "test-payload-keys.json"  # a test key, never a real one


async def main() -> None:
    async with scenarios.recording_run() as (env, _):
        for name, drive in scenarios.SCENARIOS.items():
            handle = await drive(env)
            history = await handle.fetch_history()
            (HISTORIES / f"{scenarios.GENERATION}__{name}.json").write_text(history.to_json())
            print(f"recorded {name}: {len(history.events)} events")
    with tempfile.TemporaryDirectory() as tmp:
        await record_queried_during_first_task(Path(tmp))


def workflow_tasks_before_routing(history) -> int:
    tasks = 0
    for event in history.events:
        tasks += event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        marker = event.marker_recorded_event_attributes
        if (
            marker.marker_name == "core_local_activity"
            and b"route_complaint" in marker.details["data"].payloads[0].data
        ):
            return tasks
    raise AssertionError("the complaint was never routed")


async def record_queried_during_first_task(tmp: Path) -> None:
    # Encrypted as every local system's payloads are, with the test key the replay test decodes with.
    settings = settings_on_free_ports(tmp / "system", log_level="WARNING", payload_keys_file=TEST_PAYLOAD_KEYS)
    async with LocalSystem(settings) as system:
        complaints = ComplaintClient(system.temporal.client, system.settings.temporal_task_queue)
        for _ in range(10):  # the split depends on timing: until a query lands mid-task
            complaint = scenarios.a_complaint(datetime.now(UTC), "How do I change my password?")
            await complaints.start(complaint)
            handle = complaints.handle(complaint.complaint_id)
            routed = asyncio.Event()

            async def ask(complaint_id: str, routed: asyncio.Event) -> None:
                while not routed.is_set():
                    if any(h.type == "Assigned" for h in (await complaints.status(complaint_id)).history):
                        routed.set()

            asking = (ask(complaint.complaint_id, routed) for _ in range(5))
            await asyncio.wait_for(asyncio.gather(*asking), timeout=60)
            history = await handle.fetch_history()
            if workflow_tasks_before_routing(history) > 1:
                (HISTORIES / f"{scenarios.GENERATION}__queried_during_first_task.json").write_text(history.to_json())
                print(f"recorded queried_during_first_task: {len(history.events)} events")
                return
    raise SystemExit("no query ended a first workflow task in 10 tries; run again")


if __name__ == "__main__":
    asyncio.run(main())
