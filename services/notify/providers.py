"""Delivery providers behind one interface. Real gateways (SMTP, SMS, chat webhooks) plug in
here later; the local mailbox writes each delivery as a text file a person can open."""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    notification_id: str
    channel: str
    recipient_name: str
    recipient_address: str
    subject: str
    body: str


class Provider(Protocol):
    async def deliver(self, message: OutboundMessage) -> str:
        """Send the message; return the provider's reference. Raise to have it retried.

        May be called again for a message already sent (at-least-once): providers
        deduplicate on notification_id where the gateway allows it."""


class LocalMailboxProvider:
    """Writes `<dir>/<channel>/<notification_id>.txt`; a redelivery overwrites the same file."""

    def __init__(self, directory: Path):
        self.directory = directory

    async def deliver(self, message: OutboundMessage) -> str:
        folder = self.directory / message.channel
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{message.notification_id}.txt"
        path.write_text(
            f"To: {message.recipient_name} <{message.recipient_address}>\n"
            f"Subject: {message.subject}\n\n{message.body}",
            encoding="utf-8",
        )
        return str(path)
