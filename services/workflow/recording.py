"""A complaint a member of staff takes down: a customer on the hotline, at a store's counter, or
in a chat group or social post staff answer. Recorded under the signed-in person's name and
handed to intake, which classifies it, checks it against the same customer's open complaints and
starts it as it does every channel's (source 001: one intake for every channel, counters
included; source 002: staff record the customer's problem quickly and accurately)."""

import logging

import httpx
from pydantic import Field, field_validator

from services.common.web import ApiError, unavailable
from services.intake.contract import STAFF_RECORDED_PATH, RecordedComplaint
from services.workflow.contract import Channel, ComplaintRecord
from services.workflow.permissions import Staff, forbidden, recording_refusal

log = logging.getLogger(__name__)

# The channels where a person, not an adapter, takes the complaint down.
STAFF_CHANNELS = (Channel.hotline, Channel.store, Channel.chat_group, Channel.social_media)
# Intake classifies, stores and starts the complaint before it answers.
INTAKE_TIMEOUT_SECONDS = 10


class TakenDown(ComplaintRecord):
    """The complaint as the customer gave it to a member of staff. Who recorded it is the
    signed-in person, whatever `recorded_by` says."""

    channel: Channel = Field(
        description="where the customer made it", json_schema_extra={"enum": [c.value for c in STAFF_CHANNELS]}
    )

    @field_validator("channel")
    @classmethod
    def _taken_down_by_staff(cls, channel: Channel) -> Channel:
        if channel not in STAFF_CHANNELS:
            served = ", ".join(c.value for c in STAFF_CHANNELS)
            raise ValueError(f"staff take complaints down from {served}; '{channel.value}' comes in by its adapter")
        return channel


async def record(intake: httpx.AsyncClient, staff: Staff, taken: TakenDown, key: str) -> RecordedComplaint:
    """Hand the complaint to intake under this person's name. `key` is theirs for this one
    complaint: the same key again answers with the first outcome (`replayed`), never a second
    complaint. Intake's refusal of the record (422, 409) is passed on as it said it; intake down
    is a 503 to retry with the same key."""
    if reason := recording_refusal(staff):
        raise forbidden(reason)
    submission = taken.model_copy(update={"recorded_by": staff.staff_id})
    try:
        answer = await intake.post(
            STAFF_RECORDED_PATH,
            content=submission.model_dump_json(),
            headers={"Idempotency-Key": key, "Content-Type": "application/json"},
            timeout=INTAKE_TIMEOUT_SECONDS,
        )
    except httpx.TransportError as exc:
        raise _intake_unavailable() from exc
    if answer.status_code == 202:
        return RecordedComplaint.model_validate_json(answer.content)
    if answer.status_code in (409, 422):
        said = answer.json()
        field = next((f.get("field") for f in said.get("fields") or ()), None)
        raise ApiError(answer.status_code, said.get("error", "invalid_request"), said.get("message", ""), field=field)
    log.error("intake refused a complaint staff recorded", extra={"status": answer.status_code})
    raise _intake_unavailable()


def _intake_unavailable() -> ApiError:
    return unavailable("intake cannot take the complaint right now; send it again with the same Idempotency-Key")
