"""Routing on the time-skipping server with real PostgreSQL: the group from routing.toml, the
member from the shipped roster by the group's strategy, the urgent call for tier 1, the
liaison for tier 2, the green channel, surge overflow, and the staff inbox it all lands in."""

import pytest

from services.intake.classification import Facts, load_rules
from services.workflow import inbox
from services.workflow.contract import Customer, StaffAction
from tests.workflow import scenarios
from tests.workflow.scenarios import drive

RULES = load_rules()


async def _routed(env, text: str, segment: str | None = None, overflow: bool = False):
    complaint = scenarios.a_complaint(await env.get_current_time(), text)
    complaint.customer = Customer(name="王芳", phone="13812341234", segment=segment)
    complaint.classification = RULES.classify(Facts(text=text, segment=segment))
    complaint.overflow = overflow
    handle = await scenarios.start(env.client, complaint)
    await scenarios.wait_for_event(handle, "Assigned")
    return handle, await drive(handle).status()


async def test_tier_1_goes_to_the_special_team_with_an_urgent_call(env, store, notifications):
    handle, view = await _routed(env, "支付系统崩溃，所有用户都无法支付")
    assert (view.tier, view.group) == (1, "special-team")
    assert view.assignee in {"chen.jie", "wang.fang"}  # least loaded of the team on duty
    assert "assignment" not in view.deadlines  # picked at once: the 2 h assignment target is met
    call = [n for n in await notifications.of(view.complaint_id) if n.template == "urgent_call"]
    assert len(call) == 1 and call[0].recipient_address.startswith("staff:")
    assert call[0].recipient_address.removeprefix("staff:") in {"chen.jie", "wang.fang"}
    assigned = next(e for e in await store.read_stream(view.complaint_id) if e.type == "Assigned").data
    assert (assigned["rule"], assigned["strategy"]) == ("tier-1-special-team", "least_loaded")
    assert assigned["reason_zh"] == "一级投诉不排队，直接交专项小组"  # the console's Chinese reads it
    # The special team includes the business owner of the area (000, 001): told at once.
    assert view.liaison is not None
    owner = [n for n in await notifications.of(view.complaint_id) if n.template == "liaison_assigned"]
    assert [n.recipient_address for n in owner] == [f"staff:{view.liaison}"]
    tiered = next(e for e in await store.read_stream(view.complaint_id) if e.type == "TierAssigned").data
    assert tiered["rule"] == "payment-system-down" and tiered["scope"] == "group"
    assert tiered["reason_zh"].startswith("紧急程度高：支付或核心系统对所有人不可用（提到“支付”")


async def test_least_loaded_spreads_the_special_teams_work(env, store, notifications):
    picked = [(await _routed(env, "The heater caught fire and my son was injured"))[1].assignee for _ in range(4)]
    assert sorted(picked) == ["chen.jie", "chen.jie", "wang.fang", "wang.fang"]


async def test_tier_2_goes_to_senior_agents_with_a_business_liaison(env, store, notifications):
    _, view = await _routed(env, "I was charged twice for my order, please refund")
    assert (view.tier, view.group, view.liaison) == (2, "senior-agents", "ma.jun")
    assert view.assignee in {"chen.jie", "liu.yang"}
    told = [n for n in await notifications.of(view.complaint_id) if n.template == "liaison_assigned"]
    assert [n.recipient_address for n in told] == ["staff:ma.jun"]


async def test_tier_3_goes_to_the_skill_group_of_its_type_round_robin(env, store, notifications):
    picked = [(await _routed(env, "The app sometimes shows the wrong language after a restart."))[1] for _ in range(3)]
    assert {v.group for v in picked} == {"front-line-product"}
    assert [v.assignee for v in picked] == ["sun.lei", "zhao.min", "sun.lei"]
    _, rude = await _routed(env, "The cashier was rude to me")
    assert (rude.group, rude.assignee) == ("front-line-service", "zhou.ting")


async def test_vip_takes_the_green_channel_and_surge_overflows_routine_work(env, store, notifications):
    _, vip = await _routed(env, "The app keeps crashing on the orders page.", segment="vip")
    assert (vip.tier, vip.group) == (2, "vip-desk")
    assert vip.liaison is not None  # source 001: a tier-2 complaint keeps its business liaison
    _, overflow = await _routed(env, "How do I reset my password?", overflow=True)
    assert (overflow.group, overflow.assignee) == ("standby", "wu.hao")
    _, urgent = await _routed(env, "The heater caught fire", overflow=True)
    assert urgent.group == "special-team"  # tier 1 never overflows


async def test_nobody_on_duty_leaves_it_in_the_group_queue_with_the_assignment_clock_running(env, store, notifications):
    await store.pool.execute("UPDATE workflow.staff SET on_duty = false WHERE 'front-line-service' = ANY(groups)")
    _, view = await _routed(env, "The cashier was rude to me")
    assert (view.group, view.assignee) == ("front-line-service", None)
    assert "assignment" in view.deadlines


async def test_the_inbox_lists_routed_complaints_masked_and_counts_load(env, store, notifications):
    handle, view = await _routed(env, "I was charged twice for my order, please refund")
    await drive(handle).acknowledge(StaffAction(staff_id=view.assignee))
    items = await inbox.list_items(store.pool, inbox.Filters(assignee=view.assignee))
    item = next(i for i in items if i.complaint_id == view.complaint_id)
    assert item.customer_contact == "138****1234"
    assert (item.tier, item.complaint_type, item.group_name, item.stage) == (
        2,
        "process_problem",
        "senior-agents",
        "acknowledged",
    )
    assert item.owner == view.assignee and item.next_deadline is not None
    dumped = " ".join(
        str(v) for i in await inbox.list_items(store.pool, inbox.Filters(), limit=500) for v in i.model_dump().values()
    )
    assert "13812341234" not in dumped


async def test_a_repeat_arriving_while_the_complaint_is_received_waits_for_it(env, store, notifications):
    """A customer who writes twice within a second: the link waits for tiering and routing."""
    from services.workflow.contract import Channel, RepeatSubmission

    complaint = scenarios.a_complaint(await env.get_current_time(), "The cashier was rude to me")
    handle = await scenarios.start(env.client, complaint)
    repeat = RepeatSubmission(
        submission_id="T-again",
        channel=Channel.email,
        received_at=complaint.received_at,
        description="and rude again",
        similarity=0.4,
    )
    view = await drive(handle).link_repeat(repeat)
    assert view.repeats == 1
    types = [e.type for e in await store.read_stream(complaint.complaint_id)]
    # After routing; an after-hours auto-reply may come before or after the link.
    assert types[:3] == ["ComplaintReceived", "TierAssigned", "Assigned"] and "RepeatLinked" in types[3:]


async def test_queue_sweeps_of_several_worker_replicas_assign_a_queued_complaint_once(env, store, notifications):
    """Every worker replica runs the queue sweep: when someone comes on duty, two sweeps at
    the same moment still assign each waiting complaint once."""
    import asyncio

    from services.workflow.contract import ComplaintClient
    from services.workflow.routing import Router, assign_queued, load_routing

    await store.pool.execute("UPDATE workflow.staff SET on_duty = false WHERE 'front-line-service' = ANY(groups)")
    handles = [(await _routed(env, "The cashier was rude to me"))[0] for _ in range(3)]
    await store.pool.execute("UPDATE workflow.staff SET on_duty = true")
    router = Router(store.pool, load_routing())
    complaints = ComplaintClient(env.client, scenarios.TASK_QUEUE)
    await asyncio.gather(*(assign_queued(router, complaints) for _ in range(4)))
    await asyncio.gather(*(assign_queued(router, complaints) for _ in range(2)))  # later passes: nothing left
    for handle in handles:
        view = await drive(handle).status()
        picked = [e for e in await store.read_stream(view.complaint_id) if e.type == "AssignedToPerson"]
        assert view.assignee is not None and len(picked) == 1, [e.data for e in picked]


async def test_a_queue_sweep_cancelled_midway_leaves_the_next_sweep_free_to_run(env, store, notifications):
    """The sweep's lock lives and dies with its transaction: a sweep cancelled while it assigns
    (a worker shutting down) does not keep every later sweep out."""
    import asyncio

    from services.workflow.contract import ComplaintClient
    from services.workflow.routing import Router, assign_queued, load_routing

    await store.pool.execute("UPDATE workflow.staff SET on_duty = false WHERE 'front-line-service' = ANY(groups)")
    handle, _ = await _routed(env, "The cashier was rude to me")
    await store.pool.execute("UPDATE workflow.staff SET on_duty = true")
    router = Router(store.pool, load_routing())
    assigning = asyncio.Event()

    class Stalled(ComplaintClient):
        async def assign(self, *args, **kwargs):
            assigning.set()
            await asyncio.Event().wait()  # never answers

    sweep = asyncio.create_task(assign_queued(router, Stalled(env.client, scenarios.TASK_QUEUE)))
    await assigning.wait()
    sweep.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sweep
    held = await store.pool.fetchval(
        """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
    )
    assert held == 0
    await assign_queued(router, ComplaintClient(env.client, scenarios.TASK_QUEUE))
    assert (await drive(handle).status()).assignee is not None
