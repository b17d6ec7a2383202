"""E-mail over SMTP (aiosmtplib): a proper MIME message per notification.

UTF-8 plain text with an HTML alternative, the subject and names encoded for Chinese (RFC
2047), the notification's Message-ID on every attempt
(receivers drop a repeat), and In-Reply-To and References naming the complaint's thread, so a
customer's mail program keeps one conversation per complaint and their reply names it. The
Reply-To is the complaint's own address (`care+<complaint id>@…`) for the e-mail channel
adapter to route the answer back to the complaint. Auto-Submitted marks it a program's mail,
which auto-responders do not answer.

SMTP answers: 5xx for a recipient (no such mailbox) is permanent, anything else (4xx, a
connection refused, a timeout) is retried.
"""

import asyncio
import hashlib
import html
import re
import time
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr

import aiosmtplib

from services.notify.contract import ReplyAddresses
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


def mime_message(message: OutboundMessage, sender: str, replies: ReplyAddresses) -> Message:
    """Built with the standard library's compat32 classes, whose headers are the strings we
    give them: the default policy parses every header it is given again, which made building
    the message most of notify's CPU for each e-mail."""
    mail = MIMEMultipart("alternative", boundary=_boundary(message.message_id))
    mail["Message-ID"] = message.message_id
    mail["Date"] = formatdate(localtime=False)
    mail["From"] = _address(parseaddr(sender))
    mail["To"] = _address((message.recipient_name, message.recipient_address))
    mail["Subject"] = _encoded(message.subject, "Subject")
    # Sent by the platform: auto-responders leave it unanswered (RFC 3834; Exchange reads the
    # second), so an out-of-office notice does not come back as the customer's answer.
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    if message.complaint_id:
        thread = replies.thread_id(message.complaint_id)
        mail["In-Reply-To"] = thread
        mail["References"] = thread
        mail["X-Complaint-Id"] = message.complaint_id
        if reply_to := replies.reply_to(message.complaint_id):
            mail["Reply-To"] = reply_to
    mail.attach(MIMEText(message.body, "plain", "utf-8"))
    mail.attach(MIMEText(_html(message.body), "html", "utf-8"))
    return mail


def _boundary(message_id: str) -> str:
    """The parts' boundary, from the Message-ID. "_" is outside base64's alphabet and our parts
    are UTF-8, which the standard library always sends as base64, so no line of a part can be
    the boundary; left to itself, the generator proves that for a random one by compiling a
    new regular expression per e-mail (a fifth of the CPU of building one). And each attempt
    at a message is the same MIME but for its Date."""
    return "=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]


@dataclass
class _Session:
    """One open SMTP connection, greeted and (when asked) encrypted, between messages."""

    smtp: aiosmtplib.SMTP
    sent: int = 0
    idle_since: float = field(default_factory=time.monotonic)


class SmtpProvider:
    """Sends over a few SMTP sessions kept open between messages, as mail servers expect of a
    sender with many messages: a new connection per message (greeting, EHLO, perhaps a TLS
    handshake, QUIT) cost the server and notify more than the message itself. A session is
    used for at most MESSAGES_PER_SESSION messages and ended after IDLE_SECONDS without one
    (a burst reuses it, a quiet hour holds no connection); one that fails is closed."""

    MESSAGES_PER_SESSION = 100
    IDLE_SECONDS = 5.0

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        replies: ReplyAddresses,
        username: str | None = None,
        password: str | None = None,
        security: str = "none",  # none, starttls, tls
        timeout: float = 15.0,
        max_sessions: int = 10,  # of the dispatcher's 20 side by side: a burst is not held up by one
    ):
        self.host, self.port, self.sender, self.replies = host, port, sender, replies
        self.username, self.password, self.security, self.timeout = username, password, security, timeout
        self._sessions = asyncio.Semaphore(max_sessions)
        self._idle: list[_Session] = []
        self._quitting: set[asyncio.Task] = set()

    async def deliver(self, message: OutboundMessage) -> Delivery:
        mail = mime_message(message, self.sender, self.replies)
        async with self._sessions:
            if (session := self._reusable()) is not None:
                try:
                    return await self._send(session, mail, message)
                except _StaleSession:
                    pass  # the server closed it while it was idle: once more, on a new connection
            return await self._send(await self._connect(), mail, message)

    async def close(self) -> None:
        """Says QUIT on the kept sessions (notify's shutdown)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(session) for session in idle), *self._quitting)

    def _reusable(self) -> _Session | None:
        now = time.monotonic()
        while self._idle:
            session = self._idle.pop()  # the most recently used: the likeliest to be open still
            if session.smtp.is_connected and now - session.idle_since < self.IDLE_SECONDS:
                return session
            session.smtp.close()
        return None

    async def _connect(self) -> _Session:
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.security == "tls",
            start_tls=True if self.security == "starttls" else False,
            timeout=self.timeout,
        )
        try:
            await smtp.connect()
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            raise DeliveryFailed(f"{exc.code} {exc.message}", permanent=False) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise self._unreachable(exc) from exc
        return _Session(smtp)

    async def _send(self, session: _Session, mail: Message, message: OutboundMessage) -> Delivery:
        reused, keep = session.sent > 0, False
        try:
            _, answer = await session.smtp.send_message(mail)
            keep = True
        except aiosmtplib.SMTPRecipientsRefused as exc:
            keep = True  # aiosmtplib reset the envelope: the session goes on
            refused = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise DeliveryFailed(f"recipient refused: {refused}", permanent=_permanent(exc.recipients)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"{exc.code} {exc.message}", permanent=500 <= exc.code < 600) from exc
        except aiosmtplib.SMTPTimeoutError as exc:  # a slow server, not a closed session: no second try now
            raise self._unreachable(exc) from exc
        except (aiosmtplib.SMTPServerDisconnected, OSError) as exc:
            if reused:
                raise _StaleSession from exc
            raise self._unreachable(exc) from exc
        except aiosmtplib.SMTPException as exc:
            raise self._unreachable(exc) from exc
        finally:
            # Cancelled (notify's delivery timeout) or failed mid-transaction: the session's state
            # is unknown, so it is closed, never handed to the next message.
            if keep:
                self._release(session)
            else:
                session.smtp.close()
        return Delivery(reference=message.message_id, answer=answer)

    def _unreachable(self, exc: Exception) -> DeliveryFailed:
        """No answer to go by (refused, dropped, timed out): tried again later."""
        return DeliveryFailed(f"SMTP server {self.host}:{self.port}: {exc}")

    def _release(self, session: _Session) -> None:
        session.sent += 1
        if session.sent >= self.MESSAGES_PER_SESSION:
            self._retire(session)
            return
        session.idle_since = time.monotonic()
        self._idle.append(session)
        asyncio.get_running_loop().call_later(self.IDLE_SECONDS, self._expire, session, session.idle_since)

    def _expire(self, session: _Session, idle_since: float) -> None:
        if session.idle_since == idle_since and session in self._idle:  # not used since
            self._idle.remove(session)
            self._retire(session)

    def _retire(self, session: _Session) -> None:
        quitting = asyncio.ensure_future(_quit(session))  # off the message's path
        self._quitting.add(quitting)
        quitting.add_done_callback(self._quitting.discard)


class _StaleSession(Exception):
    """A kept session failed on the wire, most likely closed by the server while idle. The
    message is sent once more on a new connection; had the first reached the server after all,
    the receiver drops the repeat by its Message-ID."""


async def _quit(session: _Session) -> None:
    try:
        await session.smtp.quit(timeout=5)
    except (aiosmtplib.SMTPException, OSError):
        session.smtp.close()


def _permanent(refusals: list[aiosmtplib.SMTPRecipientRefused]) -> bool:
    return all(500 <= r.code < 600 for r in refusals)
