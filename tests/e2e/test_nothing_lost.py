"""A complaint answered with 202 is durable before the answer: with Temporal down, intake
keeps it in its own table and starts the workflow once Temporal is back."""

import uuid

import httpx
import pytest

from services.run import LocalSystem, settings_on_free_ports
from tests.e2e.test_end_to_end import COMPLAINT, eventually

pytestmark = pytest.mark.e2e


async def test_a_complaint_accepted_while_temporal_is_down_runs_when_it_is_back(tmp_path):
    settings = settings_on_free_ports(tmp_path)
    system = LocalSystem(settings)
    intake = settings.url_of("intake")
    try:
        await system.start()
        await system.stop_temporal()
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
            key = str(uuid.uuid4())
            accepted = await http.post(f"{intake}/v1/complaints", json=COMPLAINT, headers={"Idempotency-Key": key})
            assert accepted.status_code == 202, accepted.text
            status_url = accepted.json()["status_url"]
            waiting = (await http.get(status_url)).json()
            assert waiting["stage"] == "received"  # safe with intake, not started yet
            retried = await http.post(f"{intake}/v1/complaints", json=COMPLAINT, headers={"Idempotency-Key": key})
            assert retried.json()["complaint_id"] == accepted.json()["complaint_id"]
            # The customer writes again about it while Temporal is still down: kept, and linked later.
            again = await http.post(
                f"{intake}/v1/complaints",
                headers={"Idempotency-Key": str(uuid.uuid4())},
                json={**COMPLAINT, "description": COMPLAINT["description"] + " — still no refund"},
            )
            assert again.status_code == 202 and again.json()["linked_to"] == accepted.json()["complaint_id"]

            await system.start_temporal()  # same state file; the starter picks the complaint up

            async def assigned():
                body = (await http.get(status_url)).json()
                return body if body.get("stage") == "assigned" else None

            running = await eventually(assigned, timeout=60)
            assert running["complaint_id"] == accepted.json()["complaint_id"]
            assert [h["type"] for h in running["history"]][:3] == ["ComplaintReceived", "TierAssigned", "Assigned"]

            async def linked():
                body = (await http.get(status_url)).json()
                return body if "RepeatLinked" in [h["type"] for h in body["history"]] else None

            assert [h["type"] for h in (await eventually(linked, timeout=60))["history"]].count("RepeatLinked") == 1
    finally:
        await system.stop()


async def test_a_staff_action_while_no_worker_runs_answers_503_and_its_retry_acts_once(tmp_path):
    settings = settings_on_free_ports(tmp_path)
    system = LocalSystem(settings)
    try:
        await system.start()
        async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
            accepted = await http.post(
                f"{settings.url_of('intake')}/v1/complaints",
                json=COMPLAINT,
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            complaint = f"{settings.url_of('workflow')}/v1/complaints/{accepted.json()['complaint_id']}"
            as_manager = await system.staff_headers("wang.fang")

            async def assigned():
                response = await http.get(complaint, headers=as_manager)
                return response.status_code == 200 and response.json()["stage"] == "assigned" or None

            assert await eventually(assigned)
            worker = system.processes["worker"]
            worker.kill()
            worker.wait()

            staff = {**as_manager, "Idempotency-Key": str(uuid.uuid4())}
            refused = await http.post(f"{complaint}/acknowledge", headers=staff)
            assert refused.status_code == 503 and refused.headers["Retry-After"], refused.text
            assert refused.json()["error"] == "temporal_unavailable"

            system.start_service("worker")
            await system.wait_healthy(names=("worker",))

            async def acknowledged():
                response = await http.post(f"{complaint}/acknowledge", headers=staff)  # the same key
                return response.json() if response.status_code == 200 else None

            view = await eventually(acknowledged)
            assert view["owner"] == "wang.fang" and view["stage"] == "acknowledged"
            events = (await http.get(f"{complaint}/events", headers=as_manager)).json()["events"]
            assert [e["type"] for e in events].count("Acknowledged") == 1
    finally:
        await system.stop()
