"""Erasure of a customer's personal data, end to end over HTTP on the real system (dev server,
PostgreSQL, the four services): a manager asks on one complaint, every complaint of the
customer is erased once closed, the data is gone from every table and from Temporal, new
reads find nothing of it, the request and its execution are recorded, and reports still count
the complaints."""

import asyncio
import subprocess
import uuid

import asyncpg
import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from services.common.privacy import mask_phone
from services.run import temporal_cli
from services.workflow.contract import erasure_workflow_id, workflow_id_for
from services.workflow.erasure.workflow import CustomerErasureWorkflow
from services.workflow.sandbox import runner_for
from tests.e2e.test_end_to_end import (
    RESOLUTION,
    _has_event,
    _payload_texts,
    _stage_is,
    eventually,
    kept_view,
)

pytestmark = pytest.mark.e2e
SCHEMAS = ("intake", "workflow", "notify", "reporting")


def a_customer() -> dict:
    n = uuid.uuid4().int % 10**8
    return {
        "name": f"欧阳{uuid.uuid4().hex[:6]}",
        "phone": f"+86 137-{n // 10**4:04d}-{n % 10**4:04d}",
        "email": f"erase.{uuid.uuid4().hex[:10]}@example.com",
        "account_id": f"ACC-{uuid.uuid4().hex[:8]}",
    }


async def submit(system, http, customer: dict, description: str) -> tuple[str, str]:
    accepted = await http.post(
        f"{system.settings.url_of('intake')}/v1/complaints",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"channel": "hotline", "customer": customer, "description": description},
    )
    assert accepted.status_code == 202, accepted.text
    complaint_id, status_url = accepted.json()["complaint_id"], accepted.json()["status_url"]
    await eventually(lambda: _has_event(http, status_url, "Assigned"))
    return complaint_id, status_url


async def close(system, http, complaint_id: str, status_url: str, customer: dict) -> None:
    staff = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
    manager = await system.staff_headers("wang.fang")
    note = {"text": f"{customer['name']} called again from {customer['phone']}"}
    assert (await http.post(f"{staff}/acknowledge", headers=manager)).status_code == 200
    assert (await http.post(f"{staff}/notes", json=note, headers=manager)).status_code == 200
    resolution = {**RESOLUTION, "cause": f"A retry charged {customer['name']}'s card twice"}
    assert (await http.post(f"{staff}/resolve", json=resolution, headers=manager)).status_code == 200
    await eventually(lambda: _stage_is(http, status_url, "awaiting_survey"))
    answered = await http.post(
        f"{status_url}/survey",
        json={"satisfaction_result": 4, "satisfaction_speed": 4, "suggestion": f"call me on {customer['phone']}"},
    )
    assert answered.status_code == 200, answered.text
    await eventually(lambda: _stage_is(http, status_url, "closed"))


async def traces_in_tables(system, secrets: list[str]) -> list[str]:
    """Every row of every table of the four services, as text, searched for the secrets."""
    pool = await asyncpg.create_pool(system.settings.database_url, min_size=1, max_size=1)
    try:
        tables = await pool.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1)", list(SCHEMAS)
        )
        found = []
        for t in tables:
            rows = await pool.fetch(f'SELECT t::text AS row FROM "{t["schemaname"]}"."{t["tablename"]}" t')
            found += [f"{t['schemaname']}.{t['tablename']}: {s}" for r in rows for s in secrets if s in r["row"]]
        return found
    finally:
        await pool.close()


async def test_an_erased_customer_is_gone_from_every_store_and_read_and_still_counted(system, http):
    s = system.settings
    workflow, reporting = s.url_of("workflow"), s.url_of("reporting")
    manager, agent = await system.staff_headers("wang.fang"), await system.staff_headers("zhou.ting")
    customer = a_customer()
    first, first_url = await submit(system, http, customer, f"我是{customer['name']}，退款三次都没到账")
    second_text = "The invoice for my last order 4411 shows the wrong address"
    second, second_url = await submit(system, http, customer, second_text)
    repeat = await http.post(
        f"{s.url_of('intake')}/v1/complaints",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={
            "channel": "email",
            "customer": customer,
            "description": f"{second_text} -- still wrong, {customer['name']}",
        },
    )
    assert repeat.json()["linked_to"] == second  # a repeat: no workflow of its own, its words in the second's trail
    await close(system, http, first, first_url, customer)
    digits = "".join(c for c in customer["phone"] if c.isdigit())[-11:]
    secrets = [
        customer["name"],
        customer["email"],
        customer["account_id"],
        digits,
        customer["phone"],
        mask_phone(customer["phone"]),
        first_url.rsplit("/", 1)[-1],
        second_url.rsplit("/", 1)[-1],
    ]
    assert await traces_in_tables(system, secrets)  # the search finds them while they are there
    # Staff find the caller by their number and see their contact in full, until the erasure.
    call_back = {"purpose": "call_back"}
    shown = await http.post(f"{workflow}/v1/complaints/{first}/contact", headers=manager, json=call_back)
    assert shown.json()["phone"] == customer["phone"]
    found = await http.get(
        f"{workflow}/v1/complaints", params={"search": digits, "include_closed": "true"}, headers=manager
    )
    assert {c["complaint_id"] for c in found.json()} == {first, second}

    async def closed_in_reports():
        summary = (await http.get(f"{reporting}/v1/reports/summary", headers=manager)).json()
        return summary if summary["by_status"].get("closed") else None

    counted = (await eventually(closed_in_reports))["by_status"]
    # Its view is kept for when Temporal forgets it (services/workflow/kept_views.py): the erasure takes it too.
    kept = await eventually(lambda: kept_view(system, first), timeout=60)
    assert customer["name"] in kept

    # Deny paths: no token, not a manager, an unknown complaint, a body without a basis.
    body = {"complaint_id": first, "basis": "the customer's request by hotline, identity checked (ticket 4711)"}
    assert (await http.post(f"{workflow}/v1/erasures", json=body)).status_code == 401
    assert (await http.post(f"{workflow}/v1/erasures", json=body, headers=agent)).status_code == 403
    unknown = await http.post(
        f"{workflow}/v1/erasures", json={**body, "complaint_id": "20261130-00000000"}, headers=manager
    )
    assert unknown.status_code == 404 and unknown.json()["fields"][0]["field"] == "complaint_id"
    missing = await http.post(f"{workflow}/v1/erasures", json={"complaint_id": first}, headers=manager)
    assert missing.status_code == 422 and "basis" in missing.text
    # The stores' own erasure endpoints answer the workflow service only.
    intake_scope, notify_erase = (
        f"{s.url_of('intake')}/v1/erasure-scope/{first}",
        f"{s.url_of('notify')}/v1/erasures/{first}",
    )
    assert (await http.get(intake_scope, headers={"Authorization": "Bearer nobody"})).status_code == 401
    assert (await http.get(intake_scope, headers=system.headers_as("operator"))).status_code == 403
    assert (await http.post(f"{s.url_of('intake')}/v1/erasures/{first}", headers=manager)).status_code == 401
    assert (await http.post(notify_erase, headers=system.headers_as("intake"))).status_code == 403
    assert (await http.get(intake_scope, headers=system.headers_as("workflow"))).json()["complaints"][0] == {
        "complaint_id": first,
        "linked": False,
    }

    key = {"Idempotency-Key": str(uuid.uuid4())}
    asked = await http.post(f"{workflow}/v1/erasures", json=body, headers={**manager, **key})
    assert asked.status_code == 202, asked.text
    erasure_id = asked.json()["erasure_id"]
    again = await http.post(f"{workflow}/v1/erasures", json=body, headers={**manager, **key})
    assert again.json()["erasure_id"] == erasure_id  # asked once

    # The closed complaint is erased at once; the open one waits until it closes.
    async def record(condition):
        got = (await http.get(f"{workflow}/v1/erasures/{erasure_id}", headers=manager)).json()
        return got if condition(got) else None

    waiting = await eventually(lambda: record(lambda r: first in r.get("erased", {})))
    assert waiting["complaints"][:2] == [first, second] and len(waiting["complaints"]) == 3
    assert second in waiting["waiting_for"]
    assert waiting["completed_at"] is None
    assert (await http.get(f"{workflow}/v1/erasures/{erasure_id}", headers=agent)).status_code == 403
    await close(system, http, second, second_url, customer)
    done = await eventually(lambda: record(lambda r: r["completed_at"] is not None), timeout=60)
    assert done["requested_by"] == "wang.fang" and done["basis"] == body["basis"] and done["waiting_for"] == []
    for complaint_id in (first, second):
        stores = done["erased"][complaint_id]
        assert stores["intake"] == 1 and stores["events"] > 0 and stores["notify"] > 0 and stores["temporal"] == 1
    assert done["erased"][first]["kept_view"] == 1 and await kept_view(system, first) is None
    (repeat_id,) = set(done["complaints"]) - {first, second}
    assert done["erased"][repeat_id] == {
        "intake": 1,
        "events": 0,
        "outbox": 0,
        "notify": 0,
        "temporal": 0,
        "kept_view": 0,
    }

    # Gone from the store: no row of any table of any service holds any of it (reporting, which
    # follows the feed, once it has read the erasure).
    async def nothing_left():
        left = await traces_in_tables(system, secrets)
        return None if left else True

    assert await eventually(nothing_left) is True
    gone = await http.post(f"{workflow}/v1/complaints/{first}/contact", headers=manager, json=call_back)
    assert gone.status_code == 410 and customer["phone"] not in gone.text
    found = await http.get(
        f"{workflow}/v1/complaints", params={"search": digits, "include_closed": "true"}, headers=manager
    )
    assert found.json() == []
    showings = (await http.get(f"{workflow}/v1/complaints/{first}/contact-showings", headers=manager)).json()
    assert [(r["staff_id"], r["purpose"]) for r in showings] == [("wang.fang", "call_back")]  # the record stays
    # Gone from Temporal: neither history exists, for the SDK nor for the CLI (with the codec).
    for complaint_id in (first, second):
        with pytest.raises(RPCError) as gone:
            await system.temporal.client.get_workflow_handle(workflow_id_for(complaint_id)).describe()
        assert gone.value.status == RPCStatusCode.NOT_FOUND
    show = await asyncio.to_thread(
        subprocess.run,
        [
            temporal_cli(),
            "workflow",
            "show",
            "--address",
            s.temporal_address,
            "-w",
            workflow_id_for(first),
            "--codec-endpoint",
            f"{s.url_of('worker')}/codec",
            "--codec-auth",
            f"Bearer {system.service_tokens['operator']}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert show.returncode != 0 and customer["email"] not in show.stdout

    # Gone from new reads: the tracking links, the staff view, the inbox search.
    assert (await http.get(first_url)).status_code == 404
    assert (await http.get(f"{workflow}/v1/complaints/{first}", headers=manager)).status_code == 404
    found = await http.get(
        f"{workflow}/v1/complaints", params={"search": customer["name"], "include_closed": True}, headers=manager
    )
    assert found.status_code == 200 and found.json() == []

    # The audit trail stays: every event, with the erasure as the last; the messages' templates and times.
    trail = (await http.get(f"{workflow}/v1/complaints/{first}/events", headers=manager)).json()
    types = [e["type"] for e in trail["events"]]
    assert types[0] == "ComplaintReceived" and "Resolved" in types and types[-1] == "CustomerDataErased"
    assert trail["events"][-1]["data"] == {"erasure_id": erasure_id, "requested_by": "wang.fang"}
    messages = (
        await http.get(
            f"{s.url_of('notify')}/v1/notifications",
            params={"complaint_id": first},
            headers=system.headers_as("operator"),
        )
    ).json()
    assert {"feedback", "survey_request"} <= {m["template"] for m in messages}
    assert all(m["body"] == "[erased]" for m in messages)

    # Reports still count both complaints, before and after a rebuild from the feed.
    async def counted_again():
        now = (await http.get(f"{reporting}/v1/reports/summary", headers=manager)).json()["by_status"]
        return now if now.get("closed", 0) >= counted.get("closed", 0) + 1 else None

    after = await eventually(counted_again)
    rebuilt = await http.post(f"{reporting}/v1/projection/rebuild", headers=system.headers_as("operator"))
    assert rebuilt.status_code == 202
    assert await eventually(lambda: _same_summary(http, reporting, manager, after))
    # Asked again (another request): nothing is left to change, and that is recorded too.
    twice = await http.post(f"{workflow}/v1/erasures", json=body, headers=manager)
    second_id = twice.json()["erasure_id"]
    redone = await eventually(lambda: _completed(http, workflow, manager, second_id))
    assert redone["complaints"] == [first] and redone["erased"][first] == dict.fromkeys(stores, 0)
    listed = (await http.get(f"{workflow}/v1/erasures", headers=manager)).json()
    assert [e["erasure_id"] for e in listed] == [second_id, erasure_id]

    # The erasure's own history holds ids and the basis only, and replays.
    opened = await asyncio.to_thread(
        subprocess.run,
        [
            temporal_cli(),
            "workflow",
            "show",
            "--address",
            s.temporal_address,
            "-w",
            erasure_workflow_id(erasure_id),
            "--output",
            "json",
            "--codec-endpoint",
            f"{s.url_of('worker')}/codec",
            "--codec-auth",
            f"Bearer {system.service_tokens['operator']}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert opened.returncode == 0, opened.stderr
    decoded = _payload_texts(opened.stdout)
    assert first in decoded and "ticket 4711" in decoded
    assert not [secret for secret in secrets if secret in decoded]
    client = system.temporal.client
    history = await client.get_workflow_handle(erasure_workflow_id(erasure_id)).fetch_history()
    replayer = Replayer(
        workflows=[CustomerErasureWorkflow],
        data_converter=client.data_converter,
        workflow_runner=runner_for(client.data_converter),
    )
    await replayer.replay_workflow(history)


async def _same_summary(http, reporting, headers, expected):
    now = (await http.get(f"{reporting}/v1/reports/summary", headers=headers)).json()["by_status"]
    return now if now == expected else None


async def _completed(http, workflow, headers, erasure_id):
    got = await http.get(f"{workflow}/v1/erasures/{erasure_id}", headers=headers)
    return got.json() if got.status_code == 200 and got.json()["completed_at"] else None
