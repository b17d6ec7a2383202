"""Which provider carries each channel, from the settings: e-mail over SMTP when an SMTP
server is set, each other channel through its gateway's signed webhook when one is set, and
otherwise the local mailbox (files under the data folder), which is what `make test` and a
machine without gateways use. Staff alerts (`internal`) are kept for the console in the local
mailbox (their e-mail copies: alert_emails.py)."""

from dataclasses import dataclass

from services.common.settings import Settings
from services.notify.contract import ReplyAddresses
from services.notify.providers import Delivery, LocalMailboxProvider, OutboundMessage, Provider
from services.notify.smtp import SmtpProvider
from services.notify.webhook import WebhookProvider


@dataclass
class Channels:
    """A provider per channel; itself a Provider that picks by the message's channel."""

    by_channel: dict[str, Provider]
    fallback: Provider

    async def deliver(self, message: OutboundMessage) -> Delivery:
        return await self.by_channel.get(message.channel, self.fallback).deliver(message)

    async def close(self) -> None:
        """Ends the providers' open connections (the SMTP sessions kept between messages)."""
        for provider in self.by_channel.values():
            if isinstance(provider, SmtpProvider):
                await provider.close()


def channels_from(settings: Settings) -> Channels:
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
    return Channels(by_channel, fallback=files)
