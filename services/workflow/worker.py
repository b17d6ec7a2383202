"""The worker that runs ComplaintWorkflow and its activities (started by the workflow service)."""

from collections.abc import Callable, Sequence

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from services.workflow.activities import ComplaintActivities
from services.workflow.workflows import ComplaintWorkflow

# Pydantic's e-mail validation imports these lazily; they are deterministic, so the sandbox
# may pass them through instead of re-importing them in every workflow run.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna")
)


def activities_of(activities: ComplaintActivities) -> list[Callable]:
    return [activities.append_events, activities.load_policy, activities.route_complaint,
            activities.send_notification]


def build_worker(client: Client, task_queue: str, activities: Sequence[Callable], **options) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ComplaintWorkflow],
        activities=list(activities),
        workflow_runner=SANDBOX,
        **options,
    )
