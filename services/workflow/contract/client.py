"""The one way to start and drive a complaint from outside its workflow (intake, the staff
API, the benches, the tests): typed methods, with Temporal's errors turned into ours.

Each error is an `ApiError`, so an HTTP API that lets one pass answers with its status
(409 refused or closed, 404 unknown, 503 the engine did not answer) and never a 500.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

from circuitbreaker import STATE_HALF_OPEN, STATE_OPEN, CircuitBreaker
from prometheus_client import Counter
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.common.settings import Settings
from services.common.web import ApiError, Reason
from services.notify.contract import Undelivered
from services.workflow.contract.actions import (
    ApplyPolicyAction,
    AssignAction,
    BatchLink,
    CompensationAction,
    ConsultAction,
    ConsultationAnswerAction,
    CustomerReply,
    DecisionAction,
    DeclineTransferAction,
    FollowUpAction,
    NoteAction,
    PlanAction,
    ProgressAction,
    ReachedAction,
    ReclassifyAction,
    ReopenAction,
    RepeatSubmission,
    RequestInfoAction,
    ResolveAction,
    RetierAction,
    StaffAction,
    SurveyAnswer,
    TransferAction,
)
from services.workflow.contract.names import (
    STATUS_QUERY,
    TASK_QUEUE,
    UPDATES,
    WORKFLOW_TYPE,
    static_summary,
    workflow_id_for,
)
from services.workflow.contract.record import ComplaintInput
from services.workflow.contract.refusals import english, refused
from services.workflow.contract.view import ComplaintOutcome, ComplaintView

T = TypeVar("T")


class ComplaintError(ApiError):
    status, code = 500, "complaint_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None, reason: Reason | None = None):
        super().__init__(self.status, self.code, message, headers=headers, reason=reason)


class ActionRefused(ComplaintError):
    """The workflow's validator refused the action in the complaint's current stage."""

    status, code = 409, "action_not_allowed"

    @classmethod
    def because(cls, reason: Reason) -> "ActionRefused":
        return cls(english(reason), reason=reason)

    @classmethod
    def of(cls, failure: BaseException | None) -> "ActionRefused":
        """From the workflow's failure: its coded reason when it gave one (a refusal from a
        worker of an older version gives only its message)."""
        details = getattr(failure, "details", None) or ()
        coded = details[0] if details and isinstance(details[0], dict) else {}
        reason = Reason(coded["code"], coded.get("params") or {}) if isinstance(coded.get("code"), str) else None
        return cls(getattr(failure, "message", None) or str(failure), reason=reason)


class ComplaintClosed(ComplaintError):
    status, code = 409, "action_not_allowed"

    @classmethod
    def named(cls, complaint_id: str) -> "ComplaintClosed":
        reason = refused("closed", complaint_id=complaint_id)
        return cls(english(reason), reason=reason)


class ComplaintNotFound(ComplaintError):
    status, code = 404, "not_found"


class EngineUnavailable(ComplaintError):
    """Temporal, or every worker, did not answer in time: nothing was decided, try again."""

    status, code = 503, "temporal_unavailable"

    def __init__(self, message: str):
        super().__init__(message, headers={"Retry-After": "2"})


# How long an Update waits for a worker to take it: with every worker down, a person gets a
# 503 to retry (with the same Idempotency-Key: the first outcome, never a second action) instead
# of a request that hangs until their browser gives up.
UPDATE_WAIT = timedelta(seconds=10)
# How long a page waits for the workflow to show a complaint's live view before it shows what the
# events have recorded instead (a worker restarting, or the engine down).
LIVE_VIEW_WAIT = timedelta(seconds=10)


# Once a read or an action finds the engine unreachable, reads and actions answer "unavailable"
# at once for this long (pages then show what was recorded; an action is retried with its key)
# instead of each waiting out its timeout, 5 to 10 s during an outage; then one call asks the
# engine again.
ENGINE_RECHECK = timedelta(seconds=5)
# The call that asks again first asks the engine's health check, which answers at once either way:
# a call of its own would wait while the SDK retries an unreachable server (about 9 s), and a
# person's page with it, once every ENGINE_RECHECK of an outage.
HEALTH_CHECK_WAIT = timedelta(seconds=2)
# A call not answered within this long asks the health check whether the engine is still there
# (a slow answer is often a worker replaying a complaint): unreachable, it answers "unavailable"
# now, so the call that finds an outage waits this long instead of the SDK's retries.
SLOW_ANSWER = timedelta(seconds=1)

# Live views one process may be waiting for at once. Normally a read is answered in
# milliseconds and few are in flight. Once the worker falls behind (after the engine restarts,
# each read of a complaint it no longer holds replays its whole history), more reads only queue
# behind the others until every one times out, while the worker still replays each: no read is
# answered at all. Past this many, a read is answered "unavailable" at once (pages show what was
# recorded), so those that are asked are answered in time. Set per service in its settings.
READS_IN_FLIGHT: int = Settings.model_fields["engine_reads_in_flight"].default
READS_TURNED_AWAY = Counter(
    "complaint_reads_turned_away_total", "live views not asked for: too many were already waiting for the engine"
)


def _unreachable(_kind: type, exc: BaseException) -> bool:
    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.UNAVAILABLE


class EngineBreaker(CircuitBreaker):
    """Opened by the first call that finds the Temporal server unreachable. While open, calls
    answer "unavailable" without asking. After `recheck_after`, one call at a time asks again
    (the others still answer at once, instead of each waiting out an outage), through `is_up`
    first: unreachable opens it for another pause at once, an answer closes it and the call goes
    on. A call its caller gave up on (cancelled) says nothing of the server and changes nothing."""

    def __init__(self, recheck_after: timedelta, is_up: Callable[[], Awaitable[None]]):
        super().__init__(
            failure_threshold=1,
            recovery_timeout=recheck_after.total_seconds(),
            expected_exception=_unreachable,
            name="temporal server",
        )
        self._asking_again = False
        self._is_up = is_up

    async def ask(self, call: Callable[[], Awaitable[T]]) -> T:
        """The call's answer; EngineUnavailable instead of asking while the breaker is open, and
        RPCError (UNAVAILABLE) as soon as the health check says so of a call slow to answer."""
        async with self.asking():
            answering = asyncio.ensure_future(call())
            answering.add_done_callback(_retrieved)
            try:
                done, _ = await asyncio.wait({answering}, timeout=SLOW_ANSWER.total_seconds())
                if not done:
                    await self._is_up()
                return await answering
            finally:
                answering.cancel()  # the health check's answer came first, or the caller gave up

    @asynccontextmanager
    async def asking(self) -> AsyncIterator[None]:
        """Around one call to the server; raises EngineUnavailable instead of asking."""
        state = self.state
        if state == STATE_OPEN or (state == STATE_HALF_OPEN and self._asking_again):
            raise EngineUnavailable("the workflow engine was unreachable moments ago; try again shortly")
        probe = state == STATE_HALF_OPEN  # and no other call is asking: this one does
        if probe:
            self._asking_again = True
        try:
            with self:
                if probe:
                    await self._is_up()
                yield
        finally:
            if probe:
                self._asking_again = False

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            return False
        return bool(super().__exit__(exc_type, exc_value, traceback))


def _retrieved(task: asyncio.Future) -> None:
    """Marks a call's outcome as read, so one dropped for the health check's answer is not
    logged as "never retrieved"."""
    if not task.cancelled():
        task.exception()


class ComplaintClient:
    def __init__(
        self,
        temporal: Client,
        task_queue: str = TASK_QUEUE,
        recheck_after: timedelta = ENGINE_RECHECK,
        reads_in_flight: int = READS_IN_FLIGHT,
    ):
        self.temporal, self.task_queue = temporal, task_queue
        self._engine = EngineBreaker(recheck_after, self._engine_is_up)
        self._reads_allowed = reads_in_flight
        self.reads_in_flight = 0

    def handle(self, complaint_id: str) -> WorkflowHandle[Any, ComplaintOutcome]:
        return self.temporal.get_workflow_handle(workflow_id_for(complaint_id), result_type=ComplaintOutcome)

    async def start(self, complaint: ComplaintInput) -> WorkflowHandle[Any, ComplaintOutcome]:
        """Start the complaint's workflow once: a second start while it runs, or after it
        closed, changes nothing."""
        try:
            return await self.temporal.start_workflow(
                WORKFLOW_TYPE,
                complaint,
                id=workflow_id_for(complaint.complaint_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=static_summary(complaint),
                result_type=ComplaintOutcome,
            )
        except WorkflowAlreadyStartedError:  # started before, and closed since
            return self.handle(complaint.complaint_id)
        except (RPCError, RuntimeError) as exc:  # RuntimeError: a lazy client that cannot connect
            raise EngineUnavailable(f"the workflow engine did not take the complaint: {exc}") from exc

    async def status(self, complaint_id: str, rpc_timeout: timedelta | None = None) -> ComplaintView:
        """The complaint's live view; `rpc_timeout` bounds the wait for a worker to answer."""
        if self.reads_in_flight >= self._reads_allowed:
            READS_TURNED_AWAY.inc()
            raise EngineUnavailable("the workflow engine is behind on reads; try again shortly")
        handle = self.handle(complaint_id)
        self.reads_in_flight += 1
        try:
            return await self._engine.ask(
                lambda: handle.query(STATUS_QUERY, result_type=ComplaintView, rpc_timeout=rpc_timeout)
            )
        except (RPCError, RuntimeError) as exc:
            error = await self._translate(handle, complaint_id, exc)
            if isinstance(error, ComplaintClosed):  # a closed complaint still answers: this was the engine
                error = EngineUnavailable("the workflow engine could not show this complaint right now; try again")
            raise error from exc
        finally:
            self.reads_in_flight -= 1

    # Staff actions. `key` is the caller's Idempotency-Key: it names the Update, so a retry of
    # an action that completed returns its first outcome instead of acting twice.

    async def acknowledge(self, complaint_id: str, action: StaffAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "acknowledge", action, key)

    async def assign(self, complaint_id: str, action: AssignAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "assign", action, key)

    async def post_progress(self, complaint_id: str, action: ProgressAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "post_progress", action, key)

    async def give_plan(self, complaint_id: str, action: PlanAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "give_plan", action, key)

    async def transfer(self, complaint_id: str, action: TransferAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "transfer", action, key)

    async def accept_transfer(self, complaint_id: str, action: StaffAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "accept_transfer", action, key)

    async def decline_transfer(
        self, complaint_id: str, action: DeclineTransferAction, key: str | None = None
    ) -> ComplaintView:
        return await self._update(complaint_id, "decline_transfer", action, key)

    async def add_note(self, complaint_id: str, action: NoteAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "add_note", action, key)

    async def consult(self, complaint_id: str, action: ConsultAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "consult", action, key)

    async def answer_consultation(
        self, complaint_id: str, action: ConsultationAnswerAction, key: str | None = None
    ) -> ComplaintView:
        return await self._update(complaint_id, "answer_consultation", action, key)

    async def propose_compensation(
        self, complaint_id: str, action: CompensationAction, key: str | None = None
    ) -> ComplaintView:
        return await self._update(complaint_id, "propose_compensation", action, key)

    async def decide_compensation(
        self, complaint_id: str, action: DecisionAction, key: str | None = None
    ) -> ComplaintView:
        return await self._update(complaint_id, "decide_compensation", action, key)

    async def request_info(self, complaint_id: str, action: RequestInfoAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "request_info", action, key)

    async def resolve(self, complaint_id: str, action: ResolveAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "resolve", action, key)

    async def retier(self, complaint_id: str, action: RetierAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "retier", action, key)

    async def reclassify(self, complaint_id: str, action: ReclassifyAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "reclassify", action, key)

    async def apply_policy(self, complaint_id: str, move: ApplyPolicyAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "apply_policy", move, key)

    async def record_follow_up(
        self, complaint_id: str, action: FollowUpAction, key: str | None = None
    ) -> ComplaintView:
        return await self._update(complaint_id, "record_follow_up", action, key)

    async def reopen(self, complaint_id: str, action: ReopenAction, key: str | None = None) -> ComplaintView:
        """Staff or the customer reopen a resolved complaint within the policy's reopen window."""
        return await self._update(complaint_id, "reopen", action, key)

    async def customer_reached(self, complaint_id: str, action: ReachedAction, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "customer_reached", action, key)

    # The customer's input (through intake's pages).

    async def customer_reply(self, complaint_id: str, reply: CustomerReply, key: str | None = None) -> ComplaintView:
        return await self._update(complaint_id, "customer_reply", reply, key)

    async def answer_survey(self, complaint_id: str, answer: SurveyAnswer) -> ComplaintView:
        return await self._update(complaint_id, "answer_survey", answer)

    # Links made by intake; each link is one Update id, so it is applied once however often it is sent.

    async def link_repeat(
        self, complaint_id: str, repeat: RepeatSubmission, rpc_timeout: timedelta | None = None
    ) -> ComplaintView:
        return await self._update(
            complaint_id, "link_repeat", repeat, update_id=f"repeat-{repeat.submission_id}", rpc_timeout=rpc_timeout
        )

    async def link_batch(
        self, complaint_id: str, link: BatchLink, rpc_timeout: timedelta | None = None
    ) -> ComplaintView:
        return await self._update(
            complaint_id, "link_batch", link, update_id=f"batch-{link.batch_id}", rpc_timeout=rpc_timeout
        )

    # What notify could not deliver: each failure is one Update id, told once however often it is sent.

    async def customer_not_reached(self, complaint_id: str, failure: Undelivered) -> ComplaintView:
        update_id = f"not-reached-{failure.notification_id}-{failure.attempts_logged}"
        return await self._update(complaint_id, "customer_not_reached", failure, update_id=update_id)

    async def _update(
        self,
        complaint_id: str,
        name: str,
        arg: Any,
        key: str | None = None,
        update_id: str | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> ComplaintView:
        if not isinstance(arg, UPDATES[name]):
            raise TypeError(f"{name} takes a {UPDATES[name].__name__}, not a {type(arg).__name__}")
        handle = self.handle(complaint_id)
        try:
            return await self._engine.ask(
                lambda: handle.execute_update(
                    name,
                    arg,
                    id=update_id or (f"{name}:{key}" if key else None),
                    result_type=ComplaintView,
                    rpc_timeout=rpc_timeout or UPDATE_WAIT,
                )
            )
        except WorkflowUpdateFailedError as exc:
            raise ActionRefused.of(exc.cause) from exc
        except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
            raise EngineUnavailable("no worker took the action in time; try again") from exc
        except (RPCError, RuntimeError) as exc:
            raise await self._translate(handle, complaint_id, exc) from exc

    async def _engine_is_up(self) -> None:
        """Raises RPCError (UNAVAILABLE) unless the engine's health check says it serves."""
        try:
            serving = await self.temporal.service_client.check_health(timeout=HEALTH_CHECK_WAIT)
        except RPCError as exc:
            raise RPCError(f"its health check: {exc.message}", exc.status, exc.raw_grpc_status) from exc
        if not serving:
            raise RPCError("the workflow engine's health check says it is not serving", RPCStatusCode.UNAVAILABLE, b"")

    async def _translate(self, handle: WorkflowHandle, complaint_id: str, exc: Exception) -> ComplaintError:
        """NOT_FOUND from an Update or a query means closed, or unknown: the execution's status
        tells which (read raw: nothing of it needs decoding)."""
        if not isinstance(exc, RPCError) or exc.status != RPCStatusCode.NOT_FOUND:
            return EngineUnavailable(f"the workflow engine did not answer: {exc}")
        request = DescribeWorkflowExecutionRequest(
            namespace=self.temporal.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
        try:
            described = await self.temporal.workflow_service.describe_workflow_execution(request)
        except (RPCError, RuntimeError) as failed:
            if isinstance(failed, RPCError) and failed.status == RPCStatusCode.NOT_FOUND:
                return ComplaintNotFound(f"no complaint {complaint_id}")
            return EngineUnavailable(f"the workflow engine did not answer: {failed}")
        if described.workflow_execution_info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            return EngineUnavailable("the workflow engine could not take this right now; try again")
        return ComplaintClosed.named(complaint_id)
