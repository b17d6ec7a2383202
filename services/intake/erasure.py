"""Erasing a customer's data from intake's submissions (services/common/erasure.py says what
goes). Only the workflow service calls these: it runs the erasure (services/workflow/erasure/)."""

import json
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.common.erasure import ErasedCopy, Identity, erase_data, was_erased
from services.common.service_auth import service_caller
from services.common.web import ApiError
from services.intake.contract import ERASE_PATH, ERASURE_SCOPE_PATH, ErasureScope, ScopedComplaint
from services.intake.state import IntakeDep

router = APIRouter(tags=["erasure"], dependencies=[Depends(service_caller("workflow"))])
ComplaintId = Annotated[str, Path(max_length=64, pattern=r"^[0-9A-Za-z-]+$")]


@router.get(ERASURE_SCOPE_PATH, response_model=ErasureScope)
async def erasure_scope(complaint_id: ComplaintId, intake: IntakeDep) -> ErasureScope:
    """The complaints an erasure asked for on this one covers: the same customer's, by the
    hashed identities intake keeps to find repeats."""
    rows = await intake.submissions.pool.fetch(
        """SELECT s.complaint_id, s.repeat_of IS NOT NULL AS linked
           FROM intake.submissions asked
           JOIN intake.submissions s
             ON s.complaint_id = asked.complaint_id OR s.customer_keys && asked.customer_keys
           WHERE asked.complaint_id = $1
           ORDER BY s.received_at""",
        complaint_id,
    )
    if not rows:
        raise ApiError(404, "not_found", f"no complaint {complaint_id}", field="complaint_id")
    return ErasureScope(complaints=[ScopedComplaint(**dict(r)) for r in rows])


@router.post(ERASE_PATH, response_model=ErasedCopy)
async def erase(complaint_id: ComplaintId, intake: IntakeDep) -> ErasedCopy:
    """The submission keeps its id, channel, times and classification; the customer, their
    words, the hashed identities and the tracking link go (a new unguessable token that
    nobody was given: the old link stops working)."""
    async with intake.submissions.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT workflow_input, customer_keys FROM intake.submissions WHERE complaint_id = $1 FOR UPDATE",
            complaint_id,
        )
        if row is None:
            raise ApiError(404, "not_found", f"no complaint {complaint_id}", field="complaint_id")
        record = json.loads(row["workflow_input"])
        if was_erased(record.get("customer")) and not row["customer_keys"]:
            return ErasedCopy(store="intake", complaint_id=complaint_id, rows=0)
        erased = erase_data(record, Identity.of(record.get("customer")))  # status_url with the rest
        await conn.execute(
            """UPDATE intake.submissions SET workflow_input = $2, customer_keys = '{}', tracking_token = $3
               WHERE complaint_id = $1""",
            complaint_id,
            json.dumps(erased),
            secrets.token_urlsafe(32),
        )
    return ErasedCopy(store="intake", complaint_id=complaint_id, rows=1)
