"""Team (group leads and up): open complaints and breaches per person and group, the
escalations addressed to me, who is on duty, and an off-duty person's complaints handed over to
colleagues on duty (services/workflow/handover.py)."""

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.web import ApiError, form_key
from services.workflow import handover, inbox
from services.workflow.console.form_errors import in_words
from services.workflow.console.rendering import desk_of, lang_of, render
from services.workflow.console.session import CheckedForm, CurrentSession, Session
from services.workflow.permissions import duty_refusal, forbidden

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/team", response_class=HTMLResponse)
async def team(request: Request, session: CurrentSession) -> Response:
    if not session.staff.at_least("group_lead"):
        return render(request, "forbidden.html", {"session": session, "reason": "only_leads"}, status=403)
    return await _team_page(request, session)


@router.post("/team/hand-over/{staff_id}", response_class=HTMLResponse)
async def hand_over(request: Request, staff_id: str, session: CurrentSession, form: CheckedForm) -> Response:
    """An off-duty person's complaints to colleagues on duty (handover.py), from the Team page:
    the page again, saying what went to whom and what stayed. The form's key hands over once."""
    router = request.app.state.router
    try:
        key = form_key(form.get("handover_key"), "handover_key")
        done = await handover.hand_over(desk_of(request), router, session.staff, staff_id, f"console:{key}")
    except ApiError as exc:
        if exc.status == 403:
            return _refused(request, session, exc)
        if exc.status != 409:  # back on duty meanwhile: said on the page; the rest is its own answer
            raise
        words = in_words(exc, lang_of(request), router.config.title_of)
        return await _team_page(request, session, error=words, status=409)
    return await _team_page(request, session, handed={"person": staff_id, **done.model_dump()})


async def _team_page(
    request: Request,
    session: Session,
    handed: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    staff = session.staff
    pool, config = request.app.state.pool, request.app.state.router.config
    breached_by_person = {
        r["assignee"]: r["n"]
        for r in await pool.fetch(
            "SELECT assignee, count(*) AS n FROM workflow.inbox WHERE stage <> 'closed' AND breached GROUP BY assignee"
        )
    }
    context = {
        "session": session,
        "people": await request.app.state.router.staff(),
        "breached_by_person": breached_by_person,
        "groups": await inbox.open_counts(pool),
        "to_me": await inbox.escalations_to(pool, staff, config),
        "duty_key": str(uuid.uuid4()),
        "handover_key": str(uuid.uuid4()),
        "in_handling": await handover.in_handling_by_person(pool),
        "handed": handed,
        "error": error,
        "names": await request.app.state.router.names(),
    }
    return render(request, "team.html", context, status=status)


@router.post("/team/duty/{staff_id}")
async def set_duty(request: Request, staff_id: str, session: CurrentSession, form: CheckedForm) -> Response:
    staff = session.staff
    if reason := duty_refusal(staff, staff_id):
        return _refused(request, session, forbidden(reason))
    member = await request.app.state.router.set_on_duty(staff_id, form.get("on_duty") == "yes")
    if member is None:
        raise ApiError(404, "not_found", f"no staff member '{staff_id}'", field="staff_id")
    return RedirectResponse("/console/team" if staff.at_least("group_lead") else "/console", status_code=303)


def _refused(request: Request, session: Session, refusal: ApiError) -> Response:
    """A form of this page refused for who sent it (a forged or stale one): why, in the page's language."""
    words = in_words(refusal, lang_of(request), request.app.state.router.config.title_of)
    return render(request, "forbidden.html", {"session": session, "message": words}, status=refusal.status)
