"""ComplaintWorkflow on the time-skipping test server, with the real event store (PostgreSQL)."""

import asyncio
import contextlib
import time
from datetime import datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError

from services.common.web import Reason
from services.workflow import inbox
from services.workflow.activities import ComplaintActivities, EventsAndMessages
from services.workflow.contract import (
    ActionRefused,
    AssignAction,
    ComplaintClosed,
    ComplaintView,
    ConsultAction,
    ConsultationAnswerAction,
    EngineUnavailable,
    FollowUpAction,
    ProgressAction,
    ReclassifyAction,
    ReopenAction,
    ResolveAction,
    StaffAction,
    Stage,
    SurveyAnswer,
)
from services.workflow.routing import Router, load_routing
from services.workflow.worker import activities_of, build_worker
from tests.workflow import scenarios
from tests.workflow.scenarios import drive

SURVEY_ANSWER_WINDOW = timedelta(hours=48)  # default policy, tiers 2 and 3
REOPEN_WINDOW = timedelta(days=7)  # default policy
LIFECYCLE = [
    "ComplaintReceived",
    "TierAssigned",
    "Assigned",
    "Acknowledged",
    "Resolved",
    "FeedbackSent",
    "SurveyRequested",
]


async def test_happy_path_records_every_stage_once_and_in_order(env, store, notifications):
    handle = await scenarios.happy_path(env)

    outcome = await handle.result()
    assert outcome.survey_answered
    stream = await store.read_stream(outcome.complaint_id)
    assert [e.type for e in stream] == [*LIFECYCLE, "SurveyAnswered", "Closed"]
    assert [e.version for e in stream] == list(range(1, len(stream) + 1))
    tier = next(e for e in stream if e.type == "TierAssigned").data
    assert (tier["tier"], tier["rule"]) == (2, "money-lost")
    assert next(e for e in stream if e.type == "Acknowledged").data["staff_id"] == "agent-7"
    assert next(e for e in stream if e.type == "Resolved").data["cause"] == scenarios.RESOLUTION.cause
    assert next(e for e in stream if e.type == "SurveyAnswered").data["satisfaction_speed"] == 5

    sent = await notifications.sent()
    assert [(n.template, n.channel, n.recipient_address) for n in sent] == [
        ("received", "email", "wang.fang@example.com"),  # at once: its id, its page, when we answer
        ("liaison_assigned", "internal", "staff:ma.jun"),  # tier 2: the business liaison is told
        ("acknowledged", "email", "wang.fang@example.com"),  # source 003: the customer hears who handles it
        ("feedback", "email", "wang.fang@example.com"),
        ("survey_request", "email", "wang.fang@example.com"),
    ]
    to_customer = [n for n in sent if n.channel != "internal"]
    # Written in the customer's language (a Chinese name, an English complaint: English), with
    # the phone as the fallback when e-mail fails for good, times as moments notify writes out.
    assert {(n.language, tuple((f.channel, f.address) for f in n.fallbacks)) for n in to_customer} == {
        ("en", (("sms", "13812341234"),))
    }
    received = datetime.fromisoformat(sent[0].variables["first_response_by"])
    assert received - stream[0].occurred_at <= timedelta(minutes=30)  # tier 2: first response within 30 min
    acknowledged = sent[2].variables
    assert acknowledged["timezone"] == "Asia/Shanghai"
    # Tier 2: the day's progress by 17:00 local time, resolution within 24 h of receipt (10:00).
    local = ZoneInfo("Asia/Shanghai")
    assert datetime.fromisoformat(acknowledged["next_update_by"]).astimezone(local).time() == dt_time(17, 0)
    assert datetime.fromisoformat(acknowledged["resolution_by"]).astimezone(local).time() == dt_time(10, 0)
    assert sent[3].variables["resolution"]["compensation"] == "a 20 yuan coupon"
    keys = [n.idempotency_key for n in sent]
    assert keys[:2] == [f"{handle.id}/received", f"{handle.id}/liaison"]
    assert keys[3:] == [f"{handle.id}/feedback", f"{handle.id}/survey_request"]
    assert keys[2].startswith(f"{handle.id}/ack/")  # the staff action's Update id: a retry sends it once

    view = await drive(handle).status()
    assert (view.stage, view.owner, view.group) == (Stage.closed, "agent-7", "senior-agents")


async def test_an_action_that_does_not_fit_the_stage_is_rejected_without_touching_history(env, store, notifications):
    handle = await scenarios.start(env.client, scenarios.a_complaint(await env.get_current_time()))
    await scenarios.wait_for_event(handle, "Assigned")
    history_before = await _history_without_task_bookkeeping(handle)
    stream_before = await store.read_stream(handle.id.removeprefix("complaint-"))

    with pytest.raises(ActionRefused) as refused:
        await drive(handle).resolve(ResolveAction(staff_id="agent-7", resolution=scenarios.RESOLUTION))
    assert "only when it is acknowledged or waiting on customer" in refused.value.message
    with pytest.raises(ActionRefused):
        await drive(handle).answer_survey(SurveyAnswer(satisfaction_result=1, satisfaction_speed=1))

    # The test server records a workflow task per rejected update (the dev server does not;
    # the e2e test checks the whole history there); nothing else may be added.
    assert await _history_without_task_bookkeeping(handle) == history_before
    assert await store.read_stream(handle.id.removeprefix("complaint-")) == stream_before

    # Acknowledging twice: the second one is refused, the first owner stays.
    await drive(handle).acknowledge(StaffAction(staff_id="agent-1"))
    with pytest.raises(ActionRefused):
        await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    assert (await drive(handle).status()).owner == "agent-1"
    await handle.terminate("test over")


WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


async def _history_without_task_bookkeeping(handle) -> list[int]:
    history = await handle.fetch_history()
    return [e.event_type for e in history.events if e.event_type not in WORKFLOW_TASK_EVENTS]


async def test_survey_is_given_up_after_48_hours_in_seconds_of_wall_time(env, store, notifications):
    started = time.monotonic()
    handle = await scenarios.survey_given_up(env)
    wall = time.monotonic() - started

    outcome = await handle.result()
    assert not outcome.survey_answered
    stream = await store.read_stream(outcome.complaint_id)
    assert [e.type for e in stream] == [*LIFECYCLE, "SurveyExpired", "Closed"]
    requested = next(e for e in stream if e.type == "SurveyRequested").occurred_at
    expired = stream[-2].occurred_at
    assert SURVEY_ANSWER_WINDOW <= expired - requested < SURVEY_ANSWER_WINDOW + timedelta(minutes=1)
    # Not settled by the customer: open to reopening until 7 days after the result, then closed.
    resolved = next(e for e in stream if e.type == "Resolved").occurred_at
    assert REOPEN_WINDOW <= stream[-1].occurred_at - resolved < REOPEN_WINDOW + timedelta(minutes=1)
    print(f"\n48 h survey window and 7-day reopen window passed in {wall:.1f} s of wall time")

    with pytest.raises(ComplaintClosed):  # closed: a late answer has nowhere to go
        await drive(handle).answer_survey(SurveyAnswer(satisfaction_result=5, satisfaction_speed=5))


class DiesAfterStoringTheSurvey(ComplaintActivities):
    """A worker process that dies right after PostgreSQL committed the survey step, before its
    workflow task could complete: the retried task runs later, with another clock."""

    stored = asyncio.Event()

    @activity.defn(name="record")
    async def record(self, step: EventsAndMessages) -> list[int]:
        positions = await ComplaintActivities.record(self, step)
        if any(e.type == "SurveyRequested" for e in step.events):
            self.stored.set()
            await asyncio.Event().wait()  # the process is gone: nothing reports back
        return positions


async def test_a_worker_that_dies_after_storing_a_step_sends_its_message_once_as_recorded(env, store):
    """Finding: a worker killed mid-step left a complaint FAILED (notify refused a second body for
    the message's key). Now a step's message is stored with its event; another worker runs the
    step again, finds both stored, and the complaint carries on to its close with one survey
    request. (A retry whose clock differs keeps the first body: test_outbox.py.)"""
    router = Router(store.pool, load_routing())
    await router.load_roster()
    async with httpx.AsyncClient() as http:
        dying = DiesAfterStoringTheSurvey(store, router, http, notify_url="http://unused.invalid")
        worker = build_worker(env.client, scenarios.TASK_QUEUE, activities_of(dying), max_cached_workflows=0)
        worker_run = asyncio.create_task(worker.run())
        handle = await scenarios.start(env.client, scenarios.a_complaint(await env.get_current_time()))
        await scenarios.acknowledge_and_resolve(handle)
        await asyncio.wait_for(dying.stored.wait(), timeout=30)
        await worker.shutdown()
        worker_run.cancel()
        await asyncio.gather(worker_run, return_exceptions=True)

    async with scenarios.complaint_worker(env.client, store, max_cached_workflows=0) as outbox:
        await scenarios.wait_for_stage(handle, Stage.awaiting_survey)
        retried_clock = (await drive(handle).status()).survey_due_at
        await scenarios.answer(handle, 5, 5)
        outcome = await handle.result()  # completed, not failed

    complaint_id = outcome.complaint_id
    surveys = [n for n in await outbox.of(complaint_id) if n.template == "survey_request"]
    recorded = [e for e in await store.read_stream(complaint_id) if e.type == "SurveyRequested"]
    assert len(surveys) == 1 and len(recorded) == 1
    assert surveys[0].variables["answer_by"] == recorded[0].data["answer_by"]
    assert retried_clock.isoformat() == recorded[0].data["answer_by"]  # what the workflow holds, too
    stream = await store.read_stream(complaint_id)
    assert [e.version for e in stream] == list(range(1, len(stream) + 1))
    assert [e.type for e in stream][-2:] == ["SurveyAnswered", "Closed"]


class DatabaseDownForTheAcknowledgement(ComplaintActivities):
    """PostgreSQL refuses connections for the first attempts to store the acknowledgement."""

    failures_left = 5
    attempts = 0

    @activity.defn(name="record")
    async def record(self, step: EventsAndMessages) -> list[int]:
        if any(e.type == "Acknowledged" for e in step.events):
            self.attempts += 1
            if self.failures_left:
                self.failures_left -= 1
                raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return await ComplaintActivities.record(self, step)


async def test_a_step_retried_while_the_database_is_down_never_holds_the_workflow_task(env, store):
    """Finding: retried inside its workflow task (1 + 2 + 4 + 8 + 16 s here), an acknowledgement held
    the task until the worker heartbeated it at 8 s; a heartbeated task that had accepted the
    Update once left a history that did not replay (deploy/RUNBOOK.md). Each attempt now ends
    the task, and the retry waits on a workflow timer."""
    router = Router(store.pool, load_routing())
    await router.load_roster()
    async with httpx.AsyncClient() as http:
        down = DatabaseDownForTheAcknowledgement(store, router, http, notify_url="http://unused.invalid")
        async with build_worker(env.client, scenarios.TASK_QUEUE, activities_of(down)):
            handle = await scenarios.start(env.client, scenarios.a_complaint(await env.get_current_time()))
            await scenarios.wait_for_event(handle, "Assigned")
            acknowledged = asyncio.create_task(_acknowledge_as_the_console_does(handle))
            # Skips the retries' timers. The test server cannot skip while a task is held (the
            # call then fails after 30 s), and the acknowledgement is awaited all the same.
            with contextlib.suppress(RPCError):
                await env.sleep(timedelta(minutes=1))
            view = await acknowledged
            await handle.terminate("test over")

    assert view.owner == "agent-7" and down.attempts == 6
    events = (await handle.fetch_history()).events
    accepted = next(
        i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )
    # A failed attempt is recorded (a marker) and the task ends with a timer for the retry.
    retried_on_a_timer = [
        timer.event_id
        for marker, timer in zip(events[accepted:], events[accepted + 1 :], strict=False)
        if marker.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and timer.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert len(retried_on_a_timer) == 5, "each retry waits on a workflow timer, outside any task"
    stream = await store.read_stream(scenarios.complaint_id_from_workflow_id(handle.id))
    assert [e.type for e in stream].count("Acknowledged") == 1


async def test_a_query_while_a_step_waits_to_be_stored_shows_the_complaint_as_last_recorded(env, store):
    """The acknowledgement has changed the workflow's state but its event is not stored yet (the
    database refused it; the retry waits on a timer): the complaint is shown as its last recorded
    step left it, not half-way, and as acknowledged once the event is stored."""
    router = Router(store.pool, load_routing())
    await router.load_roster()
    async with httpx.AsyncClient() as http:
        down = DatabaseDownForTheAcknowledgement(store, router, http, notify_url="http://unused.invalid")
        down.failures_left = 1
        async with build_worker(env.client, scenarios.TASK_QUEUE, activities_of(down)):
            handle = await scenarios.start(env.client, scenarios.a_complaint(await env.get_current_time()))
            assigned = await scenarios.wait_for_event(handle, "Assigned")
            acknowledged = asyncio.create_task(_acknowledge_as_the_console_does(handle))
            for _ in range(400):
                if down.attempts:
                    break
                await asyncio.sleep(0.05)
            assert down.attempts == 1  # refused once; the retry now waits on its timer
            shown = await drive(handle).status()
            assert shown == assigned
            assert (shown.stage, shown.owner, shown.history[-1].type) == (Stage.assigned, None, "Assigned")
            with contextlib.suppress(RPCError):
                await env.sleep(timedelta(minutes=1))
            await acknowledged
            shown = await drive(handle).status()
            await handle.terminate("test over")

    assert (shown.stage, shown.owner, shown.history[-1].type) == (Stage.acknowledged, "agent-7", "Acknowledged")


async def _acknowledge_as_the_console_does(handle) -> ComplaintView:
    """A 503 (no answer in time) is sent again with the form's key: the same action, once."""
    for _ in range(12):
        try:
            return await drive(handle).acknowledge(StaffAction(staff_id="agent-7"), key="form-1")
        except EngineUnavailable:
            continue
    raise AssertionError("the acknowledgement never went through")


async def test_an_action_whose_key_is_as_long_as_the_api_takes_is_done_and_told_once(env, store, notifications):
    """A staff client's Idempotency-Key may be 200 characters: the message key made of it (the
    workflow's id, the step, the Update's id) was longer than notify takes, and the workflow task
    failed on it again and again, every later action on the complaint refused."""
    handle = await scenarios.start(env.client, scenarios.a_complaint(await env.get_current_time()))
    await scenarios.wait_for_event(handle, "Assigned")
    long_key, other_long_key = "k" * 199 + "1", "k" * 199 + "2"
    acknowledged = await drive(handle).acknowledge(StaffAction(staff_id="agent-7"), key=long_key)
    again = await drive(handle).acknowledge(StaffAction(staff_id="agent-7"), key=long_key)
    assert acknowledged.stage == again.stage == Stage.acknowledged
    progress = ProgressAction(staff_id="agent-7", message="an engineer is on it")
    for key in (long_key, other_long_key):  # two updates whose keys differ only at the end
        await drive(handle).post_progress(progress, key=key)

    sent = await notifications.of(handle.id.removeprefix("complaint-"))
    keys = [n.idempotency_key for n in sent if n.template in ("acknowledged", "progress_update")]
    assert len(keys) == len(set(keys)) == 3  # acknowledged once; two progress updates
    assert all(len(k) <= 200 and k.startswith(f"{handle.id}/") for k in keys)
    await handle.terminate("test over")


async def test_staff_correct_type_and_responsibility_with_a_reason(env, store, notifications):
    received = await scenarios.skip_to(env, 2, dt_time(10, 0))
    complaint = scenarios.a_complaint(received)  # money lost: a process problem (the first rules table)
    handle = await scenarios.start(env.client, complaint)
    await scenarios.wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-7"))
    fix = ReclassifyAction(
        staff_id="lead-1",
        complaint_type="product_fault",
        responsibility="rnd",
        reason="a billing bug in the app, not a process error",
    )
    view = await drive(handle).reclassify(fix)
    assert (view.complaint_type, view.classification.responsibility) == ("product_fault", "rnd")
    decided = view.classification.decision("responsibility")
    assert (decided.rule, decided.reason) == ("staff:lead-1", fix.reason)
    with pytest.raises(ActionRefused, match="classified so already"):
        await drive(handle).reclassify(
            ReclassifyAction(staff_id="lead-1", complaint_type="product_fault", reason="again")
        )

    event = next(e for e in await store.read_stream(complaint.complaint_id) if e.type == "Reclassified")
    assert (event.data["from_type"], event.data["to_type"]) == ("process_problem", "product_fault")
    assert (event.data["from_responsibility"], event.data["to_responsibility"]) == ("undetermined", "rnd")
    listed = [
        i
        for i in await inbox.list_items(store.pool, inbox.Filters(), limit=500)
        if i.complaint_id == complaint.complaint_id
    ]
    assert listed[0].complaint_type == "product_fault"
    await handle.terminate("test over")


async def test_a_resolved_complaint_is_reopened_within_its_window_and_closes_after_it(env, store, notifications):
    handle = await scenarios.reopened(env)

    outcome = await handle.result()
    stream = await store.read_stream(outcome.complaint_id)
    types = [e.type for e in stream]
    assert types[types.index("FollowedUp") :] == [
        "FollowedUp",
        "Reopened",
        "SlaWarning",
        "SlaWarning",
        "SlaBreached",
        "Escalated",
        "Resolved",
        "FeedbackSent",
        "SurveyRequested",
        "SurveyExpired",
        "Closed",
    ]
    reopened = next(e for e in stream if e.type == "Reopened")
    resolved = [e for e in stream if e.type == "Resolved"]
    # By the customer, two days after the first result; back to its owner, due 24 h later (tier 2).
    assert (reopened.data["staff_id"], reopened.data["assignee"], reopened.data["times"]) == (None, "agent-7", 1)
    assert reopened.occurred_at - resolved[0].occurred_at >= timedelta(days=2)
    assert reopened.data["deadlines"]["resolution"] == (reopened.occurred_at + timedelta(hours=24)).isoformat()
    # Closed when the window of 7 days after the second result ended, not when the survey expired.
    closed = stream[-1].occurred_at - resolved[1].occurred_at
    assert timedelta(days=7) <= closed < timedelta(days=7, minutes=5)
    sent = [(n.template, n.recipient_address) for n in await notifications.sent()]
    assert ("reopened", "wang.fang@example.com") in sent and ("complaint_reopened", "staff:agent-7") in sent
    assert [t for t, _ in sent].count("feedback") == 2  # a written result for each resolution


async def test_a_second_follow_up_is_handed_to_a_colleague_when_its_handler_is_away(env, store, notifications):
    """A dissatisfied customer's second follow-up is a person's task: a lead assigns it to someone
    on duty (the hand-over does the same), and the colleague records it."""
    handle = await scenarios.start(env.client, scenarios.a_complaint(await scenarios.skip_to(env, 3, dt_time(10))))
    await scenarios.acknowledge_and_resolve(handle)
    await scenarios.answer(handle, 1, 2)
    await scenarios.wait_for_stage(handle, Stage.second_follow_up)
    view = await drive(handle).assign(AssignAction(staff_id="lead-1", assignee="agent-8", note="agent-7 is away"))
    assert (view.stage, view.assignee, view.owner) == (Stage.second_follow_up, "agent-8", "agent-7")
    await drive(handle).record_follow_up(FollowUpAction(staff_id="agent-8", outcome="called; refunded the fee"))
    outcome = await handle.result()
    assert [e.type for e in await store.read_stream(outcome.complaint_id)][-3:] == [
        "AssignedToPerson",
        "FollowedUp",
        "Closed",
    ]


async def test_reopening_is_refused_after_a_satisfied_answer_and_after_the_window(env, store, notifications):
    satisfied = await scenarios.start(env.client, scenarios.a_complaint(await scenarios.skip_to(env, 1, dt_time(10))))
    await scenarios.acknowledge_and_resolve(satisfied)
    await drive(satisfied).reopen(ReopenAction(staff_id="agent-7", reason="the refund is late"))  # before the answer
    await drive(satisfied).resolve(ResolveAction(staff_id="agent-7", resolution=scenarios.RESOLUTION))
    await scenarios.answer(satisfied, 5, 5)
    await satisfied.result()  # a satisfied answer closes it at once
    with pytest.raises(ComplaintClosed):
        await drive(satisfied).reopen(ReopenAction(reason="again"))

    # A dissatisfied customer whose second follow-up drags on past the 7 days after the result.
    late = await scenarios.start(env.client, scenarios.a_complaint(await scenarios.skip_to(env, 2, dt_time(10))))
    await scenarios.acknowledge_and_resolve(late)
    await scenarios.answer(late, 1, 1)
    await scenarios.wait_for_stage(late, Stage.second_follow_up)
    await env.sleep(timedelta(days=8))
    with pytest.raises(ActionRefused, match="7 days after its result"):
        await drive(late).reopen(ReopenAction(reason="too late"))
    await drive(late).record_follow_up(FollowUpAction(staff_id="agent-7", outcome="refunded"))
    outcome = await late.result()  # the window is over: closed at once
    assert [e.type for e in await store.read_stream(outcome.complaint_id)][-2:] == ["FollowedUp", "Closed"]


async def test_other_departments_are_asked_for_their_view_and_their_answer_reaches_the_handler(
    env, store, notifications
):
    """Source 002's joint consultation: a complaint whose cause is hard to find is put to other
    departments, each by a named member; the complaint stays with its handler, and an answer
    goes back to whoever asked and whoever handles it."""
    complaint = scenarios.a_complaint(await env.get_current_time())
    handle = await scenarios.start(env.client, complaint)
    await scenarios.wait_for_event(handle, "Assigned")
    question = "did Tuesday's release change how refunds are booked?"
    ask = ConsultAction(
        staff_id="agent-7",
        groups=["liaison-product", "liaison-operations"],
        question=question,
        liaisons={"liaison-product": "zheng.li", "liaison-operations": None},
    )
    with pytest.raises(ActionRefused, match="cannot consult a complaint that is assigned") as refused:
        await drive(handle).consult(ask)  # nobody handles it yet
    # The reason comes back coded too, through the engine, for a reader's own words.
    assert refused.value.reason == Reason(
        "wrong_stage",
        {"action": "consult", "stage": "assigned", "allowed": ["acknowledged", "waiting_on_customer"]},
    )
    await drive(handle).acknowledge(StaffAction(staff_id="agent-7"))
    view = await drive(handle).consult(ask, key="ask-1")
    again = await drive(handle).consult(ask, key="ask-1")  # a retry asks nobody twice
    assert [(c.group, c.liaison, c.asked_by) for c in view.consultations] == [
        ("liaison-product", "zheng.li", "agent-7"),
        ("liaison-operations", None, "agent-7"),
    ]
    assert len(again.consultations) == 2 and view.group != "liaison-product"
    with pytest.raises(ActionRefused, match=f"the complaint is with {view.group} already"):
        await drive(handle).consult(ask.model_copy(update={"groups": [view.group]}))
    with pytest.raises(ActionRefused, match="front-line-product was not asked"):
        await drive(handle).answer_consultation(
            ConsultationAnswerAction(staff_id="x", group="front-line-product", answer="?")
        )

    answer = ConsultationAnswerAction(staff_id="zheng.li", group="liaison-product", answer="yes, fixed at 18:00")
    answered = await drive(handle).answer_consultation(answer, key="answer-1")
    assert [(a.staff_id, a.text) for a in answered.consultations[0].answers] == [("zheng.li", "yes, fixed at 18:00")]
    assert answered.consultations[1].answers == [] and answered.assignee == view.assignee != "agent-7"

    sent = await notifications.of(complaint.complaint_id)
    asked = [(n.recipient_address, n.variables["to_group"]) for n in sent if n.template == "consultation_requested"]
    assert asked == [("staff:zheng.li", "liaison-product"), ("role:queue@liaison-operations", "liaison-operations")]
    told = [n for n in sent if n.template == "consultation_answered"]
    # whoever asked and whoever it is assigned to
    assert sorted(n.recipient_address for n in told) == sorted(["staff:agent-7", f"staff:{view.assignee}"])
    assert {n.variables["answer"] for n in told} == {"yes, fixed at 18:00"}
    assert not any(n.channel != "internal" for n in sent if n.template.startswith("consultation"))

    stored = [e for e in await store.read_stream(complaint.complaint_id) if e.type.startswith("Consultation")]
    assert [e.type for e in stored] == ["ConsultationRequested", "ConsultationAnswered"]
    assert stored[0].data["consulted"] == ["liaison-operations", "liaison-product"]
    listed = await inbox.list_items(store.pool, inbox.Filters(consulted=("liaison-product",)), limit=500)
    assert complaint.complaint_id in [i.complaint_id for i in listed]
    elsewhere = await inbox.list_items(store.pool, inbox.Filters(consulted=("front-line-product",)), limit=500)
    assert complaint.complaint_id not in [i.complaint_id for i in elsewhere]
    await handle.terminate("test over")


async def test_a_department_asked_for_its_view_answers_in_time_or_its_lead_hears_of_it(env, store, notifications):
    """The policy's consultation_answer (tier 2: 24 h, source 001's cross-department answer):
    warnings go to each asked department that has not answered (its named member, else its
    queue), the breach to that department's lead, and the deadline is met once every department
    asked has answered."""
    asked_at = await scenarios.skip_to(env, 1, dt_time(10, 0))  # a Tuesday, 10:00 in Shanghai
    complaint = scenarios.a_complaint(asked_at)
    handle = await scenarios.start(env.client, complaint)
    await scenarios.wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-7"))
    view = await drive(handle).consult(
        ConsultAction(
            staff_id="agent-7",
            groups=["liaison-product", "liaison-operations"],
            question="was the second charge the app's or the bank's?",
            liaisons={"liaison-product": "zheng.li", "liaison-operations": None},
        )
    )
    assert view.tier == 2 and scenarios.on_plan(view.deadlines["consultation_answer"], asked_at + timedelta(hours=24))
    row = await inbox.row_of(store.pool, complaint.complaint_id)  # the asked departments' My work counts down to it
    assert row["answer_by"] == view.deadlines["consultation_answer"] != row["next_deadline"]

    async def consultation_steps() -> list[str]:
        stored = await store.read_stream(complaint.complaint_id)
        return [e.type for e in stored if e.data.get("target") == "consultation_answer"]

    await env.sleep(timedelta(hours=12, minutes=30))  # past half the window: both warned
    product = ConsultationAnswerAction(staff_id="zheng.li", group="liaison-product", answer="the app's")
    answered = await drive(handle).answer_consultation(product)
    assert "consultation_answer" in answered.deadlines  # operations has not answered yet
    await env.sleep(timedelta(hours=12))  # past 80 % and the deadline: operations only
    for _ in range(400):
        if "Escalated" in await consultation_steps():
            break
        await asyncio.sleep(0.05)
    operations = ConsultationAnswerAction(staff_id="ma.jun", group="liaison-operations", answer="not the bank's")
    done = await drive(handle).answer_consultation(operations)
    assert "consultation_answer" not in done.deadlines
    assert (await inbox.row_of(store.pool, complaint.complaint_id))["answer_by"] is None
    await env.sleep(timedelta(hours=6))  # met: nothing climbs further (tier 2 climbs after 2 h)
    await drive(handle).status()  # the workflow has caught up with the skipped time

    sent = await notifications.of(complaint.complaint_id)
    sent = [n for n in sent if n.variables.get("target") == "consultation_answer"]
    warned = sorted((n.variables["fraction"], n.recipient_address) for n in sent if n.template == "sla_warning")
    assert warned == [
        (0.5, "role:queue@liaison-operations"),
        (0.5, "staff:zheng.li"),
        (0.8, "role:queue@liaison-operations"),
    ]
    escalated = [(n.recipient_address, n.variables["level"]) for n in sent if n.template == "sla_escalation"]
    assert escalated == [("role:group_lead@liaison-operations", 1)]
    assert await consultation_steps() == ["SlaWarning", "SlaWarning", "SlaBreached", "Escalated"]
    escalated = [e for e in await store.read_stream(complaint.complaint_id) if e.type == "Escalated"]
    assert [e.data.get("groups") for e in escalated if e.data["target"] == "consultation_answer"] == [
        ["liaison-operations"]  # the department its lead's Team page shows it for
    ]
    assert all("groups" not in e.data for e in escalated if e.data["target"] != "consultation_answer")
    await handle.terminate("test over")
