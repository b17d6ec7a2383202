"""The sandbox our workflows run in.

The SDK asks a workflow instance, for every payload sequence it encodes or decodes, which
serialization context and which external-store context apply to it. In the sandbox each such
question is a snippet compiled and run inside it, with its builtins swapped in and out: 15 a
deadline for a complaint's step (its local activity's argument and result and two summaries).
Our converter (pydantic JSON, then AES-GCM) takes no context and stores nothing externally, so
every answer leads to the same converter; `ContextFreeSandboxRunner` answers them outside the
sandbox, and refuses to be built with a converter for which that would not hold.
"""

from typing import Any

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import Info

# Pydantic's e-mail validation imports these lazily; they are deterministic, so the sandbox
# may pass them through instead of re-importing them in every workflow run.
RESTRICTIONS = SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna")

_SAMPLE_CONTEXTS = (
    WorkflowSerializationContext(namespace="default", workflow_id="complaint-x"),
    ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="record",
        activity_task_queue="complaints",
        workflow_id="complaint-x",
        workflow_type="ComplaintWorkflow",
        is_local=True,
    ),
)


def ignores_context(converter: DataConverter) -> bool:
    """Whether every serialization context gives back this very converter (none of its parts
    takes one) and it stores no payload outside the history."""
    return converter.external_storage is None and all(
        converter.with_context(context) is converter for context in _SAMPLE_CONTEXTS
    )


class ContextFreeSandboxRunner(SandboxedWorkflowRunner):
    """The SDK's sandbox, answering the converter's per-payload questions without entering it."""

    def __init__(self, converter: DataConverter, **options: Any) -> None:
        if not ignores_context(converter):
            raise ValueError(
                "the data converter uses serialization contexts or external storage: "
                "use the SDK's SandboxedWorkflowRunner, which asks the workflow for them"
            )
        super().__init__(**options)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFree(super().create_instance(det))


def runner_for(converter: DataConverter) -> ContextFreeSandboxRunner:
    """The runner of our workers, and of the tests that replay their histories."""
    return ContextFreeSandboxRunner(converter, restrictions=RESTRICTIONS)


class _ContextFree(WorkflowInstance):
    def __init__(self, sandboxed: WorkflowInstance) -> None:
        self._sandboxed = sandboxed

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self._sandboxed.activate(act)

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return None  # the worker's converter as it is, which any context would have given back

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        return StorageDriverStoreContext(target=None)  # unused: nothing is stored externally

    def get_info(self) -> Info:
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self._sandboxed.get_thread_id()
