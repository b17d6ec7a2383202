"""Record a complaint (services/workflow/recording.py), the console's page for it: what a
customer said on the phone, at a counter or in a chat group, taken down by the signed-in person.
Its boxes become the complaint record the staff API takes, and a refusal's field comes back as
the box to correct, so the page marks it."""

import asyncio
import uuid
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.settings import get_settings
from services.common.web import ApiError, form_key
from services.workflow import inbox, recording
from services.workflow.console.form_errors import FormError, in_words
from services.workflow.console.forms import validated
from services.workflow.console.rendering import lang_of, render
from services.workflow.console.session import CheckedForm, CurrentSession, Session
from services.workflow.permissions import recording_refusal
from services.workflow.recording import TakenDown

router = APIRouter(prefix="/console", include_in_schema=False)
# The complaint's page says which of these happened (`?done=`).
RECORDED = ("recorded", "recorded_linked")

# The form's name of each of the customer's fields.
CUSTOMER_FIELDS = {
    "customer_name": "name",
    "phone": "phone",
    "email": "email",
    "preferred_channel": "preferred_channel",
    "company": "company",
    "account_id": "account_id",
    "segment": "segment",
    "customer_language": "language",
}
PROBLEM_FIELDS = ("channel", "description", "scenario", "symptom", "impact", "demand", "urgency_hint")
FORM_FIELDS = (*CUSTOMER_FIELDS, *PROBLEM_FIELDS, "occurred_at")
_FORM_NAME_OF = {f"customer.{record}": form for form, record in CUSTOMER_FIELDS.items()}


def taken_down(form: Mapping[str, str], zone: ZoneInfo) -> TakenDown:
    """The posted form as the record, or a 422 naming the form's field. The time it happened is
    entered in the organisation's zone, to the minute; a box left empty is not given."""
    given = {name: value.strip() for name in FORM_FIELDS if (value := form.get(name, "")).strip()}
    customer: dict[str, object] = {record: given[name] for name, record in CUSTOMER_FIELDS.items() if name in given}
    record: dict[str, object] = {name: given[name] for name in PROBLEM_FIELDS if name in given}
    if "occurred_at" in given:
        try:
            record["occurred_at"] = datetime.fromisoformat(given["occurred_at"]).replace(tzinfo=zone)
        except ValueError as exc:
            raise FormError("occurred_at", "datetime_parsing", {}, "a date and time such as 2026-12-04T09:30") from exc
    try:
        return validated(TakenDown, {**record, "customer": customer}, "description")
    except FormError as exc:
        raise FormError(form_field(exc.field) or "description", exc.kind, exc.limits, exc.said) from exc


def form_field(field: str | None) -> str | None:
    """The form's box for a field of the record (`customer.phone` is `phone`); the customer as a
    whole (neither phone nor e-mail given) is the phone's box."""
    if field == "customer":
        return "phone"
    return _FORM_NAME_OF.get(field or "", field)


def _record_page(request: Request, session: Session, values: dict[str, str], error: ApiError | None = None):
    """The form, filled with what was posted when it was refused; a new key for each form shown
    empty, the same key again with a refused one (nothing was recorded under it)."""
    context = {
        "session": session,
        "channels": [c.value for c in recording.STAFF_CHANNELS],
        "values": values,
        "record_key": values.get("record_key") or str(uuid.uuid4()),
        "error": {
            "message": in_words(error, lang_of(request), request.app.state.router.config.title_of),
            "field": error.field,
        }
        if error
        else None,
    }
    return render(request, "record.html", context, status=error.status if error else 200)


@router.get("/record", response_class=HTMLResponse)
async def record_page(request: Request, session: CurrentSession) -> Response:
    if recording_refusal(session.staff):
        return render(request, "forbidden.html", {"session": session, "reason": "only_serving_staff"}, status=403)
    return _record_page(request, session, {})


@router.post("/record", response_class=HTMLResponse)
async def record(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """A complaint taken down on the phone, at a counter or in a chat group, through the staff
    API's path (recording.py); to its page once recorded, or the form again with the refusal.
    The form's key records it once however often it is sent."""
    try:
        key = form_key(form.get("record_key"), "record_key")
        taken = taken_down(form, get_settings().time_zone)
        recorded = await recording.record(request.app.state.intake, session.staff, taken, f"console:{key}")
    except ApiError as exc:
        if exc.status not in (409, 422, 503):  # a refusal of the person (403) is its own page
            raise
        if not isinstance(exc, FormError):  # intake's refusal names the record's field: the form's box
            exc = ApiError(exc.status, exc.code, exc.message, form_field(exc.field), exc.headers)
        return _record_page(request, session, form, exc)
    done = RECORDED[1] if recorded.linked_to else RECORDED[0]
    await _until_received(request.app.state.pool, recorded.complaint_id)
    return RedirectResponse(f"/console/complaints/{recorded.complaint_id}?done={done}", status_code=303)


async def _until_received(pool: asyncpg.Pool, complaint_id: str, within: float = 3.0) -> None:
    """Intake answers once the complaint is stored and starts its workflow right after: the page
    waits a moment for its receipt to be recorded, so the person lands on the whole record. Later
    than that (the engine busy or down), the complaint's page says it waits to start."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        row = await inbox.row_of(pool, complaint_id)
        if row is not None and row["received_at"] is not None:
            return
        await asyncio.sleep(0.1)
