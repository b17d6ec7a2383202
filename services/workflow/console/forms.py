"""The console's action forms: which actions a person sees on a complaint (exactly those the
stage and their role allow), what each form asks, and how a posted form becomes the same call
the staff API makes (services/workflow/acting.py)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar, get_args

from pydantic import BaseModel, ValidationError

from services.common.web import ApiError
from services.workflow.acting import Desk
from services.workflow.console.form_errors import FormError
from services.workflow.contract import (
    AcknowledgeBody,
    AssignBody,
    CompensationBody,
    ComplaintType,
    ComplaintView,
    ConsultationAnswerBody,
    ConsultBody,
    DecisionBody,
    DeclineTransferBody,
    FollowUpBody,
    NoteBody,
    PlanBody,
    ProgressBody,
    ReachedBody,
    ReclassifyBody,
    ReopenBody,
    RequestInfoBody,
    Resolution,
    Responsibility,
    RetierBody,
    TransferBody,
)
from services.workflow.contract.actions import CompensationKind
from services.workflow.permissions import Handling, Staff, refusal
from services.workflow.stages import ALLOWED_IN, Action


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "text"  # text, textarea, number, select, checkboxes, decision
    required: bool = True
    options: tuple[str, ...] = ()  # for a select; filled per page for people and groups
    label: str | None = None  # its words' key when the field's own name reads otherwise elsewhere


@dataclass(frozen=True)
class ActionForm:
    action: str
    body: type[BaseModel] | None
    fields: tuple[Field, ...] = ()
    style: str = "secondary"  # the main step of a stage is "primary"


_KINDS = tuple(get_args(CompensationKind))
FORMS: tuple[ActionForm, ...] = (
    ActionForm("accept_transfer", None, style="primary"),
    ActionForm(
        "answer_consultation",
        ConsultationAnswerBody,
        (Field("answer", "textarea"), Field("group", "select", required=False, label="answering_for")),
        style="primary",
    ),
    ActionForm("decline_transfer", DeclineTransferBody, (Field("reason", "textarea"),)),
    ActionForm("acknowledge", AcknowledgeBody, (Field("note", "textarea", required=False),), style="primary"),
    ActionForm("decide_compensation", DecisionBody, (Field("approve", "decision"), Field("note", required=False))),
    ActionForm("post_progress", ProgressBody, (Field("message", "textarea"),), style="primary"),
    ActionForm("give_plan", PlanBody, (Field("plan", "textarea"),)),
    ActionForm(
        "resolve",
        Resolution,
        (
            Field("cause", "textarea"),
            Field("measures_taken", "textarea"),
            Field("improvement_plan", "textarea"),
            Field("compensation", required=False),
        ),
        style="primary",
    ),
    ActionForm(
        "record_follow_up",
        FollowUpBody,
        (Field("outcome", "textarea"), Field("extra_compensation", required=False)),
        style="primary",
    ),
    ActionForm("reopen", ReopenBody, (Field("reason", "textarea"),)),
    ActionForm("request_info", RequestInfoBody, (Field("question", "textarea"),)),
    ActionForm("transfer", TransferBody, (Field("to_group", "select"), Field("reason", "textarea"))),
    ActionForm(
        "propose_compensation",
        CompensationBody,
        (Field("kind", "select", options=_KINDS), Field("amount", "number", required=False), Field("reason")),
    ),
    ActionForm("assign", AssignBody, (Field("assignee", "select"), Field("note", required=False))),
    ActionForm("retier", RetierBody, (Field("tier", "select", options=("1", "2", "3")), Field("reason"))),
    ActionForm(
        "reclassify",
        ReclassifyBody,
        (
            Field("complaint_type", "select", required=False, options=get_args(ComplaintType)),
            Field("responsibility", "select", required=False, options=get_args(Responsibility)),
            Field("reason"),
        ),
    ),
    ActionForm("add_note", NoteBody, (Field("text", "textarea"),)),
    ActionForm(
        "customer_reached",
        ReachedBody,
        (
            Field("how", "select", options=tuple(get_args(ReachedBody.model_fields["how"].annotation))),
            Field("note", "textarea", label="reached_note"),
        ),
        style="primary",
    ),
    ActionForm(
        "consult",
        ConsultBody,
        (
            Field("groups", "checkboxes", label="consult_groups"),
            Field("question", "textarea", label="consult_question"),
        ),
    ),
)
BY_ACTION = {f.action: f for f in FORMS}
M = TypeVar("M", bound=BaseModel)


def offered(view: ComplaintView, staff: Staff, handling: Handling, desk: Desk) -> list[ActionForm]:
    """Exactly the actions this stage and this person's role and groups allow."""
    pending = view.pending_compensation()
    special = {
        "accept_transfer": view.transfer is not None,
        "decline_transfer": view.transfer is not None,
        "transfer": view.transfer is None,
        "propose_compensation": pending is None,
        "decide_compensation": pending is not None
        and desk.authority.covers(staff.authority, pending.kind, pending.amount),
        "reopen": view.reopen_until is not None,
        "answer_consultation": bool(view.consultations),
        "customer_reached": bool(view.not_reached),
    }
    return [
        form
        for form in FORMS
        if view.stage in ALLOWED_IN[Action(form.action)]
        and special.get(form.action, True)
        and refusal(staff, form.action, handling, desk.router.config) is None
    ]


def validated(model: type[M], given: dict[str, object], first_field: str, boxes: Mapping[str, str] | None = None) -> M:
    """A form's fields as the API's body, or 422 naming the first field that is wrong (`boxes`:
    the key of a field's label on the page, where it is not the field's own name)."""
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err.get("loc", ())) or first_field
        said = str(err.get("msg", "")).removeprefix("Value error, ")  # a validator's own words, as staff read them
        limits = {k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, int | float | str)}
        raise FormError(name, err["type"], limits, said, (boxes or {}).get(name)) from exc


def _body(form: ActionForm, fields: dict[str, str]) -> BaseModel | None:
    if form.body is None:
        return None
    given: dict[str, object] = {f.name: fields[f.name] for f in form.fields if fields.get(f.name, "").strip()}
    for f in form.fields:
        if f.kind == "checkboxes":  # every box ticked; none is an empty list, which the body refuses
            given[f.name] = [v for v in fields.get(f.name, "").split(",") if v]
    if form.action == "decide_compensation":
        given["approve"] = fields.get("approve") == "yes"
    return validated(form.body, given, form.fields[0].name, {f.name: f.label for f in form.fields if f.label})


async def perform(desk: Desk, staff: Staff, complaint_id: str, action: str, fields: dict[str, str], key: str) -> None:
    """A posted form, as the staff API would take it (the same permissions, validators and key)."""
    form = BY_ACTION.get(action)
    if form is None:
        raise ApiError(404, "not_found", f"no action '{action}'", field="action")
    body = _body(form, fields)
    if isinstance(body, TransferBody):
        await desk.transfer(staff, complaint_id, body, key)
    elif isinstance(body, CompensationBody):
        await desk.propose_compensation(staff, complaint_id, body, key)
    elif isinstance(body, DecisionBody):
        await desk.decide_compensation(staff, complaint_id, body, key)
    elif isinstance(body, ConsultBody):
        await desk.consult(staff, complaint_id, body, key)
    elif isinstance(body, ConsultationAnswerBody):
        await desk.answer_consultation(staff, complaint_id, body, key)
    elif isinstance(body, Resolution):
        await desk.act(staff, complaint_id, "resolve", key, resolution=body)
    else:
        await desk.act(staff, complaint_id, action, key, **(body.model_dump() if body else {}))
