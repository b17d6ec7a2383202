"""Notify's delivery under faults: a process that dies between sending and recording sends
again (at least once), every attempt is kept where it can be seen, and the receiver, which
deduplicates on Message-ID, sees the message once."""

import asyncio
import uuid

import pytest

from services.notify.contract import KeyedNotificationRequest, NotificationRequest
from services.notify.outbox import NO_OUTCOME, Outbox
from services.notify.providers import LocalMailboxProvider, OutboundMessage
from tests.conftest import migrated_pool


@pytest.fixture
async def outbox(fresh_database_url):
    pool = await migrated_pool(fresh_database_url, "notify")
    yield Outbox(pool)
    await pool.close()


def a_survey(complaint_id: str = "C-1") -> NotificationRequest:
    return NotificationRequest(
        complaint_id=complaint_id,
        template="survey_request",
        channel="sms",
        recipient_name="Li",
        recipient_address="13800001111",
        variables={"complaint_id": complaint_id, "answer_by": "tomorrow", "status_url": None},
    )


async def test_a_notify_that_died_mid_delivery_sends_again_and_the_receiver_sees_it_once(outbox, tmp_path):
    mailbox = LocalMailboxProvider(tmp_path)
    notification, _ = await outbox.accept("complaint-C-1/survey_request", a_survey())

    # The first process claims the message and the provider sends it; the process is killed
    # before it records the outcome.
    (claimed,) = await outbox._claim(batch=20)
    await mailbox.deliver(
        OutboundMessage(
            notification_id=str(claimed["id"]),
            channel="sms",
            recipient_name="Li",
            recipient_address="13800001111",
            subject="s",
            body="b",
            attempt=claimed["attempts"],
        )
    )
    assert await outbox.deliver_due(mailbox) == 0  # a live claim is never taken twice

    # The lease runs out; another process delivers it again.
    await outbox.pool.execute("UPDATE notify.notifications SET next_attempt_at = now()")
    assert await outbox.deliver_due(mailbox) == 1

    row = await outbox.pool.fetchrow("SELECT status, attempts, last_error FROM notify.notifications")
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 2, None)
    message_id = f"<{notification.notification_id}@complaints.notify>"
    attempts = mailbox.attempts("sms")
    assert [len(copies) for copies in attempts.values()] == [2]  # the second send shows
    assert list(attempts) == [message_id]
    received = mailbox.received("sms")
    assert list(received) == [message_id] and received[message_id].name == f"{notification.notification_id}.txt"
    assert "X-Attempt: 2" in attempts[message_id][1].read_text(encoding="utf-8")


async def test_an_outcome_recorded_clears_the_mark_of_the_claim(outbox, tmp_path):
    await outbox.accept("k-1", a_survey())
    (claimed,) = await outbox._claim(batch=20)
    assert claimed["previous_outcome"] is None
    assert await outbox.pool.fetchval("SELECT last_error FROM notify.notifications") == NO_OUTCOME
    await outbox.pool.execute("UPDATE notify.notifications SET next_attempt_at = now()")
    assert await outbox.deliver_due(LocalMailboxProvider(tmp_path)) == 1
    assert await outbox.pool.fetchval("SELECT last_error FROM notify.notifications") is None


async def test_a_provider_that_does_not_answer_is_given_up_before_the_lease_and_retried(outbox, tmp_path):
    """A hanging gateway must not hold a claim past its lease (another replica would send too)."""
    await outbox.accept("k-hang", a_survey("C-2"))
    await outbox.accept("k-ok", a_survey("C-3"))

    class HangsForC2(LocalMailboxProvider):
        async def deliver(self, message):
            if "C-2" in message.body:
                await asyncio.sleep(3600)
            return await super().deliver(message)

    # A timeout the delivery beside the hang keeps well within on a busy machine; the hang is an hour.
    assert await outbox.deliver_due(HangsForC2(tmp_path), timeout=3.0) == 2
    rows = {r["complaint_id"]: r for r in await outbox.pool.fetch("SELECT * FROM notify.notifications")}
    assert rows["C-3"]["status"] == "delivered"  # delivered side by side, not behind the hang
    assert rows["C-2"]["status"] == "pending" and "no answer from the provider" in rows["C-2"]["last_error"]


async def test_repeats_of_one_message_are_one_message_at_the_receiver(tmp_path):
    mailbox = LocalMailboxProvider(tmp_path)
    first, other = str(uuid.uuid4()), str(uuid.uuid4())

    async def send(notification_id, attempt):
        return await mailbox.deliver(
            OutboundMessage(notification_id, "email", "Wang", "w@example.com", "s", "b", attempt=attempt)
        )

    paths = await asyncio.gather(send(first, 1), send(first, 2), send(first, 3), send(other, 1))
    assert len(set(paths)) == 4  # nothing overwritten
    assert sorted(len(c) for c in mailbox.attempts("email").values()) == [1, 3]
    assert len(mailbox.received("email")) == 2


async def test_a_complaints_messages_are_listed_in_the_order_they_were_handed_over(outbox):
    """A batch shares its transaction's time, so created_at cannot order the list: a feedback
    was listed after the survey that followed it in the same batch (rows of equal time come
    back in the order of where they landed on disk)."""
    batch = [KeyedNotificationRequest(**a_survey("C-7").model_dump(), idempotency_key=f"C-7/{n}") for n in range(40)]
    accepted = await outbox.accept_many(batch)
    listed = await outbox.for_complaint("C-7")
    assert [n.notification_id for n in listed] == [a.notification_id for a in accepted]
