"""Complaint timelines driven against a Temporal server, shared by the workflow tests and by
`record_histories` (which saves their histories for the replay test)."""

import asyncio
import functools
import json
import sys
import tempfile
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from services.common.deadlines.policy import POLICY_DIR, load_policy
from services.intake.classification import Facts, load_rules
from services.notify.contract import KeyedNotificationRequest, Undelivered
from services.workflow import inbox, search_attributes
from services.workflow.activities import ComplaintActivities
from services.workflow.contract import (
    BatchLink,
    Channel,
    CompensationAction,
    ComplaintClient,
    ComplaintInput,
    ComplaintView,
    ConsultAction,
    ConsultationAnswerAction,
    Customer,
    DecisionAction,
    DeclineTransferAction,
    FollowUpAction,
    PlanAction,
    ReachedAction,
    ReopenAction,
    RepeatSubmission,
    RequestInfoAction,
    Resolution,
    ResolveAction,
    StaffAction,
    Stage,
    SurveyAnswer,
    TransferAction,
    complaint_id_from_workflow_id,
)
from services.workflow.eventstore import EventStore
from services.workflow.routing import Router, load_routing
from services.workflow.worker import activities_of, build_worker

TASK_QUEUE = "complaints-test"
RESOLUTION = Resolution(
    cause="A billing job ran twice",
    measures_taken="Refunded the second charge",
    improvement_plan="The job now checks for an earlier run",
    compensation="a 20 yuan coupon",
)
URGENT = "The heater caught fire and my son was injured"
MONEY = "I was charged twice for my order"
ROUTINE = "The staff member was rude"


def test_server_path() -> str:
    return str(Path(sys.executable).parent / "temporal-test-server")


async def start_time_skipping_env() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(),
        data_converter=pydantic_data_converter,
        # The SDK's default is 5 s, which a busy 2-core machine overran (every test of a module erred).
        test_server_startup_timeout=timedelta(seconds=60),
    )
    await search_attributes.register(env.client)
    return env


@dataclass
class OutboxMessages:
    """The messages workflows stored in the workflow's outbox, in order (the relay that hands
    them to notify runs in the end-to-end tests)."""

    pool: asyncpg.Pool

    async def sent(self) -> list[KeyedNotificationRequest]:
        rows = await self.pool.fetch("SELECT idempotency_key, request FROM workflow.outbox ORDER BY position")
        return [
            KeyedNotificationRequest(idempotency_key=r["idempotency_key"], **json.loads(r["request"])) for r in rows
        ]

    async def of(self, complaint_id: str) -> list[KeyedNotificationRequest]:
        return [n for n in await self.sent() if n.complaint_id == complaint_id]


@asynccontextmanager
async def recording_run():
    """For the scripts that record what tests replay or read (histories, stored events): an
    embedded PostgreSQL with the workflow schema, the time-skipping server, and a worker with
    the real activities on both. Yields (env, pool)."""
    from services.common.db import start_embedded_postgres
    from tests.conftest import migrated_pool

    with tempfile.TemporaryDirectory() as tmp:
        server = start_embedded_postgres(Path(tmp))
        pool = await migrated_pool(server.get_uri("postgres"), "workflow")
        env = await start_time_skipping_env()
        try:
            async with complaint_worker(env.client, EventStore(pool, inbox=inbox.changes_of)):
                yield env, pool
        finally:
            await env.shutdown()
            await pool.close()
            server.cleanup()


@asynccontextmanager
async def complaint_worker(
    client: Client, event_store: EventStore, policy_dir: Path = POLICY_DIR, staff_on_duty: bool = True, **worker_options
):
    """A worker with the real activities (event store and outbox, policies, routing over the
    shipped roster); notify is not called. staff_on_duty=False: nobody can be picked, the
    group's queue has every complaint (the timelines of an untouched complaint)."""
    router = Router(event_store.pool, load_routing())
    await router.load_roster()
    await event_store.pool.execute("UPDATE workflow.staff SET on_duty = $1", staff_on_duty)
    async with httpx.AsyncClient() as http:
        real = ComplaintActivities(event_store, router, http, notify_url="http://unused.invalid", policy_dir=policy_dir)
        async with build_worker(client, TASK_QUEUE, activities_of(real), **worker_options):
            yield OutboxMessages(event_store.pool)


def a_complaint(received_at: datetime, description: str = MONEY, policy: str = "default") -> ComplaintInput:
    return ComplaintInput(
        complaint_id=f"T-{uuid.uuid4().hex[:10]}",
        channel=Channel.hotline,
        received_at=received_at,
        customer=Customer(name="王芳", phone="13812341234", email="wang.fang@example.com"),
        description=description,
        status_url="http://intake.test/v1/track/token",
        policy=policy,
    )


class Driven:
    """One complaint driven through the contract's client, as intake and the staff API do:
    `await drive(handle).acknowledge(StaffAction(...))`, `await drive(handle).status()`."""

    def __init__(self, handle: WorkflowHandle):
        self.client = ComplaintClient(handle._client, TASK_QUEUE)
        self.complaint_id = complaint_id_from_workflow_id(handle.id)

    def __getattr__(self, name: str):
        return functools.partial(getattr(self.client, name), self.complaint_id)


def drive(handle: WorkflowHandle) -> Driven:
    return Driven(handle)


async def start(client: Client, complaint: ComplaintInput) -> WorkflowHandle:
    """Started as intake starts it, through the contract's client."""
    return await ComplaintClient(client, TASK_QUEUE).start(complaint)


async def wait_for(handle: WorkflowHandle, check, what: str, timeout: float = 20.0) -> ComplaintView:
    view = None
    for _ in range(int(timeout / 0.05)):
        view = await drive(handle).status()
        if check(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"never {what}; last seen {view.stage if view else '-'}, "
        f"history {[h.type for h in view.history] if view else []}"
    )


async def wait_for_stage(handle: WorkflowHandle, stage: Stage) -> ComplaintView:
    return await wait_for(handle, lambda v: v.stage == stage, f"reached {stage}")


async def wait_for_event(handle: WorkflowHandle, event_type: str) -> ComplaintView:
    """Until the event is durably recorded (the stage changes just before its append)."""
    return await wait_for(handle, lambda v: any(h.type == event_type for h in v.history), f"recorded {event_type}")


async def acknowledge_and_resolve(handle: WorkflowHandle) -> None:
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-7", note="calling back"))
    await drive(handle).resolve(ResolveAction(staff_id="agent-7", resolution=RESOLUTION))


async def answer(handle: WorkflowHandle, result: int, speed: int) -> None:
    await wait_for_event(handle, "SurveyRequested")
    await drive(handle).answer_survey(
        SurveyAnswer(satisfaction_result=result, satisfaction_speed=speed, suggestion="快")
    )


async def happy_path(env: WorkflowEnvironment) -> WorkflowHandle:
    """Tier 2, handled within every target, a satisfied customer."""
    handle = await start(env.client, a_complaint(await skip_to(env, 0, time(10, 0))))
    await acknowledge_and_resolve(handle)
    await answer(handle, 4, 5)
    await handle.result()
    return handle


async def survey_given_up(env: WorkflowEnvironment) -> WorkflowHandle:
    handle = await start(env.client, a_complaint(await skip_to(env, 1, time(10, 0)), ROUTINE))
    await acknowledge_and_resolve(handle)
    await handle.result()  # the test server skips the 48 h wait
    return handle


async def tier_1_escalated_twice(env: WorkflowEnvironment) -> WorkflowHandle:
    """Nobody answers an urgent complaint for 50 minutes: breach, then one more level."""
    handle = await start(env.client, a_complaint(await skip_to(env, 2, time(10, 0)), URGENT))
    await wait_for_event(handle, "Assigned")
    await env.sleep(timedelta(minutes=50))
    await wait_for(handle, lambda v: v.escalation_level == 2, "escalated twice")
    await acknowledge_and_resolve(handle)
    await answer(handle, 5, 5)
    await handle.result()
    return handle


async def tier_1_plan_given(env: WorkflowEnvironment) -> WorkflowHandle:
    """An urgent complaint: acknowledged, the customer given a solution plan within the 2 h
    (source 000), resolved later the same day, a satisfied customer."""
    handle = await start(env.client, a_complaint(await skip_to(env, 4, time(10, 0)), URGENT))
    await wait_for_event(handle, "Assigned")
    await env.sleep(timedelta(minutes=10))
    await drive(handle).acknowledge(StaffAction(staff_id="agent-1", note="on it"))
    await env.sleep(timedelta(minutes=50))
    await drive(handle).give_plan(PlanAction(staff_id="agent-1", plan="The heater is replaced at your home by 18:00."))
    await env.sleep(timedelta(hours=5))
    await drive(handle).resolve(ResolveAction(staff_id="agent-1", resolution=RESOLUTION))
    await answer(handle, 5, 4)
    await handle.result()
    return handle


async def transferred(env: WorkflowEnvironment) -> WorkflowHandle:
    """Transferred to another department, declined, transferred again and accepted late (the
    acceptance deadline escalates in the receiving department), then resolved."""
    handle = await start(env.client, a_complaint(await skip_to(env, 1, time(10, 0))))
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    await drive(handle).transfer(TransferAction(staff_id="agent-2", to_group="liaison-product", reason="a defect?"))
    await drive(handle).decline_transfer(DeclineTransferAction(staff_id="zheng.li", reason="a billing matter"))
    await drive(handle).transfer(TransferAction(staff_id="agent-2", to_group="liaison-operations", reason="finance"))
    await env.sleep(timedelta(hours=2, minutes=5))
    await wait_for_event(handle, "Escalated")
    await drive(handle).accept_transfer(StaffAction(staff_id="ma.jun"))
    await drive(handle).resolve(ResolveAction(staff_id="ma.jun", resolution=RESOLUTION))
    await answer(handle, 4, 3)
    await handle.result()
    return handle


async def compensated(env: WorkflowEnvironment) -> WorkflowHandle:
    """A coupon granted within the agent's authority and a refund above it, approved late (its
    approval deadline escalates above the approver); the written result cites both."""
    handle = await start(env.client, a_complaint(await skip_to(env, 2, time(10, 0))))
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    await drive(handle).propose_compensation(
        CompensationAction(staff_id="agent-2", kind="gift", amount=30, reason="a coupon")
    )
    await drive(handle).propose_compensation(
        CompensationAction(
            staff_id="agent-2", kind="refund", amount=3000, reason="charged twice", approver_role="department_head"
        )
    )
    await env.sleep(timedelta(hours=2, minutes=5))
    await wait_for_event(handle, "Escalated")
    await drive(handle).decide_compensation(DecisionAction(staff_id="chen.jie", approve=True))
    await drive(handle).resolve(ResolveAction(staff_id="agent-2", resolution=RESOLUTION))
    await answer(handle, 5, 4)
    await handle.result()
    return handle


async def repeat_and_batch_linked(env: WorkflowEnvironment) -> WorkflowHandle:
    """Classified and routed at intake's word; the customer writes again; a batch links it."""
    complaint = a_complaint(await skip_to(env, 3, time(10, 0)), MONEY)
    complaint.classification = load_rules().classify(Facts(text=MONEY))
    handle = await start(env.client, complaint)
    await wait_for_event(handle, "Assigned")
    received = await env.get_current_time()
    await drive(handle).link_repeat(
        RepeatSubmission(
            submission_id="T-repeat",
            channel=Channel.email,
            received_at=received,
            description="still charged twice",
            similarity=0.5,
        )
    )
    await drive(handle).link_batch(BatchLink(batch_id="B-1", cause="money-lost", customers=5))
    await acknowledge_and_resolve(handle)
    await answer(handle, 2, 2)  # dissatisfied: the second follow-up
    await wait_for_stage(handle, Stage.second_follow_up)
    await drive(handle).record_follow_up(FollowUpAction(staff_id="agent-7", outcome="called, refunded the fee"))
    await handle.result()
    return handle


async def reopened(env: WorkflowEnvironment) -> WorkflowHandle:
    """A dissatisfied customer reopens the complaint two days after its result: back to its
    owner with a new resolution deadline, which breaches; resolved again; the survey goes
    unanswered and it closes when the reopen window ends."""
    handle = await start(env.client, a_complaint(await skip_to(env, 0, time(10, 0))))
    await acknowledge_and_resolve(handle)
    await answer(handle, 2, 3)
    await wait_for_stage(handle, Stage.second_follow_up)
    await drive(handle).record_follow_up(FollowUpAction(staff_id="agent-7", outcome="called; they want a refund"))
    await wait_for_stage(handle, Stage.resolved)
    await env.sleep(timedelta(days=2))
    await drive(handle).reopen(ReopenAction(reason="still charged twice"))
    await env.sleep(timedelta(hours=25))
    await wait_for_event(handle, "SlaBreached")
    await drive(handle).resolve(ResolveAction(staff_id="agent-7", resolution=RESOLUTION))
    await handle.result()
    return handle


async def _two_departments_asked(env: WorkflowEnvironment, at: time, operations_liaison: str | None) -> WorkflowHandle:
    """A Tuesday's complaint, acknowledged, put to the product and operations liaison groups."""
    handle = await start(env.client, a_complaint(await skip_to(env, 1, at)))
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    await drive(handle).consult(
        ConsultAction(
            staff_id="agent-2",
            groups=["liaison-product", "liaison-operations"],
            question="was the second charge a defect of the app or a booking error?",
            liaisons={"liaison-product": "zheng.li", "liaison-operations": operations_liaison},
        )
    )
    return handle


async def consulted(env: WorkflowEnvironment) -> WorkflowHandle:
    """A cause hard to find: two other departments asked for their view (source 002's joint
    consultation), one answers, the handler resolves it with what they learned."""
    handle = await _two_departments_asked(env, time(11, 0), operations_liaison="ma.jun")
    await env.sleep(timedelta(minutes=40))
    await drive(handle).answer_consultation(
        ConsultationAnswerAction(staff_id="zheng.li", group="liaison-product", answer="the app sent the payment twice")
    )
    await drive(handle).resolve(ResolveAction(staff_id="agent-2", resolution=RESOLUTION))
    await answer(handle, 4, 4)
    await handle.result()
    return handle


async def consultation_late(env: WorkflowEnvironment) -> WorkflowHandle:
    """A department asked for its view answers late (the policy's consultation_answer, tier 2:
    24 h): warned, then its lead hears of it; its answer meets the deadline."""
    handle = await _two_departments_asked(env, time(10, 0), operations_liaison=None)
    await env.sleep(timedelta(hours=1))
    await drive(handle).answer_consultation(
        ConsultationAnswerAction(staff_id="zheng.li", group="liaison-product", answer="not the app")
    )
    await env.sleep(timedelta(hours=23, minutes=30))  # past operations' deadline: its lead hears
    await drive(handle).answer_consultation(
        ConsultationAnswerAction(staff_id="ma.jun", group="liaison-operations", answer="a booking error")
    )
    await drive(handle).resolve(ResolveAction(staff_id="agent-2", resolution=RESOLUTION))
    await answer(handle, 4, 4)
    await handle.result()
    return handle


async def customer_not_reached(env: WorkflowEnvironment) -> WorkflowHandle:
    """The customer's only address stops working: the handler's question never arrives, so the
    clock runs again and the handler is told; then the written result never arrives either, and
    the handler, told again, calls the customer and records it while the survey waits and expires."""
    handle = await start(env.client, a_complaint(await skip_to(env, 2, time(10, 0))))
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    await drive(handle).request_info(RequestInfoAction(staff_id="agent-2", question="Which card was charged?"))
    await env.sleep(timedelta(minutes=20))
    await drive(handle).customer_not_reached(undelivered(handle, "info_request", await env.get_current_time()))
    await drive(handle).resolve(ResolveAction(staff_id="agent-2", resolution=RESOLUTION))
    await wait_for_event(handle, "SurveyRequested")
    await drive(handle).customer_not_reached(undelivered(handle, "feedback", await env.get_current_time()))
    await drive(handle).customer_reached(ReachedAction(staff_id="agent-2", note="read them the result by phone"))
    await handle.result()
    return handle


def undelivered(handle: WorkflowHandle, template: str, at: datetime) -> Undelivered:
    """Notify's report that a message of the complaint failed on every address the customer gave."""
    complaint_id = complaint_id_from_workflow_id(handle.id)
    return Undelivered(
        notification_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{complaint_id}/{template}"),
        complaint_id=complaint_id,
        template=template,
        channel="email",
        reason="550 5.1.1 <w***@example.com>: no such mailbox",
        failed_at=at,
        attempts_logged=1,
    )


SCENARIOS = {
    "happy_path": happy_path,
    "survey_given_up": survey_given_up,
    "tier_1_escalated_twice": tier_1_escalated_twice,
    "repeat_and_batch_linked": repeat_and_batch_linked,
    "tier_1_plan_given": tier_1_plan_given,
    "transferred": transferred,
    "compensated": compensated,
    "reopened": reopened,
    "consulted": consulted,
    "consultation_late": consultation_late,
    "customer_not_reached": customer_not_reached,
}
# Histories are saved per generation of the workflow: each generation's stay, so complaints
# started under any of them keep replaying. A new generation = a new `workflow.patched` id, or
# policies whose data takes branches the saved ones never took (policy-v3: tier 1's solution
# plan and tier 3's one update, on the timeliness-v1 code; transfers-v1: department transfers,
# and compensation within authority: new Updates that older histories never call; reopen-v1:
# a resolved complaint stays open to reopening for the policy's days; customer-comms-v1: a receipt,
# messages in the customer's language and zone with fallbacks, a word before a second follow-up;
# quiet-timers-v1: deadlines fire without a search-attribute upsert; re-aimed-wait-v1: the first
# wait after receipt is cut short; short-local-attempts-v1: local activities retry on timers;
# compensation-in-words-v1: the written result cites what was granted in the customer's language;
# transfer-disputes-v1: a declined transfer also goes up to the two groups' common superior;
# consultations-v1: other departments asked for their view, new Updates older histories never call;
# consultation-deadline-v1: policy v4's consultation_answer, a deadline older policies never set;
# follow-up-in-writing-v1: the second follow-up's outcome is written to the customer;
# customer-breaches-v1: a target between departments, missed, does not make the complaint breached;
# approvals-internal-v1: nor does an approval given late, and the view lists what staff owed each other;
# customer-not-reached-v1: notify's dead letters told to the complaint and the customer reached another way,
# new Updates older histories never call).
GENERATION = "customer-not-reached-v1"


SHANGHAI = ZoneInfo("Asia/Shanghai")


async def skip_to(env: WorkflowEnvironment, weekday: int, at: time) -> datetime:
    """Skip the test server's clock to the next `weekday` (0 = Monday) at local Shanghai time
    `at` that is not a holiday in the default policy, so timelines do not depend on when the
    tests run."""
    now = (await env.get_current_time()).astimezone(SHANGHAI)
    day = now.date() + timedelta(days=1)
    holidays = set(load_policy("default").calendar.holidays)
    while day.weekday() != weekday or day in holidays or day + timedelta(days=1) in holidays:
        day += timedelta(days=1)
    target = datetime.combine(day, at, tzinfo=SHANGHAI)
    await env.sleep(target - now)
    return target.astimezone(UTC)


# Real time passes between a test's steps (the time-skipping server jumps only while a test
# sleeps), so on a slow machine a staff action lands a second or more after its planned moment,
# and so does every deadline counted from it. Moments and durations are checked against the plan
# from the planned value itself to STEP_SLACK after it, never before.
STEP_SLACK = timedelta(seconds=30)


def on_plan(actual: datetime | timedelta, planned: datetime | timedelta) -> bool:
    """`actual` is `planned`, or up to STEP_SLACK after (a second before: rounding)."""
    return -timedelta(seconds=1) < actual - planned <= STEP_SLACK  # type: ignore[operator]


def seconds_of(hms: str) -> int:
    """A timeline row's H:MM:SS as seconds."""
    hours, minutes, seconds = (int(part) for part in hms.split(":"))
    return hours * 3600 + minutes * 60 + seconds


class Offset(str):
    """A timeline row's time after its start as H:MM:SS. It equals a planned H:MM:SS when
    `on_plan`, so whole timelines still compare with `==`."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return NotImplemented
        return on_plan(timedelta(seconds=seconds_of(self)), timedelta(seconds=seconds_of(other)))

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__


def timeline(events, start: datetime) -> list[tuple[str, str, str]]:
    """(time after start as H:MM:SS, event type, detail) for comparing whole timelines."""
    rows = []
    for e in events:
        seconds = round((e.occurred_at - start).total_seconds())
        detail = e.data.get("target", "")
        if e.type == "SlaWarning":
            detail += f" {e.data['fraction']}"
        if e.type == "Escalated":
            detail += f" L{e.data['level']} {e.data['to']}"
        hms = f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        rows.append((Offset(hms), e.type, detail.strip()))
    return rows
