"""The worker's sandbox (services/workflow/sandbox.py) answers the converter's per-payload
questions outside the sandbox: a complaint's steps, deadlines included, enter it only to run
the workflow, and every payload is still sealed by the codec."""

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from services.common.codec import ENCODING, with_encryption
from services.workflow import worker as worker_module
from services.workflow.sandbox import RESTRICTIONS, ContextFreeSandboxRunner, ignores_context
from tests.workflow import scenarios

KEYS = Path(__file__).parent / "test-payload-keys.json"  # a test key, never a real one


class ContextAwareCodec(PayloadCodec, WithSerializationContext):
    """A codec that would seal each workflow's payloads with a key of its own."""

    def __init__(self, context: SerializationContext | None = None):
        self.context = context

    async def encode(self, payloads):
        return list(payloads)

    async def decode(self, payloads):
        return list(payloads)

    def with_context(self, context: SerializationContext) -> "ContextAwareCodec":
        return ContextAwareCodec(context)


def test_our_converter_takes_no_context_and_one_that_does_is_refused():
    assert ignores_context(with_encryption(pydantic_data_converter, KEYS))
    assert ignores_context(DataConverter.default)
    aware = dataclasses.replace(pydantic_data_converter, payload_codec=ContextAwareCodec())
    assert not ignores_context(aware)
    with pytest.raises(ValueError, match="serialization contexts"):
        ContextFreeSandboxRunner(aware, restrictions=RESTRICTIONS)


@pytest.fixture
def trips_into_sandbox(monkeypatch) -> list[str]:
    """Each question the SDK put to a sandboxed workflow instance about a payload's context."""
    trips: list[str] = []
    create_instance = SandboxedWorkflowRunner.create_instance

    def counted(self, det):
        instance = create_instance(self, det)
        serialization, store = instance.get_serialization_context, instance.get_external_store_context

        def asked_serialization(command_info):
            trips.append("serialization")
            return serialization(command_info)

        def asked_store(command_info):
            trips.append("store")
            return store(command_info)

        instance.get_serialization_context = asked_serialization
        instance.get_external_store_context = asked_store
        return instance

    monkeypatch.setattr(SandboxedWorkflowRunner, "create_instance", counted)
    return trips


def sealed_client(env) -> Client:
    return Client(**{**env.client.config(), "data_converter": with_encryption(pydantic_data_converter, KEYS)})


async def escalated_complaint(env, store) -> tuple[list[str], list]:
    """An urgent complaint nobody answers, through its breach: its stored event types and its history."""
    client = sealed_client(env)
    async with scenarios.complaint_worker(client, store):
        handle = await scenarios.start(client, scenarios.a_complaint(await env.get_current_time(), scenarios.URGENT))
        await scenarios.wait_for_event(handle, "Assigned")
        await env.sleep(timedelta(minutes=20))
        view = await scenarios.wait_for_event(handle, "Escalated")
        await handle.terminate()
    history = await handle.fetch_history()
    return [h.type for h in view.history], history.events


async def test_a_complaint_through_its_breach_never_enters_the_sandbox_for_a_payload(env, store, trips_into_sandbox):
    steps, events = await escalated_complaint(env, store)

    assert steps[:3] == ["ComplaintReceived", "TierAssigned", "Assigned"] and "Escalated" in steps
    assert trips_into_sandbox == []
    # The codec still seals every payload the worker wrote: local activities' results, summaries.
    markers = [e.marker_recorded_event_attributes for e in events if e.HasField("marker_recorded_event_attributes")]
    results = [p for m in markers if "result" in m.details for p in m.details["result"].payloads]
    summaries = [e.user_metadata.summary for e in events if e.user_metadata.HasField("summary")]
    assert len(results) >= 4 and len(summaries) >= 8
    for payload in results + summaries:
        assert payload.metadata["encoding"] == ENCODING


async def test_the_sdks_runner_enters_the_sandbox_for_each_payload(env, store, trips_into_sandbox, monkeypatch):
    """The same complaint with the SDK's runner: what the test above would see without ours."""
    monkeypatch.setattr(
        worker_module, "runner_for", lambda converter: SandboxedWorkflowRunner(restrictions=RESTRICTIONS)
    )
    steps, _ = await escalated_complaint(env, store)

    assert "Escalated" in steps
    assert trips_into_sandbox.count("serialization") > 10 and "store" in trips_into_sandbox
