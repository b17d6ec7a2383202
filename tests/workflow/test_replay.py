"""Replays saved histories against today's workflow code: a change that would break
complaints already running in production (non-determinism) fails here."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from services.common.codec import with_encryption
from services.workflow.sandbox import runner_for
from services.workflow.workflows import ComplaintWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
TEST_PAYLOAD_KEYS = Path(__file__).parent / "test-payload-keys.json"  # a test key, never a real one


def test_histories_of_every_generation_are_saved():
    """Before routing (the `routing-v1` patch's old branch), with routing, with the liaison told,
    and with the policy loaded locally; for that one also a complaint queried during its first
    workflow task, which the dev server splits in two (see record_histories.py)."""
    stems = {p.stem for p in HISTORIES}
    for generation in (
        "before-routing",
        "routing-v1",
        "liaison-told-v1",
        "policy-local-v1",
        "message-outbox-v1",
        "timeliness-v1",
        "policy-v3",
        "transfers-v1",
        "reopen-v1",
        "customer-comms-v1",
        "quiet-timers-v1",
        "re-aimed-wait-v1",
        "short-local-attempts-v1",
        "compensation-in-words-v1",
        "transfer-disputes-v1",
        "consultations-v1",
        "consultation-deadline-v1",
        "follow-up-in-writing-v1",
        "customer-breaches-v1",
        "approvals-internal-v1",
        "customer-not-reached-v1",
    ):
        assert {f"{generation}__happy_path", f"{generation}__survey_given_up"} <= stems
    assert {"policy-local-v1__queried_during_first_task", "message-outbox-v1__queried_during_first_task"} <= stems


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays_with_current_code(path):
    history = WorkflowHistory.from_json(f"complaint-{path.stem.split('__')[-1]}", path.read_text())
    # Histories recorded on a local system are encrypted (services/common/codec.py); older ones
    # are not, and pass through the codec as they are.
    converter = with_encryption(pydantic_data_converter, TEST_PAYLOAD_KEYS)
    replayer = Replayer(workflows=[ComplaintWorkflow], workflow_runner=runner_for(converter), data_converter=converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
