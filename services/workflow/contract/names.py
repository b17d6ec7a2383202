"""How a complaint is found in Temporal: its workflow's name, id, task queue, Updates and
query, and the summary line the Temporal UI lists it with."""

import re

from services.common.privacy import scrub_text
from services.notify.contract import Undelivered
from services.workflow.contract.actions import (
    ApplyPolicyAction,
    AssignAction,
    BatchLink,
    CompensationAction,
    ConsultAction,
    ConsultationAnswerAction,
    CustomerReply,
    DecisionAction,
    DeclineTransferAction,
    FollowUpAction,
    NoteAction,
    PlanAction,
    ProgressAction,
    ReachedAction,
    ReclassifyAction,
    ReopenAction,
    RepeatSubmission,
    RequestInfoAction,
    ResolveAction,
    RetierAction,
    StaffAction,
    SurveyAnswer,
    TransferAction,
)
from services.workflow.contract.record import ComplaintInput

WORKFLOW_TYPE = "ComplaintWorkflow"
# The workflow service's answer for a complaint Temporal no longer keeps (closed, past the
# namespace's retention): its last view, for intake's customer pages (services/workflow/kept_views.py).
KEPT_VIEW_PATH = "/v1/kept-views/{complaint_id}"
# What the events have recorded of a complaint (services/workflow/inbox.py), for intake's customer
# pages while the engine cannot show the live view: no deadlines running, nothing to act on.
RECORDED_VIEW_PATH = "/v1/recorded-views/{complaint_id}"
TASK_QUEUE = "complaints"  # the default; a deployment may name another in its settings
STATUS_QUERY = "status"
_ID_PREFIX = "complaint-"

# Every Update by name, with the argument it takes (each returns the ComplaintView after it).
UPDATES: dict[str, type] = {
    "acknowledge": StaffAction,
    "assign": AssignAction,
    "post_progress": ProgressAction,
    "give_plan": PlanAction,
    "transfer": TransferAction,
    "accept_transfer": StaffAction,
    "decline_transfer": DeclineTransferAction,
    "add_note": NoteAction,
    "consult": ConsultAction,
    "answer_consultation": ConsultationAnswerAction,
    "propose_compensation": CompensationAction,
    "decide_compensation": DecisionAction,
    "request_info": RequestInfoAction,
    "customer_reply": CustomerReply,
    "resolve": ResolveAction,
    "retier": RetierAction,
    "reclassify": ReclassifyAction,
    "apply_policy": ApplyPolicyAction,
    "answer_survey": SurveyAnswer,
    "record_follow_up": FollowUpAction,
    "reopen": ReopenAction,
    "link_repeat": RepeatSubmission,
    "link_batch": BatchLink,
    "customer_not_reached": Undelivered,  # notify's report, as it gave it
    "customer_reached": ReachedAction,
}


# Staff roles, lowest first (the roster's and routing's escalation roles): who outranks whom,
# for the staff API's permissions and reporting's readers alike.
RANK = {"agent": 1, "senior": 2, "liaison": 2, "group_lead": 3, "department_head": 4, "manager": 5, "admin": 6}


def superiors_of(group: str, other: str) -> str:
    """Where a staff alert for the people two groups answer to together goes: the relay finds
    them (routing.py), and the console lists the alert for each of them."""
    return f"superior:{group}|{other}"


SUPERIORS_ADDRESS = re.compile(r"superior:([^|]+)\|(.+)")


def workflow_id_for(complaint_id: str) -> str:
    return f"{_ID_PREFIX}{complaint_id}"


def complaint_id_from_workflow_id(workflow_id: str) -> str:
    if not workflow_id.startswith(_ID_PREFIX):
        raise ValueError(f"not a complaint's workflow id: {workflow_id!r}")
    return workflow_id.removeprefix(_ID_PREFIX)


def static_summary(complaint: ComplaintInput) -> str:
    """One line for the Temporal UI's list; contact data masked."""
    text = scrub_text(complaint.description.replace("\n", " "))
    return f"{complaint.channel.value} complaint {complaint.complaint_id}: {text[:120]}"
