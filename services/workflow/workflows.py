"""ComplaintWorkflow: one durable workflow per complaint, from receipt to close (domain §1).

Deterministic code only: time from workflow.now(), ids from workflow.uuid4(), every side
effect in an activity. Staff actions and customer input are Updates whose validators reject
what does not fit the current stage before it reaches history.

Every deadline is a durable timer: while the complaint waits for people, the workflow sleeps
until the SLA state's next wake-up (a warning, a deadline, the next escalation level), fires
what is due, and sleeps again; an action that changes the deadlines wakes it to recompute.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from services.common import domain_events as events
    from services.common.deadlines.policy import BETWEEN_DEPARTMENTS, Policy
    from services.common.deadlines.sla import MET_ON_RESOLUTION, Due, SlaState
    from services.common.events import NewEvent
    from services.common.money import written_compensations
    from services.notify.contract import Address, KeyedNotificationRequest, Undelivered, notification_key
    from services.workflow import search_attributes as sa
    from services.workflow.activities import ComplaintActivities, EventsAndMessages
    from services.workflow.activity_options import (
        LOCAL_OPTIONS,
        ONE_ATTEMPT,
        SHORT_LOCAL_OPTIONS,
        LocalActivityOptions,
    )
    from services.workflow.contract import (
        ApplyPolicyAction,
        AssignAction,
        BatchLink,
        Classification,
        CompensationAction,
        CompensationView,
        ComplaintInput,
        ComplaintOutcome,
        ComplaintView,
        ConsultAction,
        Consultation,
        ConsultationAnswer,
        ConsultationAnswerAction,
        CustomerReply,
        DecisionAction,
        DeclineTransferAction,
        FieldDecision,
        FollowUpAction,
        HistoryEntry,
        InternalNote,
        NoteAction,
        PendingTransfer,
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
        Stage,
        SurveyAnswer,
        TransferAction,
        static_summary,
    )
    from services.workflow.contract.names import STATUS_QUERY, WORKFLOW_TYPE, superiors_of
    from services.workflow.contract.refusals import refused
    from services.workflow.eventstore import TaskFence
    from services.workflow.legacy import OlderGenerations, legacy_classification
    from services.workflow.routing import Route, RouteRequest
    from services.workflow.stages import Action, ActionNotAllowed, ensure_allowed

# A Temporal timer counts from when its workflow task completes. The first wait after receipt is
# cut to this, then set again from a later task, when a burst of arriving complaints has passed.
RE_AIM_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class LateGroup:
    """Who hears of a late target: a group (None: the complaint's own), a person of it asked by
    name, and what tells its messages apart from the other groups' for the same target."""

    group: str | None
    person: str | None = None
    suffix: str = ""


@workflow.defn(name=WORKFLOW_TYPE)
class ComplaintWorkflow(OlderGenerations):
    @workflow.init
    def __init__(self, complaint: ComplaintInput) -> None:
        self.complaint = complaint
        self.view = ComplaintView(
            complaint_id=complaint.complaint_id,
            stage=Stage.received,
            channel=complaint.channel,
            received_at=complaint.received_at,
        )
        self._sla: SlaState | None = None  # set once the policy is loaded, first thing in `run`
        self._version = 0
        self._append_lock = asyncio.Lock()  # appends run one at a time: versions in order
        self._deadlines_changed = False
        self._published: dict[str, object] = {}
        # What queries show: the view as of the last recorded step, never one half-way through
        # a step (an assignee set while its event is still being stored, with the old deadlines).
        # Kept as JSON: pydantic-core writes it in a fraction of a deep copy's time, at every step,
        # and reads it back only when somebody asks.
        self._shown: str | None = None
        self._policy_local = False  # the generation of this run: see `run`
        self._outbox = False  # messages stored with their events (see `_record`)
        self._timeliness = False  # timeliness-v1: the customer hears the acknowledgement
        self._reopenable = False  # reopen-v1: a resolved complaint may be reopened for a while
        # customer-comms-v1: a receipt at once, messages in the customer's language and zone
        # with their other address as fallback, a word when a second follow-up is coming.
        self._comms = False
        # quiet-timers-v1: deadlines fire without upserting search attributes (see `_publish_state`).
        self._quiet_timers = False
        # re-aimed-wait-v1: the first wait after receipt is cut short, then set again (`_handle_until`).
        self._re_aim_first_wait = False
        # short-local-attempts-v1: local activities retry on workflow timers (activity_options.py).
        self._short_local = False
        # compensation-in-words-v1: the written result cites what was granted in the customer's
        # language ('退款 1,500 元'), not in English with the recorded float ('refund of 1500 yuan').
        self._compensation_in_words = False
        # follow-up-in-writing-v1: the second follow-up's outcome is written to the customer.
        self._follow_up_in_writing = False
        # customer-breaches-v1: a target one department owes another, missed, does not make the
        # complaint breached (`SlaState.breached_for_customer`); the view names it apart.
        self._customer_breaches = False
        # approvals-internal-v1: nor does an approval given late (policy.BETWEEN_STAFF).
        self._approvals_between_staff = False
        self._reopen: ReopenAction | None = None  # a reopening not yet taken up by `run`

    @property
    def sla(self) -> SlaState:
        if self._sla is None:
            raise RuntimeError("the SLA state exists once the policy is loaded")
        return self._sla

    @workflow.run
    async def run(self, complaint: ComplaintInput) -> ComplaintOutcome:
        """Domain §1: receive (policy, tier, route, first events and messages), handle until
        resolved, then close (written feedback, the satisfaction survey, a second follow-up for a
        dissatisfied customer). Unless the customer answered satisfied, the customer or staff may
        reopen it for the policy's days after the result: back to handling, then close again."""
        self._pick_generation()
        policy = await self._load_policy(complaint.policy)
        found = self._assign_tier(policy)
        route = await self._route(found.tier, found.complaint_type)
        await self._record_receipt(policy, found, route)
        await self._reply_if_after_hours()

        await self._handle_until(lambda: self.view.stage == Stage.resolved)
        while True:
            await self._send_feedback()
            await self._ask_satisfaction()
            if self._reopenable and self._reopen is None and not self._customer_satisfied():
                await self._open_for_reopening()
            if self._reopen is None:
                break
            self._reopen = None  # back in handling, with its owner and new deadlines
            await self._handle_until(lambda: self.view.stage == Stage.resolved)
        return await self._close()

    # ------------------------------------------------------------ receive

    def _pick_generation(self) -> None:
        """Checked first, before anything can end the first workflow task: a patch checked after
        a local activity is found on replay only if no workflow task ended between the two (a
        query can end one), so the later behaviours (routing, the liaison) are implied by this
        check instead of checked where they happen."""
        self._approvals_between_staff = workflow.patched("approvals-internal-v1")
        self._customer_breaches = self._approvals_between_staff or workflow.patched("customer-breaches-v1")
        self._follow_up_in_writing = self._customer_breaches or workflow.patched("follow-up-in-writing-v1")
        self._disputes_go_up = self._follow_up_in_writing or workflow.patched("transfer-disputes-v1")
        self._compensation_in_words = self._disputes_go_up or workflow.patched("compensation-in-words-v1")
        self._short_local = self._compensation_in_words or workflow.patched("short-local-attempts-v1")
        self._re_aim_first_wait = self._short_local or workflow.patched("re-aimed-wait-v1")
        self._quiet_timers = self._re_aim_first_wait or workflow.patched("quiet-timers-v1")
        self._comms = self._quiet_timers or workflow.patched("customer-comms-v1")
        self._reopenable = self._comms or workflow.patched("reopen-v1")
        self._timeliness = self._reopenable or workflow.patched("timeliness-v1")
        self._outbox = self._timeliness or workflow.patched("message-outbox-v1")
        self._policy_local = self._outbox or workflow.patched("policy-local-v1")

    async def _load_policy(self, name: str) -> Policy:
        if not self._policy_local:
            return await self._policy_as_activity(name)
        # Local: reading a file on the worker needs no task queue round trip, nor the events
        # and the server's work of a regular activity (a third of the server's CPU per complaint).
        return await workflow.execute_local_activity_method(
            ComplaintActivities.load_policy, name, summary=f"policy {name}", **self._local_options()
        )

    def _local_options(self) -> LocalActivityOptions:
        return SHORT_LOCAL_OPTIONS if self._short_local else LOCAL_OPTIONS

    def _assign_tier(self, policy: Policy) -> Classification:
        """Intake's classification (or the first rules table, for complaints from before it),
        and the SLA clocks of the tier, running from receipt, not from now."""
        found = self.complaint.classification or legacy_classification(self.complaint)
        self._sla = SlaState(policy=policy, tier=found.tier, remind_before_deadline=self._timeliness)
        self.sla.start_at_receipt(self.complaint.received_at)
        self.view.tier, self.view.complaint_type, self.view.classification = found.tier, found.complaint_type, found
        self.view.earlier_complaints = self.complaint.earlier_complaints
        self.view.policy = policy.ref
        return found

    async def _record_receipt(self, policy: Policy, found: Classification, route: Route) -> None:
        complaint = self.complaint
        self.view.group, self.view.assignee, self.view.liaison = route.group, route.assignee, route.liaison
        if route.assignee:
            self.sla.meet("assignment", workflow.now())  # picked by the group's strategy at once
        self.view.stage = Stage.assigned
        tier_decision = found.decision("tier")
        received = (
            events.ComplaintReceived.model_validate(
                complaint.model_dump(mode="json", exclude={"complaint_id", "status_url", "classification"})
            ),
            events.TierAssigned(
                tier=found.tier,
                complaint_type=found.complaint_type,
                urgency=found.urgency,
                responsibility=found.responsibility,
                scope=found.scope,
                difficulty=found.difficulty,
                rule=tier_decision.rule if tier_decision else None,
                reason=tier_decision.reason if tier_decision else None,
                **_in_chinese(tier_decision.reason_zh if tier_decision else None),
                decided_by=[d.model_dump(mode="json", exclude_none=True) for d in found.decided_by],
                rules_version=found.rules_version,
                needs_review=found.needs_review,
                policy=policy.ref,
                deadlines=self._deadlines(),
            ),
            events.Assigned(
                group=route.group,
                assignee=route.assignee,
                liaison=route.liaison,
                rule=route.rule,
                reason=route.reason,
                **_in_chinese(route.reason_zh),
                strategy=route.strategy,
            ),
        )
        if self._outbox:
            messages = self._routing_messages(route, tell_liaison=True)
            if self._comms and not self._after_hours():  # after hours, the auto-reply is the receipt
                messages.insert(0, self._receipt())
            await self._record(*received, messages=messages)
        else:
            await self._record_receipt_then_tell(received, route)

    def _receipt(self) -> KeyedNotificationRequest:
        """The customer hears at once that we have it: its id, its page, when we answer."""
        deadlines = self._deadlines()
        return self._to_customer(
            "received",
            {
                "first_response_by": self._local_text(deadlines.get("first_response")),
                "resolution_by": self._local_text(deadlines.get("resolution")),
            },
        )

    def _after_hours(self) -> bool:
        """Received outside the business hours that its first response is counted in (§2)."""
        tier = self.sla.policy.tier(self.sla.tier)
        if tier.clock_of(tier.first_response) != "business":
            return False  # handled around the clock
        return not self.sla.calendar().is_working_time(self.complaint.received_at)

    # ------------------------------------------------------------ close

    async def _send_feedback(self) -> None:
        """The written result to the customer (§6)."""
        resolution = self.view.resolution
        assert resolution is not None  # handling ends only when resolved
        feedback = self._to_customer(
            "feedback", {"resolution": resolution.model_dump(mode="json")}, key=self._per_resolution("feedback")
        )
        self.sla.meet("feedback", workflow.now())
        await self._record(
            events.FeedbackSent(channel=self.complaint.customer.reply_channel()[0]),
            messages=[feedback],
            messages_first=True,
        )

    async def _ask_satisfaction(self) -> None:
        """The survey, answered within its window or given up; a dissatisfied answer gets a
        second follow-up (§8)."""
        answer_window = self.sla.policy.tier(self.sla.tier).survey_follow_up.within
        self.view.survey_due_at = workflow.now() + answer_window
        survey = self._to_customer(
            "survey_request",
            {"answer_by": self.view.survey_due_at.isoformat()},
            key=self._per_resolution("survey_request"),
        )
        self.view.stage = Stage.awaiting_survey
        await self._record(
            events.SurveyRequested(answer_by=self.view.survey_due_at),
            messages=[survey],
            messages_first=True,
        )
        try:
            await workflow.wait_condition(
                lambda: self.view.survey is not None or self._reopen is not None, timeout=answer_window
            )
        except TimeoutError:
            pass
        if self._reopen is not None:
            return  # the customer or staff reopened it instead of answering
        if self.view.survey is None:
            self.view.stage = Stage.closed  # from here on the validator refuses a late answer
            # An answer accepted just before may still be appending: SurveyExpired comes after it.
            await workflow.wait_condition(workflow.all_handlers_finished)
        if self.view.survey is None:
            await self._record(events.SurveyExpired(waited_hours=answer_window / timedelta(hours=1)))
        elif not self._customer_satisfied():
            await self._second_follow_up()

    async def _close(self) -> ComplaintOutcome:
        self.view.stage = Stage.closed
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record(
            events.Closed(
                survey_answered=self.view.survey is not None,
                breached=self._breached(),
                escalation_level=self.sla.escalation_level,
            )
        )
        return ComplaintOutcome(
            complaint_id=self.complaint.complaint_id,
            closed_at=workflow.now(),
            survey_answered=self.view.survey is not None,
            breached=self._breached(),
            escalation_level=self.sla.escalation_level,
        )

    async def _second_follow_up(self) -> None:
        self.view.stage = Stage.second_follow_up
        self.sla.start("second_follow_up", workflow.now())
        survey = self.view.survey
        assert survey is not None  # a dissatisfied answer brought us here
        await self._record(
            events.FollowUpRequested(deadlines=self._deadlines()),
            messages=[
                self._to_staff(
                    "follow_up_needed",
                    "owner",
                    {"survey": survey.model_dump(mode="json")},
                    key=self._per_resolution("follow-up"),
                ),
                *self._follow_up_promise(),
            ],
        )
        await self._handle_until(lambda: self.view.follow_up is not None or self._reopen is not None)

    def _follow_up_promise(self) -> list[KeyedNotificationRequest]:
        """A dissatisfied customer hears that we will come back to them, and by when."""
        if not self._comms:
            return []
        due = self._deadlines().get("second_follow_up")
        key = self._per_resolution("follow-up-promised")
        return [self._to_customer("follow_up_promised", {"follow_up_by": self._local_text(due)}, key=key)]

    def _per_resolution(self, kind: str) -> str:
        """A message sent once per result: a reopened complaint's next result is another message."""
        return f"{kind}/{self.view.reopened}" if self.view.reopened else kind

    def _customer_satisfied(self) -> bool:
        """A satisfied answer settles it: the complaint closes without waiting to be reopened."""
        survey = self.view.survey
        low = self.sla.policy.dissatisfied_below
        return survey is not None and min(survey.satisfaction_result, survey.satisfaction_speed) >= low

    async def _open_for_reopening(self) -> None:
        """The customer or staff may reopen it until the policy's days after its resolution;
        then it closes."""
        until = self.view.reopen_until
        self.view.stage = Stage.resolved
        if until is not None and until > workflow.now():
            try:
                await workflow.wait_condition(
                    lambda: self._reopen is not None, timeout=until - workflow.now(), timeout_summary="reopen window"
                )
            except TimeoutError:
                pass

    # ------------------------------------------------------------ the SLA timer loop

    async def _handle_until(self, done: Callable[[], bool]) -> None:
        """Wait for people until `done`, firing warnings, breaches and escalations on time."""
        while True:
            await self._fire(self.sla.due(workflow.now()))
            if done():
                return
            wake_at = self.sla.next_wakeup(workflow.now())
            wait = max(wake_at - workflow.now(), timedelta(0)) if wake_at else None
            summary = "next SLA deadline or warning"
            if self._re_aim_first_wait and wait is not None and wait > RE_AIM_AFTER:
                # The receipt's task ran while complaints were arriving: its timer counts from the
                # moment the busy worker completed that task, later than `workflow.now()`, and so
                # would fire late by as long. Waking once soon sets the rest from a prompt task.
                wait, summary = RE_AIM_AFTER, "re-aim the timer of the next SLA deadline"
            self._re_aim_first_wait = False
            self._deadlines_changed = False
            try:
                await workflow.wait_condition(
                    lambda: done() or self._deadlines_changed, timeout=wait, timeout_summary=summary
                )
            except TimeoutError:
                pass

    async def _fire(self, dues: list[Due]) -> None:
        searchable = not self._quiet_timers
        for due in dues:
            target = self.sla.targets[due.target]
            facts = {
                "target": due.target,
                "deadline": due.deadline.isoformat() if due.deadline else None,
                "due_at": due.at.isoformat(),
            }
            if due.kind == "warn":
                await self._record(
                    events.SlaWarning(**facts, fraction=due.fraction),
                    messages=[
                        self._to_late_owner(
                            "sla_warning",
                            {**facts, "fraction": due.fraction},
                            f"{due.target}/{target.started_at.isoformat()}/warn/{due.fraction}{late.suffix}",
                            late,
                        )
                        for late in self._late_groups(due.target)
                    ],
                    searchable=searchable,
                )
            elif due.kind == "remind":
                await self._record(
                    events.ProgressReminder(**facts),
                    messages=[
                        self._to_staff(
                            "progress_reminder", "owner", facts, key=f"progress/{target.started_at.isoformat()}/remind"
                        )
                    ],
                    searchable=searchable,
                )
            else:
                late_groups = self._late_groups(due.target)
                # A consultation's escalation names the departments it went to (their leads' Team page).
                named = (
                    {"groups": [g.group for g in late_groups if g.group]} if due.target == "consultation_answer" else {}
                )
                escalated = events.Escalated(**facts, level=due.level, to=due.to, **named)
                steps = [events.SlaBreached(**facts), escalated] if due.kind == "breach" else [escalated]
                await self._record(
                    *steps,
                    messages=[
                        self._to_staff(
                            "sla_escalation",
                            due.to,
                            {**facts, "level": due.level, "breach": due.kind == "breach"},
                            key=f"{due.target}/{target.started_at.isoformat()}/level/{due.level}{late.suffix}",
                            group=late.group,
                        )
                        for late in late_groups
                    ],
                    searchable=searchable,
                )

    def _late_groups(self, target: str) -> list[LateGroup]:
        """Whose a late target is: a transfer not accepted in time is the receiving department's;
        an unanswered consultation each asked department's that has not answered, its named
        member first (each told apart by its messages' keys); any other the complaint's own."""
        if target == "transfer_acceptance" and self.view.transfer:
            return [LateGroup(self.view.transfer.to_group)]
        if target == "consultation_answer":
            unanswered = self._unanswered_groups()
            named = {c.group: c.liaison for c in self.view.consultations}  # the latest ask's
            return [LateGroup(g, named.get(g), f"/{g}") for g in unanswered] or [LateGroup(None)]
        return [LateGroup(None)]

    def _unanswered_groups(self) -> list[str]:
        """The asked groups whose latest question has no answer yet (an answer is to the latest)."""
        latest = {c.group: c for c in self.view.consultations}
        return sorted(group for group, asked in latest.items() if not asked.answers)

    def _to_late_owner(self, template: str, variables: dict, key: str, late: LateGroup) -> KeyedNotificationRequest:
        """A late target's owner: a consultation's named member; else the complaint's owner, or
        the late group's queue."""
        if late.person:
            return self._to_person(
                template,
                late.person,
                {**variables, "tier": self.sla.tier, "role": "liaison", "owner": self.view.owner},
                key,
            )
        return self._to_staff(template, "owner", variables, key=key, group=late.group)

    # ------------------------------------------------------------ staff and customer input

    @workflow.update
    async def acknowledge(self, action: StaffAction) -> ComplaintView:
        now = workflow.now()
        self.view.stage = Stage.acknowledged
        # First-responder ownership: whoever acknowledges owns the complaint until close.
        self.view.owner = action.staff_id
        self.view.assignee = self.view.assignee or action.staff_id
        self.sla.meet("first_response", now)
        self.sla.meet("assignment", now)
        self.sla.start("progress", now)
        messages = []
        if self._timeliness:  # source 003: a first response the customer hears, with what comes next
            messages.append(
                self._to_customer("acknowledged", self._acknowledgement(action), key=self._action_key("ack", now))
            )
        await self._record(
            events.Acknowledged(staff_id=action.staff_id, note=action.note, deadlines=self._deadlines()),
            messages=messages,
        )
        return self.view

    def _acknowledgement(self, action: StaffAction) -> dict[str, str | None]:
        """Who handles the complaint, and by when the customer hears next (in local time)."""
        deadlines = self._deadlines()
        return {
            "handler": action.staff_id,
            "group": self.view.group,
            "next_update_by": self._local_text(deadlines.get("progress")),
            "resolution_by": self._local_text(deadlines.get("resolution")),
            "timezone": self.sla.policy.calendar.timezone,
        }

    @acknowledge.validator
    def _validate_acknowledge(self, action: StaffAction) -> None:
        ensure_allowed(self.view.stage, Action.acknowledge)

    @workflow.update
    async def assign(self, action: AssignAction) -> ComplaintView:
        self.view.assignee = action.assignee
        self.sla.meet("assignment", workflow.now())
        await self._record(
            events.AssignedToPerson(staff_id=action.staff_id, assignee=action.assignee, note=action.note)
        )
        return self.view

    @assign.validator
    def _validate_assign(self, action: AssignAction) -> None:
        ensure_allowed(self.view.stage, Action.assign)

    @workflow.update
    async def post_progress(self, action: ProgressAction) -> ComplaintView:
        now = workflow.now()
        self.sla.meet("progress", now)
        self.sla.start("progress", now)
        message = self._to_customer(
            "progress_update", {"message": action.message}, key=self._action_key("progress", now)
        )
        await self._record(
            events.ProgressPosted(staff_id=action.staff_id, message=action.message, deadlines=self._deadlines()),
            messages=[message],
            messages_first=True,
        )
        return self.view

    @post_progress.validator
    def _validate_post_progress(self, action: ProgressAction) -> None:
        ensure_allowed(self.view.stage, Action.post_progress)

    @workflow.update
    async def give_plan(self, action: PlanAction) -> ComplaintView:
        """Tell the customer the plan: what will be done, by when (meets the solution-plan target)."""
        now = workflow.now()
        self.sla.meet("solution_plan", now)
        self.view.solution_plan = action.plan
        deadlines = self._deadlines()
        message = self._to_customer(
            "solution_plan",
            {
                "plan": action.plan,
                "handler": action.staff_id,
                "resolution_by": self._local_text(deadlines.get("resolution")),
                "timezone": self.sla.policy.calendar.timezone,
            },
            key=self._action_key("plan", now),
        )
        await self._record(
            events.SolutionPlanGiven(staff_id=action.staff_id, plan=action.plan, deadlines=deadlines),
            messages=[message],
        )
        return self.view

    @give_plan.validator
    def _validate_give_plan(self, action: PlanAction) -> None:
        ensure_allowed(self.view.stage, Action.give_plan)

    @workflow.update
    async def transfer(self, action: TransferAction) -> ComplaintView:
        """Hand the complaint to another department; it must accept within the tier's
        transfer_acceptance (domain §5). The first responder keeps ownership."""
        now = workflow.now()
        self.view.transfer = PendingTransfer(
            from_group=self.view.group,
            to_group=action.to_group,
            reason=action.reason,
            requested_by=action.staff_id,
            requested_at=now,
            liaison=action.liaison,
        )
        self.sla.start("transfer_acceptance", now)
        facts = {"from_group": self.view.group, "to_group": action.to_group, "reason": action.reason}
        key = self._action_key("transfer", now)
        task = (
            self._to_person(
                "transfer_request",
                action.liaison,
                {**facts, "tier": self.sla.tier, "role": "liaison", "owner": self.view.owner},
                key,
            )
            if action.liaison
            else self._to_staff("transfer_request", "owner", facts, key=key, group=action.to_group)
        )
        await self._record(
            events.TransferRequested(
                staff_id=action.staff_id, **facts, liaison=action.liaison, deadlines=self._deadlines()
            ),
            messages=[task],
        )
        return self.view

    @transfer.validator
    def _validate_transfer(self, action: TransferAction) -> None:
        ensure_allowed(self.view.stage, Action.transfer)
        if self.view.transfer is not None:
            raise ActionNotAllowed(refused("transfer_waiting", group=self.view.transfer.to_group))
        if action.to_group == self.view.group:
            raise ActionNotAllowed(refused("with_group_already", group=action.to_group))

    @workflow.update
    async def accept_transfer(self, action: StaffAction) -> ComplaintView:
        """The receiving department takes the complaint; the customer hears who handles it now."""
        now = workflow.now()
        pending = self.view.transfer
        assert pending is not None  # the validator saw it
        self.sla.meet("transfer_acceptance", now)
        self.view.transfer = None
        self.view.group, self.view.assignee = pending.to_group, action.staff_id
        waited = (now - pending.requested_at).total_seconds()
        await self._record(
            events.TransferAccepted(
                staff_id=action.staff_id,
                from_group=pending.from_group,
                to_group=pending.to_group,
                waited_seconds=waited,
                deadlines=self._deadlines(),
            ),
            messages=[
                self._to_customer(
                    "transfer_accepted",
                    {"handler": action.staff_id, "group": pending.to_group},
                    key=self._action_key("transfer-accepted", now),
                )
            ],
        )
        return self.view

    @accept_transfer.validator
    def _validate_accept_transfer(self, action: StaffAction) -> None:
        ensure_allowed(self.view.stage, Action.accept_transfer)
        if self.view.transfer is None:
            raise ActionNotAllowed(refused("no_transfer_to_accept"))

    @workflow.update
    async def decline_transfer(self, action: DeclineTransferAction) -> ComplaintView:
        """The receiving department does not take it: back to whoever asked, with the reason, and
        the disagreement up to the two groups' common superior, who decides (source 001)."""
        now = workflow.now()
        pending = self.view.transfer
        assert pending is not None  # the validator saw it
        self.sla.meet("transfer_acceptance", now)
        self.view.transfer = None
        facts = {"from_group": pending.from_group, "to_group": pending.to_group, "reason": action.reason}
        key, declined = self._action_key("transfer-declined", now), {**facts, "declined_by": action.staff_id}
        messages = [self._to_person("transfer_declined", pending.requested_by, declined, key)]
        if self._disputes_go_up:
            messages.append(
                self._message(
                    "transfer_disputed",
                    "internal",
                    f"common superior of {pending.from_group} and {pending.to_group}",
                    superiors_of(pending.from_group or pending.to_group, pending.to_group),  # no group: its leads
                    {**declined, "requested_by": pending.requested_by, "tier": self.sla.tier},
                    f"{key}/superior",
                )
            )
        await self._record(
            events.TransferDeclined(
                staff_id=action.staff_id,
                **facts,
                waited_seconds=(now - pending.requested_at).total_seconds(),
                deadlines=self._deadlines(),
            ),
            messages=messages,
        )
        return self.view

    @decline_transfer.validator
    def _validate_decline_transfer(self, action: DeclineTransferAction) -> None:
        ensure_allowed(self.view.stage, Action.decline_transfer)
        if self.view.transfer is None:
            raise ActionNotAllowed(refused("no_transfer_to_decline"))

    @workflow.update
    async def add_note(self, action: NoteAction) -> ComplaintView:
        """An internal note on the complaint, for staff only."""
        self.view.notes.append(InternalNote(staff_id=action.staff_id, text=action.text, at=workflow.now()))
        await self._record(events.NoteAdded(staff_id=action.staff_id, text=action.text))
        return self.view

    @add_note.validator
    def _validate_add_note(self, action: NoteAction) -> None:
        ensure_allowed(self.view.stage, Action.add_note)

    @workflow.update
    async def consult(self, action: ConsultAction) -> ComplaintView:
        """Ask other departments for their view of a complaint whose cause is hard to find
        (source 002: 联合会诊, a joint consultation). Each group's named member is told (its queue
        when nobody was picked); the complaint stays with its handler and its deadlines run on."""
        now = workflow.now()
        for group in action.groups:
            self.view.consultations.append(
                Consultation(
                    group=group,
                    liaison=action.liaisons.get(group),
                    question=action.question,
                    asked_by=action.staff_id,
                    asked_at=now,
                )
            )
        running = self.sla.targets.get("consultation_answer")
        if running is None or not running.active:  # else the earliest question still unanswered counts
            self.sla.start("consultation_answer", now)
        key = self._action_key("consultation", now)
        deadlines = self._deadlines()
        answer_by = deadlines.get("consultation_answer")
        facts = {
            "from_group": self.view.group,
            "question": action.question,
            "asked_by": action.staff_id,
            "tier": self.sla.tier,
            "answer_by": answer_by.isoformat() if answer_by else None,
        }
        messages = [
            self._to_person("consultation_requested", liaison, {**facts, "to_group": group}, f"{key}/{group}")
            if (liaison := action.liaisons.get(group))
            else self._to_staff(
                "consultation_requested", "owner", {**facts, "to_group": group}, f"{key}/{group}", group
            )
            for group in action.groups
        ]
        await self._record(
            events.ConsultationRequested(
                staff_id=action.staff_id,
                groups=action.groups,
                question=action.question,
                liaisons=action.liaisons,
                consulted=sorted({c.group for c in self.view.consultations}),
                deadlines=deadlines,
            ),
            messages=messages,
        )
        return self.view

    @consult.validator
    def _validate_consult(self, action: ConsultAction) -> None:
        ensure_allowed(self.view.stage, Action.consult)
        if self.view.group in action.groups:
            raise ActionNotAllowed(refused("with_group_already", group=self.view.group))

    @workflow.update
    async def answer_consultation(self, action: ConsultationAnswerAction) -> ComplaintView:
        """An asked department's findings, back to whoever asked and whoever handles it."""
        now = workflow.now()
        asked = next(c for c in reversed(self.view.consultations) if c.group == action.group)
        asked.answers.append(ConsultationAnswer(staff_id=action.staff_id, text=action.answer, at=now))
        if not self._unanswered_groups():  # every department asked has answered
            self.sla.meet("consultation_answer", now)
        key = self._action_key("consultation-answered", now)
        facts = {
            "group": action.group,
            "answered_by": action.staff_id,
            "question": asked.question,
            "answer": action.answer,
        }
        told = sorted({asked.asked_by, self.view.assignee or asked.asked_by} - {action.staff_id})
        await self._record(
            events.ConsultationAnswered(
                staff_id=action.staff_id, group=action.group, answer=action.answer, deadlines=self._deadlines()
            ),
            messages=[self._to_person("consultation_answered", person, facts, f"{key}/{person}") for person in told],
        )
        return self.view

    @answer_consultation.validator
    def _validate_answer_consultation(self, action: ConsultationAnswerAction) -> None:
        ensure_allowed(self.view.stage, Action.answer_consultation)
        if all(c.group != action.group for c in self.view.consultations):
            raise ActionNotAllowed(refused("group_not_asked", group=action.group))

    @workflow.update
    async def propose_compensation(self, action: CompensationAction) -> ComplaintView:
        """A remedy for the customer (002): granted at once within the proposer's authority,
        else an approval task for `approver_role`, with its own deadline and escalation."""
        now = workflow.now()
        status = "granted" if action.approver_role is None else "pending"
        self.view.compensations.append(
            CompensationView(
                kind=action.kind,
                amount=action.amount,
                reason=action.reason,
                proposed_by=action.staff_id,
                status=status,
                approver_role=action.approver_role,
            )
        )
        messages = []
        if action.approver_role is not None:
            target = self.sla.start("compensation_approval", now)
            if target is not None:
                target.escalate_above = action.approver_role
            messages.append(
                self._to_staff(
                    "compensation_approval",
                    action.approver_role,
                    {
                        "kind": action.kind,
                        "amount": action.amount,
                        "reason": action.reason,
                        "proposed_by": action.staff_id,
                    },
                    key=self._action_key("compensation", now),
                )
            )
        await self._record(
            events.CompensationProposed(
                staff_id=action.staff_id,
                kind=action.kind,
                amount=action.amount,
                reason=action.reason,
                status=status,
                approver_role=action.approver_role,
                deadlines=self._deadlines(),
            ),
            messages=messages,
        )
        return self.view

    @propose_compensation.validator
    def _validate_propose_compensation(self, action: CompensationAction) -> None:
        ensure_allowed(self.view.stage, Action.propose_compensation)
        if self.view.pending_compensation() is not None:
            raise ActionNotAllowed(refused("compensation_waiting"))

    @workflow.update
    async def decide_compensation(self, action: DecisionAction) -> ComplaintView:
        now = workflow.now()
        pending = self.view.pending_compensation()
        assert pending is not None  # the validator saw it
        target = self.sla.targets.get("compensation_approval")
        waited = (now - target.started_at).total_seconds() if target is not None else None
        self.sla.meet("compensation_approval", now)
        pending.status, pending.decided_by = ("approved" if action.approve else "rejected"), action.staff_id
        proposer = self._to_person(
            "compensation_decided",
            pending.proposed_by,
            {
                "kind": pending.kind,
                "amount": pending.amount,
                "approved": action.approve,
                "note": action.note,
                "decided_by": action.staff_id,
            },
            self._action_key("compensation-decided", now),
        )
        await self._record(
            events.CompensationDecided(
                staff_id=action.staff_id,
                kind=pending.kind,
                amount=pending.amount,
                approved=action.approve,
                note=action.note,
                waited_seconds=waited,
                deadlines=self._deadlines(),
            ),
            messages=[proposer],
        )
        return self.view

    @decide_compensation.validator
    def _validate_decide_compensation(self, action: DecisionAction) -> None:
        ensure_allowed(self.view.stage, Action.decide_compensation)
        if self.view.pending_compensation() is None:
            raise ActionNotAllowed(refused("no_compensation_waiting"))

    @workflow.update
    async def request_info(self, action: RequestInfoAction) -> ComplaintView:
        now = workflow.now()
        self.view.stage = Stage.waiting_on_customer
        self.sla.pause(now)
        message = self._to_customer("info_request", {"question": action.question}, key=self._action_key("info", now))
        await self._record(
            events.InfoRequested(staff_id=action.staff_id, question=action.question),
            events.ClockPaused(at=now),
            messages=[message],
            messages_first=True,
        )
        return self.view

    @request_info.validator
    def _validate_request_info(self, action: RequestInfoAction) -> None:
        ensure_allowed(self.view.stage, Action.request_info)

    @workflow.update
    async def customer_reply(self, reply: CustomerReply) -> ComplaintView:
        await self._record(events.CustomerReplied(message=reply.message), self._back_in_handling())
        return self.view

    def _back_in_handling(self) -> events.ClockResumed:
        """The wait on the customer is over (their answer, or our question known lost): handling
        again, the clock running from now, deadlines moved on by the pause."""
        self.view.stage = Stage.acknowledged
        paused_for = self._resume_clock()
        return events.ClockResumed(paused_seconds=paused_for.total_seconds(), deadlines=self._deadlines())

    @customer_reply.validator
    def _validate_customer_reply(self, reply: CustomerReply) -> None:
        ensure_allowed(self.view.stage, Action.customer_reply)

    @workflow.update
    async def resolve(self, action: ResolveAction) -> ComplaintView:
        now = workflow.now()
        resumed: list[events.DomainEvent] = []
        if self.view.stage == Stage.waiting_on_customer:
            paused_for = self._resume_clock()
            resumed.append(events.ClockResumed(paused_seconds=paused_for.total_seconds()))
        self.view.stage = Stage.resolved
        self.view.resolution = action.resolution
        granted = [c for c in self.view.compensations if c.status in ("granted", "approved")]
        if granted and action.resolution.compensation is None:  # the written result cites it (002)
            self.view.resolution = action.resolution.model_copy(update={"compensation": self._cited(granted)})
        for target in MET_ON_RESOLUTION:
            self.sla.meet(target, now)
        self.view.transfer = None  # resolved: a transfer still waiting has nothing left to take
        self.sla.start("feedback", now)
        if self._reopenable:
            self.view.reopen_until = now + timedelta(days=self.sla.policy.reopen_within_days)
        assert self.view.resolution is not None  # set above
        await self._record(
            *resumed,
            events.Resolved(staff_id=action.staff_id, note=action.note, **self.view.resolution.model_dump(mode="json")),
        )
        return self.view

    @resolve.validator
    def _validate_resolve(self, action: ResolveAction) -> None:
        ensure_allowed(self.view.stage, Action.resolve)
        if self.view.pending_compensation() is not None:
            raise ActionNotAllowed(refused("compensation_waiting_before_result"))

    @workflow.update
    async def retier(self, action: RetierAction) -> ComplaintView:
        previous = self.view.tier
        self.view.tier = action.tier
        self.sla.move_to(self.sla.policy, action.tier, workflow.now())
        await self._record(
            events.Retiered(
                staff_id=action.staff_id,
                from_tier=previous,
                to_tier=action.tier,
                reason=action.reason,
                deadlines=self._deadlines(),
            )
        )
        return self.view

    @retier.validator
    def _validate_retier(self, action: RetierAction) -> None:
        ensure_allowed(self.view.stage, Action.retier)
        if action.tier == self.view.tier:
            raise ActionNotAllowed(refused("same_tier", tier=action.tier))

    @workflow.update
    async def reclassify(self, action: ReclassifyAction) -> ComplaintView:
        """Staff correct the type or the responsibility; the decision records who and why."""
        found = self.view.classification
        before_type = self.view.complaint_type
        before_responsibility = found.responsibility if found else None
        changes: dict[str, str] = {}
        if action.complaint_type:
            changes["complaint_type"] = action.complaint_type
        if action.responsibility:
            changes["responsibility"] = action.responsibility
        if found is not None:
            corrected = [
                FieldDecision(field=f, value=v, rule=f"staff:{action.staff_id}", reason=action.reason)
                for f, v in changes.items()
            ]
            kept = [d for d in found.decided_by if d.field not in changes]
            self.view.classification = found.model_copy(update={**changes, "decided_by": kept + corrected})
        self.view.complaint_type = changes.get("complaint_type", before_type)
        await self._record(
            events.Reclassified(
                staff_id=action.staff_id,
                from_type=before_type,
                to_type=self.view.complaint_type,
                from_responsibility=before_responsibility,
                to_responsibility=changes.get("responsibility", before_responsibility),
                reason=action.reason,
            )
        )
        return self.view

    @reclassify.validator
    def _validate_reclassify(self, action: ReclassifyAction) -> None:
        ensure_allowed(self.view.stage, Action.reclassify)
        found = self.view.classification
        same_type = action.complaint_type in (None, self.view.complaint_type)
        same_responsibility = action.responsibility in (None, found.responsibility if found else None)
        if same_type and same_responsibility:
            raise ActionNotAllowed(refused("classified_so"))

    @workflow.update
    async def apply_policy(self, move: ApplyPolicyAction) -> ComplaintView:
        """An operator moves this complaint to a (new version of a) policy."""
        await self._until_routed()
        try:
            policy: Policy = await workflow.execute_activity_method(
                ComplaintActivities.load_policy,
                move.policy,
                summary=f"policy {move.policy}",
                **ONE_ATTEMPT,
            )
        except ActivityError as exc:
            # The state is untouched: a bad policy file never reaches a running complaint.
            raise ApplicationError(
                f"policy '{move.policy}' cannot be applied: {exc.cause}", type="PolicyError"
            ) from exc
        previous = self.sla.policy.ref
        self.sla.move_to(policy, self.sla.tier, workflow.now())
        self.view.policy = policy.ref
        await self._record(
            events.PolicyApplied(
                staff_id=move.staff_id, from_policy=previous, to_policy=policy.ref, deadlines=self._deadlines()
            )
        )
        return self.view

    @apply_policy.validator
    def _validate_apply_policy(self, move: ApplyPolicyAction) -> None:
        ensure_allowed(self.view.stage, Action.apply_policy)

    @workflow.update
    async def answer_survey(self, answer: SurveyAnswer) -> ComplaintView:
        self.view.survey = answer
        await self._record(events.SurveyAnswered(**answer.model_dump(mode="json")))
        return self.view

    @answer_survey.validator
    def _validate_answer_survey(self, answer: SurveyAnswer) -> None:
        ensure_allowed(self.view.stage, Action.answer_survey)
        if self.view.survey is not None:
            raise ActionNotAllowed(refused("survey_answered"))

    @workflow.update
    async def record_follow_up(self, action: FollowUpAction) -> ComplaintView:
        self.view.follow_up = action
        self.sla.meet("second_follow_up", workflow.now())
        await self._record(
            events.FollowedUp(**action.model_dump(mode="json")), messages=self._follow_up_in_words(action)
        )
        return self.view

    def _follow_up_in_words(self, action: FollowUpAction) -> list[KeyedNotificationRequest]:
        """The dissatisfied customer has in writing what the second follow-up did for them, and
        any extra compensation (follow-up-in-writing-v1), as they had the first result."""
        if not self._follow_up_in_writing:
            return []
        done = {"outcome": action.outcome, "extra_compensation": action.extra_compensation}
        return [self._to_customer("follow_up_done", done, key=self._per_resolution("follow-up-done"))]

    @record_follow_up.validator
    def _validate_record_follow_up(self, action: FollowUpAction) -> None:
        ensure_allowed(self.view.stage, Action.record_follow_up)

    @workflow.update
    async def reopen(self, action: ReopenAction) -> ComplaintView:
        """Back to handling (the owner again, new deadlines from now): the result did not settle it."""
        now = workflow.now()
        self._reopen = action
        self.view.reopened += 1
        self.view.stage = Stage.acknowledged
        self.view.assignee = self.view.owner or self.view.assignee
        self.view.resolution = self.view.survey = self.view.follow_up = None
        self.view.survey_due_at = self.view.reopen_until = None
        self.sla.meet("second_follow_up", now)
        for target in ("resolution", "progress"):
            self.sla.start(target, now)
        self._deadlines_changed = True
        who = action.staff_id or "customer"
        resolution = self.sla.targets.get("resolution")
        due = self.sla.deadline(resolution, now) if resolution else None
        variables = {
            "reason": action.reason,
            "by": who,
            "owner": self.view.owner,
            "resolution_by": self._local_text(due),
            "timezone": self.sla.policy.calendar.timezone,
        }
        key = f"reopen/{self.view.reopened}"
        await self._record(
            events.Reopened(
                staff_id=action.staff_id,
                reason=action.reason,
                times=self.view.reopened,
                assignee=self.view.assignee,
                deadlines=self._deadlines(),
            ),
            messages=[
                self._to_customer("reopened", variables, key=key),
                self._to_staff("complaint_reopened", "owner", variables, key=f"{key}/staff"),
            ],
        )
        return self.view

    @reopen.validator
    def _validate_reopen(self, action: ReopenAction) -> None:
        if not self._reopenable:
            raise ActionNotAllowed(refused("reopening_not_available"))
        ensure_allowed(self.view.stage, Action.reopen)
        if self._customer_satisfied():
            raise ActionNotAllowed(refused("settled_by_customer"))
        if self.view.reopen_until is None or workflow.now() > self.view.reopen_until:
            raise ActionNotAllowed(refused("reopen_window_passed", days=self.sla.policy.reopen_within_days))

    @workflow.update
    async def link_repeat(self, repeat: RepeatSubmission) -> ComplaintView:
        """The customer wrote again about this open complaint: keep every word, tell them it is
        being handled here, and tell whoever has it."""
        await self._until_routed()
        self.view.repeats += 1
        await self._record(
            events.RepeatLinked(**repeat.model_dump(mode="json"), count=self.view.repeats),
            messages=[
                self._to_customer(
                    "repeat_linked",
                    {"stage": self.view.stage.value, "next_deadline": self._next_deadline_text()},
                    key=f"repeat/{repeat.submission_id}",
                ),
                self._to_staff(
                    "customer_wrote_again",
                    "owner",
                    {"message": repeat.description[:500], "count": self.view.repeats},
                    key=f"repeat/{repeat.submission_id}/staff",
                ),
            ],
        )
        return self.view

    @link_repeat.validator
    def _validate_link_repeat(self, repeat: RepeatSubmission) -> None:
        ensure_allowed(self.view.stage, Action.link_repeat)

    @workflow.update
    async def link_batch(self, link: BatchLink) -> ComplaintView:
        await self._until_routed()
        if self.view.batch_id != link.batch_id:
            self.view.batch_id = link.batch_id
            await self._record(events.BatchLinked(**link.model_dump(mode="json")))
        return self.view

    @link_batch.validator
    def _validate_link_batch(self, link: BatchLink) -> None:
        ensure_allowed(self.view.stage, Action.link_batch)

    @workflow.update
    async def customer_not_reached(self, failure: Undelivered) -> ComplaintView:
        """A message reached the customer on no address of theirs (notify gave up on it): whoever
        has the complaint reaches them another way. A question they never received does not keep
        the clock paused, for an answer that cannot come."""
        await self._until_routed()
        self.view.not_reached.append(failure)
        steps: list[events.DomainEvent] = [
            events.CustomerNotReached(**failure.model_dump(mode="json", exclude={"complaint_id", "attempts_logged"}))
        ]
        if failure.template == "info_request" and self.view.stage == Stage.waiting_on_customer:
            steps.append(self._back_in_handling())
        alert = self._to_staff(
            "customer_not_reached",
            "owner",
            {"message": failure.template, "channel": failure.channel, "reason": failure.reason},
            key=f"not-reached/{failure.notification_id}/{failure.attempts_logged}",
        )
        await self._record(*steps, messages=[alert])
        return self.view

    @customer_not_reached.validator
    def _validate_customer_not_reached(self, failure: Undelivered) -> None:
        ensure_allowed(self.view.stage, Action.customer_not_reached)

    @workflow.update
    async def customer_reached(self, action: ReachedAction) -> ComplaintView:
        """The handler reached the customer another way (a call) and told them what the messages
        they never received said: the complaint no longer shows them as not reached."""
        missed = [m.template for m in self.view.not_reached]
        self.view.not_reached = []
        await self._record(
            events.CustomerReached(staff_id=action.staff_id, how=action.how, note=action.note, messages=missed)
        )
        return self.view

    @customer_reached.validator
    def _validate_customer_reached(self, action: ReachedAction) -> None:
        ensure_allowed(self.view.stage, Action.customer_reached)
        if not self.view.not_reached:
            raise ActionNotAllowed(refused("customer_not_unreached"))

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ComplaintView:
        return ComplaintView.model_validate_json(self._shown) if self._shown else self.view

    # ------------------------------------------------------------ helpers

    async def _until_routed(self) -> None:
        """Links may arrive while the complaint is still being received (a customer writing twice
        within a second): they wait for tiering and routing, so their events come after."""
        await workflow.wait_condition(lambda: self.view.stage != Stage.received)

    async def _route(self, tier: int, complaint_type: str) -> Route:
        """Group and member from routing.toml and the staff on duty. Complaints started before
        routing existed took the fixed group of their tier, with nobody picked."""
        if not (self._policy_local or workflow.patched("routing-v1")):
            return self._route_by_tier(tier)
        request = RouteRequest(
            complaint_id=self.complaint.complaint_id,
            tier=tier,
            complaint_type=complaint_type,
            segment=self.complaint.customer.segment,
            overflow=self.complaint.overflow,
        )
        return await workflow.execute_local_activity_method(
            ComplaintActivities.route_complaint,
            request,
            summary=f"route tier {tier} {complaint_type}",
            **self._local_options(),
        )

    def _next_deadline_text(self) -> str | None:
        return self._local_text(self.sla.next_deadline(workflow.now()))

    def _local_text(self, moment: datetime | None) -> str | None:
        """A moment for a customer's message: the moment itself, which notify writes out in
        their zone and language (customer-comms-v1); before, wall-clock text in the policy's zone."""
        if moment is None:
            return None
        if self._comms:
            return moment.isoformat()
        return self.sla.calendar().local(moment).strftime("%Y-%m-%d %H:%M")

    def _resume_clock(self) -> timedelta:
        return self.sla.resume(workflow.now(), progress_running=self.view.owner is not None)

    def _deadlines(self) -> dict[str, datetime]:
        now = workflow.now()
        found = {name: self.sla.deadline(t, now) for name, t in self.sla.targets.items() if t.active}
        return {name: at for name, at in found.items() if at is not None}

    async def _record(
        self,
        *steps: events.DomainEvent,
        messages: Sequence[KeyedNotificationRequest] = (),
        messages_first: bool = False,
        searchable: bool = True,
    ) -> None:
        """Append domain events and the messages they cause in one local activity (one
        transaction: the workflow's outbox), then show the new state. A retry after a crash is
        recognised by the deterministic event ids and message keys, and keeps what was stored
        first. Older generations sent each message in an activity of its own, before the events
        (`messages_first`) or after them, and keep doing so for their histories to replay."""
        if not self._outbox and messages_first:
            await self._send_each(messages)
        async with self._append_lock:
            batch = []
            for step in steps:
                self._version += 1
                batch.append(
                    NewEvent(
                        event_id=workflow.uuid4(),
                        stream_id=self.complaint.complaint_id,
                        version=self._version,
                        type=step.type,
                        occurred_at=workflow.now(),
                        data=step.data(),
                    )
                )
            summary = ", ".join(e.type for e in batch)
            # A local activity: one marker in history instead of three events and a task round trip.
            if self._outbox:
                if messages:
                    summary += " → " + ", ".join(f"{m.template} ({m.channel})" for m in messages)
                await workflow.execute_local_activity_method(
                    ComplaintActivities.record,
                    EventsAndMessages(events=batch, messages=list(messages), fence=self._fence()),
                    summary=summary,
                    **self._local_options(),
                )
            else:
                await workflow.execute_local_activity_method(
                    ComplaintActivities.append_events, batch, summary=summary, **LOCAL_OPTIONS
                )
            self.view.history += [HistoryEntry(type=e.type, at=e.occurred_at) for e in batch]
            self._publish_state(searchable)
            self._shown = self.view.model_dump_json()
            self._deadlines_changed = True  # whatever was recorded may have moved a deadline
        if not self._outbox and not messages_first:
            await self._send_each(messages)

    @staticmethod
    def _fence() -> TaskFence:
        info = workflow.info()
        return TaskFence(run_id=info.run_id, history_length=info.get_current_history_length())

    async def _reply_if_after_hours(self) -> None:
        """Outside business hours the customer hears when handling starts (domain §2)."""
        if not self._after_hours():
            return
        calendar = self.sla.calendar()
        starts = calendar.local(calendar.next_working_moment(self.complaint.received_at))
        variables: dict[str, object] = {
            "handling_starts": starts.strftime("%Y-%m-%d %H:%M"),
            "timezone": self.sla.policy.calendar.timezone,
        }
        if self._comms:
            variables |= {
                "handling_starts": starts.isoformat(),
                "first_response_by": self._local_text(self._deadlines().get("first_response")),
            }
        reply = self._to_customer("after_hours", variables)
        await self._record(events.AutoReplySent(handling_starts_at=starts), messages=[reply], messages_first=True)

    def _routing_messages(self, route: Route, tell_liaison: bool) -> list[KeyedNotificationRequest]:
        """Who must hear of the new complaint at once besides its group (domain §3)."""
        complaint, tier = self.complaint, self.sla.tier
        messages = []
        if route.liaison and tell_liaison:
            # Tier 2: the business liaison of the complaint's department works it with the agent.
            messages.append(
                self._to_person(
                    "liaison_assigned",
                    route.liaison,
                    {
                        "tier": tier,
                        "group": route.group,
                        "assignee": route.assignee,
                        "complaint_type": self.view.complaint_type,
                        "summary": static_summary(complaint),
                    },
                    key="liaison",
                )
            )
        if tier == 1 and route.urgent_call:
            # Tier 1 skips the queue: the on-duty senior or manager is called at once.
            messages.append(
                self._to_person(
                    "urgent_call",
                    route.urgent_call,
                    {"tier": 1, "group": route.group, "assignee": route.assignee, "summary": static_summary(complaint)},
                    key="urgent-call",
                )
            )
        return messages

    def _action_key(self, kind: str, now: datetime) -> str:
        """A staff action's message key: the Update's id (the staff API passes the request's
        Idempotency-Key), the same on every retry of the action or of its workflow task. Older
        generations keyed it by the task's clock."""
        if not self._outbox:
            return self._clock_key(kind, now)
        update = workflow.current_update_info()
        assert update is not None  # called from staff actions' Update handlers only
        return f"{kind}/{update.id}"

    def _cited(self, granted: list[CompensationView]) -> str:
        """What was granted, as the written result to the customer cites it (002)."""
        if not self._compensation_in_words:
            return "; ".join(_compensation_text(c) for c in granted)
        return written_compensations([(c.kind, c.amount) for c in granted], self.complaint.language())

    def _to_customer(self, template: str, variables: dict, key: str | None = None) -> KeyedNotificationRequest:
        """A message to the customer, in the channel they prefer (their other one if it fails
        for good), in their language and time zone."""
        (channel, address), *others = self.complaint.customer.reply_channels()
        message = self._message(template, channel, self.complaint.customer.name, address, variables, key or template)
        if not self._comms:
            return message
        zone = self.complaint.customer.time_zone or self.sla.policy.calendar.timezone
        return message.model_copy(
            update={
                "language": self.complaint.language(),
                "fallbacks": [Address(channel=c, address=a) for c, a in others],
                "variables": {**message.variables, "timezone": zone},
            }
        )

    def _to_staff(
        self, template: str, role: str, variables: dict, key: str, group: str | None = None
    ) -> KeyedNotificationRequest:
        """Internal alert to a role of the complaint's group (the owner once someone owns it), or
        of another `group` (a transfer's receiving department: its queue stands for the owner)."""
        variables = {**variables, "tier": self.sla.tier, "role": role, "owner": self.view.owner}
        if group is None and role == "owner" and self.view.owner:
            return self._to_person(template, self.view.owner, variables, key)
        group = group or self.view.group
        if role == "owner":  # nobody owns it yet: the group's queue is told
            name, address = f"{group} queue", f"role:queue@{group}"
        else:
            name, address = f"{role} of {group}", f"role:{role}@{group}"
        return self._message(template, "internal", name, address, variables, key)

    def _to_person(self, template: str, staff_id: str, variables: dict, key: str) -> KeyedNotificationRequest:
        """Internal message to one named member of staff."""
        return self._message(template, "internal", staff_id, f"staff:{staff_id}", variables, key)

    def _message(
        self, template: str, channel: str, name: str, address: str, variables: dict, key: str
    ) -> KeyedNotificationRequest:
        return KeyedNotificationRequest(
            # A key that fits reads as before; a longer one (a staff action's own key is up to
            # 200 characters) failed the workflow task, so no history holds one.
            idempotency_key=notification_key(f"{workflow.info().workflow_id}/{key}"),
            complaint_id=self.complaint.complaint_id,
            template=template,
            channel=channel,
            recipient_name=name,
            recipient_address=address,
            variables={
                "complaint_id": self.complaint.complaint_id,
                "status_url": self.complaint.status_url,
                **variables,
            },
        )

    def _breached(self) -> bool:
        """Whether the complaint was breached: a target the customer is owed was missed (older
        generations: any target but the departments' to each other; before those, any target)."""
        if self._approvals_between_staff:
            return self.sla.breached_for_customer
        if self._customer_breaches:
            return self.sla.breached_apart_from(BETWEEN_DEPARTMENTS)
        return self.sla.breached

    def _publish_state(self, searchable: bool = True) -> None:
        """Search attributes (only those that changed: each upsert is a history event and a
        visibility write) and the words the Temporal UI shows for this complaint. Not
        `searchable`: the words only; the attributes that changed are upserted at the next
        searchable change (until then a missed deadline shows as `ComplaintNextDeadline` in the
        past)."""
        v, now = self.view, workflow.now()
        v.deadlines = self._deadlines()
        v.next_deadline = self.sla.next_deadline(now)  # the SLA state exists before the first event
        v.breached = self._breached()
        if self._customer_breaches:
            v.late_between_departments = self.sla.late_between_departments
        if self._approvals_between_staff:
            v.late_between_staff = self.sla.late_between_staff
        v.escalation_level = self.sla.escalation_level
        if searchable:
            self._upsert_search_attributes()
        due = f"next deadline {v.next_deadline:%Y-%m-%d %H:%M} UTC" if v.next_deadline else "no deadline running"
        workflow.set_current_details(
            f"**{v.stage.value.replace('_', ' ')}** · tier {v.tier or '?'} · group {v.group or '-'}"
            f" · owner {v.owner or '-'} · {due}"
            f"{' · BREACHED, escalation level ' + str(v.escalation_level) if v.breached else ''}"
            f"\n\npolicy {v.policy} · last event: {v.history[-1].type if v.history else '-'}"
        )

    def _upsert_search_attributes(self) -> None:
        """The view's searchable state, upserting only what changed since the last upsert."""
        v = self.view
        wanted: dict[SearchAttributeKey[Any], Any] = {
            sa.STATUS: v.stage.value,
            sa.CHANNEL: v.channel.value,
            sa.TIER: v.tier,
            sa.DEPARTMENT: v.group,
            sa.ASSIGNEE: v.assignee,
            sa.NEXT_DEADLINE: v.next_deadline,
            sa.BREACHED: v.breached,
            sa.ESCALATION_LEVEL: v.escalation_level,
        }
        changes = []
        for key, value in wanted.items():
            if self._published.get(key.name) == value:
                continue
            if value is None:
                changes.append(key.value_unset())
            else:
                changes.append(key.value_set(value))
            self._published[key.name] = value
        if changes:
            workflow.upsert_search_attributes(changes)


def _in_chinese(reason: str | None) -> dict[str, str]:
    """A rule's reason in Chinese, stored only when the rule gave one (older inputs did not)."""
    return {"reason_zh": reason} if reason else {}


def _compensation_text(c: CompensationView) -> str:
    """Generations before compensation-in-words-v1."""
    what = c.kind.replace("_", " ")
    return f"{what} of {c.amount:g} yuan" if c.amount is not None else what
