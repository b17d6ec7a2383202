"""The erasure's steps, each safe to repeat: a retry after a crash finds the work done and
changes nothing (services/common/erasure.py says what is erased)."""

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest, DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from services.common import domain_events as ev
from services.common.erasure import ErasedCopy, Identity, erase_event, erase_message_request
from services.common.events import NewEvent
from services.intake.contract import ERASE_PATH as INTAKE_ERASE_PATH
from services.intake.contract import ERASURE_SCOPE_PATH, ErasureScope, ScopedComplaint
from services.notify.contract import ERASE_PATH as NOTIFY_ERASE_PATH
from services.workflow import kept_views, outbox
from services.workflow.contract import ErasureRecord, ErasureRequest, workflow_id_for
from services.workflow.eventstore import EventStore

ERASED_EVENTS = uuid.UUID("6c1d9f0e-4b8a-4f55-9d1e-5e7a3c2b9f10")  # names the erasure event of a complaint


class ErasingStep(BaseModel):
    erasure_id: str
    complaint_id: str
    requested_by: str
    at: datetime  # the workflow's time of the step: the event's time on every retry


class ErasureActivities:
    def __init__(self, store: EventStore, http: httpx.AsyncClient, intake_url: str, notify_url: str, temporal: Client):
        self.store, self.pool, self.http, self.temporal = store, store.pool, http, temporal
        self.intake_url, self.notify_url = intake_url.rstrip("/"), notify_url.rstrip("/")

    @activity.defn
    async def begin_erasure(self, request: ErasureRequest) -> ErasureScope:
        """Record the request with the customer's complaints (found once: a retry reads the record)."""
        recorded = await self.pool.fetchrow(
            "SELECT complaints, repeats FROM workflow.erasures WHERE erasure_id = $1", request.erasure_id
        )
        if recorded is not None:
            return _scope(list(recorded["complaints"]), set(recorded["repeats"]))
        path = ERASURE_SCOPE_PATH.format(complaint_id=request.complaint_id)
        response = await self.http.get(f"{self.intake_url}{path}")
        if response.status_code == 404:
            raise ApplicationError(f"intake knows no complaint {request.complaint_id}", non_retryable=True)
        response.raise_for_status()
        scope = ErasureScope.model_validate_json(response.content)
        await self.pool.execute(
            """INSERT INTO workflow.erasures (erasure_id, complaint_id, requested_by, basis, complaints, repeats)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (erasure_id) DO NOTHING""",
            request.erasure_id,
            request.complaint_id,
            request.requested_by,
            request.basis,
            [c.complaint_id for c in scope.complaints],
            [c.complaint_id for c in scope.complaints if c.linked],
        )
        return scope

    @activity.defn
    async def wait_until_closed(self, complaint_id: str) -> None:
        """A complaint is erased once it is closed: the customer is still being answered until
        then. Raises (and is retried, with growing waits) while it is open."""
        closed = await self.pool.fetchval(
            """SELECT count(*) > 0 FROM workflow.events
               WHERE stream_id = $1 AND type IN ('Closed', 'CustomerDataErased')""",
            complaint_id,
        )
        if not closed:
            raise ApplicationError(f"complaint {complaint_id} is still open", type="ComplaintOpen")

    @activity.defn
    async def erase_complaint(self, step: ErasingStep) -> dict[str, int]:
        """Erase one complaint everywhere: intake's submission, the events and messages here,
        notify's copies, then its workflow histories in Temporal. Returns records changed per store."""
        changed: dict[str, int] = {}
        changed["intake"] = await self._erase_at(self.intake_url, INTAKE_ERASE_PATH, step.complaint_id)
        changed["events"], changed["outbox"] = await self._erase_here(step.complaint_id)
        changed["notify"] = await self._erase_at(self.notify_url, NOTIFY_ERASE_PATH, step.complaint_id)
        await self._record_erased(step)
        changed["temporal"] = await self._delete_histories(step.complaint_id)
        changed["kept_view"] = await kept_views.forget(self.pool, step.complaint_id)
        await self.pool.execute(
            """UPDATE workflow.erasures SET erased = erased || jsonb_build_object($2::text, $3::jsonb)
               WHERE erasure_id = $1 AND NOT erased ? $2""",
            step.erasure_id,
            step.complaint_id,
            json.dumps(changed),
        )
        return changed

    @activity.defn
    async def finish_erasure(self, erasure_id: str) -> None:
        await self.pool.execute(
            "UPDATE workflow.erasures SET completed_at = now() WHERE erasure_id = $1 AND completed_at IS NULL",
            erasure_id,
        )

    async def _erase_at(self, base_url: str, path: str, complaint_id: str) -> int:
        """Ask another service to erase its copy; returns the records it changed."""
        response = await self.http.post(f"{base_url}{path.format(complaint_id=complaint_id)}")
        if response.status_code == 404:  # that store never had it (an event-store-only complaint)
            return 0
        response.raise_for_status()
        return ErasedCopy.model_validate_json(response.content).rows

    async def _erase_here(self, complaint_id: str) -> tuple[int, int]:
        identity = Identity()
        for event in await self.store.read_stream(complaint_id):
            if event.type in ("ComplaintReceived", "RepeatLinked"):
                identity.add(event.data.get("customer") or {})

        def rewrite_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
            return erase_event(event_type, data, identity)

        events = await self.store.rewrite_stream(complaint_id, rewrite_event)
        messages = await outbox.rewrite_requests(
            self.pool, complaint_id, lambda request: erase_message_request(request, identity)
        )
        return events, messages

    async def _record_erased(self, step: ErasingStep) -> None:
        """The complaint's own trail says it was erased (the inbox and reporting follow it). A
        repeat linked into another complaint has no trail of its own: nothing to add."""
        event_id = uuid.uuid5(ERASED_EVENTS, f"{step.erasure_id}/{step.complaint_id}")
        if await self.pool.fetchval("SELECT count(*) FROM workflow.events WHERE event_id = $1", event_id):
            return
        version = await self.pool.fetchval(
            "SELECT max(version) + 1 FROM workflow.events WHERE stream_id = $1", step.complaint_id
        )
        if version is None:
            return
        data = ev.CustomerDataErased(erasure_id=step.erasure_id, requested_by=step.requested_by).data()
        await self.store.append(
            [
                NewEvent(
                    event_id=event_id,
                    stream_id=step.complaint_id,
                    version=version,
                    type=ev.CustomerDataErased.type,
                    occurred_at=step.at,
                    data=data,
                )
            ]
        )

    async def _delete_histories(self, complaint_id: str) -> int:
        """Every run of the complaint's workflow, deleted from Temporal (history and
        visibility); returns once Temporal no longer shows it."""
        workflow_id = workflow_id_for(complaint_id)
        runs = [w async for w in self.temporal.list_workflows(f"WorkflowId = '{workflow_id}'")]
        if any(run.status == WorkflowExecutionStatus.RUNNING for run in runs):
            # Closed is recorded just before the workflow returns: let it finish, never cut it off.
            raise ApplicationError(f"the workflow of {complaint_id} is still finishing", type="StillRunning")
        for run in runs:
            request = DeleteWorkflowExecutionRequest(
                namespace=self.temporal.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run.run_id),
            )
            try:
                await self.temporal.workflow_service.delete_workflow_execution(request)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
        describe = DescribeWorkflowExecutionRequest(
            namespace=self.temporal.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
        for _ in range(180):  # the server deletes in the background, after its queues' next ack (30 s by default)
            try:
                await self.temporal.workflow_service.describe_workflow_execution(describe)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return len(runs)
                raise
            activity.heartbeat()
            await asyncio.sleep(0.5)
        raise ApplicationError(f"the workflow of {complaint_id} is being deleted", type="StillDeleting")


def _scope(complaints: list[str], repeats: set[str]) -> ErasureScope:
    return ErasureScope(complaints=[ScopedComplaint(complaint_id=c, linked=c in repeats) for c in complaints])


async def erasure_record(pool: asyncpg.Pool, erasure_id: str) -> ErasureRecord | None:
    row = await pool.fetchrow("SELECT * FROM workflow.erasures WHERE erasure_id = $1", erasure_id)
    return None if row is None else _as_record(row)


async def erasures_of(pool: asyncpg.Pool, complaint_id: str) -> list[ErasureRecord]:
    """The erasures asked on this complaint or covering it, latest first."""
    rows = await pool.fetch(
        """SELECT * FROM workflow.erasures WHERE complaint_id = $1 OR $1 = ANY(complaints)
           ORDER BY requested_at DESC""",
        complaint_id,
    )
    return [_as_record(row) for row in rows]


async def latest_erasures(pool: asyncpg.Pool, limit: int) -> list[ErasureRecord]:
    rows = await pool.fetch("SELECT * FROM workflow.erasures ORDER BY requested_at DESC LIMIT $1", limit)
    return [_as_record(row) for row in rows]


def _as_record(row: asyncpg.Record) -> ErasureRecord:
    erased = json.loads(row["erased"])
    return ErasureRecord(
        erasure_id=row["erasure_id"],
        complaint_id=row["complaint_id"],
        requested_by=row["requested_by"],
        basis=row["basis"],
        requested_at=row["requested_at"],
        complaints=list(row["complaints"]),
        erased=erased,
        waiting_for=[c for c in row["complaints"] if c not in erased],
        completed_at=row["completed_at"],
    )
