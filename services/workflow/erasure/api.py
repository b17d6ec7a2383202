"""The staff API's erasure of a customer's personal data: a manager asks, on a complaint of the
customer's, with the basis (the customer's request, how it was verified); the erasure runs as
its own workflow (workflow.py) and its record is read here."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Header, Path, Query, Request
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from services.common.privacy import scrub_text
from services.common.web import ApiError
from services.workflow.contract import (
    ERASURE_WORKFLOW_TYPE,
    ComplaintClient,
    EngineUnavailable,
    ErasureBody,
    ErasureRecord,
    ErasureRequest,
    erasure_workflow_id,
)
from services.workflow.erasure.activities import erasure_record, latest_erasures
from services.workflow.permissions import Staff, erasure_refusal, forbidden
from services.workflow.staff_auth import SignedIn

router = APIRouter(tags=["erasure"])
ErasureId = Annotated[str, Path(max_length=64, pattern=r"^[0-9a-f-]+$")]


def _may_erase(staff: Staff) -> None:
    if reason := erasure_refusal(staff):
        raise forbidden(reason)


@router.post("/v1/erasures", response_model=ErasureRecord, status_code=202)
async def request_erasure(
    body: ErasureBody,
    staff: SignedIn,
    request: Request,
    key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> ErasureRecord:
    """Erase every complaint of this complaint's customer: their identity and words leave every
    store, Temporal's histories are deleted, what happened stays (and reports still count it).
    A complaint still being handled is erased when it closes. The same Idempotency-Key asks once."""
    return await start_erasure(request.app.state.pool, request.app.state.complaints, staff, body, key)


async def start_erasure(
    pool: asyncpg.Pool, complaints: ComplaintClient, staff: Staff, body: ErasureBody, key: str | None
) -> ErasureRecord:
    """The staff API's and the console's one way to ask for an erasure (a manager's, on a known
    complaint); the same key asks once."""
    _may_erase(staff)
    known = await pool.fetchval("SELECT count(*) FROM workflow.events WHERE stream_id = $1", body.complaint_id)
    if not known:
        raise ApiError(404, "not_found", f"no complaint {body.complaint_id}", field="complaint_id")
    erasure_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"erasure/{staff.staff_id}/{key}") if key else uuid.uuid4())
    order = ErasureRequest(
        erasure_id=erasure_id,
        complaint_id=body.complaint_id,
        requested_by=staff.staff_id,
        basis=scrub_text(body.basis),  # a phone or e-mail typed into it would outlive the erasure
    )
    temporal: Client = complaints.temporal
    try:
        await temporal.start_workflow(
            ERASURE_WORKFLOW_TYPE,
            order,
            id=erasure_workflow_id(erasure_id),
            task_queue=complaints.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except (RPCError, RuntimeError) as exc:
        raise EngineUnavailable(f"the workflow engine did not take the erasure: {exc}") from exc
    recorded = await erasure_record(pool, erasure_id)
    return recorded or ErasureRecord(
        erasure_id=erasure_id,
        complaint_id=order.complaint_id,
        requested_by=order.requested_by,
        basis=order.basis,
        requested_at=datetime.now(UTC),  # recorded when the workflow begins, a moment from now
        waiting_for=[order.complaint_id],
    )


@router.get("/v1/erasures/{erasure_id}", response_model=ErasureRecord)
async def get_erasure(erasure_id: ErasureId, staff: SignedIn, request: Request) -> ErasureRecord:
    """The erasure's record: which complaints, what each store changed, what it still waits for."""
    _may_erase(staff)
    recorded = await erasure_record(request.app.state.pool, erasure_id)
    if recorded is None:
        raise ApiError(404, "not_found", f"no erasure {erasure_id} (yet: it is recorded when it begins)")
    return recorded


@router.get("/v1/erasures", response_model=list[ErasureRecord])
async def list_erasures(
    staff: SignedIn, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ErasureRecord]:
    """The latest erasures first: the register a data-protection audit asks for."""
    _may_erase(staff)
    return await latest_erasures(request.app.state.pool, limit)
