"""Intake's pages for customers (HTML, no JavaScript): the web complaint form, the status page
of a complaint by its tracking link, the survey and the reply to a question."""

import math
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from services.common import web_session
from services.common.code_words import in_language
from services.common.web import ApiError, Reason
from services.common.written_time import ZONE_NAMES, written_time
from services.intake.channel_api import accept, adapted
from services.intake.customer_api import ComplaintByToken, CustomerInput, customer_update, track
from services.intake.keys import ChannelKey
from services.intake.state import Intake, IntakeDep
from services.intake.submissions import ComplaintSubmission
from services.intake.words import (
    CUSTOMER_REASONS,
    LANG_COOKIE,
    NEXT_STEP,
    STAGE,
    label,
    message_language,
    page_language,
)
from services.workflow.contract import Channel, ComplaintInput, CustomerReply, ReopenAction, SurveyAnswer

router = APIRouter()

PAGES = Jinja2Templates(directory=Path(__file__).parent / "templates")
WEB_FORM_KEY = ChannelKey(key_id="web-form", channel=Channel.web_form.value)  # intake's own form


def _page(
    request: Request, template: str, lang: str, zone: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A customer's page in `lang` ('zh' or 'en'), its times written for `zone` as their
    messages write them."""
    words = {
        "t": lambda key: label(key, lang),
        "lang": lang,
        "when": lambda moment: written_time(moment, message_language(lang), zone),
        "zone_name": ZONE_NAMES.get(zone, {}).get(message_language(lang), zone),
    }
    return PAGES.TemplateResponse(request, template, {**words, **context}, status_code=status_code)


def _form_page(request: Request, intake: Intake, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return _page(request, "form.html", page_language(request), intake.zone.key, context, status_code)


# Where a problem the record's rules find shows on the form: its field ("form": the form as a whole).
_FORM_FIELD = {
    ("customer", "name"): "name",
    ("customer", "phone"): "phone",
    ("customer",): "phone",  # neither a phone nor an e-mail: asked beside the phone
    ("customer", "email"): "email",
    ("customer", "company"): "company",
    ("customer", "account_id"): "account_id",
    ("occurred_at",): "occurred_at",
    ("description",): "description",
    ("impact",): "impact",
    ("demand",): "demand",
}


@router.get("/language/{lang}", tags=["customers"])
async def choose_language(request: Request, lang: str, next: Annotated[str | None, Query(max_length=500)] = None):
    """The switch in a customer's page's header: remember the language, back to the page."""
    return web_session.switch_language(request, lang, next, LANG_COOKIE, "/")


@router.get("/", include_in_schema=False)
async def front_page() -> RedirectResponse:
    """A customer who opens the site's address finds the form to complain."""
    return RedirectResponse("/complaint-form", status_code=303)


@router.get("/complaint-form", response_class=HTMLResponse, tags=["customers"])
async def complaint_form(request: Request, intake: IntakeDep) -> HTMLResponse:
    return _form_page(request, intake, {"form_token": str(uuid.uuid4()), "values": {}, "problems": {}})


@router.post("/complaint-form", response_class=HTMLResponse, tags=["customers"])
async def submit_complaint_form(
    request: Request,
    intake: IntakeDep,
    form_token: Annotated[str, Form(min_length=1, max_length=100)],
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
    phone: Annotated[str, Form(max_length=30)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    demand: Annotated[str, Form(max_length=2000)] = "",
    company: Annotated[str, Form(max_length=200)] = "",
    account_id: Annotated[str, Form(max_length=100)] = "",
    occurred_at: Annotated[str, Form(max_length=40, description="local time, as a datetime-local input sends it")] = "",
    impact: Annotated[str, Form(max_length=2000)] = "",
    urgent: Annotated[str, Form(max_length=10)] = "",
    preferred_channel: Annotated[Literal["", "email", "sms"], Form(description="how we answer them")] = "",
):
    values = {
        "name": name,
        "phone": phone,
        "email": email,
        "description": description,
        "demand": demand,
        "company": company,
        "account_id": account_id,
        "occurred_at": occurred_at,
        "impact": impact,
        "urgent": urgent,
        "preferred_channel": preferred_channel,
    }
    wait = intake.limiter.take(f"form:{request.client.host if request.client else '-'}")
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            "too many submissions; try again shortly",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    # Asked to answer by a channel without its address: asked beside the missing address.
    missing = {"email": "email", "sms": "phone"}.get(preferred_channel)
    if missing and not values[missing]:
        problems = {missing: f"problem_reply_by_{preferred_channel}"}
        return _form_page(request, intake, {"form_token": form_token, "values": values, "problems": problems}, 422)
    try:
        # The browser sends wall-clock time without a zone: it is the organisation's zone.
        when = datetime.fromisoformat(occurred_at).replace(tzinfo=intake.zone) if occurred_at else None
        submission = ComplaintSubmission(
            channel=Channel.web_form,
            description=description,
            demand=demand or None,
            impact=impact or None,
            occurred_at=when,
            urgency_hint="high" if urgent else None,
            customer={
                "name": name,
                "phone": phone or None,
                "email": email or None,
                "company": company or None,
                "account_id": account_id or None,
                "preferred_channel": preferred_channel or None,
            },
        )
    except ValueError as exc:  # ValidationError is one; so is an unreadable time
        fields = [e["loc"] for e in exc.errors()] if isinstance(exc, ValidationError) else [("occurred_at",)]
        found = [_FORM_FIELD.get(tuple(str(p) for p in loc), "form") for loc in fields]
        context = {"form_token": form_token, "values": values, "problems": {f: f"problem_{f}" for f in found}}
        return _form_page(request, intake, context, 422)
    accepted = await accept(intake, f"web-form:{form_token}", submission, Response(), WEB_FORM_KEY)
    return RedirectResponse(accepted.page_url.removeprefix(intake.submissions.intake_url), status_code=303)


@router.get("/track/{token}", response_class=HTMLResponse, tags=["customers"])
async def status_page(request: Request, token: str, row: ComplaintByToken, intake: IntakeDep) -> HTMLResponse:
    return await _status_page(request, token, row, intake)


def _refused_in_words(refusal: str, reason: Reason | None, lang: str) -> str:
    """Why a form was not taken: the workflow's reason where the customer has words for it,
    else what the form could not do."""
    if reason is not None and reason.code in CUSTOMER_REASONS:
        return label(reason.code, lang).format_map(
            {k: v if isinstance(v, str) else ", ".join(v) for k, v in reason.params.items()}
        )
    return label(refusal, lang)


async def _status_page(
    request: Request,
    token: str,
    row: asyncpg.Record,
    intake: Intake,
    refusal: str | None = None,
    status_code: int = 409,
    reason: Reason | None = None,
) -> HTMLResponse:
    """The complaint's page in the customer's language; `refusal` names a form it did not take
    (answered with `status_code`), `reason` why, where the customer has words for it."""
    status = await track(row, intake)
    complaint = ComplaintInput.model_validate_json(row["workflow_input"])
    lang = page_language(request, complaint.language())
    context = {
        "status": status,
        "stage": in_language(STAGE[status.stage], lang),
        "next_step": in_language(NEXT_STEP[status.stage], lang),
        "token": token,
        "error": _refused_in_words(refusal, reason, lang) if refusal else None,
        "form_token": str(uuid.uuid4()),
    }
    zone = complaint.customer.time_zone or intake.zone.key
    return _page(request, "status.html", lang, zone, context, status_code=status_code if refusal else 200)


@router.post("/track/{token}/survey", response_class=HTMLResponse, tags=["customers"])
async def survey_form(
    request: Request,
    token: str,
    row: ComplaintByToken,
    intake: IntakeDep,
    satisfaction_result: Annotated[int | None, Form(ge=1, le=5)] = None,
    satisfaction_speed: Annotated[int | None, Form(ge=1, le=5)] = None,
    suggestion: Annotated[str, Form(max_length=2000)] = "",
):
    if satisfaction_result is None or satisfaction_speed is None:  # a browser that let it through
        return await _status_page(request, token, row, intake, refusal="survey_scores_missing", status_code=422)
    answer = adapted(
        lambda: SurveyAnswer(
            satisfaction_result=satisfaction_result,
            satisfaction_speed=satisfaction_speed,
            suggestion=suggestion or None,
        )
    )
    return await _page_after(request, token, row, intake, answer, "survey_not_open")


@router.post("/track/{token}/reply", response_class=HTMLResponse, tags=["customers"])
async def reply_form(
    request: Request,
    token: str,
    row: ComplaintByToken,
    intake: IntakeDep,
    message: Annotated[str, Form(min_length=1, max_length=10_000)],
    form_token: Annotated[str, Form(min_length=1, max_length=100)],
):
    reply = adapted(lambda: CustomerReply(message=message))
    return await _page_after(request, token, row, intake, reply, "no_question_open", key=form_token)


@router.post("/track/{token}/reopen", response_class=HTMLResponse, tags=["customers"])
async def reopen_form(
    request: Request,
    token: str,
    row: ComplaintByToken,
    intake: IntakeDep,
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    form_token: Annotated[str, Form(min_length=1, max_length=100)],
):
    reopening = adapted(lambda: ReopenAction(reason=reason))
    return await _page_after(request, token, row, intake, reopening, "cannot_reopen", key=form_token)


async def _page_after(
    request: Request,
    token: str,
    row: asyncpg.Record,
    intake: Intake,
    arg: CustomerInput,
    refusal: str,
    key: str | None = None,
):
    try:
        await customer_update(intake, row, arg, refusal, key=key)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return await _status_page(request, token, row, intake, refusal=exc.code, reason=exc.reason)
    return RedirectResponse(f"/track/{token}", status_code=303)
