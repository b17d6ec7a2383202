"""The workflow's outbox and its relay: a step's messages are stored with its events, a retried
step keeps what was stored first, and the relay hands each message to the real notify service
(its own process, over HTTP) once, waiting while notify is down."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.common.events import NewEvent
from services.common.service_auth import bearer
from services.notify.contract import KeyedNotificationRequest
from services.run import free_port
from services.workflow.outbox import MessageRelay
from services.workflow.routing import Router, RoutingConfig, RoutingError, load_routing
from tests.conftest import AS_WORKFLOW, TOKENS


def a_step(survey_due: datetime) -> tuple[list[NewEvent], list[KeyedNotificationRequest]]:
    """What a workflow task appends when it asks for the survey: the same ids every attempt,
    but a body that depends on the attempt's clock."""
    event = NewEvent(
        event_id=uuid.UUID(int=7),
        stream_id="C-1",
        version=1,
        type="SurveyRequested",
        occurred_at=survey_due - timedelta(hours=48),
        data={"answer_by": survey_due.isoformat()},
    )
    message = KeyedNotificationRequest(
        idempotency_key="complaint-C-1/survey_request",
        complaint_id="C-1",
        template="survey_request",
        channel="email",
        recipient_name="王芳",
        recipient_address="wang.fang@example.com",
        variables={
            "complaint_id": "C-1",
            "status_url": "http://intake.test/track/t",
            "answer_by": survey_due.isoformat(),
        },
    )
    return [event], [message]


async def outbox_rows(store) -> list[dict]:
    rows = await store.pool.fetch("SELECT * FROM workflow.outbox ORDER BY position")
    return [dict(r) for r in rows]


async def test_a_retried_step_keeps_the_message_it_stored_first(store):
    first_try = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    events, messages = a_step(first_try)
    await store.append(events, messages=messages)
    # The worker died before its task completed; the retried task runs 9 s later.
    events_again, messages_again = a_step(first_try + timedelta(seconds=9))
    retried = await store.append(events_again, messages=messages_again)

    assert retried.duplicate
    rows = await outbox_rows(store)
    assert len(rows) == 1 and rows[0]["status"] == "pending"
    stored = json.loads(rows[0]["request"])
    recorded = (await store.read_stream("C-1"))[0].data
    assert stored["variables"]["answer_by"] == recorded["answer_by"] == first_try.isoformat()


async def test_the_relay_waits_while_notify_is_down_then_hands_over_once(store, notify):
    events, messages = a_step(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    await store.append(events, messages=messages)
    async with httpx.AsyncClient(timeout=5, headers=AS_WORKFLOW) as http:
        down = MessageRelay(store.pool, http, f"http://127.0.0.1:{free_port()}")  # nothing listens there
        assert await down.hand_over_due() == 1
        row = (await outbox_rows(store))[0]
        assert row["status"] == "pending" and "unreachable" in row["last_error"]
        assert row["next_attempt_at"] > datetime.now(UTC)  # backs off, keeps it
        assert await down.hand_over_due() == 0  # not due again yet

        await store.pool.execute("UPDATE workflow.outbox SET next_attempt_at = now()")
        relay = MessageRelay(store.pool, http, notify)
        assert await relay.hand_over_due() == 1
        row = (await outbox_rows(store))[0]
        assert row["status"] == "handed_over" and row["notification_id"] is not None

        # A relay that died after notify took the message but before it wrote that down hands
        # it over again: notify recognises the key, and the customer gets one message.
        await store.pool.execute("UPDATE workflow.outbox SET status = 'pending', next_attempt_at = now()")
        assert await relay.hand_over_due() == 1
        listed = (await http.get(f"{notify}/v1/notifications", params={"complaint_id": "C-1"})).json()
        assert [n["notification_id"] for n in listed] == [str(row["notification_id"])]


async def test_a_message_notify_will_never_take_is_set_aside_without_blocking_the_rest(store, notify):
    events, messages = a_step(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    bad = messages[0].model_copy(update={"idempotency_key": "complaint-C-1/bad", "template": "no_such_template"})
    await store.append(events, messages=[bad, *messages])
    async with httpx.AsyncClient(timeout=5, headers=AS_WORKFLOW) as http:
        assert await MessageRelay(store.pool, http, notify).hand_over_due() == 2
    statuses = {r["idempotency_key"]: (r["status"], r["last_error"]) for r in await outbox_rows(store)}
    assert statuses["complaint-C-1/survey_request"] == ("handed_over", None)
    assert statuses["complaint-C-1/bad"][0] == "rejected" and "422" in statuses["complaint-C-1/bad"][1]


async def test_notify_takes_messages_only_from_the_services_that_send_them(store, notify):
    body = a_step(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))[1][0].body()
    new_key = {"Idempotency-Key": str(uuid.uuid4())}
    as_ = {caller: bearer(token) for caller, token in TOKENS.items()}
    async with httpx.AsyncClient(timeout=5) as http:
        anonymous = await http.post(f"{notify}/v1/notifications", json=body, headers=new_key)
        assert anonymous.status_code == 401 and anonymous.json()["fields"][0]["field"] == "Authorization"
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        forged = await http.post(
            f"{notify}/v1/notifications",
            json=body,
            headers={**new_key, "Authorization": "Bearer " + TOKENS["workflow"][:-1] + "x"},
        )
        assert forged.status_code == 401
        for caller in ("operator", "notify"):  # may not send
            refused = await http.post(f"{notify}/v1/notifications", json=body, headers={**new_key, **as_[caller]})
            assert refused.status_code == 403, caller
        for caller in ("workflow", "intake", "reporting"):  # reporting: reminders of overdue review actions
            accepted = await http.post(
                f"{notify}/v1/notifications", json=body, headers={"Idempotency-Key": f"{caller}/1", **as_[caller]}
            )
            assert accepted.status_code == 202, caller

        listing = f"{notify}/v1/notifications?complaint_id=C-1"
        assert (await http.get(listing)).status_code == 401
        assert (await http.get(listing, headers=as_["reporting"])).status_code == 403
        listed = (await http.get(listing, headers=as_["operator"])).json()
        assert len(listed) == 3
        one = f"{notify}/v1/notifications/{listed[0]['notification_id']}"
        assert (await http.get(one)).status_code == 401
        assert (await http.get(one, headers=as_["intake"])).status_code == 200


async def test_a_token_notify_does_not_know_delays_messages_and_never_discards_them(store, notify):
    events, messages = a_step(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    await store.append(events, messages=messages)
    stale = {"Authorization": "Bearer a-token-from-before-the-rotation"}
    async with httpx.AsyncClient(timeout=5, headers=stale) as http:
        assert await MessageRelay(store.pool, http, notify).hand_over_due() == 1
    row = (await outbox_rows(store))[0]
    assert row["status"] == "pending" and "401" in row["last_error"]

    await store.pool.execute("UPDATE workflow.outbox SET next_attempt_at = now()")
    async with httpx.AsyncClient(timeout=5, headers=AS_WORKFLOW) as http:
        assert await MessageRelay(store.pool, http, notify).hand_over_due() == 1
    assert (await outbox_rows(store))[0]["status"] == "handed_over"


async def test_an_escalation_to_a_role_reaches_the_people_who_hold_it_once_each(store, notify):
    """A chain role resolves to named staff of the roster (routing.toml's escalation table):
    the holders on duty get a copy each; a retried hand-over repeats none."""
    router = Router(store.pool, load_routing())
    await router.load_roster()
    await store.pool.execute("UPDATE workflow.staff SET on_duty = (staff_id <> 'liu.yang')")  # off shift
    facts = {"target": "resolution", "deadline": "2026-11-24T12:00:00+00:00", "due_at": "2026-11-24T12:00:00+00:00"}
    escalation = KeyedNotificationRequest(
        idempotency_key="complaint-C-9/resolution/level/1",
        complaint_id="C-9",
        template="sla_escalation",
        channel="internal",
        recipient_name="group_lead of front-line-service",
        recipient_address="role:group_lead@front-line-service",
        variables={
            **facts,
            "complaint_id": "C-9",
            "status_url": None,
            "level": 1,
            "breach": True,
            "tier": 3,
            "role": "group_lead",
            "owner": None,
        },
    )
    await store.append([], messages=[escalation])
    async with httpx.AsyncClient(timeout=5, headers=AS_WORKFLOW) as http:
        relay = MessageRelay(store.pool, http, notify, recipients=router.recipients)
        assert await relay.hand_over_due() == 1
        await store.pool.execute("UPDATE workflow.outbox SET status = 'pending', next_attempt_at = now()")
        assert await relay.hand_over_due() == 1  # a relay that died before writing it down
        listed = (await http.get(f"{notify}/v1/notifications", params={"complaint_id": "C-9"})).json()
    assert [(n["recipient_address"], n["recipient_name"]) for n in listed] == [("staff:chen.jie", "Chen Jie")]

    # Nobody on duty: every holder is told; an escalation does not wait for a shift.
    await store.pool.execute("UPDATE workflow.staff SET on_duty = false")
    people = await router.recipients(escalation.body())
    assert [suffix for suffix, _ in people] == ["liu.yang", "chen.jie"]

    # A message to one person (the workflow names them by id) is addressed by their name.
    to_one = {**escalation.body(), "recipient_name": "ma.jun", "recipient_address": "staff:ma.jun"}
    assert await router.recipients(to_one) == [("", {**to_one, "recipient_name": "Ma Jun"})]
    gone = {**to_one, "recipient_name": "someone.gone", "recipient_address": "staff:someone.gone"}
    assert await router.recipients(gone) == [("", gone)]  # off the roster: as the workflow named them


def test_two_groups_that_disagree_answer_to_the_lowest_superior_they_share():
    """Source 001: a disagreement between departments goes up to their common superior."""
    own_leads = RoutingConfig(
        groups={},
        routes=(),
        escalation={
            "a": {"group_lead": ("lead.a",)},
            "b": {"group_lead": ("lead.b",)},
            "*": {"department_head": ("head",), "manager": ("boss",)},
        },
    )
    assert own_leads.common_superiors("a", "b") == ("head",)
    assert own_leads.common_superiors("a", "a") == ("lead.a",)
    shared = RoutingConfig(groups={}, routes=(), escalation={"*": {"group_lead": ("l1", "l2"), "manager": ("m",)}})
    assert shared.common_superiors("a", "b") == ("l1", "l2")
    apart = RoutingConfig(
        groups={},
        routes=(),
        escalation={
            "a": {"group_lead": ("x",), "department_head": ("d1",), "manager": ("m1",)},
            "b": {"group_lead": ("y",), "department_head": ("d2",), "manager": ("m2",)},
        },
    )
    assert apart.common_superiors("a", "b") == ("m1",)  # nobody shared: the first group's managers


async def test_a_disputed_transfer_reaches_the_people_both_groups_answer_to(store):
    router = Router(store.pool, load_routing())
    await router.load_roster()
    await store.pool.execute("UPDATE workflow.staff SET on_duty = true")
    disputed = {
        "template": "transfer_disputed",
        "channel": "internal",
        "recipient_name": "common superior of front-line-service and liaison-operations",
        "recipient_address": "superior:front-line-service|liaison-operations",
    }
    people = await router.recipients(disputed)
    assert [(suffix, r["recipient_address"], r["recipient_name"]) for suffix, r in people] == [
        ("liu.yang", "staff:liu.yang", "Liu Yang"),  # routing.toml: they lead every group
        ("chen.jie", "staff:chen.jie", "Chen Jie"),
    ]


async def test_an_escalation_role_nobody_holds_stops_the_worker_at_start(store):
    router = Router(store.pool, load_routing())
    await router.load_roster()
    router.check_escalation({"owner", "group_lead", "department_head", "manager"}, router.roster_ids)
    with pytest.raises(RoutingError, match="'vice_president' of group .*nobody holds it"):
        router.check_escalation({"owner", "vice_president"}, router.roster_ids)
    with pytest.raises(RoutingError, match="not on the roster"):
        router.check_escalation({"manager"}, router.roster_ids - {"wang.fang"})


def _item(key: str, **changes) -> dict:
    body = a_step(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))[1][0].body()
    return {**body, **changes, "idempotency_key": key}


async def test_notify_takes_a_batch_with_an_outcome_per_message_as_the_single_form_answers(store, notify):
    batch_url = f"{notify}/v1/notifications/batch"
    async with httpx.AsyncClient(timeout=5, headers=AS_WORKFLOW) as http:
        single = await http.post(
            f"{notify}/v1/notifications",
            json=a_step(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))[1][0].body(),
            headers={"Idempotency-Key": "k/0"},
        )
        assert single.status_code == 202
        answer = await http.post(
            batch_url,
            json={
                "notifications": [
                    _item("k/1"),
                    _item("k/0"),  # taken before by the single form, same message
                    _item("k/1-other"),
                    _item("k/bad", template="no_such_template"),
                ]
            },
        )
        assert answer.status_code == 200, answer.text
        again = await http.post(batch_url, json={"notifications": [_item("k/1-other", recipient_name="Someone else")]})
        results = {r["idempotency_key"]: r for r in answer.json()["results"]}
        assert [r["idempotency_key"] for r in answer.json()["results"]] == ["k/1", "k/0", "k/1-other", "k/bad"]
        assert results["k/1"]["status"] == 202
        assert results["k/0"] == {
            "idempotency_key": "k/0",
            "status": 200,
            "notification_id": single.json()["notification_id"],
            "error": None,
        }
        assert results["k/bad"]["status"] == 422 and "no_such_template" in results["k/bad"]["error"]
        assert again.json()["results"][0]["status"] == 409
        listed = (
            await http.get(
                f"{notify}/v1/notifications",
                params={"complaint_id": "C-1"},
                headers={"Authorization": AS_WORKFLOW["Authorization"]},
            )
        ).json()
        assert len(listed) == 3  # k/0, k/1, k/1-other: once each

        twice = await http.post(batch_url, json={"notifications": [_item("k/2"), _item("k/2")]})
        assert twice.status_code == 422 and twice.json()["fields"][0]["field"] == "notifications"
        too_many = await http.post(batch_url, json={"notifications": [_item(f"m/{i}") for i in range(101)]})
        assert too_many.status_code == 422 and too_many.json()["fields"][0]["field"] == "notifications"
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.post(batch_url, json={"notifications": [_item("k/3")]})).status_code == 401
        as_operator = bearer(TOKENS["operator"])
        refused = await http.post(batch_url, json={"notifications": [_item("k/3")]}, headers=as_operator)
        assert refused.status_code == 403


async def test_the_relay_hands_a_backlog_over_in_batches(store, notify):
    """After a storm of deadlines: 120 messages go to notify in three requests, not 120."""
    events, messages = a_step(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    await store.append(
        [], messages=[messages[0].model_copy(update={"idempotency_key": f"storm/{i}"}) for i in range(120)]
    )
    posts = []

    async def count(request: httpx.Request) -> None:
        posts.append(request.url.path)

    async with httpx.AsyncClient(timeout=5, headers=AS_WORKFLOW, event_hooks={"request": [count]}) as http:
        relay = MessageRelay(store.pool, http, notify)
        # The loop's pass goes on at once only after a whole batch: more may be waiting.
        assert [await relay.one_pass() for _ in range(3)] == [True, True, False]
        assert await relay.hand_over_due() == 0
        listed = (await http.get(f"{notify}/v1/notifications", params={"complaint_id": "C-1"})).json()
    assert posts.count("/v1/notifications/batch") == 3
    assert {r["status"] for r in await outbox_rows(store)} == {"handed_over"}
    assert len(listed) == 120


async def test_a_batch_refused_as_a_whole_delays_its_messages_and_discards_none(store, notify):
    """A notify without the batch form (an older one, mid-upgrade) answers 404: wait, keep."""
    events, messages = a_step(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    await store.append(events, messages=messages)
    async with httpx.AsyncClient(timeout=5, headers=AS_WORKFLOW) as http:
        assert await MessageRelay(store.pool, http, f"{notify}/not-this-version").hand_over_due() == 1
    row = (await outbox_rows(store))[0]
    assert row["status"] == "pending" and "404" in row["last_error"]
