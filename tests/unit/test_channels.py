"""Notify's channels: e-mail as MIME, signed webhooks to gateways, the next address when one
fails for good, dead letters, and a gateway's delivery receipt."""

import asyncio
import dataclasses
import email.policy
import json
import re
import uuid
from email.parser import BytesParser

import httpx
import pytest
from aiosmtplib.email import flatten_message
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr

from services.common.settings import Settings
from services.notify.contract import Address, NotificationRequest, ReplyAddresses
from services.notify.local_smtp import LocalSmtpServer
from services.notify.outbox import DEAD, MAX_ATTEMPTS, Outbox, refresh_gauges
from services.notify.providers import Delivery, DeliveryFailed, OutboundMessage
from services.notify.smtp import SmtpProvider, mime_message
from services.notify.webhook import WebhookProvider, signed_headers, verify
from services.run import LocalSystem, free_port, settings_on_free_ports
from tests.conftest import migrated_pool

MESSAGE = OutboundMessage(
    notification_id=str(uuid.uuid4()),
    channel="email",
    recipient_name="王芳",
    recipient_address="wang.fang@example.com",
    subject="您的投诉已受理（20261130-ABCDEF12）",
    body="您好：\n\n查看进度：https://example.com/track/t\n",
    complaint_id="20261130-ABCDEF12",
)
REPLIES = ReplyAddresses("care+{complaint_id}@example.com", key=b"the key notify and intake share")


def test_an_email_is_utf8_mime_with_both_parts_and_names_its_thread():
    mail = mime_message(MESSAGE, "Customer Care <care@example.com>", REPLIES)
    raw = flatten_message(mail)  # as aiosmtplib puts it on the wire
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]  # the Chinese subject and name, encoded
    parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert parsed["Subject"] == MESSAGE.subject and parsed["To"].addresses[0].display_name == "王芳"
    assert parsed["Message-ID"] == MESSAGE.message_id
    thread, reply_to = parsed["In-Reply-To"], parsed["Reply-To"]
    assert thread == parsed["References"] and thread.startswith("<complaint-20261130-ABCDEF12.")
    assert reply_to.startswith("care+20261130-ABCDEF12.") and reply_to.endswith("@example.com")
    assert REPLIES.complaint_of_thread(thread) == REPLIES.complaint_of_address(reply_to) == "20261130-ABCDEF12"
    assert "查看进度" in parsed.get_body(preferencelist=("plain",)).get_content()
    html = parsed.get_body(preferencelist=("html",)).get_content()
    assert '<a href="https://example.com/track/t">' in html


def test_every_attempt_at_an_email_is_the_same_mime_but_its_date_and_no_body_ends_a_part():
    def sent(message: OutboundMessage) -> bytes:
        raw = flatten_message(mime_message(message, "care@example.com", REPLIES))
        return re.sub(rb"^Date: .*\r\n", b"", raw, flags=re.M)

    first = sent(MESSAGE)
    assert sent(dataclasses.replace(MESSAGE, attempt=2)) == first  # a receiver sees one message twice
    assert sent(dataclasses.replace(MESSAGE, notification_id=str(uuid.uuid4()))) != first
    # A body that writes the boundary itself is still one body in one part of each kind.
    boundary = BytesParser(policy=email.policy.default).parsebytes(first).get_boundary()
    assert boundary is not None
    tricky = dataclasses.replace(MESSAGE, body=f"--{boundary}\n\n--{boundary}--\nend")
    parsed = BytesParser(policy=email.policy.default).parsebytes(sent(tricky))
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(preferencelist=("plain",)).get_content() == tricky.body


def test_a_reply_finds_its_complaint_only_by_an_address_or_thread_we_signed():
    address, thread = REPLIES.reply_to("20261130-ABCDEF12"), REPLIES.thread_id("20261130-ABCDEF12")
    assert address is not None
    assert REPLIES.complaint_of_address(f"Care <{address.lower()}>") == "20261130-ABCDEF12"  # case may change
    assert REPLIES.complaint_of_thread(f"<other@mail.example.com> {thread}") == "20261130-ABCDEF12"
    # A guessed id, unsigned or signed with another key, names no complaint.
    assert REPLIES.complaint_of_address("care+20261130-abcdef12@example.com") is None
    assert REPLIES.complaint_of_thread("<complaint-20261130-ABCDEF12@complaints.notify>") is None
    forger = ReplyAddresses(REPLIES.template, key=b"a guess")
    assert REPLIES.complaint_of_address(forger.reply_to("20261130-ABCDEF12") or "") is None
    assert REPLIES.complaint_of_thread(forger.thread_id("20261130-ABCDEF12")) is None
    assert REPLIES.complaint_of_address(address.replace("20261130-ABCDEF12", "20261130-ABCDEF13")) is None
    assert REPLIES.complaint_of_address("care@example.com") is None
    assert REPLIES.complaint_of_address(address.replace("example.com", "elsewhere.com")) is None
    # After a new key, answers to messages the old one signed still find their complaint.
    rotated = ReplyAddresses(REPLIES.template, key=b"the next key", previous_keys=(b"the key notify and intake share",))
    assert rotated.complaint_of_address(address) == rotated.complaint_of_thread(thread) == "20261130-ABCDEF12"
    assert rotated.reply_to("20261130-ABCDEF12") != address  # new messages carry the new key's signature
    assert REPLIES.complaint_of_address(rotated.reply_to("20261130-ABCDEF12") or "") is None
    # Without a key messages still thread, and no answer is matched.
    unkeyed = ReplyAddresses(REPLIES.template, key=None)
    assert unkeyed.thread_id("20261130-ABCDEF12") == "<complaint-20261130-ABCDEF12@complaints.notify>"
    assert unkeyed.reply_to("20261130-ABCDEF12") is None
    assert unkeyed.complaint_of_thread(thread) is None and unkeyed.complaint_of_address(address) is None


@pytest.fixture
def smtp_server(tmp_path):
    server = LocalSmtpServer(tmp_path / "mail", port=free_port())
    server.handler.refuse = lambda address: address.startswith("nobody@")
    server.start()
    yield server
    server.stop()


def email_to(address: str) -> OutboundMessage:
    return OutboundMessage(**{**MESSAGE.__dict__, "notification_id": str(uuid.uuid4()), "recipient_address": address})


async def test_messages_in_a_burst_share_one_smtp_session_and_a_refusal_does_not_end_it(smtp_server):
    mailer = SmtpProvider(smtp_server.host, smtp_server.port, "care@example.com", REPLIES)
    sent = [email_to(f"customer{n}@example.com") for n in range(3)]
    try:
        for message in sent[:2]:
            await mailer.deliver(message)
        with pytest.raises(DeliveryFailed) as bounced:
            await mailer.deliver(email_to("nobody@example.com"))
        assert bounced.value.permanent
        await mailer.deliver(sent[2])
    finally:
        await mailer.close()
    assert smtp_server.handler.sessions == 1
    assert smtp_server.handler.transactions == {m.message_id: 1 for m in sent}


async def test_a_session_idle_for_a_while_is_ended(smtp_server):
    mailer = SmtpProvider(smtp_server.host, smtp_server.port, "care@example.com", REPLIES)
    mailer.IDLE_SECONDS = 0.2
    await mailer.deliver(email_to("first@example.com"))
    [session] = mailer._idle
    for _ in range(50):
        if not session.smtp.is_connected:
            break
        await asyncio.sleep(0.1)
    assert not session.smtp.is_connected and not mailer._idle  # ended with QUIT, not held open
    await mailer.deliver(email_to("second@example.com"))
    await mailer.close()
    assert smtp_server.handler.sessions == 2


async def test_a_session_is_retired_after_its_messages_and_closed_when_it_failed(smtp_server):
    mailer = SmtpProvider(smtp_server.host, smtp_server.port, "care@example.com", REPLIES)
    mailer.MESSAGES_PER_SESSION = 2
    try:
        for n in range(5):
            await mailer.deliver(email_to(f"customer{n}@example.com"))
        assert smtp_server.handler.sessions == 3  # 2 + 2 + 1
        smtp_server.handler.unavailable = True  # 421: the server ends the session
        with pytest.raises(DeliveryFailed) as busy:
            await mailer.deliver(email_to("later@example.com"))
        assert not busy.value.permanent
        smtp_server.handler.unavailable = False
        await mailer.deliver(email_to("later@example.com"))
    finally:
        await mailer.close()
    assert smtp_server.handler.sessions == 4  # the failed session was not used again
    assert sum(smtp_server.handler.transactions.values()) == 6


async def test_a_message_after_the_server_restarted_goes_out_once_on_a_new_session(smtp_server):
    mailer = SmtpProvider(smtp_server.host, smtp_server.port, "care@example.com", REPLIES)
    first, second = email_to("first@example.com"), email_to("second@example.com")
    try:
        await mailer.deliver(first)
        # The kept session dies with the server; this loop has not run since, so the client has
        # not seen the connection close: the send fails on the wire and goes again, once.
        smtp_server.stop()
        smtp_server.start()
        await mailer.deliver(second)
    finally:
        await mailer.close()
    assert smtp_server.handler.sessions == 2
    assert smtp_server.handler.transactions == {first.message_id: 1, second.message_id: 1}


def gateway(status: int, seen: list[dict], secret: str = "s3cret") -> httpx.AsyncClient:
    """An SMS gateway as our webhook contract describes it (we cannot reach a real one here)."""
    app = FastAPI()

    @app.post("/send")
    async def send(request: Request) -> Response:
        body = await request.body()
        ok = verify(
            secret, request.headers.get("x-complaints-timestamp"), request.headers.get("x-complaints-signature"), body
        )
        seen.append({"signed": ok, "key": request.headers.get("idempotency-key"), **json.loads(body)})
        return Response(json.dumps({"id": "gw-1"}), status_code=status if ok else 401)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def test_a_webhook_is_signed_and_its_answer_decides_retry_or_fallback():
    seen: list[dict] = []
    sms = OutboundMessage(**{**MESSAGE.__dict__, "channel": "sms", "recipient_address": "13812345678"})
    assert await WebhookProvider("http://gateway/send", "s3cret", gateway(200, seen)).deliver(sms) == Delivery(
        reference="gw-1", answer='200 {"id": "gw-1"}'
    )
    assert seen[0]["signed"] and seen[0]["key"] == sms.notification_id and seen[0]["to"]["address"] == "13812345678"
    with pytest.raises(DeliveryFailed) as invalid:
        await WebhookProvider("http://gateway/send", "s3cret", gateway(400, seen)).deliver(sms)
    assert invalid.value.permanent  # an invalid number: try the next address
    with pytest.raises(DeliveryFailed) as busy:
        await WebhookProvider("http://gateway/send", "s3cret", gateway(503, seen)).deliver(sms)
    assert not busy.value.permanent  # retried later
    with pytest.raises(DeliveryFailed):
        await WebhookProvider("http://gateway/send", "wrong", gateway(200, seen)).deliver(sms)
    assert not seen[-1]["signed"]


def test_a_signature_fails_for_another_body_or_an_old_timestamp():
    headers = signed_headers("k", b'{"a":1}', now=1_000_000)
    timestamp, signature = headers["X-Complaints-Timestamp"], headers["X-Complaints-Signature"]
    assert verify("k", timestamp, signature, b'{"a":1}', now=1_000_100)
    assert not verify("k", timestamp, signature, b'{"a":2}', now=1_000_100)
    assert not verify("k", timestamp, signature, b'{"a":1}', now=1_000_000 + 301)  # a replay
    assert not verify("other", timestamp, signature, b'{"a":1}', now=1_000_100)


class Refusing:
    """A provider that refuses one channel for good, or every attempt for a while."""

    def __init__(self, permanent_on: str | None = None):
        self.permanent_on, self.delivered = permanent_on, []

    async def deliver(self, message: OutboundMessage) -> Delivery:
        if message.channel == self.permanent_on:
            raise DeliveryFailed("550 5.1.1 no such mailbox", permanent=True)
        if self.permanent_on is None:
            raise DeliveryFailed("421 try again later")
        self.delivered.append((message.channel, message.recipient_address))
        return Delivery(reference="ok", answer="250 OK", confirmed=True)


@pytest.fixture
async def outbox(fresh_database_url):
    pool = await migrated_pool(fresh_database_url, "notify")
    yield Outbox(pool)
    await pool.close()


def receipt(fallbacks: list[Address]) -> NotificationRequest:
    return NotificationRequest(
        complaint_id="C-1",
        template="received",
        channel="email",
        recipient_name="Li",
        recipient_address="li@example.com",
        language="en",
        fallbacks=fallbacks,
        variables={"complaint_id": "C-1", "status_url": None, "first_response_by": None, "resolution_by": None},
    )


async def due_now(outbox: Outbox) -> None:
    await outbox.pool.execute("UPDATE notify.notifications SET next_attempt_at = now()")


async def test_a_permanent_failure_moves_to_the_next_address_and_every_attempt_is_kept(outbox):
    notification, _ = await outbox.accept("k-1", receipt([Address(channel="sms", address="13912345678")]))
    provider = Refusing(permanent_on="email")
    assert await outbox.deliver_due(provider) == 1
    assert await outbox.deliver_due(provider) == 1  # at once on the next address, no backoff
    stored = await outbox.get(notification.notification_id)
    assert (stored.status, stored.channel, stored.recipient_address) == ("delivered", "sms", "13912345678")
    attempts = await outbox.attempts_of(notification.notification_id)
    assert [(a.channel, a.outcome) for a in attempts] == [("email", "failed"), ("sms", "delivered")]
    assert "550" in attempts[0].answer and provider.delivered == [("sms", "13912345678")]


async def test_a_message_no_address_takes_is_a_dead_letter_an_operator_can_retry(outbox):
    notification, _ = await outbox.accept("k-2", receipt([]))
    assert await outbox.deliver_due(Refusing(permanent_on="email")) == 1
    assert (await outbox.get(notification.notification_id)).status == "failed"  # no other address

    retried, _ = await outbox.accept("k-3", receipt([]))
    for _ in range(MAX_ATTEMPTS):
        await due_now(outbox)
        await outbox.deliver_due(Refusing())  # the server keeps answering 421
    dead = await outbox.get(retried.notification_id)
    assert (dead.status, dead.attempts) == ("failed", MAX_ATTEMPTS) and "421" in dead.last_error
    outcomes = [a.outcome for a in await outbox.attempts_of(retried.notification_id)]
    assert outcomes == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert (await outbox.retry(retried.notification_id)).status == "pending"


async def test_a_customers_dead_letter_is_listed_for_its_complaint_until_told_once_per_failure(outbox):
    refusing = Refusing(permanent_on="email")
    dead, _ = await outbox.accept("k-dead", receipt([]))
    delivered, _ = await outbox.accept("k-fine", receipt([Address(channel="sms", address="13912345678")]))
    staff = receipt([]).model_copy(update={"channel": "internal", "recipient_address": "staff:zhou.ting"})
    staff_alert, _ = await outbox.accept("k-staff", staff)
    await outbox.pool.execute(
        "UPDATE notify.notifications SET status = 'failed' WHERE id = $1", staff_alert.notification_id
    )
    while await outbox.deliver_due(refusing):
        pass

    (listed,) = await outbox.undelivered(limit=10)
    assert (listed.notification_id, listed.complaint_id, listed.template) == (dead.notification_id, "C-1", "received")
    assert listed.channel == "email" and "550" in listed.reason and listed.attempts_logged == 1
    await refresh_gauges(outbox.pool)
    assert DEAD._value.get() == 2  # the customer's and the staff alert: nobody was told of either yet
    assert not await outbox.told(dead.notification_id, attempts_logged=0)  # not the failure that was read
    assert await outbox.told(dead.notification_id, attempts_logged=1)
    assert await outbox.undelivered(limit=10) == []
    await refresh_gauges(outbox.pool)
    assert DEAD._value.get() == 1  # the customer's is its handler's now; the staff alert waits for an operator

    await outbox.retry(dead.notification_id)  # an operator's retry, failing again: a new failure to tell
    while await outbox.deliver_due(refusing):
        pass
    (again,) = await outbox.undelivered(limit=10)
    assert again.notification_id == dead.notification_id and again.attempts_logged == 2


async def test_a_message_given_up_because_its_customer_was_erased_is_no_handlers_call(outbox):
    waiting, _ = await outbox.accept("k-erased", receipt([]))
    assert await outbox.erase_complaint("C-1") == 1
    assert (await outbox.get(waiting.notification_id)).status == "failed"  # nobody left to send it to
    assert await outbox.undelivered(limit=10) == []  # and nobody to call: they asked to be forgotten


async def test_a_dead_letters_reason_names_no_customer_address(outbox):
    class NamingTheAddress(Refusing):
        async def deliver(self, message: OutboundMessage) -> Delivery:
            raise DeliveryFailed(f"550 <{message.recipient_address}>: user unknown", permanent=True)

    await outbox.accept("k-named", receipt([]))
    await outbox.deliver_due(NamingTheAddress())
    (listed,) = await outbox.undelivered(limit=10)
    assert "li@example.com" not in listed.reason and "user unknown" in listed.reason


async def test_retries_back_off_with_jitter(outbox):
    await outbox.accept("k-4", receipt([]))
    delays = []
    for _ in range(4):
        await due_now(outbox)
        await outbox.deliver_due(Refusing())
        # From the failed attempt, as recorded in the same transaction: not from the test's clock,
        # which a busy machine would put any distance before it.
        wait = await outbox.pool.fetchval(
            """SELECT extract(epoch FROM n.next_attempt_at - a.at) FROM notify.notifications n
               JOIN notify.delivery_attempts a ON a.notification_id = n.id ORDER BY a.id DESC LIMIT 1"""
        )
        delays.append(float(wait))
    # Attempt n + 1 failed: the next waits 2^(n+1) s, jittered down to half of it.
    assert all(2 ** (n + 1) * 0.5 - 0.001 <= d <= 2 ** (n + 1) + 0.001 for n, d in enumerate(delays)), delays
    assert delays[3] > delays[0]


async def test_a_gateways_receipt_confirms_or_moves_on(outbox):
    sent, _ = await outbox.accept("k-5", receipt([Address(channel="sms", address="13912345678")]))
    await outbox.pool.execute("UPDATE notify.notifications SET status = 'sent', attempts = 1")
    moved = await outbox.record_receipt(sent.notification_id, delivered=False, answer="mailbox full")
    assert (moved.status, moved.channel) == ("pending", "sms")
    await outbox.pool.execute("UPDATE notify.notifications SET status = 'sent'")
    confirmed = await outbox.record_receipt(sent.notification_id, delivered=True, answer="read")
    assert confirmed.status == "delivered" and confirmed.delivered_at is not None


def test_the_launcher_hands_the_reply_keys_to_the_services_that_read_them_back(tmp_path, monkeypatch):
    settings = settings_on_free_ports(
        tmp_path, mail_reply_key=SecretStr("now"), mail_reply_previous_keys=[SecretStr("before")]
    )
    env = LocalSystem(settings).service_env("intake")
    for name in ("COMPLAINTS_MAIL_REPLY_KEY", "COMPLAINTS_MAIL_REPLY_PREVIOUS_KEYS"):
        monkeypatch.setenv(name, env[name])
    replies = ReplyAddresses.from_settings(Settings(_env_file=None))
    old = ReplyAddresses(replies.template, key=b"before")
    assert replies.complaint_of_thread(old.thread_id("20261130-ABCDEF12")) == "20261130-ABCDEF12"
    assert replies.reply_to("20261130-ABCDEF12") == ReplyAddresses(replies.template, key=b"now").reply_to(
        "20261130-ABCDEF12"
    )
