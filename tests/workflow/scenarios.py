"""Complaint timelines driven against a Temporal server, shared by the workflow tests and by
`record_histories` (which saves their histories for the replay test)."""

import asyncio
import sys
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from services.workflow.activities import ComplaintActivities, NotificationRequest
from services.workflow.domain import (
    Channel,
    ComplaintInput,
    ComplaintView,
    Customer,
    Resolution,
    ResolveAction,
    StaffAction,
    Stage,
    SurveyAnswer,
)
from services.workflow import search_attributes
from services.workflow.eventstore import EventStore
from services.workflow.worker import build_worker
from services.workflow.workflows import ComplaintWorkflow, static_summary, workflow_id_for

TASK_QUEUE = "complaints-test"
RESOLUTION = Resolution(
    cause="A billing job ran twice",
    measures_taken="Refunded the second charge",
    improvement_plan="The job now checks for an earlier run",
    compensation="a 20 yuan coupon",
)


def test_server_path() -> str:
    return str(Path(sys.executable).parent / "temporal-test-server")


async def start_time_skipping_env() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=pydantic_data_converter
    )
    await search_attributes.register(env.client)
    return env


class RecordedNotifications:
    """Stands in for the notify service's HTTP API (the e2e test uses the real one)."""

    def __init__(self):
        self.sent: list[NotificationRequest] = []

    @activity.defn(name="send_notification")
    async def send_notification(self, request: NotificationRequest) -> str:
        self.sent.append(request)
        return str(uuid.uuid4())


@asynccontextmanager
async def complaint_worker(client: Client, event_store: EventStore):
    notifications = RecordedNotifications()
    async with httpx.AsyncClient() as http:
        real = ComplaintActivities(event_store, http, notify_url="http://unused.invalid")
        async with build_worker(client, TASK_QUEUE, [real.append_event, notifications.send_notification]):
            yield notifications


def a_complaint(description: str = "I was charged twice for my order") -> ComplaintInput:
    return ComplaintInput(
        complaint_id=f"T-{uuid.uuid4().hex[:10]}",
        channel=Channel.hotline,
        received_at=datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc),
        customer=Customer(name="王芳", phone="13812341234", email="wang.fang@example.com"),
        description=description,
        status_url="http://intake.test/v1/track/token",
    )


async def start(client: Client, complaint: ComplaintInput) -> WorkflowHandle:
    return await client.start_workflow(
        ComplaintWorkflow.run,
        complaint,
        id=workflow_id_for(complaint.complaint_id),
        task_queue=TASK_QUEUE,
        static_summary=static_summary(complaint),
    )


async def wait_for_stage(handle: WorkflowHandle, stage: Stage, timeout: float = 20.0) -> ComplaintView:
    for _ in range(int(timeout / 0.05)):
        view = await handle.query(ComplaintWorkflow.status)
        if view.stage == stage:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"complaint never reached {stage}; last seen {view.stage}")


async def wait_for_event(handle: WorkflowHandle, event_type: str, timeout: float = 20.0) -> ComplaintView:
    """Until the event is durably recorded (the stage changes just before its append)."""
    for _ in range(int(timeout / 0.05)):
        view = await handle.query(ComplaintWorkflow.status)
        if any(h.type == event_type for h in view.history):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"{event_type} never recorded; history {[h.type for h in view.history]}")


async def acknowledge_and_resolve(handle: WorkflowHandle) -> None:
    await wait_for_stage(handle, Stage.assigned)
    await handle.execute_update(ComplaintWorkflow.acknowledge, StaffAction(staff_id="agent-7", note="calling back"))
    await handle.execute_update(
        ComplaintWorkflow.resolve, ResolveAction(staff_id="agent-7", resolution=RESOLUTION)
    )


async def happy_path(client: Client) -> WorkflowHandle:
    handle = await start(client, a_complaint())
    await acknowledge_and_resolve(handle)
    await wait_for_stage(handle, Stage.awaiting_survey)
    await handle.execute_update(
        ComplaintWorkflow.answer_survey, SurveyAnswer(satisfaction_result=4, satisfaction_speed=5, suggestion="快")
    )
    await handle.result()
    return handle


async def survey_given_up(client: Client) -> WorkflowHandle:
    handle = await start(client, a_complaint("The staff member was rude"))
    await acknowledge_and_resolve(handle)
    await handle.result()  # the test server skips the 48 h wait
    return handle


SCENARIOS = {"happy_path": happy_path, "survey_given_up": survey_given_up}
