"""The worker that runs ComplaintWorkflow and its activities (started by the workflow service)."""

import py_compile
import sys
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
    return [
        activities.record,
        activities.load_policy,
        activities.route_complaint,
        activities.append_events,  # older generations
        activities.send_notification,  # older generations
    ]


def cache_bytecode(workflow_classes: Sequence[type]) -> None:
    """The sandbox imports a workflow's module afresh for every run it starts. With no bytecode
    cache beside the source (PYTHONDONTWRITEBYTECODE, as in our image and on these machines)
    each import compiles the module again: about 9 ms, a tenth of the worker's CPU per complaint.
    Writing the cache once at start makes each import a load of the compiled code."""
    for workflow_class in workflow_classes:
        source = sys.modules[workflow_class.__module__].__file__
        try:
            py_compile.compile(source, doraise=True)
        except (OSError, py_compile.PyCompileError):
            pass  # a read-only install: its installer wrote the cache (pip does by default)


def build_worker(client: Client, task_queue: str, activities: Sequence[Callable], **options) -> Worker:
    cache_bytecode([ComplaintWorkflow])
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ComplaintWorkflow],
        activities=list(activities),
        workflow_runner=SANDBOX,
        **options,
    )
