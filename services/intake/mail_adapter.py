"""The e-mail channel's adapter: a raw message (RFC 822 / MIME) as the mail gateway received it
becomes the complaint record, whatever its form; and the mail a program sent (an out-of-office
answer, a bounce, a list's mail) is told from a person's. Pure functions; `channel_api` wires
them to `POST /v1/channels/email`, `replies` finds the complaint an answer is for.

The standard library reads the MIME. Its default policy parses a header when it is read, and
on some malformed ones its parser fails: `header` then reads the header as it came. HTML bodies
are read with its HTML parser, enough to drop style sheets and scripts and keep paragraphs."""

import email
import email.message
import email.policy
import email.utils
import html.parser
import itertools
import re
from dataclasses import dataclass
from typing import Literal

from services.intake.adapters import AdapterError
from services.intake.submissions import ComplaintSubmission
from services.workflow.contract import Attachment, Channel, Customer


def header(message: email.message.Message, name: str, default: str = "") -> str:
    """A header's text. The standard library parses a header when it is read, and on some
    malformed ones its parser fails (AttributeError, IndexError …): then the header as it came,
    for the legacy functions (`parseaddr`) to read what they can."""
    return next(iter(headers(message, name)), default)


def headers(message: email.message.Message, name: str) -> list[str]:
    """Every value of a header (To, Cc …), each as `header` reads one."""
    try:
        return [str(value) for value in message.get_all(name, [])]
    except Exception:  # the parser's failures on malformed input are of any kind
        return [_unescaped(value) for key, value in message.raw_items() if key.lower() == name.lower()]


def _unescaped(value: object) -> str:
    """A header as it came: its 8-bit bytes (UTF-8 written without RFC 2047, as some mail
    programs do) are kept by the parser as escapes, decoded here."""
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def sender_of(message: email.message.Message) -> tuple[str, str]:
    """The From's name and address; a From no parser reads (a name with an unquoted ':' or ';',
    as some mail programs write "Beijing office: service; Li Na <li.na@…>"), by the address in
    its angle brackets."""
    written = header(message, "From")
    name, address = email.utils.parseaddr(written)
    if "@" not in address and (bracketed := re.search(r"<([^<>\s]+@[^<>\s]+)>", written)):
        name, address = written[: bracketed.start()].strip(' "'), bracketed.group(1)
    return name, address


def _text_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text: str | None = part.get_content()  # decodes the transfer encoding and the charset (gbk, big5 …)
    except (LookupError, UnicodeDecodeError):  # a charset unknown: the words still count
        text = None
    body = part.get_payload(decode=True)
    if (text is None or "\ufffd" in text) and isinstance(body, bytes):  # bytes the charset does not hold
        text = _decoded_anyway(body) or text or body.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        return html_text(text or "")
    return re.sub(r"[ \t]+", " ", text or "").strip()


def _decoded_anyway(body: bytes) -> str | None:
    """A body its declared charset does not decode (a misnamed one, often): as UTF-8 or
    GB18030 (which holds GBK and GB2312), the two a Chinese customer's mail is in, if either
    decodes it whole."""
    for charset in ("utf-8", "gb18030"):
        try:
            return body.decode(charset)
        except UnicodeDecodeError:
            continue
    return None


class _ReadableText(html.parser.HTMLParser):
    """What a person reads of an HTML e-mail: not its head, style sheets or scripts, and a line
    break where the mail program draws one."""

    UNREAD = frozenset({"head", "title", "style", "script", "template"})
    BREAKS = frozenset(
        {"br", "p", "div", "li", "tr", "table", "ul", "ol", "blockquote", "hr", "h1", "h2", "h3", "h4", "h5", "h6"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.unread = 0  # how deep inside elements nobody reads

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.UNREAD:
            self.unread += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.UNREAD:
            self.unread = max(0, self.unread - 1)
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.unread:
            self.parts.append(re.sub(r"\s+", " ", data))  # a line break in HTML source is a space


def html_text(markup: str) -> str:
    """The text of an HTML body, one line per paragraph, a blank line at most between two."""
    reader = _ReadableText()
    reader.feed(markup)
    reader.close()
    lines = (line.replace("\xa0", " ").strip() for line in "".join(reader.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# A program's mail, not a person's: RFC 3834's Auto-Submitted, RFC 3464 / 8098 delivery and read
# reports, and the headers auto-responders and list managers set instead (Exchange, vacation
# programs, mailing lists).
AutomaticMail = Literal["report", "auto_submitted", "auto_reply", "bulk", "mail_system"]
_AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_MAIL_SYSTEM_SENDERS = {"mailer-daemon", "postmaster"}


def automatic_mail(message: email.message.EmailMessage) -> AutomaticMail | None:
    """Why an e-mail was sent by a program, not a person; None for a person's. An out-of-office
    answer to our message is not the customer's answer, and a bounce is not a complaint: taking
    either starts the loop a complaint system and a mail robot can keep up between them."""
    if message.get_content_type() == "multipart/report":
        return "report"
    submitted = header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return "auto_submitted"
    for name in _AUTO_REPLY_HEADERS:
        if header(message, name, "no").strip().lower() not in ("no", "false"):
            return "auto_reply"
    if header(message, "Precedence").strip().lower() in _BULK_PRECEDENCE:
        return "bulk"
    if sender_of(message)[1].partition("@")[0].lower() in _MAIL_SYSTEM_SENDERS:
        return "mail_system"
    return None


@dataclass(frozen=True)
class FailedDelivery:
    """A delivery report's news that a message could not be delivered, for good."""

    message_id: str  # of the message that failed
    answer: str  # the report's status and the receiving server's words


def failed_delivery(message: email.message.EmailMessage) -> FailedDelivery | None:
    """What a bounce (RFC 3464: a report whose recipients' Action is "failed") says failed;
    None for any other mail, and for a report of a delay, a delivery or a read."""
    if message.get_content_type() != "multipart/report" or message.get_param("report-type") != "delivery-status":
        return None
    failed, original = [], None
    for part in message.iter_parts():
        kind, payload = part.get_content_type(), part.get_payload()
        if kind == "message/delivery-status" and isinstance(payload, list):
            for recipient in payload:  # the report's own block first, then one per recipient
                if isinstance(recipient, email.message.Message) and header(recipient, "Action").lower() == "failed":
                    words = (header(recipient, name).strip() for name in ("Status", "Diagnostic-Code"))
                    failed.append(" ".join(w for w in words if w) or "failed")
        elif kind == "message/rfc822" and isinstance(payload, list):
            original = next((header(m, "Message-ID") for m in payload if isinstance(m, email.message.Message)), None)
        elif kind == "text/rfc822-headers":
            original = header(email.message_from_string(str(payload), policy=email.policy.default), "Message-ID")
    if not failed or not original:
        return None
    return FailedDelivery(str(original).strip(), "; ".join(failed)[:1000])


def read_email(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)  # what the default policy builds
    if not message.keys():
        raise AdapterError("body", "this is not an e-mail message (no headers)")
    return message


def message_id_of(message: email.message.EmailMessage) -> str | None:
    """The sender's id of the message: a redelivery carries the same."""
    return header(message, "Message-ID").strip()[:200] or None


def _as_given(text: str, longest: int) -> str:
    """A field of the record as the customer's mail gave it, NULs (which no text field takes)
    dropped and cut to what the field holds: a mail gateway cannot change what a customer sent,
    so an e-mail refused for its form would be a complaint lost."""
    return text.replace("\x00", "").strip()[:longest]


MOST_ATTACHMENTS = 100  # listed in the record; the gateway keeps the message itself


def from_email(raw: bytes | email.message.EmailMessage) -> ComplaintSubmission:
    message = read_email(raw) if isinstance(raw, bytes) else raw
    sender_name, sender_address = sender_of(message)
    if "@" not in sender_address:
        raise AdapterError("From", "the message has no sender address to answer")
    subject = _as_given(header(message, "Subject"), 500)
    body = _text_of(message).replace("\x00", "")
    attachments = [
        Attachment(
            filename=_as_given(part.get_filename() or "", 500) or "(unnamed)",
            content_type=part.get_content_type()[:200],
            size_bytes=len(part.get_payload(decode=True) or b""),
        )
        for part in itertools.islice(message.iter_attachments(), MOST_ATTACHMENTS)
    ]
    description = "\n\n".join(x for x in (subject, body) if x) or "(empty message)"
    return ComplaintSubmission(
        channel=Channel.email,
        customer=Customer(
            name=_as_given(sender_name, 200) or sender_address.split("@")[0][:200],
            email=sender_address,
            preferred_channel="email",
        ),
        description=description[:10_000],
        subject=subject or None,
        attachments=attachments,
        external_ref=message_id_of(message),
    )
