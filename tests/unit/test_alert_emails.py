"""E-mail copies of staff alerts (services/notify/alert_emails.py) on a real PostgreSQL: each
alert is in the console at once; a person's copies wait, then go out as one e-mail, stored in
one transaction with the copies it carries."""

from datetime import timedelta

import pytest

from services.notify import alert_emails
from services.notify.alert_emails import AlertEmails, keeping_copies
from services.notify.contract import NotificationRequest
from services.notify.outbox import Outbox
from services.notify.providers import LocalMailboxProvider
from tests.conftest import migrated_pool

WAIT = timedelta(seconds=30)
CHEN = "chen.jie@complaints.local"


@pytest.fixture
async def notify(fresh_database_url, tmp_path):
    pool = await migrated_pool(fresh_database_url, "notify")
    outbox = Outbox(pool, on_delivered=keeping_copies({"chen.jie": CHEN}))
    yield outbox, AlertEmails(pool, outbox, WAIT, "http://console.local/console"), LocalMailboxProvider(tmp_path)
    await pool.close()


def an_escalation(complaint_id: str, to: str = "staff:chen.jie") -> NotificationRequest:
    return NotificationRequest(
        complaint_id=complaint_id,
        template="sla_escalation",
        channel="internal",
        recipient_name=to.partition(":")[2],
        recipient_address=to,
        variables={
            "complaint_id": complaint_id,
            "tier": 1,
            "level": 1,
            "target": "first_response",
            "deadline": "09:15",
            "owner": None,
            "role": "owner",
        },
    )


async def alerts_delivered(outbox: Outbox, mailbox: LocalMailboxProvider, *requests: NotificationRequest) -> None:
    for n, request in enumerate(requests):
        await outbox.accept(f"alert-{request.complaint_id}-{n}-{request.recipient_address}", request)
    assert await outbox.deliver_due(mailbox) >= len(requests)  # and any e-mail stored before


async def waited(outbox: Outbox, seconds: float = 31) -> None:
    """As if the copies were kept `seconds` ago."""
    await outbox.pool.execute(
        "UPDATE notify.alert_email_copies SET kept_at = kept_at - make_interval(secs => $1)", seconds
    )


async def emails(outbox: Outbox) -> list:
    return await outbox.pool.fetch(
        "SELECT recipient_address, subject, body, complaint_id FROM notify.notifications WHERE channel = 'email'"
    )


async def test_a_burst_of_alerts_is_in_the_console_at_once_and_one_email_once_the_oldest_has_waited(notify):
    outbox, sender, mailbox = notify
    await alerts_delivered(
        outbox,
        mailbox,
        *(an_escalation(f"C-{n}") for n in (1, 2, 3)),
        an_escalation("C-4", to="role:lead@special-team"),  # a role: the console only
        an_escalation("C-5", to="staff:zhou.ting"),  # no e-mail in the roster
    )
    assert len(mailbox.received("internal")) == 5  # every alert where the console lists it

    assert await sender.send_due() == 0 and await emails(outbox) == []  # the copies wait
    await waited(outbox)
    assert await sender.send_due() == 1
    (email,) = await emails(outbox)
    assert (email["recipient_address"], email["complaint_id"]) == (CHEN, None)  # about three complaints
    assert email["subject"].startswith("[3 alerts / 3 条提醒] [tier 1] ESCALATION level 1: C-1")
    assert [line.split(": ", 1)[1] for line in email["body"].splitlines() if line.startswith("- ")] == [
        f"[tier 1] ESCALATION level 1: C-{n} first response overdue / 超时升级 L1" for n in (1, 2, 3)
    ]
    assert await sender.send_due() == 0  # sent once

    assert await outbox.deliver_due(mailbox) == 1  # the e-mail goes out as any message does
    assert len(mailbox.received("email")) == 1


async def test_a_later_alert_waits_again_and_an_email_about_one_complaint_names_it(notify):
    outbox, sender, mailbox = notify
    await alerts_delivered(outbox, mailbox, an_escalation("C-1"))
    await waited(outbox)
    assert await sender.send_due() == 1
    await alerts_delivered(outbox, mailbox, an_escalation("C-2"))
    assert await sender.send_due() == 0
    await waited(outbox)
    assert await sender.send_due() == 1
    second = (await emails(outbox))[1]
    assert second["complaint_id"] == "C-2" and second["subject"].startswith("[tier 1] ESCALATION level 1: C-2")
    assert "Complaint C-2 (tier 1) missed its first response deadline" in second["body"]  # the alert itself


async def test_an_alert_delivered_twice_keeps_one_copy(notify):
    outbox, _, mailbox = notify
    await alerts_delivered(outbox, mailbox, an_escalation("C-1"))
    alert_id = await outbox.pool.fetchval("SELECT id FROM notify.notifications")
    async with outbox.pool.acquire() as conn:  # notify died before it recorded the delivery
        await keeping_copies({"chen.jie": CHEN})(conn, alert_id, "internal", "staff:chen.jie")
    assert await outbox.pool.fetchval("SELECT count(*) FROM notify.alert_email_copies") == 1


async def test_an_email_that_cannot_be_stored_leaves_its_copies_waiting(notify, monkeypatch):
    outbox, sender, mailbox = notify
    await alerts_delivered(outbox, mailbox, an_escalation("C-1"), an_escalation("C-2"))
    await waited(outbox)
    monkeypatch.setattr(alert_emails, "TEMPLATE", "no_such_template")
    with pytest.raises(RuntimeError, match="unknown template"):
        await sender.send_due()
    assert await emails(outbox) == []
    assert await outbox.pool.fetchval("SELECT count(*) FROM notify.alert_email_copies WHERE email_id IS NULL") == 2

    monkeypatch.setattr(alert_emails, "TEMPLATE", "alert_email")
    assert await sender.send_due() == 1
    assert await outbox.pool.fetchval("SELECT count(*) FROM notify.alert_email_copies WHERE email_id IS NULL") == 0
