"""The staff inbox read model against a real PostgreSQL: filters, search, the warned mark, and
which escalations the team page shows to whom."""

import uuid
from datetime import UTC, datetime, timedelta

from services.common.events import NewEvent
from services.workflow import inbox
from services.workflow.permissions import Staff, authority_of
from services.workflow.routing import load_routing

CONFIG = load_routing()


def event(stream: str, version: int, event_type: str, **data) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        stream_id=stream,
        version=version,
        type=event_type,
        occurred_at=datetime.now(UTC),
        data=data,
    )


def person(staff_id: str, role: str, *groups: str) -> Staff:
    return Staff(staff_id, staff_id, role, groups, authority_of(staff_id, role, CONFIG))


async def complaint(store, cid: str, group: str, tier: int, *later: tuple[str, dict]) -> None:
    due = (datetime.now(UTC) + timedelta(hours=tier)).isoformat()
    events = [
        event(
            cid,
            1,
            "ComplaintReceived",
            channel="hotline",
            received_at=datetime.now(UTC).isoformat(),
            customer={"name": "李伟", "phone": "13912345678"},
            description="the agent was rude",
        ),
        event(
            cid,
            2,
            "TierAssigned",
            tier=tier,
            complaint_type="service_attitude",
            urgency="low",
            deadlines={"resolution": due},
        ),
        event(cid, 3, "Assigned", group=group, assignee="zhou.ting"),
    ]
    events += [event(cid, 4 + i, kind, **data) for i, (kind, data) in enumerate(later)]
    await store.append(events)


async def test_filters_and_search_narrow_the_list_and_the_warned_mark_is_kept(store):
    await complaint(store, "C-1", "front-line-service", 3, ("SlaWarning", {"target": "resolution", "fraction": 0.5}))
    await complaint(store, "C-2", "special-team", 1)
    await complaint(
        store,
        "C-3",
        "front-line-service",
        2,
        ("TransferRequested", {"to_group": "liaison-product", "reason": "a defect"}),
    )

    async def ids(**filters) -> list[str]:
        return [i.complaint_id for i in await inbox.list_items(store.pool, inbox.Filters(**filters))]

    assert await ids() == ["C-2", "C-3", "C-1"]  # nearest deadline first
    assert await ids(tier=3) == ["C-1"] and await ids(group="special-team") == ["C-2"]
    assert await ids(groups=("liaison-product",)) == ["C-3"]  # a transfer waiting for the group
    assert await ids(search="c-2") == ["C-2"] and await ids(search="139****5678") == ["C-2", "C-3", "C-1"]
    assert await ids(channel="email") == [] and await ids(person="zhou.ting", tier=1) == ["C-2"]
    items = {i.complaint_id: i for i in await inbox.list_items(store.pool, inbox.Filters())}
    assert items["C-1"].warned and not items["C-2"].warned
    assert items["C-1"].customer_contact == "139****5678"  # masked in the table itself


async def test_the_team_page_shows_each_escalation_to_whoever_holds_the_role_it_went_to(store):
    escalated = {"target": "resolution", "level": 1, "to": "group_lead"}
    await complaint(
        store, "E-1", "front-line-service", 3, ("SlaBreached", {"target": "resolution"}), ("Escalated", escalated)
    )
    await complaint(
        store,
        "E-2",
        "special-team",
        1,
        ("SlaBreached", {"target": "resolution"}),
        ("Escalated", {**escalated, "to": "manager", "level": 2}),
    )

    async def to(staff: Staff) -> list[str]:
        return [r["complaint_id"] for r in await inbox.escalations_to(store.pool, staff, CONFIG)]

    assert await to(person("liu.yang", "senior", "senior-agents")) == ["E-1"]  # a lead of every group ("*")
    assert await to(person("chen.jie", "senior", "special-team")) == ["E-1"]  # special-team's lead: not to manager
    assert await to(person("wang.fang", "manager", "special-team")) == ["E-2"]
    assert await to(person("zhou.ting", "agent", "front-line-service")) == []

    # A department asked for its view answered late: its lead was told, not the complaint's own group's.
    late = {"target": "consultation_answer", "level": 1, "to": "group_lead", "groups": ["liaison-product"]}
    await complaint(
        store, "E-3", "special-team", 1, ("SlaBreached", {"target": "consultation_answer"}), ("Escalated", late)
    )
    assert await to(person("liu.yang", "senior", "senior-agents")) == ["E-3", "E-1"]  # leads liaison-product ("*")
    breached = await store.pool.fetch("SELECT complaint_id FROM workflow.inbox WHERE breached ORDER BY 1")
    breached_ids = [r["complaint_id"] for r in breached]
    assert "E-1" in breached_ids and "E-3" not in breached_ids  # E-3: a department late to another, not the complaint

    # An approver late to the handler: escalated above the approver, the complaint not breached either.
    above = {"target": "compensation_approval", "level": 1, "to": "manager"}
    await complaint(
        store, "E-4", "senior-agents", 2, ("SlaBreached", {"target": "compensation_approval"}), ("Escalated", above)
    )
    row = await store.pool.fetchrow("SELECT breached, escalation_level FROM workflow.inbox WHERE complaint_id = 'E-4'")
    assert (row["breached"], row["escalation_level"]) == (False, 1)


async def test_a_whole_phone_number_or_e_mail_finds_the_callers_complaints_though_the_list_shows_them_masked(store):
    async def ids(search: str) -> list[str]:
        return [i.complaint_id for i in await inbox.list_items(store.pool, inbox.Filters(search=search))]

    await complaint(store, "P-1", "front-line-service", 3)  # 13912345678
    await store.append(
        [
            event(
                "P-2",
                1,
                "ComplaintReceived",
                channel="email",
                received_at=datetime.now(UTC).isoformat(),
                customer={"name": "Wei Li", "email": "Li.Wei@Example.com", "account_id": "ACC-77"},
                description="the parcel never came",
            )
        ]
    )
    # As the agent hears or reads it: with or without the country code, spaces or dashes.
    for number in ("13912345678", "+86 139 1234 5678", "139-1234-5678", "(+86) 139.1234.5678"):
        assert await ids(number) == ["P-1"], number
    assert await ids("li.wei@example.com") == ["P-2"] and await ids("acc-77") == ["P-2"]
    # Another caller's number, or part of one, is not theirs.
    assert await ids("13912345679") == [] and await ids("other@example.com") == []
    assert await ids("12345678") == []
    row = await inbox.row_of(store.pool, "P-1")
    assert "13912345678" not in str(dict(row))  # kept hashed, as the list keeps it masked

    # Erased: the keys go with the rest of the customer.
    await store.append([event("P-1", 4, "CustomerDataErased", erasure_id="er-1", requested_by="ops.admin")])
    assert await ids("13912345678") == []


async def test_rows_from_before_the_customer_keys_are_given_them_from_their_received_event(store):
    await complaint(store, "O-1", "front-line-service", 3)
    await complaint(store, "O-2", "front-line-service", 2)
    await store.pool.execute("UPDATE workflow.inbox SET customer_keys = NULL")  # as migration 015 leaves them

    assert await inbox.fill_customer_keys(store.pool, batch=1) == 2
    found = await inbox.list_items(store.pool, inbox.Filters(search="139 1234 5678"))
    assert sorted(i.complaint_id for i in found) == ["O-1", "O-2"]
    assert await inbox.fill_customer_keys(store.pool) == 0  # nothing left to fill


def test_the_inbox_and_intake_know_a_customer_by_the_same_keys_as_intake_has_stored_them():
    import hashlib

    from services.common.customer_identity import keys_of
    from services.intake.repeats import customer_keys
    from services.workflow.contract import Customer

    customer = Customer(name="李伟", phone="+86 139-1234-5678", email="Li.Wei@Example.com", account_id=" ACC-77 ")
    stored_before = [  # intake.submissions.customer_keys as intake has always written them
        hashlib.sha256(k.encode()).hexdigest()[:32]
        for k in ("phone:13912345678", "email:li.wei@example.com", "account:acc-77")
    ]
    assert customer_keys(customer) == stored_before
    assert keys_of(customer.model_dump(mode="json")) == stored_before
    assert keys_of({**customer.model_dump(mode="json"), "erased": True}) == []


async def test_who_took_a_complaint_down_is_kept_and_lists_what_they_recorded(store):
    taken = event("C-7", 1, "ComplaintReceived", channel="store", customer={"name": "Wu Hao"}, recorded_by="zhou.ting")
    by_form = event("C-8", 1, "ComplaintReceived", channel="web_form", customer={"name": "Li Na"}, description="x")
    assert inbox.changes_of([taken])["recorded_by"] == "zhou.ting"
    assert inbox.changes_of([by_form])["recorded_by"] is None
    await store.append([taken])
    await store.append([by_form])
    listed = await inbox.list_items(store.pool, inbox.Filters(recorded_by="zhou.ting"))
    assert [(i.complaint_id, i.recorded_by) for i in listed] == [("C-7", "zhou.ting")]
    assert await inbox.list_items(store.pool, inbox.Filters(recorded_by="zhao.min")) == []


async def test_my_alerts_leave_out_closed_complaints_and_say_where_each_complaint_is_now(store):
    from services.notify.contract import KeyedNotificationRequest
    from services.workflow import outbox

    def alert(cid: str, template: str) -> KeyedNotificationRequest:
        return KeyedNotificationRequest(
            idempotency_key=f"{cid}/{template}",
            complaint_id=cid,
            template=template,
            channel="internal",
            recipient_name="Zhou Ting",
            recipient_address="staff:zhou.ting",
            variables={"tier": 3},
        )

    await complaint(store, "C-1", "front-line-service", 3)
    await complaint(store, "C-2", "front-line-service", 3)
    await store.append([event("C-1", 4, "FollowUpRequested")], messages=[alert("C-1", "second_follow_up_needed")])
    await store.append([event("C-2", 4, "SlaWarning", target="resolution")], messages=[alert("C-2", "sla_warning")])
    shown = await outbox.alerts_to(store.pool, ["staff:zhou.ting"])
    assert [(a["complaint_id"], a["template"], a["stage"]) for a in shown] == [
        ("C-2", "sla_warning", "assigned"),
        ("C-1", "second_follow_up_needed", "second_follow_up"),
    ]
    await store.append([event("C-1", 5, "FollowedUp"), event("C-1", 6, "Closed")])
    assert [a["complaint_id"] for a in await outbox.alerts_to(store.pool, ["staff:zhou.ting"])] == ["C-2"]
    assert await outbox.alerts_to(store.pool, ["staff:liu.yang"]) == []  # someone else's
