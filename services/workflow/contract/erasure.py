"""Erasing a customer's personal data on request: the staff API's body, the workflow that
carries it out (its name, id and input), and the record a reader gets back."""

from datetime import datetime

from pydantic import BaseModel, Field

ERASURE_WORKFLOW_TYPE = "CustomerErasure"
_ERASURE_PREFIX = "erasure-"


def erasure_workflow_id(erasure_id: str) -> str:
    return f"{_ERASURE_PREFIX}{erasure_id}"


class ErasureBody(BaseModel):
    complaint_id: str = Field(
        max_length=64,
        pattern=r"^[0-9A-Za-z-]+$",
        description="a complaint of the customer: every complaint of theirs (same phone, e-mail or account) is erased",
    )
    basis: str = Field(
        min_length=3,
        max_length=500,
        description="why, and on whose word: e.g. the customer's request by hotline, ticket 4711",
    )


class ErasureRequest(BaseModel):
    """The erasure workflow's input: ids and the basis only (no personal data in its history)."""

    erasure_id: str
    complaint_id: str
    requested_by: str
    basis: str


class ErasureRecord(BaseModel):
    """An erasure as recorded: asked, by whom and why, which complaints it covers, what each
    store changed, and when it was done. It waits for a complaint still being handled."""

    erasure_id: str
    complaint_id: str
    requested_by: str
    basis: str
    requested_at: datetime
    complaints: list[str] = []  # the customer's complaints, found when it began
    erased: dict[str, dict[str, int]] = {}  # complaint -> store -> records changed
    waiting_for: list[str] = []  # complaints still open: erased once they close
    completed_at: datetime | None = None
