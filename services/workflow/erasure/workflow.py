"""CustomerErasureWorkflow: erase a customer's personal data on request (PIPL art. 47).

Finds the customer's complaints, waits for each that is still being handled to close, erases
each everywhere it is kept, and records the request and what was done. Its own history holds
ids and the basis only: nothing it erases passes through it.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from services.workflow.activity_options import ACTIVITY_OPTIONS
    from services.workflow.contract import ERASURE_WORKFLOW_TYPE, ErasureRequest
    from services.workflow.erasure.activities import ErasingStep, ErasureActivities

# An open complaint is looked at again after 5 s, then less and less often, at least hourly:
# a complaint can stay open for days (the survey waits 48 h).
UNTIL_CLOSED = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
)
ERASING_TIMEOUT = timedelta(minutes=3)  # four stores, then Temporal's deletion (up to a minute)


@workflow.defn(name=ERASURE_WORKFLOW_TYPE)
class CustomerErasureWorkflow:
    @workflow.run
    async def run(self, request: ErasureRequest) -> dict[str, dict[str, int]]:
        scope = await workflow.execute_activity_method(ErasureActivities.begin_erasure, request, **ACTIVITY_OPTIONS)
        erased: dict[str, dict[str, int]] = {}
        for complaint in scope.complaints:
            complaint_id = complaint.complaint_id
            if not complaint.linked:  # a linked repeat is handled, and closed, with the one it joined
                await workflow.execute_activity_method(
                    ErasureActivities.wait_until_closed,
                    complaint_id,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=UNTIL_CLOSED,
                )
            step = ErasingStep(
                erasure_id=request.erasure_id,
                complaint_id=complaint_id,
                requested_by=request.requested_by,
                at=workflow.now(),
            )
            erased[complaint_id] = await workflow.execute_activity_method(
                ErasureActivities.erase_complaint,
                step,
                start_to_close_timeout=ERASING_TIMEOUT,
                retry_policy=ACTIVITY_OPTIONS["retry_policy"],
            )
        await workflow.execute_activity_method(ErasureActivities.finish_erasure, request.erasure_id, **ACTIVITY_OPTIONS)
        return erased
