"""Kept only so that complaints started by older versions replay as they ran: the first
built-in tier table (before intake classified complaints), the fixed group per tier (before
routing.toml) and the workflow's older branches (`OlderGenerations`). New complaints never
reach this code."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from temporalio import workflow

from services.common.deadlines.policy import Policy
from services.common.domain_events import DomainEvent
from services.notify.contract import KeyedNotificationRequest
from services.workflow.activities import ComplaintActivities
from services.workflow.activity_options import ACTIVITY_OPTIONS, LOCAL_OPTIONS
from services.workflow.contract.record import Classification, ComplaintInput, FieldDecision
from services.workflow.routing import Route


@dataclass(frozen=True)
class TierRule:
    name: str
    tier: int
    complaint_type: str
    keywords: tuple[str, ...]


# A small first rules table (domain §2): the first rule whose keyword appears decides.
TIER_RULES: tuple[TierRule, ...] = (
    TierRule(
        "safety-or-injury",
        1,
        "safety",
        ("injur", "hurt", "fire", "smoke", "electric shock", "safety", "受伤", "安全", "起火", "冒烟", "触电"),
    ),
    TierRule(
        "payment-system-down",
        1,
        "product_fault",
        ("payment system down", "cannot pay at all", "支付系统", "无法支付"),
    ),
    TierRule(
        "money-lost",
        2,
        "process_problem",
        ("charged twice", "double charge", "refund", "money", "overcharg", "退款", "扣款", "多扣", "扣费"),
    ),
    TierRule(
        "order-anomaly",
        2,
        "process_problem",
        ("order", "delivery", "shipment", "订单", "发货", "物流"),
    ),
)
ROUTINE = TierRule("routine-default", 3, "other", ())


@dataclass(frozen=True)
class TierDecision:
    tier: int
    complaint_type: str
    rule: str
    reason: str


def assign_tier(description: str, urgency_hint: str | None = None) -> TierDecision:
    """Tier from the rules table; a channel's 'urgent' hint (IVR key, form box) means tier 1."""
    if urgency_hint == "high":
        return TierDecision(1, "other", "urgency-hint", "the channel marked the complaint urgent")
    text = description.lower()
    for rule in TIER_RULES:
        for keyword in rule.keywords:
            if keyword in text:
                return TierDecision(rule.tier, rule.complaint_type, rule.name, f"mentions '{keyword}'")
    return TierDecision(ROUTINE.tier, ROUTINE.complaint_type, ROUTINE.name, "no rule matched")


def legacy_classification(complaint: ComplaintInput) -> Classification:
    """For complaints accepted before intake classified them (their histories still replay):
    the first small rules table, with the other fields at their defaults."""
    found = assign_tier(complaint.description, complaint.urgency_hint)
    urgency = {1: "high", 2: "medium", 3: "low"}[found.tier]
    return Classification(
        tier=found.tier,
        complaint_type=found.complaint_type if found.complaint_type != "safety" else "other",
        urgency=urgency,
        responsibility="undetermined",
        scope="single_customer",
        difficulty="front_line",
        decided_by=[FieldDecision(field="tier", value=found.tier, rule=found.rule, reason=found.reason)],
        rules_version="built-in@v0",
    )


# Tier 1 skips the queue to the special team; tier 2 to senior agents; tier 3 to the front line (§3).
# Complaints started before routing.toml existed keep these groups (see the "routing-v1" patch).
DEFAULT_GROUP_BY_TIER = {1: "special-team", 2: "senior-agents", 3: "front-line"}


class OlderGenerations:
    """The branches complaints started by older generations of the workflow take, kept so that
    their histories replay as they ran. `run` picks a generation once, first thing
    (`_outbox`, `_policy_local`); nothing a new complaint does passes through here."""

    complaint: ComplaintInput
    _outbox: bool  # message-outbox-v1: messages stored with their events
    _policy_local: bool  # policy-local-v1: the policy read in a local activity (implies routing, liaison)

    if TYPE_CHECKING:  # provided by ComplaintWorkflow

        async def _record(
            self,
            *steps: DomainEvent,
            messages: Sequence[KeyedNotificationRequest] = (),
            messages_first: bool = False,
        ) -> None: ...

        def _routing_messages(self, route: Route, tell_liaison: bool) -> list[KeyedNotificationRequest]: ...

    async def _policy_as_activity(self, name: str) -> Policy:
        """Before policy-local-v1: the policy loaded in a regular activity."""
        return await workflow.execute_activity_method(
            ComplaintActivities.load_policy, name, summary=f"policy {name}", **ACTIVITY_OPTIONS
        )

    def _route_by_tier(self, tier: int) -> Route:
        """Before routing-v1: the fixed group of the tier, nobody picked."""
        return Route(
            group=DEFAULT_GROUP_BY_TIER[tier],
            rule="tier-default",
            reason="the group of the tier",
            strategy="round_robin",
        )

    async def _record_receipt_then_tell(self, received: Sequence[DomainEvent], route: Route) -> None:
        """Before the outbox: the receipt stored, then the liaison patch checked, then each
        routing message handed over in an activity of its own."""
        await self._record(*received)
        tell_liaison = self._policy_local or workflow.patched("liaison-told-v1")
        await self._send_each(self._routing_messages(route, tell_liaison))

    async def _send_each(self, messages: Sequence[KeyedNotificationRequest]) -> None:
        for message in messages:
            await self._send_now(message)

    async def _send_now(self, request: KeyedNotificationRequest) -> None:
        """Before the outbox: one message handed to notify in an activity of its own."""
        await workflow.execute_local_activity_method(
            ComplaintActivities.send_notification,
            request,
            summary=f"{request.template} → {request.channel}",
            **LOCAL_OPTIONS,
        )

    @staticmethod
    def _clock_key(kind: str, now: datetime) -> str:
        """Before the outbox: a staff action's message keyed by the task's clock."""
        return f"{kind}/{now.isoformat()}"
