"""Delivery providers behind one interface: e-mail over SMTP (smtp.py), signed webhooks to
the SMS, chat and push gateways (webhook.py), and the local mailbox, which writes each delivery
as a text file a person can open (the local default for channels without a gateway).

Delivery is at least once: a notify process that dies after the provider sent a message but
before the outbox recorded it sends it again once the claim's lease runs out. Every message
therefore carries its notification id as a Message-ID, and receivers deduplicate on it (an
SMTP Message-ID header, an SMS gateway's client reference)."""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from services.notify.contract import notification_message_id


@dataclass(frozen=True)
class OutboundMessage:
    notification_id: str
    channel: str
    recipient_name: str
    recipient_address: str
    subject: str
    body: str
    attempt: int = 1  # the outbox's count of claims for this message, 1 on the first
    complaint_id: str | None = None

    @property
    def message_id(self) -> str:
        """The same on every attempt: what a receiver deduplicates on."""
        return notification_message_id(self.notification_id)


@dataclass(frozen=True)
class Delivery:
    """What the provider answered. `confirmed`: the message is where the recipient reads it
    (a mailbox we keep, a gateway's receipt); otherwise it was handed on (an SMTP relay's 250)
    and a receipt may still follow."""

    reference: str
    answer: str = ""
    confirmed: bool = False


class DeliveryFailed(Exception):
    """The provider refused. `permanent`: trying again cannot help (a bounce, an invalid
    number): the next of the recipient's addresses is tried instead."""

    def __init__(self, answer: str, permanent: bool = False):
        super().__init__(answer)
        self.answer, self.permanent = answer, permanent


class Provider(Protocol):
    async def deliver(self, message: OutboundMessage) -> Delivery:
        """Send the message. Raise DeliveryFailed (or anything) to have it retried, or moved
        to the next address when permanent.

        May be called again for a message already sent (at-least-once): send its message_id
        along so that the receiving end can drop the repeat."""


_HEADER = re.compile(r"^([A-Za-z-]+): (.*)$")


class LocalMailboxProvider:
    """Keeps every attempt as its own file, `<dir>/<channel>/<notification_id>.txt` for the
    first and `<notification_id>.<n>.txt` for a repeat, never overwriting one: a second send
    shows. `received` reads the mailbox as a receiver does, one message per Message-ID."""

    def __init__(self, directory: Path):
        self.directory = directory

    async def deliver(self, message: OutboundMessage) -> Delivery:
        folder = self.directory / message.channel
        folder.mkdir(parents=True, exist_ok=True)
        text = (
            f"Message-ID: {message.message_id}\nX-Attempt: {message.attempt}\n"
            f"To: {message.recipient_name} <{message.recipient_address}>\n"
            f"Subject: {message.subject}\n\n{message.body}"
        )
        for copy in range(1, 1000):
            path = folder / (f"{message.notification_id}.txt" if copy == 1 else f"{message.notification_id}.{copy}.txt")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            return Delivery(reference=str(path), answer="written to the local mailbox", confirmed=True)
        raise RuntimeError(f"message {message.notification_id} was delivered 999 times")

    def attempts(self, channel: str) -> dict[str, list[Path]]:
        """Message-ID -> every file delivered for it, as the provider saw them."""
        seen: dict[str, list[Path]] = {}
        first_copy_first = sorted((self.directory / channel).glob("*.txt"), key=lambda p: (p.name.count("."), p.name))
        for path in first_copy_first:
            headers: dict[str, str] = dict(
                (m[1], m[2])
                for line in path.read_text(encoding="utf-8").split("\n\n", 1)[0].splitlines()
                if (m := _HEADER.match(line))
            )
            seen.setdefault(headers.get("Message-ID", path.name), []).append(path)
        return seen

    def received(self, channel: str) -> dict[str, Path]:
        """What the recipient sees: each Message-ID once (the first copy), repeats dropped."""
        return {message_id: copies[0] for message_id, copies in self.attempts(channel).items()}
