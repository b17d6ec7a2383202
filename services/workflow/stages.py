"""The stage machine (domain §1): which action each stage allows. The workflow's Update
validators call `ensure_allowed`, so a refused action never reaches history."""

from enum import StrEnum

from temporalio.exceptions import ApplicationError

from services.common.web import Reason
from services.workflow.contract.refusals import english, refused
from services.workflow.contract.view import REOPENABLE, Stage


class Action(StrEnum):
    acknowledge = "acknowledge"
    assign = "assign"
    post_progress = "post_progress"
    give_plan = "give_plan"
    transfer = "transfer"
    accept_transfer = "accept_transfer"
    decline_transfer = "decline_transfer"
    add_note = "add_note"
    consult = "consult"
    answer_consultation = "answer_consultation"
    propose_compensation = "propose_compensation"
    decide_compensation = "decide_compensation"
    request_info = "request_info"
    customer_reply = "customer_reply"
    resolve = "resolve"
    retier = "retier"
    reclassify = "reclassify"
    apply_policy = "apply_policy"
    link_repeat = "link_repeat"
    link_batch = "link_batch"
    answer_survey = "answer_survey"
    record_follow_up = "record_follow_up"
    reopen = "reopen"
    customer_not_reached = "customer_not_reached"
    customer_reached = "customer_reached"


_HANDLING = {Stage.assigned, Stage.acknowledged, Stage.waiting_on_customer}

# In which stages each action is allowed; anything else is rejected before it touches history.
ALLOWED_IN: dict[Action, set[Stage]] = {
    Action.acknowledge: {Stage.assigned},
    # And the second follow-up, which a person makes: someone off duty hands it to a colleague.
    Action.assign: _HANDLING | {Stage.second_follow_up},
    Action.post_progress: {Stage.acknowledged},
    Action.give_plan: {Stage.acknowledged, Stage.waiting_on_customer},
    Action.transfer: {Stage.assigned, Stage.acknowledged},
    Action.accept_transfer: _HANDLING,
    Action.decline_transfer: _HANDLING,
    Action.add_note: set(Stage) - {Stage.closed},
    # While it is being handled: a view that comes after the result can change nothing.
    Action.consult: {Stage.acknowledged, Stage.waiting_on_customer},
    Action.answer_consultation: {Stage.acknowledged, Stage.waiting_on_customer},
    # Before the result, or as the second follow-up's extra compensation (001).
    Action.propose_compensation: {Stage.acknowledged, Stage.waiting_on_customer, Stage.second_follow_up},
    Action.decide_compensation: {Stage.acknowledged, Stage.waiting_on_customer, Stage.second_follow_up},
    Action.request_info: {Stage.acknowledged},
    Action.customer_reply: {Stage.waiting_on_customer},
    Action.resolve: {Stage.acknowledged, Stage.waiting_on_customer},
    Action.retier: _HANDLING,
    Action.reclassify: _HANDLING,
    Action.apply_policy: set(Stage) - {Stage.closed},
    Action.link_repeat: set(Stage) - {Stage.closed},
    Action.link_batch: set(Stage) - {Stage.closed},
    Action.answer_survey: {Stage.awaiting_survey},
    Action.record_follow_up: {Stage.second_follow_up},
    Action.reopen: set(REOPENABLE),
    # Until it closes: the handler can still call the customer about the survey or the result.
    Action.customer_not_reached: set(Stage) - {Stage.closed},
    Action.customer_reached: set(Stage) - {Stage.closed},
}


class ActionNotAllowed(ApplicationError):
    """What every refused action raises: its message is the reason in English, its details the
    coded reason (contract/refusals.py), which a caller says in its reader's language."""

    def __init__(self, reason: Reason):
        super().__init__(
            english(reason),
            {"code": reason.code, "params": dict(reason.params)},
            type="ActionNotAllowed",
            non_retryable=True,
        )


def ensure_allowed(stage: Stage, action: Action) -> None:
    allowed = ALLOWED_IN[action]
    if stage not in allowed:
        options = sorted((s.value for s in allowed), key=lambda s: s.replace("_", " "))
        raise ActionNotAllowed(refused("wrong_stage", action=action.value, stage=stage.value, allowed=options))
