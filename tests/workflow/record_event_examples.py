"""Record one stored example of every domain event type the current generation writes, for
`tests/unit/test_domain_events.py`: `python -m tests.workflow.record_event_examples`.

Runs the saved-history scenarios and one more that takes every other staff action, against a
real event store, and keeps the first stored payload of each type."""

import asyncio
import json
from datetime import time, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from services.workflow.contract import (
    ApplyPolicyAction,
    AssignAction,
    CompensationAction,
    ComplaintClient,
    CustomerReply,
    DecisionAction,
    DeclineTransferAction,
    FollowUpAction,
    NoteAction,
    PlanAction,
    ProgressAction,
    ReclassifyAction,
    RequestInfoAction,
    ResolveAction,
    RetierAction,
    StaffAction,
    SurveyAnswer,
    TransferAction,
)
from tests.workflow import scenarios

EXAMPLES = Path(__file__).parents[1] / "data" / "stored_events.json"


async def every_other_action(env: WorkflowEnvironment) -> str:
    """Assigned to a person, progress, a question answered, re-tiered, a solution plan, moved to a policy, a
    missed progress update, resolved, a dissatisfied customer followed up; then a complaint
    received on a Saturday night (the auto-reply)."""
    complaints = ComplaintClient(env.client, scenarios.TASK_QUEUE)
    complaint = scenarios.a_complaint(await scenarios.skip_to(env, 0, time(10, 0)))
    handle = await complaints.start(complaint)
    cid = complaint.complaint_id
    await scenarios.wait_for_event(handle, "Assigned")
    await complaints.acknowledge(cid, StaffAction(staff_id="agent-7"))
    await complaints.assign(cid, AssignAction(staff_id="lead-1", assignee="agent-8", note="knows billing"))
    await complaints.post_progress(cid, ProgressAction(staff_id="agent-8", message="We are checking the charge."))
    await complaints.request_info(cid, RequestInfoAction(staff_id="agent-8", question="Which card was charged?"))
    await complaints.customer_reply(cid, CustomerReply(message="The Visa card"))
    await complaints.retier(cid, RetierAction(staff_id="lead-1", tier=1, reason="a large amount"))
    await complaints.give_plan(cid, PlanAction(staff_id="agent-8", plan="The second charge is refunded today."))
    await complaints.reclassify(
        cid, ReclassifyAction(staff_id="lead-1", complaint_type="product_fault", responsibility="rnd", reason="a bug")
    )
    await complaints.transfer(cid, TransferAction(staff_id="agent-8", to_group="liaison-product", reason="a defect?"))
    await complaints.decline_transfer(cid, DeclineTransferAction(staff_id="zheng.li", reason="a billing matter"))
    await complaints.transfer(cid, TransferAction(staff_id="agent-8", to_group="liaison-operations", reason="finance"))
    await complaints.accept_transfer(cid, StaffAction(staff_id="ma.jun"))
    await complaints.add_note(cid, NoteAction(staff_id="agent-8", text="call after 18:00"))
    await complaints.propose_compensation(
        cid,
        CompensationAction(
            staff_id="agent-8", kind="refund", amount=3000, reason="charged twice", approver_role="department_head"
        ),
    )
    await complaints.decide_compensation(cid, DecisionAction(staff_id="chen.jie", approve=True))
    await complaints.apply_policy(cid, ApplyPolicyAction(staff_id="ops-1", policy="default"))
    await env.sleep(timedelta(hours=3))  # the progress cadence passes: a reminder
    await scenarios.wait_for_event(handle, "ProgressReminder")
    await complaints.resolve(cid, ResolveAction(staff_id="agent-8", resolution=scenarios.RESOLUTION))
    await scenarios.wait_for_event(handle, "SurveyRequested")
    await complaints.answer_survey(cid, SurveyAnswer(satisfaction_result=1, satisfaction_speed=2))
    await scenarios.wait_for_event(handle, "FollowUpRequested")
    await complaints.record_follow_up(
        cid, FollowUpAction(staff_id="agent-8", outcome="refunded", extra_compensation="a voucher")
    )
    await handle.result()

    late = scenarios.a_complaint(await scenarios.skip_to(env, 5, time(22, 0)), scenarios.ROUTINE)
    await scenarios.wait_for_event(await complaints.start(late), "AutoReplySent")
    return cid


async def main() -> None:
    async with scenarios.recording_run() as (env, pool):
        for drive in scenarios.SCENARIOS.values():
            await drive(env)
        await every_other_action(env)
        rows = await pool.fetch("SELECT type, data FROM workflow.events ORDER BY position")
    recorded: dict[str, dict] = {}
    for row in rows:
        recorded.setdefault(row["type"], json.loads(row["data"]))
    # Events written outside the complaint workflow (the erasure's) keep their saved example.
    examples = json.loads(EXAMPLES.read_text(encoding="utf-8")) | recorded
    EXAMPLES.write_text(json.dumps(examples, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(examples)} event types: {', '.join(sorted(examples))}")


if __name__ == "__main__":
    asyncio.run(main())
