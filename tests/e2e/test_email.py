"""Customers by e-mail over a real SMTP server: the local one `make run` starts (aiosmtpd,
keeping a Maildir), with the whole system on real ports."""

import asyncio
import re
import uuid
from email.message import EmailMessage
from email.utils import parseaddr

import httpx
import pytest

from services.notify.contract import ReplyAddresses
from tests.e2e.test_end_to_end import _stage_is, notifications_of, submit_new

pytestmark = pytest.mark.e2e
RECEIPTS = ("received", "after_hours")  # after hours, the auto-reply is the receipt


SYSTEM_SETTINGS = {"notify_poll_seconds": 0.2, "alert_email_wait_seconds": 1.0}


async def eventually(check, timeout: float = 30.0):
    for _ in range(int(timeout / 0.2)):
        if found := await check():
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


async def routed(http: httpx.AsyncClient, staff_url: str, headers: dict) -> None:
    """Until the complaint's receipt and routing are recorded (staff act on it from then)."""

    async def assigned():
        answer = await http.get(f"{staff_url}/events", headers=headers)
        return answer.status_code == 200 and any(e["type"] == "Assigned" for e in answer.json()["events"])

    await eventually(assigned)


def mail_about(system, complaint_id: str) -> list[EmailMessage]:
    assert system.mail is not None
    return [m for m in system.mail.messages() if m["X-Complaint-Id"] == complaint_id]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


async def submit(system, http: httpx.AsyncClient, **customer) -> tuple[str, str]:
    n = uuid.uuid4().hex[:8]
    sent = await http.post(
        f"{system.settings.url_of('intake')}/v1/complaints",
        headers={"Idempotency-Key": n},
        json={
            "channel": "web_form",
            "description": f"订单 {n} 被重复扣款，请退款",
            "customer": {"name": "王芳", "email": f"wang.fang.{n}@example.com", **customer},
        },
    )
    assert sent.status_code == 202, sent.text
    return sent.json()["complaint_id"], f"wang.fang.{n}@example.com"


async def test_receipt_result_and_survey_arrive_by_email_once_with_the_link_and_local_times(system):
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        complaint_id, address = await submit(system, http)
        receipt = await eventually(lambda: _receipt(system, complaint_id))
        assert receipt["To"].addresses[0].addr_spec == address
        assert receipt["Subject"].startswith("您的投诉已")  # a Chinese subject, encoded on the wire
        assert complaint_id in receipt["Subject"]
        body = text_of(receipt)
        link = next(word for word in body.split() if "/track/" in word).split("：")[-1]
        assert "北京时间" in body and "+00:00" not in body  # a time written for people, in their zone
        assert receipt.get_body(preferencelist=("html",)) is not None  # and an HTML part
        replies = ReplyAddresses.from_settings(system.settings)  # the key `make run` keeps in the data folder
        assert receipt["In-Reply-To"] == receipt["References"] == replies.thread_id(complaint_id)  # one thread
        assert receipt["Reply-To"] == replies.reply_to(complaint_id)
        assert receipt["Reply-To"].startswith(f"care+{complaint_id}.")  # the complaint's own, signed
        page = await http.get(link)
        assert page.status_code == 200 and complaint_id in page.text  # the tracking link works

        staff = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
        await routed(http, staff, await system.staff_headers("wang.fang"))
        view = (await http.get(staff, headers=await system.staff_headers("wang.fang"))).json()
        handler = await system.staff_headers(view["assignee"] or "wang.fang")
        assert (await http.post(f"{staff}/acknowledge", headers=handler)).status_code == 200
        resolved = await http.post(
            f"{staff}/resolve",
            headers=handler,
            json={
                "cause": "支付重试导致重复扣款",
                "measures_taken": "已退还第二笔扣款",
                "improvement_plan": "重试使用同一支付键",
            },
        )
        assert resolved.status_code == 200, resolved.text
        result = await eventually(lambda: _one(system, complaint_id, "书面处理结果"))
        assert "已退还第二笔扣款" in text_of(result)
        survey = await eventually(lambda: _one(system, complaint_id, "请您评价"))
        assert "北京时间" in text_of(survey)

    # The business liaison's alert also reached their own mailbox (tier 2: money lost), in the
    # one e-mail that carries every alert for them of the moment (other complaints' too).
    def to_staff() -> list[EmailMessage]:
        assert system.mail is not None
        return [
            m
            for m in system.mail.messages()
            if m["To"].addresses[0].domain == "complaints.local" and complaint_id in text_of(m)
        ]

    async def staff_mail() -> list[EmailMessage] | None:
        return to_staff() or None

    await eventually(staff_mail)
    assert [m["To"].addresses[0].addr_spec for m in to_staff()] == ["ma.jun@complaints.local"]

    # Each once at the SMTP server, however the deliveries went.
    subjects = [m["Subject"] for m in mail_about(system, complaint_id)]
    assert len(subjects) == len(set(subjects)), subjects
    counts = system.mail.handler.transactions
    assert all(counts[m["Message-ID"]] == 1 for m in mail_about(system, complaint_id))


async def _receipt(system, complaint_id: str) -> EmailMessage | None:
    """The receipt: 已受理, or 已登记 (the auto-reply) when the test runs outside working hours."""
    return await _one(system, complaint_id, "已受理") or await _one(system, complaint_id, "已登记")


async def _one(system, complaint_id: str, subject_part: str) -> EmailMessage | None:
    found = [m for m in mail_about(system, complaint_id) if subject_part in m["Subject"]]
    return found[0] if found else None


async def submit_with_a_phone_too(system, http: httpx.AsyncClient, email: str, name: str, description: str) -> str:
    """A complaint whose customer prefers e-mail and gave a phone as well: where a message
    that fails for good by e-mail goes next. Its id."""
    sent = await http.post(
        f"{system.settings.url_of('intake')}/v1/complaints",
        headers={"Idempotency-Key": uuid.uuid4().hex},
        json={
            "channel": "hotline",
            "description": description,
            "customer": {"name": name, "email": email, "phone": "13912345678", "preferred_channel": "email"},
        },
    )
    assert sent.status_code == 202, sent.text
    return sent.json()["complaint_id"]


async def receipt_delivered_by_sms(http: httpx.AsyncClient, system, complaint_id: str) -> dict | None:
    """The complaint's receipt as notify keeps it, once it has reached the phone."""
    items = await notifications_of(http, system, complaint_id)
    receipt = next((n for n in items if n["template"] in RECEIPTS), None)
    return receipt if receipt and receipt["channel"] == "sms" and receipt["status"] == "delivered" else None


async def attempts_of(http: httpx.AsyncClient, system, notification_id: str) -> list[dict]:
    url = f"{system.settings.url_of('notify')}/v1/notifications/{notification_id}/attempts"
    return (await http.get(url, headers=system.headers_as("operator"))).json()


async def asked_a_question(system, http: httpx.AsyncClient) -> tuple[str, str, str, dict, EmailMessage]:
    """A complaint by e-mail whose handler asked the customer a question: its id, the
    customer's address, its staff URL, a manager's headers and the question's e-mail."""
    complaint_id, address = await submit(system, http)
    staff = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
    as_manager = await system.staff_headers("wang.fang")
    await routed(http, staff, as_manager)
    assert (await http.post(f"{staff}/acknowledge", headers=as_manager)).status_code == 200
    asked = await http.post(f"{staff}/request-info", headers=as_manager, json={"question": "哪一个订单？"})
    assert asked.status_code == 200 and asked.json()["stage"] == "waiting_on_customer"
    question = await eventually(lambda: _one(system, complaint_id, "需要您补充信息"))
    return complaint_id, address, staff, as_manager, question


async def test_a_bounced_address_falls_back_to_the_phone_and_staff_see_every_attempt(system):
    assert system.mail is not None
    system.mail.handler.refuse = lambda address: address.startswith("gone.")
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        email = f"gone.{uuid.uuid4().hex[:8]}@example.com"
        complaint_id = await submit_with_a_phone_too(system, http, email, "Li Wei", "charged twice for my order")
        receipt = await eventually(lambda: receipt_delivered_by_sms(http, system, complaint_id))
        assert receipt["subject"].startswith(f"We have received your complaint {complaint_id}")  # English, as written
        attempts = await attempts_of(http, system, receipt["notification_id"])
        assert [(a["channel"], a["outcome"]) for a in attempts] == [("email", "failed"), ("sms", "delivered")]
        assert "550" in attempts[0]["answer"] and attempts[0]["recipient_address"].startswith("g***@")


async def test_a_question_no_address_of_the_customer_takes_reaches_the_handler_instead(system):
    """The customer gave only an e-mail, which stopped working after the receipt: the handler's
    question fails for good. The complaint hears of it: the clock stops waiting for an answer
    that cannot come, and its owner is alerted and sees what never arrived, and why."""
    assert system.mail is not None
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        complaint_id, address = await submit(system, http)
        staff = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
        as_manager = await system.staff_headers("wang.fang")
        await routed(http, staff, as_manager)
        assert (await http.post(f"{staff}/acknowledge", headers=as_manager)).status_code == 200
        await eventually(lambda: _one(system, complaint_id, "已有专人负责"))
        refused_before = system.mail.handler.refuse
        system.mail.handler.refuse = lambda to: refused_before(to) or to == address
        try:
            asked = await http.post(f"{staff}/request-info", headers=as_manager, json={"question": "哪一个订单？"})
            assert asked.status_code == 200 and asked.json()["stage"] == "waiting_on_customer"

            async def told() -> dict | None:
                view = (await http.get(staff, headers=as_manager)).json()
                return view if view["not_reached"] else None

            view = await eventually(told, timeout=60)
        finally:
            system.mail.handler.refuse = refused_before
        assert view["stage"] == "acknowledged"  # the clock runs again
        (never,) = view["not_reached"]
        assert (never["template"], never["channel"]) == ("info_request", "email")
        assert "550" in never["reason"] and address not in never["reason"]
        events = (await http.get(f"{staff}/events", headers=as_manager)).json()["events"]
        assert [e["type"] for e in events][-2:] == ["CustomerNotReached", "ClockResumed"]

        async def alerted() -> list[dict] | None:  # the relay hands the alert to notify within a second
            items = await notifications_of(http, system, complaint_id)
            return [n for n in items if n["template"] == "customer_not_reached"] or None

        alerts = await eventually(alerted)
        assert [(n["channel"], n["recipient_address"]) for n in alerts] == [("internal", "staff:wang.fang")]
        assert "哪一个订单" not in alerts[0]["body"] and "补充信息请求" in alerts[0]["body"]

        # The handler calls the customer and records it; only who may act on the complaint may.
        reached = f"{staff}/customer-reached"
        called = {"how": "phone", "note": "问了订单号：12345"}
        empty = await http.post(reached, headers=as_manager, json={"how": "phone", "note": ""})
        assert empty.status_code == 422 and empty.json()["fields"][0]["field"] == "note"
        outsider = await http.post(reached, headers=await system.staff_headers("zhou.ting"), json=called)
        assert outsider.status_code == 403, outsider.text
        done = await http.post(reached, headers=as_manager, json=called)
        assert done.status_code == 200 and done.json()["not_reached"] == []
        again = await http.post(reached, headers=as_manager, json=called)
        assert again.status_code == 409 and again.json()["reason"]["code"] == "customer_not_unreached"

    # Only the workflow service reads and clears notify's undelivered messages.
    undelivered = f"{system.settings.url_of('notify')}/v1/undelivered"
    async with httpx.AsyncClient(timeout=10) as anyone:
        assert (await anyone.get(undelivered)).status_code == 401
        assert (await anyone.get(undelivered, headers=system.headers_as("intake"))).status_code == 403
        told_url = f"{undelivered}/{never['notification_id']}/told"
        assert (await anyone.post(told_url, params={"attempts_logged": 1})).status_code == 401
        as_workflow = system.headers_as("workflow")
        listed = (await anyone.get(undelivered, headers=as_workflow)).json()
        assert never["notification_id"] not in [m["notification_id"] for m in listed]  # told, so no longer listed
        bad = await anyone.post(told_url, params={"attempts_logged": -1}, headers=as_workflow)
        assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "attempts_logged"


async def test_a_message_failing_again_after_its_complaint_closed_is_counted_and_left_for_operators(system):
    """An operator puts a closed complaint's dead letter back and it fails again: nobody handles
    the complaint any more, so the failure is logged and counted, stays in notify's dead letters,
    and is not read again; the loop goes on."""
    assert system.mail is not None
    address = f"closed.box.{uuid.uuid4().hex[:8]}@example.com"
    refused_before = system.mail.handler.refuse
    system.mail.handler.refuse = lambda to: refused_before(to) or to == address
    notify, as_workflow = system.settings.url_of("notify"), system.headers_as("workflow")
    try:
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
            sent = await http.post(
                f"{system.settings.url_of('intake')}/v1/complaints",
                headers={"Idempotency-Key": uuid.uuid4().hex},
                json={
                    "channel": "web_form",
                    "description": "订单被重复扣款",
                    "customer": {"name": "王芳", "email": address},
                },
            )
            assert sent.status_code == 202, sent.text
            complaint_id, status_url = sent.json()["complaint_id"], sent.json()["status_url"]
            staff = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
            as_manager = await system.staff_headers("wang.fang")

            async def told(*templates: str) -> list[dict] | None:
                """The complaint's view once it lists these messages as never received."""
                view = (await http.get(staff, headers=as_manager)).json()
                found = [m for m in view.get("not_reached", []) if m["template"] in templates]
                return found if len(found) == len(templates) else None

            async def receipt_told() -> list[dict] | None:  # the auto-reply, after hours
                return await told(RECEIPTS[0]) or await told(RECEIPTS[1])

            (receipt,) = await eventually(receipt_told, timeout=60)
            assert (await http.post(f"{staff}/acknowledge", headers=as_manager)).status_code == 200
            resolution = {"cause": "重复扣款", "measures_taken": "已退款", "improvement_plan": "加强校验"}
            resolved = await http.post(f"{staff}/resolve", headers=as_manager, json=resolution)
            assert resolved.status_code == 200, resolved.text
            # Told while it was open: the acknowledgement, the written result and the survey.
            await eventually(lambda: told("acknowledged", "feedback", "survey_request"), timeout=60)
            answered = await http.post(f"{status_url}/survey", json={"satisfaction_result": 5, "satisfaction_speed": 5})
            assert answered.status_code == 200, answered.text
            await eventually(lambda: _stage_is(http, status_url, "closed"))
            closed_before = await _not_reached_after_close(http, system)

            retry = f"{notify}/v1/notifications/{receipt['notification_id']}/retry"
            assert (await http.post(retry, headers=system.headers_as("operator"))).status_code == 200

            async def counted() -> bool:
                return await _not_reached_after_close(http, system) == closed_before + 1

            await eventually(counted, timeout=60)
            listed = (await http.get(f"{notify}/v1/undelivered", headers=as_workflow)).json()
            assert receipt["notification_id"] not in [m["notification_id"] for m in listed]  # not read again
            dead = (
                await http.get(f"{notify}/v1/notifications/{receipt['notification_id']}", headers=as_workflow)
            ).json()
            assert dead["status"] == "failed"  # still there for an operator
            events = (await http.get(f"{staff}/events", headers=as_manager)).json()["events"]
            assert [e["type"] for e in events][-1] == "Closed"
    finally:
        system.mail.handler.refuse = refused_before


async def _not_reached_after_close(http: httpx.AsyncClient, system) -> float:
    metrics = (
        await http.get(f"{system.settings.url_of('workflow')}/metrics", headers=system.headers_as("operator"))
    ).text
    found = re.search(r'^customers_not_reached_total\{complaint="closed"\} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


async def test_while_the_mail_server_is_down_messages_wait_and_then_arrive_once(system):
    assert system.mail is not None
    notify = system.settings.url_of("notify")
    system.mail.stop()
    try:
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
            complaint_id, _ = await submit(system, http)

            async def retried():
                items = (
                    await http.get(
                        f"{notify}/v1/notifications",
                        params={"complaint_id": complaint_id},
                        headers=system.headers_as("operator"),
                    )
                ).json()
                receipt = next((n for n in items if n["template"] in RECEIPTS), None)
                # Tried twice and refused (not caught in the middle of a third attempt).
                tried = receipt and receipt["attempts"] >= 2 and "SMTP server" in (receipt["last_error"] or "")
                return receipt if tried else None

            waiting = await eventually(retried)
            assert waiting["status"] == "pending"
    finally:
        system.mail.start()
    receipt = await eventually(lambda: _receipt(system, complaint_id))
    assert system.mail.handler.transactions[receipt["Message-ID"]] == 1


def answering(original: EmailMessage, sender: str, subject: str) -> EmailMessage:
    """The headers of any answer to `original` from `sender`: to its Reply-To, in its thread."""
    answer = EmailMessage()
    answer["From"] = f"王芳 <{sender}>"
    answer["To"] = str(original["Reply-To"])
    answer["Subject"] = subject
    answer["Message-ID"] = f"<{uuid.uuid4()}@mail.example.com>"
    answer["In-Reply-To"] = original["Message-ID"]
    return answer


def reply_to(original: EmailMessage, sender: str, text: str) -> bytes:
    """What a customer's mail program sends when they answer `original`."""
    answer = answering(original, sender, f"Re: {original['Subject']}")
    answer["References"] = f"{original['References']} {original['Message-ID']}"
    quoted = "\n".join(f"> {line}" for line in text_of(original).splitlines())
    answer.set_content(f"{text}\n\n在 2026年11月30日 10:00，客户服务 写道：\n{quoted}\n")
    return answer.as_bytes()


async def test_an_email_answer_goes_to_its_complaint_once(system):
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        complaint_id, address, staff, as_manager, question = await asked_a_question(system, http)

        inbound = f"{system.settings.url_of('intake')}/v1/channels/email"
        answer = reply_to(question, address, "订单号 778")
        taken = await http.post(inbound, content=answer, headers={"Content-Type": "message/rfc822"})
        assert taken.status_code == 202, taken.text
        assert taken.json()["complaint_id"] == complaint_id and taken.json()["linked_to"] == complaint_id
        again = await http.post(inbound, content=answer, headers={"Content-Type": "message/rfc822"})
        assert again.status_code == 202 and again.json()["complaint_id"] == complaint_id  # redelivered: once

        view = (await http.get(staff, headers=as_manager)).json()
        assert view["stage"] == "acknowledged"  # the answer came: the clock runs again
        events = (await http.get(f"{staff}/events", headers=as_manager)).json()["events"]
        replies = [e["data"]["message"] for e in events if e["type"] == "CustomerReplied"]
        assert replies == ["订单号 778"]  # their words, without the quoted question

        more = await http.post(
            inbound, content=reply_to(question, address, "还有一件事"), headers={"Content-Type": "message/rfc822"}
        )
        assert more.json()["complaint_id"] == complaint_id  # no question open: added as what they wrote again
        events = (await http.get(f"{staff}/events", headers=as_manager)).json()["events"]
        assert [e["data"]["description"] for e in events if e["type"] == "RepeatLinked"] == ["还有一件事"]

        stranger = await http.post(
            inbound,
            content=reply_to(question, "someone.else@example.com", "我也有问题"),
            headers={"Content-Type": "message/rfc822"},
        )
        assert stranger.status_code == 202 and stranger.json()["complaint_id"] != complaint_id  # a complaint of its own

        # Someone who knows the customer's address and guesses the complaint's id, without
        # one of our messages: the unsigned thread and address name no complaint.
        forged = EmailMessage()
        forged["From"] = address
        forged["To"] = f"care+{complaint_id}@complaints.local"
        forged["Subject"] = "Re: 您的投诉"
        forged["Message-ID"] = f"<{uuid.uuid4()}@mail.example.com>"
        forged["In-Reply-To"] = forged["References"] = f"<complaint-{complaint_id}@complaints.notify>"
        forged.set_content("请把赔偿打到这个账户")
        taken = await http.post(inbound, content=forged.as_bytes(), headers={"Content-Type": "message/rfc822"})
        assert taken.status_code == 202 and taken.json()["complaint_id"] != complaint_id
        assert taken.json()["linked_to"] != complaint_id
        events = (await http.get(f"{staff}/events", headers=as_manager)).json()["events"]
        assert not [e for e in events if "请把赔偿" in str(e["data"])]  # nothing of it in the complaint


def out_of_office(original: EmailMessage, sender: str) -> bytes:
    """The answer a customer's vacation program sends anyway, though ours asked it not to."""
    away = answering(original, sender, f"自动回复: {original['Subject']}")
    away["Auto-Submitted"] = "auto-replied"
    away.set_content("我正在休假，12月10日回来后再回复您。")
    return away.as_bytes()


def bounce_of(original: EmailMessage) -> bytes:
    """A mail server's report that it could not deliver `original` (RFC 3464)."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {original["Reply-To"]}
Subject: Undelivered Mail Returned to Sender
Message-ID: <{uuid.uuid4()}@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {parseaddr(str(original["To"]))[1]}
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 <{parseaddr(str(original["To"]))[1]}>: mailbox full
--b
Content-Type: text/rfc822-headers

Message-ID: {original["Message-ID"]}
In-Reply-To: {original["In-Reply-To"]}
--b--
""".encode()


async def test_an_auto_reply_or_a_bounce_is_neither_the_customers_answer_nor_a_complaint(system):
    """Our messages ask auto-responders not to answer; an out-of-office answer sent anyway
    would otherwise be taken as the customer's answer to our question (and stop its wait), and
    a bounce would start a complaint whose receipt bounces in turn."""
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        complaint_id, address, staff, as_manager, question = await asked_a_question(system, http)
        assert question["Auto-Submitted"] == "auto-generated" and question["X-Auto-Response-Suppress"] == "All"

        inbound = f"{system.settings.url_of('intake')}/v1/channels/email"
        as_mail = {"Content-Type": "message/rfc822"}
        away = await http.post(inbound, content=out_of_office(question, address), headers=as_mail)
        assert away.status_code == 200 and away.json()["set_aside"] == "auto_submitted", away.text
        bounced = await http.post(inbound, content=bounce_of(question), headers=as_mail)
        assert bounced.status_code == 200 and bounced.json()["set_aside"] == "report", bounced.text
        assert "complaint_id" not in bounced.json()  # no complaint started
        view = (await http.get(staff, headers=as_manager)).json()
        assert view["stage"] == "waiting_on_customer"  # still waiting for the customer
        events = (await http.get(f"{staff}/events", headers=as_manager)).json()["events"]
        assert not [e for e in events if e["type"] in ("CustomerReplied", "RepeatLinked")]

        # The customer's own answer, from the same address in the same thread, is theirs.
        taken = await http.post(inbound, content=reply_to(question, address, "订单号 778"), headers=as_mail)
        assert taken.status_code == 202 and taken.json()["complaint_id"] == complaint_id
        assert (await http.get(staff, headers=as_manager)).json()["stage"] == "acknowledged"


async def test_a_bounce_after_the_relay_took_the_message_falls_back_to_the_phone_once(system):
    """The relay took the receipt (250) and the customer's server bounced it later, the common
    case with a relay: the bounce, on the e-mail channel, fails the message for good and the
    customer's phone is tried; the same bounce delivered again moves nothing further."""
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        email = f"moved.{uuid.uuid4().hex[:8]}@example.com"
        complaint_id = await submit_with_a_phone_too(system, http, email, "李伟", "订单被重复扣款，请退款")
        receipt_mail = await eventually(lambda: _receipt(system, complaint_id))
        notification_id = receipt_mail["Message-ID"].strip("<>").split("@")[0]

        inbound = f"{system.settings.url_of('intake')}/v1/channels/email"
        bounce = bounce_of(receipt_mail)
        told = await http.post(inbound, content=bounce, headers={"Content-Type": "message/rfc822"})
        assert told.status_code == 200, told.text
        assert told.json()["set_aside"] == "report" and told.json()["bounced_notification"] == notification_id

        receipt = await eventually(lambda: receipt_delivered_by_sms(http, system, complaint_id))
        assert receipt["notification_id"] == notification_id
        attempts = await attempts_of(http, system, notification_id)
        tried = [(a["channel"], a["outcome"]) for a in attempts]
        assert tried == [("email", "sent"), ("email", "failed"), ("sms", "delivered")]
        assert attempts[1]["answer"] == "bounced: 5.2.2 smtp; 552 5.2.2 <m***@example.com>: mailbox full"  # masked

        again = await http.post(inbound, content=bounce, headers={"Content-Type": "message/rfc822"})
        assert again.status_code == 200 and again.json()["bounced_notification"] == notification_id
        attempts = await attempts_of(http, system, notification_id)
        assert [(a["channel"], a["outcome"]) for a in attempts] == tried  # the text message is not failed by it

    # Only intake reports bounces to notify.
    bounces = f"{system.settings.url_of('notify')}/v1/bounces"
    report = {"notification_id": notification_id, "answer": "5.1.1 user unknown"}
    async with httpx.AsyncClient(timeout=10) as anyone:
        assert (await anyone.post(bounces, json=report)).status_code == 401
        as_workflow = system.headers_as("workflow")
        assert (await anyone.post(bounces, json=report, headers=as_workflow)).status_code == 403
        as_intake = system.headers_as("intake")
        unknown = await anyone.post(bounces, json={**report, "notification_id": str(uuid.uuid4())}, headers=as_intake)
        assert unknown.status_code == 404 and unknown.json()["fields"][0]["field"] == "notification_id"


async def test_the_local_mailbox_page_shows_what_was_sent_to_operators_only(system):
    notify = system.settings.url_of("notify")
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        complaint_id, _ = await submit(system, http)
        receipt = await eventually(lambda: _receipt(system, complaint_id))
    async with httpx.AsyncClient(timeout=30) as browser:
        asked = await browser.get(f"{notify}/mailbox")
        assert asked.status_code == 401 and asked.headers["www-authenticate"].startswith("Basic")
        wrong = await browser.get(f"{notify}/mailbox", auth=("ops", system.service_tokens["workflow"]))
        assert wrong.status_code == 401  # another service's token is not the operator's
        page = await browser.get(f"{notify}/mailbox", auth=("ops", system.service_tokens["operator"]))
        assert page.status_code == 200 and receipt["Subject"] in page.text
        assert "wang.fang." not in page.text  # recipients masked in the list
        key = page.text.split(f'">{receipt["Subject"]}</a>')[0].rsplit('href="/mailbox/', 1)[1]
        message = await browser.get(f"{notify}/mailbox/{key}", auth=("ops", system.service_tokens["operator"]))
        assert message.status_code == 200 and complaint_id in message.text and "北京时间" in message.text


async def test_a_customers_page_never_shows_the_staff_alert_emails_about_their_complaint(system):
    """An alert e-mail to a member of staff names the complaint it is about (as alert_emails.py
    sends one for a lone alert) and goes out by e-mail like the customer's messages; the
    customer's page lists only what was for the customer."""
    notify = system.settings.url_of("notify")
    complaint_id, status_url = await submit_new(system, channel="app")
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        alert_subject = f"[tier 2] transfer request: {complaint_id}"
        sent = await http.post(
            f"{notify}/v1/notifications",
            headers={**system.headers_as("workflow"), "Idempotency-Key": f"alert-email/{uuid.uuid4()}"},
            json={
                "complaint_id": complaint_id,
                "template": "alert_email",
                "channel": "email",
                "recipient_name": "Ma Jun",
                "recipient_address": "ma.jun@complaints.local",
                "variables": {
                    "alerts": [
                        {"subject": alert_subject, "complaint_id": complaint_id, "at": "2026-12-05T02:00:00+00:00"}
                    ],
                    "text": "Zhou Ting asks your department to take this complaint over",
                    "count": 1,
                    "more": 0,
                    "console_url": f"{system.settings.url_of('workflow')}/console",
                },
            },
        )
        assert sent.status_code == 202, sent.text

        async def both_delivered():
            items = await notifications_of(http, system, complaint_id)
            done = [n["audience"] for n in items if n["status"] in ("sent", "delivered")]
            return "customer" in done and "staff" in done

        await eventually(both_delivered)
        shown = [m["subject"] for m in (await http.get(status_url)).json()["messages"]]
        assert shown and all(complaint_id in s and "transfer request" not in s for s in shown), shown
        page = (await http.get(status_url.replace("/v1/track/", "/track/"), headers={"Accept": "text/html"})).text
        assert "A new alert for you" not in page and "ma.jun" not in page
