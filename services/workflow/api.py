"""The workflow service's staff API and event feed (port 8001). The worker that runs the
workflows is a process of its own (`python -m services.workflow.worker`).

Staff sign in (`POST /v1/auth/token`) and act with their token: who acts is the signed-in
person (services/workflow/staff_auth.py), what they may do is services/workflow/permissions.py
(403 with the reason). Staff actions are workflow Updates: the workflow's validator decides
whether the action fits the complaint's stage, and a refusal comes back as 409 with its reason.
"""

import json
import logging
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from services.common import domain_events as ev
from services.common.deadlines.policy import (
    Policy,
    PolicyError,
    available_policies,
    load_policy,
)
from services.common.events import EventPage
from services.common.http_client import http_client
from services.common.privacy import masked_event_data, scrub_text
from services.common.service import service_app, service_database
from services.common.service_auth import outgoing_headers, service_caller
from services.common.settings import get_settings
from services.common.telemetry import instrument_http_client
from services.common.temporal import connect
from services.common.web import IDEMPOTENCY_KEY_RULES, ApiError, Moment
from services.intake.contract import RecordedComplaint, WaitingComplaints
from services.workflow import (
    contacts,
    handover,
    inbox,
    kept_views,
    not_started,
    outbox,
    recording,
    staff_auth,
    undelivered,
)
from services.workflow.acting import Desk
from services.workflow.authority import load_authority
from services.workflow.console import pages as console
from services.workflow.console import record_page, team_page
from services.workflow.console.session import SignInRequired
from services.workflow.contract import (
    GROUPS_PATH,
    KEPT_VIEW_PATH,
    RECORDED_VIEW_PATH,
    STAFF_PATH,
    WORKFLOW_TYPE,
    AcknowledgeBody,
    ApplyPolicyAction,
    ApplyPolicyBody,
    AssignBody,
    CompensationBody,
    ComplaintClient,
    ComplaintView,
    ConsultationAnswerBody,
    ConsultBody,
    DecisionBody,
    DeclineTransferBody,
    FollowUpBody,
    Group,
    NoteBody,
    PlanBody,
    ProgressBody,
    ReachedBody,
    ReclassifyBody,
    ReopenBody,
    RequestInfoBody,
    Resolution,
    RetierBody,
    StaffMember,
    Stage,
    TransferBody,
    complaint_id_from_workflow_id,
)
from services.workflow.erasure import api as erasure_api
from services.workflow.eventstore import EventStore
from services.workflow.permissions import Staff, duty_refusal, forbidden, policy_refusal
from services.workflow.playbooks import Playbook, load_playbooks, suggest
from services.workflow.routing import Router, load_routing
from services.workflow.staff_auth import SignedIn

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with service_database("workflow", MIGRATIONS) as (settings, pool):
        app.state.pool = pool
        app.state.events = EventStore(pool, inbox=inbox.changes_of)
        if filled := await inbox.fill_customer_keys(pool):
            log.info("inbox rows given their customer's keys", extra={"rows": filled})
        app.state.router = Router(pool, load_routing(settings.routing_file))
        app.state.authority = load_authority()
        app.state.playbooks = load_playbooks()
        await app.state.router.load_roster(settings.roster_file)
        if settings.demo_password is not None:
            await staff_auth.give_demo_accounts(pool, settings.demo_password.get_secret_value())
        app.state.complaints = ComplaintClient(
            await connect(settings), settings.temporal_task_queue, reads_in_flight=settings.engine_reads_in_flight
        )
        app.state.desk = Desk(pool, app.state.router, app.state.authority, app.state.complaints)
        # The console reads delivery status from notify, as the workflow service.
        async with (
            http_client(base_url=settings.url_of("notify"), headers=outgoing_headers(settings), timeout=3) as notify,
            # Staff who ask for a complaint the engine does not know yet: intake may hold it.
            http_client(base_url=settings.url_of("intake"), headers=outgoing_headers(settings), timeout=3) as intake,
            # The complaints' messages to notify: a batch may take notify a while to store.
            http_client(headers=outgoing_headers(settings), timeout=10) as relay_http,
        ):
            for traced in (notify, intake, relay_http):  # a page's calls appear in its trace
                instrument_http_client(traced)
            relay = outbox.MessageRelay(
                pool, relay_http, settings.url_of("notify"), recipients=app.state.router.recipients
            )
            app.state.notify = notify
            app.state.intake = intake

            async def refresh_gauges() -> None:
                await inbox.refresh_gauges(pool)
                await outbox.refresh_gauges(pool)
                await kept_views.refresh_gauge(pool)

            keep = partial(kept_views.keep_closed, pool, app.state.complaints)
            tell = partial(undelivered.tell_complaints, notify, app.state.complaints)
            async with (
                app.state.loops.supervised("metrics", refresh_gauges, 5.0),
                app.state.loops.supervised("kept-views", keep, 10.0),
                app.state.loops.supervised("message-relay", relay.one_pass, outbox.RELAY_POLL_SECONDS),
                app.state.loops.supervised("customers-not-reached", tell, undelivered.POLL_SECONDS),
            ):
                yield


app = service_app(
    "workflow",
    "Complaint workflow service",
    "Staff actions on complaints, and the event feed every read model follows.",
    lifespan,
)

app.include_router(console.router)
app.include_router(record_page.router)
app.include_router(team_page.router)
app.include_router(erasure_api.router)


@app.exception_handler(SignInRequired)
async def _to_sign_in(_request: Request, exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"/console/sign-in?next={exc.next_path}", status_code=303)


_KEY_RULES: dict[str, Any] = {"alias": "Idempotency-Key", **IDEMPOTENCY_KEY_RULES}
ActionKey = Annotated[
    str | None,
    Header(
        **_KEY_RULES,
        description="one per action the person means (the console sends one per form): a retry with the same "
        "key returns the first outcome instead of acting twice",
    ),
]
RecordingKey = Annotated[
    str,
    Header(
        **_KEY_RULES,
        description="one per complaint the person takes down (the console sends one per form): a retry with the "
        "same key answers with the first outcome instead of recording it twice",
    ),
]


def _complaints() -> ComplaintClient:
    return app.state.complaints


def _desk() -> Desk:
    return app.state.desk


# ---------------------------------------------------------------- sign-in


class SignIn(BaseModel):
    staff_id: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class SignedInAs(BaseModel):
    staff_id: str
    name: str
    role: str
    authority: str
    groups: list[str]


class TokenIssued(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    staff: SignedInAs


def _as_view(staff: Staff) -> SignedInAs:
    return SignedInAs(
        staff_id=staff.staff_id, name=staff.name, role=staff.role, authority=staff.authority, groups=list(staff.groups)
    )


def _locked_out(exc: staff_auth.LockedOut, field: str) -> ApiError:
    seconds = max(1, int(exc.retry_after.total_seconds()))
    return ApiError(
        429,
        "locked_out",
        f"too many wrong passwords: this account signs in again in {seconds // 60 + 1} min",
        field=field,
        headers={"Retry-After": str(seconds)},
    )


@app.post("/v1/auth/token", response_model=TokenIssued, tags=["sign-in"])
async def sign_in(body: SignIn) -> TokenIssued:
    """Sign in with the roster id and password; send the token as `Authorization: Bearer`."""
    try:
        issued = await staff_auth.sign_in(app.state.pool, body.staff_id, body.password)
    except staff_auth.LockedOut as exc:
        raise _locked_out(exc, "password") from exc
    if issued is None:
        raise ApiError(401, "unauthorized", "wrong staff id or password", field="password")
    return await _token_issued(issued)


async def _token_issued(issued: staff_auth.IssuedToken) -> TokenIssued:
    staff = await staff_auth.staff_for_token(app.state.pool, app.state.router, issued.token)
    assert staff is not None  # issued a moment ago
    return TokenIssued(access_token=issued.token, expires_at=issued.expires_at, staff=_as_view(staff))


class HandoffIssued(BaseModel):
    code: str
    expires_at: datetime


class HandoffCode(BaseModel):
    code: str = Field(min_length=16, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")


@app.post("/v1/auth/handoff", response_model=HandoffIssued, tags=["sign-in"])
async def hand_off(staff: SignedIn) -> HandoffIssued:
    """A code that signs you in to another of our services (the reports dashboard) once, within a
    minute: one sign-in for the console and the dashboard."""
    issued = await staff_auth.hand_off(app.state.pool, staff.staff_id)
    return HandoffIssued(code=issued.token, expires_at=issued.expires_at)


@app.post("/v1/auth/handoff/redeem", response_model=TokenIssued, tags=["sign-in"])
async def redeem_handoff(body: HandoffCode) -> TokenIssued:
    """Trade a handoff code for a token of your own; the code is its credential and works once."""
    issued = await staff_auth.redeem_handoff(app.state.pool, body.code)
    if issued is None:
        raise ApiError(401, "unauthorized", "this sign-in link was used or has expired; sign in again", field="code")
    return await _token_issued(issued)


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(
        min_length=1,
        max_length=200,
        description=f"at least {staff_auth.MIN_PASSWORD_LENGTH} characters, not containing the staff id",
    )


@app.post("/v1/auth/password", status_code=204, tags=["sign-in"])
async def change_password(
    body: PasswordChange,
    staff: SignedIn,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())],
) -> None:
    """Change your own password. Your other sessions are signed out; this token goes on. Wrong
    current passwords count towards the sign-in lockout."""
    try:
        await staff_auth.change_password(
            app.state.pool, staff.staff_id, body.current_password, body.new_password, credentials.credentials
        )
    except staff_auth.LockedOut as exc:
        raise _locked_out(exc, "current_password") from exc
    except staff_auth.WrongPassword as exc:
        raise ApiError(403, "wrong_password", "the current password is wrong", field="current_password") from exc
    except staff_auth.UnfitPassword as exc:
        raise ApiError(422, "unfit_password", staff_auth.PASSWORD_PROBLEMS[exc.problem], field="new_password") from exc


@app.get("/v1/auth/me", response_model=SignedInAs, tags=["sign-in"])
async def me(staff: SignedIn) -> SignedInAs:
    return _as_view(staff)


@app.delete("/v1/auth/token", status_code=204, tags=["sign-in"])
async def sign_out(staff: SignedIn, credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())]):
    """Sign out: this token stops working at once."""
    await staff_auth.sign_out(app.state.pool, credentials.credentials)


@app.get("/v1/complaints", response_model=list[inbox.InboxItem], tags=["staff"])
async def list_complaints(
    staff: SignedIn,
    group: Annotated[str | None, Query(max_length=100, description="a routing group, e.g. front-line-product")] = None,
    assignee: Annotated[str | None, Query(max_length=100, description="a staff id")] = None,
    recorded_by: Annotated[str | None, Query(max_length=100, description="the staff id who took it down")] = None,
    consulted: Annotated[
        str | None, Query(max_length=100, description="a group asked for its view (a joint consultation)")
    ] = None,
    stage: Annotated[Stage | None, Query()] = None,
    breached: Annotated[bool | None, Query(description="only breached (true) or unbreached (false)")] = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    complaint_type: Annotated[str | None, Query(max_length=100)] = None,
    channel: Annotated[str | None, Query(max_length=50)] = None,
    search: Annotated[
        str | None,
        Query(
            max_length=100,
            description="complaint id, customer name, masked contact or account, or a whole phone number or e-mail",
        ),
    ] = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[inbox.InboxItem]:
    """The staff inbox, most urgent first (nearest deadline). Contact data is masked."""
    filters = inbox.Filters(
        group=group,
        assignee=assignee,
        recorded_by=recorded_by,
        consulted=(consulted,) if consulted else None,
        stage=stage.value if stage else None,
        tier=tier,
        complaint_type=complaint_type,
        channel=channel,
        breached=breached,
        search=search,
        open_only=not include_closed,
    )
    return await inbox.list_items(app.state.pool, filters, limit=limit, offset=offset)


@app.post("/v1/complaints", status_code=202, response_model=RecordedComplaint, tags=["staff"])
async def record_complaint(
    staff: SignedIn, taken: recording.TakenDown, key: RecordingKey, response: Response
) -> RecordedComplaint:
    """A complaint the signed-in person took down: a customer on the hotline, at a store's
    counter, or in a chat group or social post (`channel`). Recorded under their name and
    started as every channel's complaint is; the customer is sent the acknowledgement with their
    tracking page. `linked_to`: it was the same matter as the customer's open complaint, and was
    added to that one. Every role but admin may record."""
    recorded = await recording.record(app.state.intake, staff, taken, key)
    response.headers["Location"] = f"/v1/complaints/{recorded.complaint_id}"
    return recorded


@app.get(STAFF_PATH, response_model=list[StaffMember], tags=["staff"])
async def list_staff(staff: SignedIn) -> list[StaffMember]:
    """Who can be assigned: groups, role, on duty or not, open complaints (the load)."""
    return await app.state.router.staff()


@app.get(GROUPS_PATH, response_model=list[Group], tags=["staff"])
async def list_groups(staff: SignedIn) -> list[Group]:
    """The routing groups (departments) with their titles in Chinese and English: what events,
    the inbox and the reports name by id, for a page to show in its reader's words."""
    return [Group(group=name, title=config.title) for name, config in app.state.router.config.groups.items()]


class Duty(BaseModel):
    on_duty: bool


@app.put("/v1/staff/{staff_id}/duty", response_model=StaffMember, tags=["staff"])
async def set_duty(staff_id: str, body: Duty, staff: SignedIn) -> StaffMember:
    """Start or end a shift (one's own, or as a group lead for others): routing picks only members on duty."""
    if reason := duty_refusal(staff, staff_id):
        raise forbidden(reason)
    member = await app.state.router.set_on_duty(staff_id, body.on_duty)
    if member is None:
        raise ApiError(404, "not_found", f"no staff member '{staff_id}'", field="staff_id")
    return member


@app.post("/v1/staff/{staff_id}/hand-over", response_model=handover.Handover, tags=["staff"])
async def hand_over(staff_id: str, staff: SignedIn, key: ActionKey = None) -> handover.Handover:
    """Hand an off-duty person's complaints in handling to on-duty members of each complaint's
    group, by the group's strategy (group lead and up; 409 while the person is on duty). Each is
    an assignment by the lead, recorded with the reason; the owner stays. `left`: the ones that
    stay with the person, and why. The same key again assigns nothing twice."""
    return await handover.hand_over(_desk(), app.state.router, staff, staff_id, key or str(uuid.uuid4()))


@app.get("/v1/complaints/waiting-to-start", response_model=WaitingComplaints, tags=["staff"])
async def complaints_waiting_to_start(
    staff: SignedIn, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> WaitingComplaints:
    """Complaints intake accepted while Temporal was unreachable, whose workflow has not started
    yet (it starts once Temporal is back), the oldest first: not in the inbox until then, and
    an urgent one should not go unseen meanwhile. Contact data is masked."""
    return await not_started.waiting(app.state.intake, limit)


@app.get("/v1/complaints/{complaint_id}", response_model=ComplaintView, tags=["staff"])
async def get_complaint(complaint_id: str, staff: SignedIn) -> ComplaintView:
    """The complaint's live view; while the engine cannot answer, what its events recorded, with
    `live` false (503 only for one whose receipt is not recorded yet). Act on a live view: a
    recorded one may show a step the workflow has not completed yet. One intake accepted and
    has not started yet (Temporal was unreachable) shows as received, not live."""
    state = app.state
    return await kept_views.staff_view(state.pool, state.complaints, state.events, state.intake, complaint_id)


@app.get(
    KEPT_VIEW_PATH,
    response_model=ComplaintView,
    tags=["feed"],
    dependencies=[Depends(service_caller("intake"))],
)
async def kept_view(complaint_id: str) -> ComplaintView:
    """A complaint as its workflow shows it, or as it was kept once Temporal forgot it: intake's
    customer pages ask here when the engine no longer knows the complaint."""
    return await kept_views.view_of(app.state.pool, _complaints(), complaint_id)


@app.get(
    RECORDED_VIEW_PATH,
    response_model=ComplaintView,
    tags=["feed"],
    dependencies=[Depends(service_caller("intake"))],
)
async def recorded_view(complaint_id: str) -> ComplaintView:
    """A complaint as its events have recorded it (stage, group, steps; no running deadlines):
    intake's customer pages show it while the engine cannot show the live view."""
    view = await kept_views.recorded(app.state.pool, app.state.events, complaint_id)
    if view is None:
        raise ApiError(404, "not_found", "no complaint recorded with this id", field="complaint_id")
    return view


@app.post("/v1/complaints/{complaint_id}/acknowledge", response_model=ComplaintView, tags=["staff"])
async def acknowledge(
    complaint_id: str, staff: SignedIn, body: AcknowledgeBody | None = None, key: ActionKey = None
) -> ComplaintView:
    return await _desk().act(staff, complaint_id, "acknowledge", key, note=body.note if body else None)


@app.post("/v1/complaints/{complaint_id}/resolve", response_model=ComplaintView, tags=["staff"])
async def resolve(complaint_id: str, staff: SignedIn, resolution: Resolution, key: ActionKey = None) -> ComplaintView:
    return await _desk().act(staff, complaint_id, "resolve", key, resolution=resolution)


@app.post("/v1/complaints/{complaint_id}/assign", response_model=ComplaintView, tags=["staff"])
async def assign(complaint_id: str, staff: SignedIn, body: AssignBody, key: ActionKey = None) -> ComplaintView:
    """Assign a responsible person (meets the assignment deadline). Group lead and up."""
    return await _desk().act(staff, complaint_id, "assign", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/progress", response_model=ComplaintView, tags=["staff"])
async def post_progress(complaint_id: str, staff: SignedIn, body: ProgressBody, key: ActionKey = None) -> ComplaintView:
    """Tell the customer how it is going (restarts the progress-update cadence)."""
    return await _desk().act(staff, complaint_id, "post_progress", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/plan", response_model=ComplaintView, tags=["staff"])
async def give_plan(complaint_id: str, staff: SignedIn, body: PlanBody, key: ActionKey = None) -> ComplaintView:
    """Tell the customer the solution plan (meets the solution-plan target where the tier has one)."""
    return await _desk().act(staff, complaint_id, "give_plan", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/transfer", response_model=ComplaintView, tags=["staff"])
async def transfer(complaint_id: str, staff: SignedIn, body: TransferBody, key: ActionKey = None) -> ComplaintView:
    """Transfer to another department: its members must accept within the tier's transfer_acceptance."""
    return await _desk().transfer(staff, complaint_id, body, key)


@app.post("/v1/complaints/{complaint_id}/transfer/accept", response_model=ComplaintView, tags=["staff"])
async def accept_transfer(complaint_id: str, staff: SignedIn, key: ActionKey = None) -> ComplaintView:
    """The receiving group takes the complaint (the one who accepts is its assignee)."""
    return await _desk().act(staff, complaint_id, "accept_transfer", key)


@app.post("/v1/complaints/{complaint_id}/transfer/decline", response_model=ComplaintView, tags=["staff"])
async def decline_transfer(
    complaint_id: str, staff: SignedIn, body: DeclineTransferBody, key: ActionKey = None
) -> ComplaintView:
    """The receiving group does not take it: back to the sender, with the reason."""
    return await _desk().act(staff, complaint_id, "decline_transfer", key, **body.model_dump())


class RetierCandidate(BaseModel):
    """A complaint staff re-tiered: its words with the tier people gave it, a candidate labelled
    example for the classifier (contacts scrubbed)."""

    complaint_id: str
    text: str
    tier: int
    complaint_type: str | None
    from_tier: int | None
    reason: str | None
    retiered_at: datetime


@app.get(
    "/v1/classification/candidates",
    response_model=list[RetierCandidate],
    tags=["classification"],
    dependencies=[Depends(service_caller("operator"))],
)
async def retier_candidates(
    after: Annotated[Moment | None, Query(description="only re-tiers after this moment, with time zone")] = None,
) -> list[RetierCandidate]:
    """Every re-tier with its reason (the last one per complaint), for `python -m
    services.intake.classification candidates` to list and accept into the labelled set."""
    rows = await app.state.pool.fetch(
        """SELECT DISTINCT ON (r.stream_id) r.stream_id, r.data AS retier, r.recorded_at,
                  c.data->>'description' AS text,
                  coalesce((SELECT x.data->>'to_type' FROM workflow.events x WHERE x.stream_id = r.stream_id
                              AND x.type = 'Reclassified' AND x.data ? 'to_type' ORDER BY x.version DESC LIMIT 1),
                           (SELECT t.data->>'complaint_type' FROM workflow.events t WHERE t.stream_id = r.stream_id
                              AND t.type = 'TierAssigned' LIMIT 1)) AS complaint_type
           FROM workflow.events r
           JOIN workflow.events c ON c.stream_id = r.stream_id AND c.type = 'ComplaintReceived'
           WHERE r.type = 'Retiered' AND ($1::timestamptz IS NULL OR r.recorded_at > $1)
           ORDER BY r.stream_id, r.version DESC""",
        after,
    )
    candidates = []
    for row in rows:
        retier = ev.payload_of("Retiered", json.loads(row["retier"]))
        if not isinstance(retier, ev.Retiered) or retier.to_tier is None or not row["text"]:
            continue
        candidates.append(
            RetierCandidate(
                complaint_id=row["stream_id"],
                text=scrub_text(row["text"]),
                tier=retier.to_tier,
                complaint_type=row["complaint_type"],
                from_tier=retier.from_tier,
                reason=scrub_text(retier.reason or ""),
                retiered_at=row["recorded_at"],
            )
        )
    return sorted(candidates, key=lambda c: c.retiered_at)


@app.get("/v1/playbooks", response_model=list[Playbook], tags=["staff"])
async def list_playbooks(staff: SignedIn) -> list[Playbook]:
    return app.state.playbooks


@app.get("/v1/complaints/{complaint_id}/playbooks", response_model=list[Playbook], tags=["staff"])
async def playbooks_for(complaint_id: str, staff: SignedIn) -> list[Playbook]:
    """Standard handling that fits this complaint (source 000), by its type and words."""
    row = await app.state.pool.fetchrow(
        "SELECT complaint_type, summary FROM workflow.inbox WHERE complaint_id = $1", complaint_id
    )
    if row is None:
        raise ApiError(404, "not_found", f"no complaint {complaint_id}", field="complaint_id")
    return suggest(app.state.playbooks, row["complaint_type"], row["summary"] or "")


@app.post("/v1/complaints/{complaint_id}/contact", response_model=contacts.CustomerContact, tags=["staff"])
async def show_contact(
    complaint_id: str, staff: SignedIn, response: Response, body: contacts.ContactRequest
) -> contacts.CustomerContact:
    """The customer's phone and e-mail in full, to call them back: for whoever may act on the
    complaint (403 otherwise), and recorded as shown to them with the reason chosen
    (`contact-showings`). 410 once the customer's data is erased. Every list and view shows the
    contact masked."""
    response.headers["Cache-Control"] = "no-store"
    state = app.state
    return await contacts.show(state.pool, state.events, _desk(), staff, complaint_id, body.purpose)


@app.get("/v1/complaints/{complaint_id}/contact-showings", response_model=list[contacts.ContactShowing], tags=["staff"])
async def contact_showings(complaint_id: str, staff: SignedIn) -> list[contacts.ContactShowing]:
    """Who was shown the customer's contact in full, when and why, the latest first: for whoever
    may act on the complaint."""
    await _desk().permit(staff, complaint_id, contacts.SEE_CONTACT)
    return await contacts.showings(app.state.pool, complaint_id)


@app.post("/v1/complaints/{complaint_id}/notes", response_model=ComplaintView, tags=["staff"])
async def add_note(complaint_id: str, staff: SignedIn, body: NoteBody, key: ActionKey = None) -> ComplaintView:
    """An internal note, for staff only: never on the customer's page nor in a message."""
    return await _desk().act(staff, complaint_id, "add_note", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/customer-reached", response_model=ComplaintView, tags=["staff"])
async def customer_reached(
    complaint_id: str, staff: SignedIn, body: ReachedBody, key: ActionKey = None
) -> ComplaintView:
    """Messages reached the customer on no address they gave (`not_reached` in the view): the
    handler reached them another way and told them. 409 when every message reached them."""
    return await _desk().act(staff, complaint_id, "customer_reached", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/consultations", response_model=ComplaintView, tags=["staff"])
async def consult(complaint_id: str, staff: SignedIn, body: ConsultBody, key: ActionKey = None) -> ComplaintView:
    """Ask other departments for their view of a complaint whose cause is hard to find (source
    002: a joint consultation). Each group's member on duty is told by name; the complaint stays
    with its handler, and its deadlines run on."""
    return await _desk().consult(staff, complaint_id, body, key)


@app.post("/v1/complaints/{complaint_id}/consultations/answers", response_model=ComplaintView, tags=["staff"])
async def answer_consultation(
    complaint_id: str, staff: SignedIn, body: ConsultationAnswerBody, key: ActionKey = None
) -> ComplaintView:
    """An asked group's findings, for its members, leads and managers; whoever asked and whoever
    handles the complaint are told."""
    return await _desk().answer_consultation(staff, complaint_id, body, key)


@app.post("/v1/complaints/{complaint_id}/compensations", response_model=ComplaintView, tags=["staff"])
async def propose_compensation(
    complaint_id: str, staff: SignedIn, body: CompensationBody, key: ActionKey = None
) -> ComplaintView:
    """Offer a remedy (refund, return, compensation, gift, written apology). Within the proposer's
    authority (authority.toml) it is granted at once; above it, the lowest role whose limit covers
    it is asked to approve, with a deadline (the policy's compensation_approval)."""
    return await _desk().propose_compensation(staff, complaint_id, body, key)


@app.post("/v1/complaints/{complaint_id}/compensations/decision", response_model=ComplaintView, tags=["staff"])
async def decide_compensation(
    complaint_id: str, staff: SignedIn, body: DecisionBody, key: ActionKey = None
) -> ComplaintView:
    """Approve or reject the compensation waiting for approval: only someone whose own limit covers it."""
    return await _desk().decide_compensation(staff, complaint_id, body, key)


@app.post("/v1/complaints/{complaint_id}/request-info", response_model=ComplaintView, tags=["staff"])
async def request_info(
    complaint_id: str, staff: SignedIn, body: RequestInfoBody, key: ActionKey = None
) -> ComplaintView:
    """Ask the customer for information; the SLA clock pauses until they reply."""
    return await _desk().act(staff, complaint_id, "request_info", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/reclassify", response_model=ComplaintView, tags=["staff"])
async def reclassify(complaint_id: str, staff: SignedIn, body: ReclassifyBody, key: ActionKey = None) -> ComplaintView:
    """Correct the type or the responsibility intake decided, with the reason (recorded)."""
    return await _desk().act(staff, complaint_id, "reclassify", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/retier", response_model=ComplaintView, tags=["staff"])
async def retier(complaint_id: str, staff: SignedIn, body: RetierBody, key: ActionKey = None) -> ComplaintView:
    """Change the tier; the running deadlines are recomputed from the time of receipt. Group lead and up."""
    return await _desk().act(staff, complaint_id, "retier", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/follow-up", response_model=ComplaintView, tags=["staff"])
async def record_follow_up(
    complaint_id: str, staff: SignedIn, body: FollowUpBody, key: ActionKey = None
) -> ComplaintView:
    """Record the second follow-up with a dissatisfied customer."""
    return await _desk().act(staff, complaint_id, "record_follow_up", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/reopen", response_model=ComplaintView, tags=["staff"])
async def reopen(complaint_id: str, staff: SignedIn, body: ReopenBody, key: ActionKey = None) -> ComplaintView:
    """Reopen a resolved complaint within the policy's days after the result (not after a
    satisfied survey answer): back to its owner, with new deadlines from now."""
    return await _desk().act(staff, complaint_id, "reopen", key, **body.model_dump())


@app.post("/v1/complaints/{complaint_id}/policy", response_model=ComplaintView, tags=["operators"])
async def move_to_policy(
    complaint_id: str, staff: SignedIn, body: ApplyPolicyBody, key: ActionKey = None
) -> ComplaintView:
    """Move one running complaint to the current version of a policy. Admins only."""
    return await _desk().act(staff, complaint_id, "apply_policy", key, **body.model_dump())


# ---------------------------------------------------------------- SLA policies (operators)


class PolicySummary(BaseModel):
    name: str
    version: int | None = None
    source: str | None = None
    description: str | None = None
    error: str | None = None  # a file that does not validate is listed with its problem


@app.get("/v1/policies", response_model=list[PolicySummary], tags=["operators"])
async def list_policies(staff: SignedIn) -> list[PolicySummary]:
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
async def get_policy(name: str, staff: SignedIn) -> Policy:
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
async def apply_policy(name: str, staff: SignedIn, body: ApplyRequest | None = None) -> ApplyResult:
    """Move running complaints to the current version of this policy. Complaints not named
    keep the policy they started under. Admins only."""
    if reason := policy_refusal(staff):
        raise forbidden(reason)
    staff_id = staff.staff_id
    if body is None or (body.complaint_ids is None) == (not body.all_running):
        # Moving every running complaint is never what an empty or mistyped request meant.
        raise ApiError(
            422,
            "confirmation_required",
            "name the complaints in complaint_ids, or send "
            "all_running: true (and no complaint_ids) to move every running complaint",
            field="all_running",
        )
    policy = await get_policy(name, staff)  # validate once before touching any complaint
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
async def complaint_events(complaint_id: str, staff: SignedIn) -> EventPage:
    events = await app.state.events.read_stream(complaint_id)
    if not events:
        raise ApiError(404, "not_found", f"no complaint {complaint_id}")
    for event in events:
        event.data = masked_event_data(event.data)  # the feed leaves the service (§4)
    return EventPage(events=events, next_after=events[-1].position)
