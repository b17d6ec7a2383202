"""The e-mail channel's adapter: a customer's message in any form becomes the complaint record,
and a program's mail (an out-of-office answer, a bounce) is told from a person's."""

from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from services.intake.adapters import AdapterError
from services.intake.mail_adapter import automatic_mail, failed_delivery, from_email, read_email
from services.intake.replies import thread_of
from services.notify.contract import ReplyAddresses, notification_message_id, notification_of_message_id
from services.notify.providers import OutboundMessage
from services.notify.smtp import mime_message
from services.workflow.contract import Channel
from services.workflow.legacy import assign_tier


def chinese_email(charset: str = "gbk") -> bytes:
    message = MIMEMultipart()
    message["From"] = f"{Header('王芳', charset).encode()} <wang.fang@example.com>"
    message["To"] = "complaints@shop.example"
    message["Subject"] = Header("订单被重复扣款", charset).encode()
    message["Message-ID"] = "<20261122.1234@mail.example.com>"
    message.attach(MIMEText("我的订单778被扣了两次款，请退款。", "plain", charset))
    receipt = MIMEApplication(b"%PDF-1.4 fake receipt", _subtype="pdf")
    receipt.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "收据.pdf"))
    message.attach(receipt)
    return message.as_bytes()


@pytest.mark.parametrize("charset", ["gbk", "gb2312", "utf-8"])
def test_a_chinese_email_in_common_encodings_becomes_a_complaint(charset):
    submission = from_email(chinese_email(charset))
    assert submission.channel == Channel.email
    assert (submission.customer.name, submission.customer.email) == ("王芳", "wang.fang@example.com")
    assert submission.customer.preferred_channel == "email"
    assert submission.external_ref == "<20261122.1234@mail.example.com>"
    assert submission.subject == "订单被重复扣款"
    assert "扣了两次款" in submission.description
    assert [(a.filename, a.content_type) for a in submission.attachments] == [("收据.pdf", "application/pdf")]
    assert submission.attachments[0].size_bytes == len(b"%PDF-1.4 fake receipt")
    assert assign_tier(submission.description).tier == 2  # the rules read the decoded text


def test_a_traditional_chinese_big5_email():
    message = MIMEText("我的訂單被重複扣款", "plain", "big5")
    message["From"] = "Chen <chen@example.com.tw>"
    message["Subject"] = Header("重複扣款", "big5").encode()
    submission = from_email(message.as_bytes())
    assert submission.subject == "重複扣款" and "訂單" in submission.description


def test_an_html_only_email_is_read_as_text():
    message = MIMEText("<p>The staff was <b>rude</b> &amp; slow</p>", "html", "utf-8")
    message["From"] = "li@example.com"
    submission = from_email(message.as_bytes())
    assert "The staff was rude & slow" in submission.description
    assert submission.customer.name == "li" and submission.external_ref is None


def test_mail_without_a_sender_or_headers_is_refused_with_the_field():
    with pytest.raises(AdapterError) as no_sender:
        from_email(b"Subject: hi\n\nbody")
    assert no_sender.value.field == "From"
    with pytest.raises(AdapterError) as garbage:
        from_email(b"\xff\xfe not mail")
    assert garbage.value.field in ("body", "From")


def person_mail(**headers: str) -> bytes:
    message = MIMEText("你们的快递员把包裹扔在门口就走了", "plain", "utf-8")
    message["From"] = "李娜 <li.na@example.com>"
    message["To"] = "care@complaints.local"
    message["Subject"] = Header("投诉快递员", "utf-8").encode()
    for name, value in headers.items():
        del message[name.replace("_", "-")]
        message[name.replace("_", "-")] = value
    return message.as_bytes()


DELIVERY_REPORT = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: care@complaints.local
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce.1@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

This is the mail system at host mx.example.com. I'm sorry to have to inform you ...
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; gone@example.com
Action: failed
Status: 5.1.1
--b--
"""  # a bounce as a mail server writes it (RFC 3464)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (person_mail(), None),
        (person_mail(Auto_Submitted="no"), None),  # RFC 3834: a person's, said outright
        (person_mail(Precedence="first-class"), None),
        (person_mail(Auto_Submitted="auto-replied"), "auto_submitted"),  # an out-of-office answer
        (person_mail(Auto_Submitted="auto-generated; owner-email=ops@example.com"), "auto_submitted"),
        (person_mail(X_Autoreply="yes"), "auto_reply"),
        (person_mail(X_Auto_Response_Suppress="All"), "auto_reply"),  # Exchange's own notices
        (person_mail(X_Autoreply="no"), None),
        (person_mail(Precedence="bulk"), "bulk"),
        (person_mail(Precedence="list"), "bulk"),
        (DELIVERY_REPORT, "report"),
        (person_mail(From="postmaster@mx.example.com"), "mail_system"),
    ],
)
def test_a_programs_mail_is_told_from_a_persons(raw, why):
    assert automatic_mail(read_email(raw)) == why


def test_our_own_messages_come_back_as_a_programs_mail():
    """A customer's mail server that sends our message back (a forward loop) finds it marked."""
    sent = OutboundMessage(
        notification_id="00000000-0000-0000-0000-000000000001",
        channel="email",
        recipient_name="李娜",
        recipient_address="li.na@example.com",
        subject="您的投诉已受理",
        body="我们已收到您的投诉。",
        complaint_id="20261205-ABCD1234",
    )
    mail = mime_message(sent, "Customer Care <care@complaints.local>", ReplyAddresses("care@complaints.local", None))
    assert automatic_mail(read_email(mail.as_bytes())) == "auto_submitted"


def report_of(action: str, original: str, report_type: str = "delivery-status") -> bytes:
    """A delivery report whose one recipient's Action is `action`, with the failed message
    quoted as `original` (a MIME part) after it."""
    return f"""From: MAILER-DAEMON@mx.example.com
To: care@complaints.local
Subject: Delivery Status Notification
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type}; boundary="b"

--b
Content-Type: text/plain

About your message.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; li.na@example.com
Action: {action}
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <li.na@example.com>: user unknown
--b
{original}
--b--
""".encode()


OURS = notification_message_id("6cbf7bdc-bc9b-4f84-a5d8-c086aa0cdaaa")


@pytest.mark.parametrize(
    "original",
    [
        f"Content-Type: message/rfc822\n\nMessage-ID: {OURS}\nSubject: hi\n\nthe message\n",
        f"Content-Type: text/rfc822-headers\n\nMessage-ID: {OURS}\nSubject: hi\n",
    ],
)
def test_a_bounce_names_the_message_that_failed_and_why(original):
    failed = failed_delivery(read_email(report_of("failed", original)))
    assert failed is not None and failed.message_id == OURS
    assert failed.answer == "5.1.1 smtp; 550 5.1.1 <li.na@example.com>: user unknown"
    assert str(notification_of_message_id(failed.message_id)) == "6cbf7bdc-bc9b-4f84-a5d8-c086aa0cdaaa"


def test_only_a_final_failure_is_a_bounce():
    headers = f"Content-Type: text/rfc822-headers\n\nMessage-ID: {OURS}\n"
    assert failed_delivery(read_email(report_of("delayed", headers))) is None  # still trying
    assert failed_delivery(read_email(report_of("delivered", headers))) is None
    assert failed_delivery(read_email(report_of("failed", headers, "disposition-notification"))) is None  # read
    assert failed_delivery(read_email(report_of("failed", "Content-Type: text/plain\n\nno copy"))) is None
    assert failed_delivery(read_email(person_mail())) is None


def test_only_our_own_message_ids_name_a_notification():
    assert notification_of_message_id("<6cbf7bdc-bc9b-4f84-a5d8-c086aa0cdaaa@mail.example.com>") is None
    assert notification_of_message_id(f"<{'-' * 36}@complaints.notify>") is None  # the shape, not an id
    assert notification_of_message_id(f" {OURS} ") is not None


def test_an_email_is_taken_as_the_customer_wrote_it_whatever_its_form():
    """A mail gateway cannot change what a customer sent: NULs, a long display name or file
    name and a great many attachments are trimmed to what the record holds, never refused."""
    message = MIMEMultipart()
    message["From"] = f"{Header('林' * 300, 'utf-8').encode()} <lin@example.com>"
    message["Subject"] = "屏幕\x00碎了"
    message.attach(MIMEText("照片\x00见附件", "plain", "utf-8"))
    for n in range(120):
        photo = MIMEApplication(b"jpeg", _subtype="octet-stream")
        photo.add_header("Content-Disposition", "attachment", filename=f"{n}-{'x' * 600}.jpg")
        message.attach(photo)
    submission = from_email(message.as_bytes())
    assert submission.subject == "屏幕碎了" and submission.description == "屏幕碎了\n\n照片见附件"
    # (The standard library keeps the spaces between a long name's encoded words.)
    assert len(submission.customer.name) == 200 and set(submission.customer.name) <= {"林", " "}
    assert len(submission.attachments) == 100 and len(submission.attachments[0].filename) == 500


def raw_mail(content_type: str, body: bytes) -> bytes:
    return (
        f"From: 李娜 <li.na@example.com>\nSubject: order\nContent-Type: {content_type}\n"
        "Content-Transfer-Encoding: 8bit\n\n"
    ).encode() + body


def test_an_html_only_email_reads_as_its_reader_sees_it():
    """No style sheet, script or title in the complaint, and its paragraphs kept apart (the
    classification reads these words, the handler reads the lines)."""
    markup = (
        "<html><head><title>Mail</title><style>p{color:red}</style></head><body>"
        "<div>您好，</div><p>我的订单 778\n被扣了两次款。</p><p>请退款&nbsp;谢谢<br>李娜</p>"
        "<script>track();</script></body></html>"
    )
    submission = from_email(raw_mail("text/html; charset=utf-8", markup.encode()))
    assert submission.description == "order\n\n您好，\n\n我的订单 778 被扣了两次款。\n\n请退款 谢谢\n李娜"


@pytest.mark.parametrize("declared", ["gb2312", "utf-8", "x-no-such-charset"])
def test_a_misnamed_charset_still_gives_the_customers_words(declared):
    """Chinese mail often names gb2312 for GBK text (镕 is GBK's, not GB2312's), or no charset
    Python knows: the words are read as GB18030 rather than replaced or refused."""
    body = "订单被扣两次，朱镕".encode("gb18030")
    submission = from_email(raw_mail(f"text/plain; charset={declared}", body))
    assert submission.description == "order\n\n订单被扣两次，朱镕"


SLOPPY_FROM = (
    "From: 北京分公司: 客服; 李娜 <li.na@example.com>\nTo: Care: desk; <care@complaints.local>\nSubject: 退款\n\n请退款"
).encode()


def test_a_from_the_standard_librarys_parser_breaks_on_still_names_the_customer():
    """An unquoted ':' and ';' in a name: the standard library's header parser raised
    AttributeError on reading it (a 500 on the e-mail channel); the address in angle brackets
    is who wrote, and the 8-bit name is read as UTF-8."""
    message = read_email(SLOPPY_FROM)
    assert automatic_mail(message) is None
    submission = from_email(message)
    assert (submission.customer.name, submission.customer.email) == ("北京分公司: 客服; 李娜", "li.na@example.com")
    assert thread_of(message, ReplyAddresses("care+{complaint_id}@complaints.local", b"key")) is None
