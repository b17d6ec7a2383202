"""The workflow service: worker, staff API and the event feed, in one process (port 8001).

Staff actions are workflow Updates: the workflow's validator decides whether the action fits
the complaint's stage, and a refusal comes back as 409 with its reason.
"""

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Header, Query
from pydantic import BaseModel, Field
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from services.common.events import EventPage
from services.common.privacy import masked_event_data
from services.common.service import service_app, service_database
from services.common.service_auth import outgoing_headers, service_caller
from services.common.settings import get_settings
from services.common.telemetry import instrument_http_client
from services.common.temporal import connect
from services.common.web import ApiError
from services.workflow import inbox
from services.workflow.activities import ComplaintActivities
from services.workflow.domain import (
    AssignAction,
    Assignment,
    ComplaintView,
    FollowUp,
    FollowUpAction,
    InfoQuestion,
    InfoRequest,
    PolicyChoice,
    PolicyMove,
    ProgressAction,
    ProgressNote,
    Resolution,
    ResolveAction,
    RetierAction,
    Retiering,
    StaffAction,
    StaffNote,
    Stage,
)
from services.workflow.eventstore import EventStore
from services.workflow.outbox import MessageRelay
from services.workflow.policy import (
    Policy,
    PolicyError,
    available_policies,
    load_policy,
)
from services.workflow.routing import Router, StaffMember, load_routing
from services.workflow.worker import activities_of, build_worker
from services.workflow.workflows import ComplaintWorkflow, workflow_id_for

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with (
        service_database("workflow", MIGRATIONS) as (settings, pool),
        httpx.AsyncClient(timeout=10, headers=outgoing_headers(settings)) as http,
    ):
        app.state.pool = pool
        app.state.events = EventStore(pool, project=inbox.project)
        app.state.router = Router(pool, load_routing(settings.routing_file))
        await app.state.router.load_roster(settings.roster_file)
        app.state.temporal = await connect(settings)
        instrument_http_client(http)
        relay = MessageRelay(pool, http, settings.url_of("notify"))
        activities = ComplaintActivities(
            app.state.events,
            app.state.router,
            http,
            settings.url_of("notify"),
            settings.policy_dir,
            on_messages=relay.wake.set,
        )
        loops = app.state.loops
        async with (
            build_worker(app.state.temporal, settings.temporal_task_queue, activities_of(activities)),
            loops.supervised("message-relay", relay.hand_over_due, 1.0, wake=relay.wake),
            loops.supervised("queue-assignment", assign_queued_complaints, 2.0),
        ):
            yield  # leaving the block shuts the worker down gracefully


async def assign_queued_complaints() -> None:
    """Complaints routed while nobody of their group was on duty are picked, by the group's
    strategy, as soon as someone is: the 2 h assignment target does not wait for a manual assign."""
    for row in await app.state.router.queued():
        assignee = await app.state.router.pick_for(row["group_name"])
        if assignee is None:
            continue
        action = AssignAction(
            staff_id="router", assignee=assignee, note=f"picked from the {row['group_name']} queue when on duty"
        )
        try:
            await _update(row["complaint_id"], ComplaintWorkflow.assign, action)
        except ApiError as exc:  # closed or moved on meanwhile: the next pass sees it
            log.info(
                "queued complaint not assigned", extra={"complaint_id": row["complaint_id"], "reason": exc.message}
            )


app = service_app(
    "workflow",
    "Complaint workflow service",
    "Staff actions on complaints, and the event feed every read model follows.",
    lifespan,
)

StaffId = Annotated[
    str, Header(alias="X-Staff-Id", min_length=1, max_length=100, description="who acts; the console's login sets it")
]
ActionKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="one per action the person means (the console sends one per form): a retry with the same "
        "key returns the first outcome instead of acting twice",
    ),
]


def _handle(complaint_id: str) -> WorkflowHandle:
    return app.state.temporal.get_workflow_handle(workflow_id_for(complaint_id))


async def _not_found_or_closed(handle: WorkflowHandle, complaint_id: str, exc: RPCError) -> ApiError:
    if exc.status != RPCStatusCode.NOT_FOUND:
        return ApiError(503, "temporal_unavailable", f"the workflow engine did not answer: {exc.message}")
    try:
        await handle.describe()
    except RPCError:
        return ApiError(404, "not_found", f"no complaint {complaint_id}")
    return ApiError(409, "action_not_allowed", f"complaint {complaint_id} is closed")


async def _update(complaint_id: str, update, arg, key: str | None = None) -> ComplaintView:
    """Run a staff action as the workflow's Update. With an Idempotency-Key, the key names the
    Update: Temporal answers a retry of a completed Update with its first outcome."""
    handle = _handle(complaint_id)
    update_id = f"{update.__name__}:{key}" if key else None
    try:
        return await handle.execute_update(update, arg, id=update_id)
    except WorkflowUpdateFailedError as exc:
        reason = getattr(exc.cause, "message", None) or str(exc.cause)
        raise ApiError(409, "action_not_allowed", reason) from exc
    except RPCError as exc:
        raise await _not_found_or_closed(handle, complaint_id, exc) from exc


@app.get("/v1/complaints", response_model=list[inbox.InboxItem], tags=["staff"])
async def list_complaints(
    group: Annotated[str | None, Query(max_length=100, description="a routing group, e.g. front-line-product")] = None,
    assignee: Annotated[str | None, Query(max_length=100, description="a staff id")] = None,
    stage: Annotated[Stage | None, Query()] = None,
    breached: Annotated[bool | None, Query(description="only breached (true) or unbreached (false)")] = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[inbox.InboxItem]:
    """The staff inbox, most urgent first (nearest deadline). Contact data is masked."""
    return await inbox.list_items(
        app.state.pool,
        group=group,
        assignee=assignee,
        stage=stage.value if stage else None,
        open_only=not include_closed,
        breached=breached,
        limit=limit,
        offset=offset,
    )


@app.get("/v1/staff", response_model=list[StaffMember], tags=["staff"])
async def list_staff() -> list[StaffMember]:
    """Who can be assigned: groups, role, on duty or not, open complaints (the load)."""
    return await app.state.router.staff()


class Duty(BaseModel):
    on_duty: bool


@app.put("/v1/staff/{staff_id}/duty", response_model=StaffMember, tags=["staff"])
async def set_duty(staff_id: str, body: Duty) -> StaffMember:
    """Start or end a shift: routing picks only members on duty."""
    member = await app.state.router.set_on_duty(staff_id, body.on_duty)
    if member is None:
        raise ApiError(404, "not_found", f"no staff member '{staff_id}'", field="staff_id")
    return member


@app.get("/v1/complaints/{complaint_id}", response_model=ComplaintView, tags=["staff"])
async def get_complaint(complaint_id: str) -> ComplaintView:
    handle = _handle(complaint_id)
    try:
        return await handle.query(ComplaintWorkflow.status)
    except RPCError as exc:
        refusal = await _not_found_or_closed(handle, complaint_id, exc)
        if refusal.status == 409:  # a closed complaint still answers queries: this was the engine
            raise ApiError(
                503,
                "temporal_unavailable",
                "the workflow engine could not show this complaint right now; try again",
                headers={"Retry-After": "2"},
            ) from exc
        raise refusal from exc


@app.post("/v1/complaints/{complaint_id}/acknowledge", response_model=ComplaintView, tags=["staff"])
async def acknowledge(
    complaint_id: str, staff_id: StaffId, body: StaffNote | None = None, key: ActionKey = None
) -> ComplaintView:
    action = StaffAction(staff_id=staff_id, note=body.note if body else None)
    return await _update(complaint_id, ComplaintWorkflow.acknowledge, action, key)


@app.post("/v1/complaints/{complaint_id}/resolve", response_model=ComplaintView, tags=["staff"])
async def resolve(complaint_id: str, staff_id: StaffId, resolution: Resolution, key: ActionKey = None) -> ComplaintView:
    action = ResolveAction(staff_id=staff_id, resolution=resolution)
    return await _update(complaint_id, ComplaintWorkflow.resolve, action, key)


@app.post("/v1/complaints/{complaint_id}/assign", response_model=ComplaintView, tags=["staff"])
async def assign(complaint_id: str, staff_id: StaffId, body: Assignment, key: ActionKey = None) -> ComplaintView:
    """Assign a responsible person (meets the assignment deadline)."""
    return await _update(
        complaint_id, ComplaintWorkflow.assign, AssignAction(staff_id=staff_id, **body.model_dump()), key
    )


@app.post("/v1/complaints/{complaint_id}/progress", response_model=ComplaintView, tags=["staff"])
async def post_progress(
    complaint_id: str, staff_id: StaffId, body: ProgressNote, key: ActionKey = None
) -> ComplaintView:
    """Tell the customer how it is going (restarts the progress-update cadence)."""
    action = ProgressAction(staff_id=staff_id, **body.model_dump())
    return await _update(complaint_id, ComplaintWorkflow.post_progress, action, key)


@app.post("/v1/complaints/{complaint_id}/request-info", response_model=ComplaintView, tags=["staff"])
async def request_info(
    complaint_id: str, staff_id: StaffId, body: InfoQuestion, key: ActionKey = None
) -> ComplaintView:
    """Ask the customer for information; the SLA clock pauses until they reply."""
    action = InfoRequest(staff_id=staff_id, **body.model_dump())
    return await _update(complaint_id, ComplaintWorkflow.request_info, action, key)


@app.post("/v1/complaints/{complaint_id}/retier", response_model=ComplaintView, tags=["staff"])
async def retier(complaint_id: str, staff_id: StaffId, body: Retiering, key: ActionKey = None) -> ComplaintView:
    """Change the tier; the running deadlines are recomputed from the time of receipt."""
    return await _update(
        complaint_id, ComplaintWorkflow.retier, RetierAction(staff_id=staff_id, **body.model_dump()), key
    )


@app.post("/v1/complaints/{complaint_id}/follow-up", response_model=ComplaintView, tags=["staff"])
async def record_follow_up(
    complaint_id: str, staff_id: StaffId, body: FollowUp, key: ActionKey = None
) -> ComplaintView:
    """Record the second follow-up with a dissatisfied customer."""
    action = FollowUpAction(staff_id=staff_id, **body.model_dump())
    return await _update(complaint_id, ComplaintWorkflow.record_follow_up, action, key)


@app.post("/v1/complaints/{complaint_id}/policy", response_model=ComplaintView, tags=["operators"])
async def move_to_policy(
    complaint_id: str, staff_id: StaffId, body: PolicyChoice, key: ActionKey = None
) -> ComplaintView:
    """Move one running complaint to the current version of a policy."""
    return await _update(
        complaint_id, ComplaintWorkflow.apply_policy, PolicyMove(staff_id=staff_id, **body.model_dump()), key
    )


# ---------------------------------------------------------------- SLA policies (operators)


class PolicySummary(BaseModel):
    name: str
    version: int | None = None
    source: str | None = None
    description: str | None = None
    error: str | None = None  # a file that does not validate is listed with its problem


@app.get("/v1/policies", response_model=list[PolicySummary], tags=["operators"])
async def list_policies() -> list[PolicySummary]:
    directory = get_settings().policy_dir
    summaries = []
    for name in available_policies(directory):
        try:
            p = load_policy(name, directory)
            summaries.append(PolicySummary(name=name, version=p.version, source=p.source, description=p.description))
        except PolicyError as exc:
            summaries.append(PolicySummary(name=name, error=str(exc)))
    return summaries


@app.get("/v1/policies/{name}", response_model=Policy, tags=["operators"])
async def get_policy(name: str) -> Policy:
    try:
        return load_policy(name, get_settings().policy_dir)
    except PolicyError as exc:
        status = 404 if "no such policy" in str(exc) or "not a policy name" in str(exc) else 422
        raise ApiError(status, "invalid_policy" if status == 422 else "not_found", str(exc)) from exc


class ApplyRequest(BaseModel):
    complaint_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=1000, description="the complaints to move"
    )
    all_running: bool = Field(default=False, description="true, instead of complaint_ids: move every running complaint")


class ApplyResult(BaseModel):
    policy: str
    moved: list[str]
    refused: dict[str, str]


@app.post("/v1/policies/{name}/apply", response_model=ApplyResult, tags=["operators"])
async def apply_policy(name: str, staff_id: StaffId, body: ApplyRequest | None = None) -> ApplyResult:
    """Move running complaints to the current version of this policy. Complaints not named
    keep the policy they started under."""
    if body is None or (body.complaint_ids is None) == (not body.all_running):
        # Moving every running complaint is never what an empty or mistyped request meant.
        raise ApiError(
            422,
            "confirmation_required",
            "name the complaints in complaint_ids, or send "
            "all_running: true (and no complaint_ids) to move every running complaint",
            field="all_running",
        )
    policy = await get_policy(name)  # validate once before touching any complaint
    ids = body.complaint_ids if body.complaint_ids is not None else await _running_complaint_ids()
    moved, refused = [], {}
    for complaint_id in ids:
        try:
            await _update(complaint_id, ComplaintWorkflow.apply_policy, PolicyMove(staff_id=staff_id, policy=name))
            moved.append(complaint_id)
        except ApiError as exc:
            refused[complaint_id] = exc.message
    return ApplyResult(policy=policy.ref, moved=moved, refused=refused)


async def _running_complaint_ids() -> list[str]:
    query = "WorkflowType = 'ComplaintWorkflow' AND ExecutionStatus = 'Running'"
    return [wf.id.removeprefix("complaint-") async for wf in app.state.temporal.list_workflows(query)]


@app.get(
    "/v1/events",
    response_model=EventPage,
    tags=["feed"],
    dependencies=[Depends(service_caller("reporting", "operator"))],
)
async def event_feed(
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="last position already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    events = await app.state.events.read_all(after=after, limit=limit)
    for event in events:
        event.data = masked_event_data(event.data)  # the feed leaves the service (§4)
    return EventPage(events=events, next_after=events[-1].position if events else after)


@app.get("/v1/complaints/{complaint_id}/events", response_model=EventPage, tags=["feed"])
async def complaint_events(complaint_id: str) -> EventPage:
    events = await app.state.events.read_stream(complaint_id)
    if not events:
        raise ApiError(404, "not_found", f"no complaint {complaint_id}")
    for event in events:
        event.data = masked_event_data(event.data)  # the feed leaves the service (§4)
    return EventPage(events=events, next_after=events[-1].position)
