"""The console's form for a complaint staff take down (services/workflow/recording.py): its
fields as the complaint record the staff API takes, and a refusal's field back as the form's
own, so that the page marks the box to correct."""

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from services.common.web import ApiError
from services.workflow.console.forms import validated
from services.workflow.recording import TakenDown

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
            raise ApiError(
                422, "invalid_request", "occurred_at: a date and time such as 2026-12-04T09:30", field="occurred_at"
            ) from exc
    try:
        return validated(TakenDown, {**record, "customer": customer}, "description")
    except ApiError as exc:
        raise ApiError(exc.status, exc.code, exc.message, field=form_field(exc.field)) from exc


def form_field(field: str | None) -> str | None:
    """The form's box for a field of the record (`customer.phone` is `phone`); the customer as a
    whole (neither phone nor e-mail given) is the phone's box."""
    if field == "customer":
        return "phone"
    return _FORM_NAME_OF.get(field or "", field)
