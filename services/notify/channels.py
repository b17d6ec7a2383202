"""Which provider carries each channel, from the settings: e-mail over SMTP when an SMTP
server is set, each other channel through its gateway's signed webhook when one is set, and
otherwise the local mailbox (files under the data folder), which is what `make test` and a
machine without gateways use. Staff alerts (`internal`) are kept for the console in the local
mailbox; a staff member's own alerts also go to their e-mail when the roster gives one."""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from services.common.settings import Settings
from services.notify.contract import ReplyAddresses
from services.notify.providers import Delivery, DeliveryFailed, LocalMailboxProvider, OutboundMessage, Provider
from services.notify.smtp import SmtpProvider
from services.notify.webhook import WebhookProvider


@dataclass
class Channels:
    """A provider per channel; itself a Provider that picks by the message's channel."""

    by_channel: dict[str, Provider]
    fallback: Provider
    staff_email: dict[str, str] = field(default_factory=dict)  # staff id -> their e-mail

    async def deliver(self, message: OutboundMessage) -> Delivery:
        provider = self.by_channel.get(message.channel, self.fallback)
        delivery = await provider.deliver(message)
        if message.channel == "internal" and (email := self._staff_email(message.recipient_address)):
            copy = OutboundMessage(**{**message.__dict__, "channel": "email", "recipient_address": email})
            mailer = self.by_channel.get("email", self.fallback)
            try:
                await mailer.deliver(copy)
            except DeliveryFailed as exc:  # the console has it: the e-mail is a courtesy copy
                return Delivery(delivery.reference, f"{delivery.answer}; e-mail copy failed: {exc.answer}", True)
        return delivery

    async def close(self) -> None:
        """Ends the providers' open connections (the SMTP sessions kept between messages)."""
        for provider in self.by_channel.values():
            if isinstance(provider, SmtpProvider):
                await provider.close()

    def _staff_email(self, address: str) -> str | None:
        kind, _, who = address.partition(":")
        return self.staff_email.get(who) if kind == "staff" else None


def channels_from(settings: Settings, staff_email: dict[str, str] | None = None) -> Channels:
    files = LocalMailboxProvider(settings.deliveries_dir)
    by_channel: dict[str, Provider] = {}
    if settings.smtp_host:
        by_channel["email"] = SmtpProvider(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            ReplyAddresses.from_settings(settings),
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            security=settings.smtp_security,
        )
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    for channel, url in settings.webhook_urls.items():
        if secret is None:
            raise ValueError("COMPLAINTS_WEBHOOK_SECRET is needed to sign the gateways' webhooks")
        by_channel[channel] = WebhookProvider(url, secret)
    return Channels(by_channel, fallback=files, staff_email=staff_email or {})


def staff_emails(roster_file: Path) -> dict[str, str]:
    """Staff id -> e-mail, from the roster (`email` of each `[[staff]]`), for their own alerts."""
    try:
        roster = tomllib.loads(roster_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {p["id"]: p["email"] for p in roster.get("staff", []) if p.get("id") and p.get("email")}
