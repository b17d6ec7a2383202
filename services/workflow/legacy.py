"""Kept only so that complaints started by older versions replay as they ran: the first
built-in tier table (before intake classified complaints) and the fixed group per tier (before
routing.toml). New complaints never reach this code."""

from dataclasses import dataclass

from services.workflow.contract.record import Classification, ComplaintInput, FieldDecision


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
