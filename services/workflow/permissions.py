"""Who may do what to which complaint (domain §3, §5): one place for the staff API's rules.

- A person's authority is the highest of their roster role and the escalation roles they hold
  (routing.toml `[escalation]`): a senior agent who is a group lead acts as a group lead.
- Staff act on complaints of their own groups, or that they own, are assigned or liaise on;
  group leads and department heads on the groups they lead (`*`: all); managers on all.
- Assigning, re-tiering and correcting the classification: group lead and up.
- Moving complaints to another policy version: admins.
- Accepting or declining a transfer: the receiving group (its members, leads, managers).
- Asking other departments for their view (source 002's joint consultation): whoever may act on
  the complaint; answering: the groups asked (their members, leads, managers).
- Seeing the customer's contact in full (contacts.py): whoever may act on the complaint.
- Taking a complaint down for a customer (recording.py): everyone who serves customers, that
  is every role but admin. Whoever took it down may add notes to it wherever it went (source
  001: the first to receive a complaint follows it to its close); acting on it is for its handlers.
- Handing an off-duty person's complaints to colleagues on duty (handover.py): group lead and
  up; each complaint's assignment then follows the rule for assigning.
- Starting or ending one's own shift: everyone; someone else's: group lead and up.
- Erasing a customer's personal data (erasure/): managers and admins.

Each refusal is a coded reason (contract/refusals.py): 403 with it, in English and coded.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.web import ApiError, Reason
from services.workflow.contract.names import RANK
from services.workflow.contract.refusals import english, refused
from services.workflow.routing import LEADING_ROLES, RoutingConfig


@dataclass(frozen=True)
class Staff:
    staff_id: str
    name: str
    role: str  # on the roster
    groups: tuple[str, ...]
    authority: str  # the highest of the roster role and the escalation roles held

    def at_least(self, role: str) -> bool:
        return RANK[self.authority] >= RANK[role]


def authority_of(staff_id: str, roster_role: str, config: RoutingConfig) -> str:
    held = [
        role
        for role in LEADING_ROLES
        if any(staff_id in people for people in (by_role.get(role, ()) for by_role in config.escalation.values()))
    ]
    return max([roster_role, *held], key=RANK.__getitem__)


@dataclass(frozen=True)
class Handling:
    """Who a complaint is with (the staff inbox's row)."""

    group: str | None
    assignee: str | None
    owner: str | None
    liaison: str | None
    transfer_to: str | None = None  # a transfer waiting for this group
    recorded_by: str | None = None  # who took it down
    consulted: tuple[str, ...] = ()  # other groups asked for their view

    @classmethod
    def of(cls, inbox_row: Mapping[str, Any]) -> "Handling":
        return cls(
            group=inbox_row["group_name"],
            assignee=inbox_row["assignee"],
            owner=inbox_row["owner"],
            liaison=inbox_row["liaison"],
            transfer_to=inbox_row["transfer_to"],
            recorded_by=inbox_row["recorded_by"],
            consulted=tuple(inbox_row["consulted_groups"] or ()),
        )


LEAD_ACTIONS = ("assign", "retier", "reclassify")
RECEIVING_ACTIONS = ("accept_transfer", "decline_transfer")
FOLLOWING_ACTION = "add_note"
CONSULTED_ACTION = "answer_consultation"


def forbidden(reason: Reason) -> ApiError:
    """A refusal of the person: 403 with the reason in English and coded."""
    return ApiError(403, "forbidden", english(reason), reason=reason)


def refusal(staff: Staff, action: str, handling: Handling, config: RoutingConfig) -> Reason | None:
    """Why this person may not take this action on this complaint; None when they may."""
    if action == "apply_policy":
        return policy_refusal(staff)
    if action in LEAD_ACTIONS:
        return _leads_only(staff, action)
    if action in RECEIVING_ACTIONS:  # the receiving group answers a transfer
        if handling.transfer_to is None:
            return None  # nothing waits: the workflow says so (409)
        receiving = Handling(group=handling.transfer_to, assignee=None, owner=None, liaison=None)
        if _in_scope(staff, receiving, config):
            return None
        return refused("transfer_not_for_you", group=handling.transfer_to)
    if action == CONSULTED_ACTION:  # a group asked for its view answers, whoever handles the complaint
        return consulted_refusal(staff, handling, config)
    if _in_scope(staff, handling, config):
        return None
    if action == FOLLOWING_ACTION and staff.staff_id == handling.recorded_by:
        return None  # who took it down follows it: what the customer said when they called again
    return refused("not_your_group", group=handling.group or "")


def consulted_refusal(staff: Staff, handling: Handling, config: RoutingConfig) -> Reason | None:
    """Why this person may not answer for an asked group; None when they may, or when no group
    was asked (nothing to answer: the workflow says so, 409)."""
    if not handling.consulted or answering_for(staff, handling, config):
        return None
    return refused("not_consulted", groups=list(handling.consulted))


def answering_for(staff: Staff, handling: Handling, config: RoutingConfig) -> list[str]:
    """The groups asked for their view of this complaint that this person may answer for: their
    own, or those they lead (managers: any)."""
    return [g for g in handling.consulted if _in_scope(staff, Handling(g, None, None, None), config)]


def recording_refusal(staff: Staff) -> Reason | None:
    """Why this person may not take a complaint down for a customer; None when they may."""
    if staff.role == "admin":
        return refused("admin_takes_nothing_down")
    return None


def handover_refusal(staff: Staff) -> Reason | None:
    """Why this person may not hand someone's complaints over; None when they may."""
    return _leads_only(staff, "hand_over")


def duty_refusal(staff: Staff, staff_id: str) -> Reason | None:
    """Why this person may not start or end this person's shift: their own, or as a lead."""
    return None if staff_id == staff.staff_id else _leads_only(staff, "set_duty")


def policy_refusal(staff: Staff) -> Reason | None:
    """Why this person may not move complaints to another policy version."""
    return None if staff.at_least("admin") else refused("admins_only", doing="apply_policy")


def erasure_refusal(staff: Staff) -> Reason | None:
    """Why this person may not erase a customer's personal data: the data-protection duty sits
    with managers (and admins)."""
    return None if staff.at_least("manager") else refused("managers_only", doing="erase")


def _leads_only(staff: Staff, doing: str) -> Reason | None:
    if staff.at_least("group_lead"):
        return None
    return refused("leads_only", doing=doing, authority=staff.authority)


def _in_scope(staff: Staff, handling: Handling, config: RoutingConfig) -> bool:
    if staff.at_least("manager"):
        return True
    if staff.staff_id in (handling.assignee, handling.owner, handling.liaison):
        return True
    if handling.group is None:
        return False
    if handling.group in staff.groups:
        return True
    return any(staff.staff_id in config.holders(role, handling.group) for role in ("group_lead", "department_head"))
