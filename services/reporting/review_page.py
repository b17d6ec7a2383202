"""Root-cause reviews on the dashboard (`/dashboard/reviews`, source 003): a group lead or a
manager writes the 5W1H of a complaint or a batch incident with its improvement actions (each
with an owner from the roster and a deadline), reads the reviews with what is open and overdue,
and marks an action done. Each form carries its own key, so a form sent twice is one review."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.common import web_session
from services.common.web import ApiError, form_key
from services.reporting import reviews
from services.reporting.access import DASHBOARD_COOKIE, Reader
from services.reporting.dashboard import checked_csrf, page, reader_of_session, signed_in_reader

router = APIRouter(prefix="/dashboard/reviews", include_in_schema=False)
ACTION_ROWS = 3  # improvement actions on one form; more are added through the API
ROW_FIELDS = {"action": "action", "owner": "owner", "due_at": "due"}  # an action's fields as the form names them
TEXTS = ("complaint_id", "batch_id", "what", "why", "who", "when", "where", "how")


async def _checked_form(request: Request) -> dict[str, str]:
    """The POSTed form's text fields, once its csrf and origin are this session's."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    checked_csrf(request, form.get("csrf", ""))
    return form


async def _page(
    request: Request,
    reader: Reader,
    status: str,
    form: dict[str, Any],
    error: str | None = None,
    code: int = 200,
    refused: dict[str, str] | None = None,
    owner: str | None = None,
    after: uuid.UUID | None = None,
) -> Response:
    """The reviews and the form; `error`: the new review's refusal, `refused`: a refusal on a
    review's card (its `review_id`, the `form`: add or give, and the `error`); `owner`: only the
    reviews with an open action of theirs; `after`: the page after that review."""
    token = request.cookies[DASHBOARD_COOKIE]
    context = {
        "reader": reader,
        "csrf": web_session.csrf_for(token),
        "status": status,
        "owner": owner,
        "reviews": (shown := await reviews.listed(request.app.state.pool, status, owner=owner, after=after)),
        "older": _older(shown, status, owner),
        "staff": (staff := await request.app.state.directory.staff(token)),
        "names": {s.staff_id: f"{s.name} ({s.staff_id})" for s in staff},
        "off_duty": {s.staff_id for s in staff if not s.on_duty},
        "form": form,
        "rows": range(1, ACTION_ROWS + 1),
        "error": error,
        "refused": refused,
        "zone": request.app.state.zone,
    }
    return page(request, "reviews.html", context, status=code)


def _older(shown: list[reviews.Review], status: str, owner: str | None) -> str | None:
    """The page of the older reviews when this one is full."""
    if len(shown) < reviews.REVIEWS_PAGE:
        return None
    query = {"status": status, **({"owner": owner} if owner else {}), "after": str(shown[-1].review_id)}
    return f"/dashboard/reviews?{urlencode(query)}"


def _empty_form(complaint_id: str | None) -> dict[str, Any]:
    return {"key": str(uuid.uuid4()), "complaint_id": complaint_id or ""}


@router.get("", response_class=HTMLResponse)
async def reviews_page(
    request: Request,
    status: Annotated[Literal["open", "closed", "all"], Query()] = "all",
    complaint_id: Annotated[str | None, Query(max_length=100)] = None,
    owner: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    after: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    """The reviews, newest first; `complaint_id` starts a new review of that complaint; `owner`:
    the reviews with an open action of that person's (whose actions to give on while they are
    away); `after`: the older reviews that follow that one."""
    reader = await signed_in_reader(request)
    if not isinstance(reader, Reader):
        return reader
    return await _page(request, reader, status, _empty_form(complaint_id), owner=owner, after=after)


def _review_of(form: dict[str, Any], zone) -> reviews.ReviewBody:
    """The form as the API's review; an action row without words is left out, and its deadline
    is a local time in the service's zone."""
    actions = []
    for n in _action_rows(form):
        due_at = _local_time(str(form.get(f"due_{n}", "")), zone, f"due_{n}")
        actions.append({"action": form[f"action_{n}"], "owner": form.get(f"owner_{n}", ""), "due_at": due_at})
    values = {k: str(form.get(k, "")).strip() or None for k in TEXTS}
    try:
        return reviews.ReviewBody(**{k: v for k, v in values.items() if v is not None}, actions=actions)
    except ValidationError as exc:
        raise _refusal(exc) from exc


def _action_rows(form: dict[str, Any]) -> list[int]:
    """The numbers of the form's action rows with words in them."""
    return [n for n in range(1, ACTION_ROWS + 1) if str(form.get(f"action_{n}", "")).strip()]


def _refusal(exc: ValidationError) -> ApiError:
    """The first problem, naming the field as the form does (actions.0.owner is owner_1)."""
    first = exc.errors()[0]
    where = [str(p) for p in first["loc"]]
    if where[:1] == ["actions"] and len(where) > 2:
        where = [f"{ROW_FIELDS.get(where[2], where[2])}_{int(where[1]) + 1}"]
    field = ".".join(ROW_FIELDS.get(w, w) for w in where) or "review"
    return ApiError(422, "invalid_request", f"{field}: {first['msg']}", field=field)


def _local_time(value: str, zone, field: str) -> datetime | None:
    """A form's date and time (datetime-local) in the service's zone; None when left empty."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone) if value else None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"{field}: a date and time, e.g. 2026-12-31T18:00", field=field) from exc


@router.post("", response_class=HTMLResponse)
async def write_review(request: Request) -> Response:
    reader = await signed_in_reader(request)
    if not isinstance(reader, Reader):
        return reader
    form = await _checked_form(request)
    try:
        body = _review_of(form, request.app.state.zone)
        owners = {f"owner_{n}": form.get(f"owner_{n}", "") for n in _action_rows(form)}
        await _check_owners(request, reader, owners)
        review, _ = await reviews.create(request.app.state.pool, body, reader.who, form_key(form.get("key"), "key"))
    except ApiError as exc:
        if exc.status >= 500:
            raise
        return await _page(request, reader, "all", form, error=exc.message, code=exc.status)
    return _back_to(review.review_id)


@router.post("/{review_id}/actions", response_class=HTMLResponse)
async def add_action(request: Request, review_id: uuid.UUID) -> Response:
    """One more improvement action on a review (what the review found may need more than its
    first actions)."""
    reader = await signed_in_reader(request)
    if not isinstance(reader, Reader):
        return reader
    form = await _checked_form(request)
    try:
        due_at = _local_time(form.get("due", ""), request.app.state.zone, "due")
        try:
            action = reviews.ActionBody(action=form.get("action", ""), owner=form.get("owner", ""), due_at=due_at)
        except ValidationError as exc:
            raise _refusal(exc) from exc
        await _check_owners(request, reader, {"owner": action.owner})
        if await reviews.add_action(request.app.state.pool, review_id, action) is None:
            raise ApiError(404, "not_found", f"no review {review_id}", field="review_id")
    except ApiError as exc:
        return await _refused_on_card(request, reader, review_id, "add", exc)
    return _back_to(review_id)


@router.post("/actions/{action_id}/owner", response_class=HTMLResponse)
async def give_action(request: Request, action_id: uuid.UUID) -> Response:
    """A lead gives an open action to another owner (its owner is away): the new owner is told."""
    reader = await signed_in_reader(request)
    if not isinstance(reader, Reader):
        return reader
    form = await _checked_form(request)
    try:
        try:
            body = reviews.OwnerBody(owner=form.get("owner", "").strip())
        except ValidationError as exc:
            raise _refusal(exc) from exc
        await _check_owners(request, reader, {"owner": body.owner})
        given = await reviews.give_to(request.app.state.pool, action_id, body.owner, reader)
    except ApiError as exc:
        review_id = await request.app.state.pool.fetchval(
            "SELECT review_id FROM reporting.review_actions WHERE action_id = $1", action_id
        )
        if review_id is None:
            raise
        return await _refused_on_card(request, reader, review_id, "give", exc)
    return _back_to(given.review_id)


async def _check_owners(request: Request, reader: Reader, owners: dict[str, str]) -> None:
    token = request.cookies[DASHBOARD_COOKIE]
    await reviews.check_owners(request.app.state.directory, reader, token, owners)


async def _refused_on_card(
    request: Request, reader: Reader, review_id: uuid.UUID, form: str, exc: ApiError
) -> Response:
    """The reviews again with the refusal in words on the review's card; an unknown review and
    what is not the person's to fix (403, 5xx) stay the API's answers."""
    if exc.status in (403, 404) or exc.status >= 500:
        raise exc
    refused = {"review_id": str(review_id), "form": form, "error": exc.message}
    return await _page(request, reader, "all", _empty_form(None), code=exc.status, refused=refused)


@router.get(reviews.MY_ACTIONS.removeprefix("/dashboard/reviews"), response_class=HTMLResponse)
async def my_actions(request: Request) -> Response:
    """The signed-in person's improvement actions, whatever their role (the console links here)."""
    reader = await reader_of_session(request)
    if reader is None:
        return RedirectResponse(f"/dashboard/sign-in?next={reviews.MY_ACTIONS}", status_code=303)
    context = {
        "reader": reader,
        "csrf": web_session.csrf_for(request.cookies[DASHBOARD_COOKIE]),
        "owned": await reviews.owned_by(request.app.state.pool, reader.who),
        "zone": request.app.state.zone,
    }
    return page(request, "my_actions.html", context)


@router.post("/actions/{action_id}/done")
async def action_done(request: Request, action_id: uuid.UUID) -> Response:
    """Its owner (from their own page) or a lead and up marks an action done."""
    reader = await reader_of_session(request)
    if reader is None:
        return RedirectResponse("/dashboard/sign-in", status_code=303)
    form = await _checked_form(request)
    done = await reviews.mark_done(request.app.state.pool, action_id, reader)
    if form.get("back") == "mine":
        return _redirect(reviews.MY_ACTIONS)
    return _back_to(done.review_id)


def _back_to(review_id: uuid.UUID) -> Response:
    """After a form, the list at the review (a reload does not send the form again)."""
    return _redirect(f"/dashboard/reviews#review-{review_id}")


def _redirect(path: str) -> Response:
    back = RedirectResponse(path, status_code=303)
    back.headers.update(web_session.page_headers(inline_styles=True))
    return back
