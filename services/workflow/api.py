"""The workflow service's staff API and event feed (port 8001). The worker that runs the
workflows is a process of its own (`python -m services.workflow.worker`).

Staff actions are workflow Updates: the workflow's validator decides whether the action fits
the complaint's stage, and a refusal comes back as 409 with its reason.
"""

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query
from pydantic import BaseModel, Field

from services.common.events import EventPage
from services.common.privacy import masked_event_data
from services.common.service import service_app, service_database
from services.common.service_auth import service_caller
from services.common.settings import get_settings
from services.common.temporal import connect
from services.common.web import ApiError
from services.workflow import inbox
from services.workflow.contract import (
    WORKFLOW_TYPE,
    AcknowledgeBody,
    ApplyPolicyAction,
    ApplyPolicyBody,
    AssignAction,
    AssignBody,
    ComplaintClient,
    ComplaintView,
    FollowUpAction,
    FollowUpBody,
    PlanAction,
    PlanBody,
    ProgressAction,
    ProgressBody,
    ReclassifyAction,
    ReclassifyBody,
    RequestInfoAction,
    RequestInfoBody,
    Resolution,
    ResolveAction,
    RetierAction,
    RetierBody,
    StaffAction,
    Stage,
    complaint_id_from_workflow_id,
)
from services.workflow.eventstore import EventStore
from services.workflow.policy import (
    Policy,
    PolicyError,
    available_policies,
    load_policy,
)
from services.workflow.routing import Router, StaffMember, load_routing

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with service_database("workflow", MIGRATIONS) as (settings, pool):
        app.state.pool = pool
        app.state.events = EventStore(pool, project=inbox.project)
        app.state.router = Router(pool, load_routing(settings.routing_file))
        await app.state.router.load_roster(settings.roster_file)
        app.state.complaints = ComplaintClient(await connect(settings), settings.temporal_task_queue)
        yield


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


def _complaints() -> ComplaintClient:
    return app.state.complaints


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
    return await _complaints().status(complaint_id)


@app.post("/v1/complaints/{complaint_id}/acknowledge", response_model=ComplaintView, tags=["staff"])
async def acknowledge(
    complaint_id: str, staff_id: StaffId, body: AcknowledgeBody | None = None, key: ActionKey = None
) -> ComplaintView:
    action = StaffAction(staff_id=staff_id, note=body.note if body else None)
    return await _complaints().acknowledge(complaint_id, action, key)


@app.post("/v1/complaints/{complaint_id}/resolve", response_model=ComplaintView, tags=["staff"])
async def resolve(complaint_id: str, staff_id: StaffId, resolution: Resolution, key: ActionKey = None) -> ComplaintView:
    action = ResolveAction(staff_id=staff_id, resolution=resolution)
    return await _complaints().resolve(complaint_id, action, key)


@app.post("/v1/complaints/{complaint_id}/assign", response_model=ComplaintView, tags=["staff"])
async def assign(complaint_id: str, staff_id: StaffId, body: AssignBody, key: ActionKey = None) -> ComplaintView:
    """Assign a responsible person (meets the assignment deadline)."""
    return await _complaints().assign(complaint_id, AssignAction(staff_id=staff_id, **body.model_dump()), key)


@app.post("/v1/complaints/{complaint_id}/progress", response_model=ComplaintView, tags=["staff"])
async def post_progress(
    complaint_id: str, staff_id: StaffId, body: ProgressBody, key: ActionKey = None
) -> ComplaintView:
    """Tell the customer how it is going (restarts the progress-update cadence)."""
    action = ProgressAction(staff_id=staff_id, **body.model_dump())
    return await _complaints().post_progress(complaint_id, action, key)


@app.post("/v1/complaints/{complaint_id}/plan", response_model=ComplaintView, tags=["staff"])
async def give_plan(complaint_id: str, staff_id: StaffId, body: PlanBody, key: ActionKey = None) -> ComplaintView:
    """Tell the customer the solution plan (meets the solution-plan target where the tier has one)."""
    action = PlanAction(staff_id=staff_id, **body.model_dump())
    return await _complaints().give_plan(complaint_id, action, key)


@app.post("/v1/complaints/{complaint_id}/request-info", response_model=ComplaintView, tags=["staff"])
async def request_info(
    complaint_id: str, staff_id: StaffId, body: RequestInfoBody, key: ActionKey = None
) -> ComplaintView:
    """Ask the customer for information; the SLA clock pauses until they reply."""
    action = RequestInfoAction(staff_id=staff_id, **body.model_dump())
    return await _complaints().request_info(complaint_id, action, key)


@app.post("/v1/complaints/{complaint_id}/reclassify", response_model=ComplaintView, tags=["staff"])
async def reclassify(
    complaint_id: str, staff_id: StaffId, body: ReclassifyBody, key: ActionKey = None
) -> ComplaintView:
    """Correct the type or the responsibility intake decided, with the reason (recorded)."""
    action = ReclassifyAction(staff_id=staff_id, **body.model_dump())
    return await _complaints().reclassify(complaint_id, action, key)


@app.post("/v1/complaints/{complaint_id}/retier", response_model=ComplaintView, tags=["staff"])
async def retier(complaint_id: str, staff_id: StaffId, body: RetierBody, key: ActionKey = None) -> ComplaintView:
    """Change the tier; the running deadlines are recomputed from the time of receipt."""
    return await _complaints().retier(complaint_id, RetierAction(staff_id=staff_id, **body.model_dump()), key)


@app.post("/v1/complaints/{complaint_id}/follow-up", response_model=ComplaintView, tags=["staff"])
async def record_follow_up(
    complaint_id: str, staff_id: StaffId, body: FollowUpBody, key: ActionKey = None
) -> ComplaintView:
    """Record the second follow-up with a dissatisfied customer."""
    action = FollowUpAction(staff_id=staff_id, **body.model_dump())
    return await _complaints().record_follow_up(complaint_id, action, key)


@app.post("/v1/complaints/{complaint_id}/policy", response_model=ComplaintView, tags=["operators"])
async def move_to_policy(
    complaint_id: str, staff_id: StaffId, body: ApplyPolicyBody, key: ActionKey = None
) -> ComplaintView:
    """Move one running complaint to the current version of a policy."""
    move = ApplyPolicyAction(staff_id=staff_id, **body.model_dump())
    return await _complaints().apply_policy(complaint_id, move, key)


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
            await _complaints().apply_policy(complaint_id, ApplyPolicyAction(staff_id=staff_id, policy=name))
            moved.append(complaint_id)
        except ApiError as exc:
            refused[complaint_id] = exc.message
    return ApplyResult(policy=policy.ref, moved=moved, refused=refused)


async def _running_complaint_ids() -> list[str]:
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"
    temporal = _complaints().temporal
    return [complaint_id_from_workflow_id(wf.id) async for wf in temporal.list_workflows(query)]


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
