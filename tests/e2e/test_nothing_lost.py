"""A complaint answered with 202 is durable before the answer, and people keep their footing
while a part is down: with Temporal down, intake keeps a complaint in its own table and starts
the workflow once Temporal is back, a customer and staff follow a complaint as it was recorded, and a
staff action waits for a worker to answer 503 and acts once when retried. Each test stops a part
of the system, so each starts a system of its own."""

import re
import uuid

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, expect

from services.run import LocalSystem, settings_on_free_ports
from tests.e2e.test_console import shot, sign_in
from tests.e2e.test_end_to_end import COMPLAINT, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def system(tmp_path):
    system = LocalSystem(settings_on_free_ports(tmp_path))
    try:
        await system.start()
        yield system
    finally:
        await system.stop()


async def submit(system: LocalSystem, http: httpx.AsyncClient, key: str | None = None, **changes) -> httpx.Response:
    return await http.post(
        f"{system.settings.url_of('intake')}/v1/complaints",
        json={**COMPLAINT, **changes},
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


async def test_a_complaint_accepted_while_temporal_is_down_runs_when_it_is_back(system, http, browser: Browser):
    await system.stop_temporal()
    key = str(uuid.uuid4())
    accepted = await submit(system, http, key)
    assert accepted.status_code == 202, accepted.text
    status_url = accepted.json()["status_url"]
    waiting = (await http.get(status_url)).json()
    assert waiting["stage"] == "received"  # safe with intake, not started yet
    retried = await submit(system, http, key)
    assert retried.json()["complaint_id"] == accepted.json()["complaint_id"]
    # The customer writes again about it while Temporal is still down: kept, and linked later.
    again = await submit(system, http, description=COMPLAINT["description"] + " — still no refund")
    assert again.status_code == 202 and again.json()["linked_to"] == accepted.json()["complaint_id"]
    # Staff asked for it (the customer on the phone reads them the number) learn it was accepted.
    staff_api = f"{system.settings.url_of('workflow')}/v1/complaints"
    as_manager = await system.staff_headers("wang.fang")
    held = await http.get(f"{staff_api}/{accepted.json()['complaint_id']}", headers=as_manager)
    assert held.status_code == 200, held.text
    body = held.json()
    assert (body["stage"], body["live"], body["channel"]) == ("received", False, COMPLAINT["channel"])
    assert (await http.get(f"{staff_api}/20261201-00000000", headers=as_manager)).status_code == 404
    complaint_page = f"/console/complaints/{accepted.json()['complaint_id']}"
    session = {"console_session": as_manager["Authorization"].removeprefix("Bearer ")}
    async with httpx.AsyncClient(base_url=system.settings.url_of("workflow"), cookies=session, timeout=30) as console:
        page = await console.get(complaint_page, headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'data-testid="not-started"' in page.text, page.text[:500]
    assert 'data-testid="no-actions"' in page.text and f'action="{complaint_page}/' not in page.text
    # What intake holds is the workflow service's to ask, no one else's.
    held_by_intake = f"{system.settings.url_of('intake')}/v1/accepted/{accepted.json()['complaint_id']}"
    assert (await http.get(held_by_intake)).status_code == 401  # the channel key
    assert (await http.get(held_by_intake, headers=as_manager)).status_code == 401
    assert (await http.get(held_by_intake, headers=system.headers_as("workflow"))).status_code == 200
    waiting_at_intake = f"{system.settings.url_of('intake')}/v1/accepted"
    assert (await http.get(waiting_at_intake)).status_code == 401
    assert (await http.get(waiting_at_intake, headers=as_manager)).status_code == 401

    # In no queue until it starts, it is listed for every member of staff, contact data masked.
    complaint_id = accepted.json()["complaint_id"]
    waiting_list = await http.get(f"{staff_api}/waiting-to-start", headers=await system.staff_headers("zhou.ting"))
    assert waiting_list.status_code == 200, waiting_list.text
    listed = {c["complaint_id"]: c for c in waiting_list.json()["complaints"]}
    assert list(listed) == [complaint_id], listed  # the repeat is not a complaint of its own
    assert (listed[complaint_id]["channel"], listed[complaint_id]["customer_contact"]) == ("hotline", "138****5678")
    assert not any(raw in waiting_list.text for raw in ("138-1234", "1381234", "wang.fang@"))
    assert (await http.get(f"{staff_api}/waiting-to-start")).status_code == 401  # the channel key
    page = await sign_in(browser, system, "zhou.ting")
    row = page.get_by_test_id("waiting").locator(f'tr[data-complaint="{complaint_id}"]')
    await expect(row).to_contain_text("138****5678")
    await expect(row.locator("time[data-since]")).to_have_text(re.compile(r"^\d+m \d+s$"))  # how long it waits
    await shot(page, "waiting-to-start")
    shown = await page.content()
    assert not any(raw in shown for raw in ("138-1234", "1381234", "wang.fang@"))

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
    await page.reload()  # started: in its queue now, and no longer waiting
    await expect(page.get_by_test_id("waiting")).to_have_count(0)
    await page.context.close()


async def test_a_staff_action_while_no_worker_runs_answers_503_and_its_retry_acts_once(system, http):
    accepted = await submit(system, http)
    complaint = f"{system.settings.url_of('workflow')}/v1/complaints/{accepted.json()['complaint_id']}"
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


async def test_messages_stored_before_the_worker_died_reach_notify_while_it_is_down(system, http):
    """The outbox is relayed by the workflow service's API process, not by the worker: what a
    complaint's steps stored while notify was down goes out once notify is back, even while no
    worker runs."""
    notify = system.processes["notify"]
    notify.kill()
    notify.wait()
    accepted = await submit(system, http)
    assert accepted.status_code == 202, accepted.text
    complaint_id = accepted.json()["complaint_id"]
    db = await asyncpg.connect(system.settings.database_url)
    try:

        async def statuses() -> list[str]:
            rows = await db.fetch("SELECT status FROM workflow.outbox WHERE complaint_id = $1", complaint_id)
            return [r["status"] for r in rows]

        async def stored() -> list[str] | None:  # the receipt and the assignee's notice, say
            found = await statuses()
            return found if len(found) >= 2 else None

        assert set(await eventually(stored)) == {"pending"}
        worker = system.processes["worker"]
        worker.kill()
        worker.wait()
        system.start_service("notify")
        await system.wait_healthy(names=("notify",))

        async def handed_over() -> list[str] | None:
            found = await statuses()
            return found if all(status == "handed_over" for status in found) else None

        relayed = await eventually(handed_over, timeout=60)
        accepted_by_notify = await db.fetchval(
            "SELECT count(*) FROM notify.notifications WHERE complaint_id = $1", complaint_id
        )
        assert accepted_by_notify >= len(relayed) >= 2
        assert worker.poll() is not None  # still down: nobody restarted it
    finally:
        await db.close()


async def test_a_customer_and_staff_follow_a_complaint_as_recorded_while_temporal_is_down(system, http):
    """The customer's page and the staff API ask the workflow for the live status. With the engine
    down they show what the events recorded instead of an error and say so (`live` false), and the
    page offers no form until it is back; an answer sent meanwhile gets a 503 to try again."""
    accepted = await submit(system, http)
    assert accepted.status_code == 202, accepted.text
    complaint_id = accepted.json()["complaint_id"]
    status_url, page_url = accepted.json()["status_url"], accepted.json()["page_url"]
    complaint = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
    as_manager = await system.staff_headers("wang.fang")

    async def assigned():
        return (await http.get(status_url)).json().get("stage") == "assigned" or None

    assert await eventually(assigned)
    assert (await http.post(f"{complaint}/acknowledge", headers=as_manager)).status_code == 200
    asked = await http.post(f"{complaint}/request-info", headers=as_manager, json={"question": "Which store?"})
    assert asked.status_code == 200, asked.text
    live = (await http.get(status_url)).json()
    assert live["live"] is True and live["stage"] == "waiting_on_customer"
    page = await http.get(page_url, headers={"Accept": "text/html"})
    assert 'action="' in page.text and "recorded-only" not in page.text  # the reply form

    staff_live = (await http.get(complaint, headers=as_manager)).json()
    assert staff_live["live"] is True

    await system.stop_temporal()
    staff_recorded = await http.get(complaint, headers=as_manager)
    assert staff_recorded.status_code == 200, staff_recorded.text
    body = staff_recorded.json()
    assert body["live"] is False
    assert (body["stage"], body["owner"], body["group"]) == ("waiting_on_customer", "wang.fang", staff_live["group"])
    assert [h["type"] for h in body["history"]] == [h["type"] for h in staff_live["history"]]
    recorded = await http.get(status_url)
    assert recorded.status_code == 200, recorded.text
    body = recorded.json()
    assert body["live"] is False and body["stage"] == "waiting_on_customer"
    assert [h["type"] for h in body["history"]] == [h["type"] for h in live["history"]]
    assert body["survey_open"] is False and body["reopen_until"] is None
    page = await http.get(page_url, headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'data-testid="recorded-only"' in page.text
    assert 'action="' not in page.text  # nothing to send until the engine can take it
    reply = await http.post(f"{status_url}/reply", json={"message": "The one on Main Street"})
    assert reply.status_code == 503 and reply.headers["Retry-After"], reply.text

    # The recorded view is the workflow service's to give intake, to no one else.
    recorded_view = f"{system.settings.url_of('workflow')}/v1/recorded-views/{complaint_id}"
    assert (await http.get(recorded_view)).status_code == 401  # a channel key
    assert (await http.get(recorded_view, headers=as_manager)).status_code == 401  # a staff sign-in
    assert (await http.get(recorded_view, headers=system.headers_as("intake"))).status_code == 200

    await system.start_temporal()

    async def live_again():
        body = (await http.get(status_url)).json()
        return body if body.get("live") else None

    assert (await eventually(live_again, timeout=60))["stage"] == "waiting_on_customer"
