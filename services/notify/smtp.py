"""E-mail over SMTP (aiosmtplib): a proper MIME message per notification.

UTF-8 plain text with an HTML alternative, the subject and names encoded for Chinese (RFC
2047), the notification's Message-ID on every attempt
(receivers drop a repeat), and In-Reply-To and References naming the complaint's thread, so a
customer's mail program keeps one conversation per complaint and their reply names it. The
Reply-To is the complaint's own address (`care+<complaint id>@…`) for the e-mail channel
adapter to route the answer back to the complaint.

SMTP answers: 5xx for a recipient (no such mailbox) is permanent, anything else (4xx, a
connection refused, a timeout) is retried.
"""

import html
import re
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr

import aiosmtplib

from services.notify.contract import reply_address, thread_id
from services.notify.providers import Delivery, DeliveryFailed, OutboundMessage

_LINK = re.compile(r"https?://[^\s<>\"]+")


def _html(body: str) -> str:
    escaped = html.escape(body)
    linked = _LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    paragraphs = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in linked.split("\n\n") if p.strip())
    return f'<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">{paragraphs}</body></html>'


def _encoded(text: str, header: str) -> str:
    """A header value: ASCII as it is, anything else as RFC 2047 encoded words, folded."""
    return text if text.isascii() else Header(text, "utf-8", header_name=header).encode()


def _address(name_and_address: tuple[str, str]) -> str:
    return formataddr(name_and_address, charset="utf-8")


def mime_message(message: OutboundMessage, sender: str, reply_to_template: str) -> Message:
    """Built with the standard library's compat32 classes, whose headers are the strings we
    give them: the default policy parses every header it is given again, which made building
    the message most of notify's CPU for each e-mail."""
    mail = MIMEMultipart("alternative")
    mail["Message-ID"] = message.message_id
    mail["Date"] = formatdate(localtime=False)
    mail["From"] = _address(parseaddr(sender))
    mail["To"] = _address((message.recipient_name, message.recipient_address))
    mail["Subject"] = _encoded(message.subject, "Subject")
    if message.complaint_id:
        mail["In-Reply-To"] = thread_id(message.complaint_id)
        mail["References"] = thread_id(message.complaint_id)
        mail["X-Complaint-Id"] = message.complaint_id
        if reply_to := reply_address(reply_to_template, message.complaint_id):
            mail["Reply-To"] = reply_to
    mail.attach(MIMEText(message.body, "plain", "utf-8"))
    mail.attach(MIMEText(_html(message.body), "html", "utf-8"))
    return mail


class SmtpProvider:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        reply_to_template: str,
        username: str | None = None,
        password: str | None = None,
        security: str = "none",  # none, starttls, tls
        timeout: float = 15.0,
    ):
        self.host, self.port, self.sender, self.reply_to_template = host, port, sender, reply_to_template
        self.username, self.password, self.security, self.timeout = username, password, security, timeout

    async def deliver(self, message: OutboundMessage) -> Delivery:
        mail = mime_message(message, self.sender, self.reply_to_template)
        try:
            errors, answer = await aiosmtplib.send(
                mail,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=True if self.security == "starttls" else False,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise DeliveryFailed(f"recipient refused: {refused}", permanent=_permanent(exc.recipients)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"{exc.code} {exc.message}", permanent=500 <= exc.code < 600) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP server {self.host}:{self.port}: {exc}") from exc
        return Delivery(reference=message.message_id, answer=answer)


def _permanent(refusals: list[aiosmtplib.SMTPRecipientRefused]) -> bool:
    return all(500 <= r.code < 600 for r in refusals)
