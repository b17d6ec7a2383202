"""ComplaintWorkflow: one durable workflow per complaint, from receipt to close (domain §1).

Deterministic code only: time from workflow.now(), ids from workflow.uuid4(), every side
effect in an activity. Staff actions and the customer's survey answer are Updates whose
validators reject what does not fit the current stage before it reaches history.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from services.common.events import NewEvent
    from services.common.privacy import scrub_text
    from services.workflow import search_attributes as sa
    from services.workflow.activities import ComplaintActivities, NotificationRequest
    from services.workflow.domain import (
        DEFAULT_GROUP_BY_TIER,
        SURVEY_ANSWER_WINDOW,
        Action,
        ComplaintInput,
        ComplaintOutcome,
        ComplaintView,
        HistoryEntry,
        ResolveAction,
        StaffAction,
        Stage,
        SurveyAnswer,
        assign_tier,
        ensure_allowed,
    )

ACTIVITY_OPTIONS = dict(
    start_to_close_timeout=timedelta(seconds=30),
    # Keep trying: an event or a customer message must never be dropped for a passing outage.
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
)


def workflow_id_for(complaint_id: str) -> str:
    return f"complaint-{complaint_id}"


@workflow.defn
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, complaint: ComplaintInput) -> None:
        self.complaint = complaint
        self.view = ComplaintView(
            complaint_id=complaint.complaint_id,
            stage=Stage.received,
            channel=complaint.channel,
            received_at=complaint.received_at,
        )
        self._version = 0
        # Appends run one at a time so that stream versions are written in order.
        self._append_lock = asyncio.Lock()

    @workflow.run
    async def run(self, complaint: ComplaintInput) -> ComplaintOutcome:
        await self._record(
            "ComplaintReceived",
            complaint.model_dump(mode="json", exclude={"complaint_id", "status_url"}),
        )

        decision = assign_tier(complaint.description, complaint.urgency_hint)
        self.view.tier, self.view.complaint_type = decision.tier, decision.complaint_type
        await self._record(
            "TierAssigned",
            {"tier": decision.tier, "complaint_type": decision.complaint_type,
             "rule": decision.rule, "reason": decision.reason},
        )

        self.view.group = DEFAULT_GROUP_BY_TIER[decision.tier]
        self.view.stage = Stage.assigned
        await self._record("Assigned", {"group": self.view.group})

        await workflow.wait_condition(lambda: self.view.stage == Stage.resolved)

        await self._notify("feedback", {"resolution": self.view.resolution.model_dump(mode="json")})
        await self._record("FeedbackSent", {"channel": self.complaint.customer.reply_channel()[0]})

        self.view.survey_due_at = workflow.now() + SURVEY_ANSWER_WINDOW
        await self._notify("survey_request", {"answer_by": self.view.survey_due_at.isoformat()})
        self.view.stage = Stage.awaiting_survey
        await self._record("SurveyRequested", {"answer_by": self.view.survey_due_at.isoformat()})

        try:
            await workflow.wait_condition(lambda: self.view.survey is not None, timeout=SURVEY_ANSWER_WINDOW)
        except asyncio.TimeoutError:
            pass
        self.view.stage = Stage.closed  # from here on the validator refuses a late answer
        # An answer accepted just before may still be appending SurveyAnswered: Closed comes after it.
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.view.survey is None:
            await self._record("SurveyExpired", {"waited_hours": SURVEY_ANSWER_WINDOW / timedelta(hours=1)})

        await self._record("Closed", {"survey_answered": self.view.survey is not None})
        return ComplaintOutcome(
            complaint_id=complaint.complaint_id,
            closed_at=workflow.now(),
            survey_answered=self.view.survey is not None,
        )

    # ------------------------------------------------------------ staff and customer input

    @workflow.update
    async def acknowledge(self, action: StaffAction) -> ComplaintView:
        self.view.stage = Stage.acknowledged
        # First-responder ownership: whoever acknowledges owns the complaint until close.
        self.view.owner = action.staff_id
        await self._record("Acknowledged", {"staff_id": action.staff_id, "note": action.note})
        return self.view

    @acknowledge.validator
    def _validate_acknowledge(self, action: StaffAction) -> None:
        ensure_allowed(self.view.stage, Action.acknowledge)

    @workflow.update
    async def resolve(self, action: ResolveAction) -> ComplaintView:
        self.view.stage = Stage.resolved
        self.view.resolution = action.resolution
        await self._record(
            "Resolved",
            {"staff_id": action.staff_id, "note": action.note, **action.resolution.model_dump(mode="json")},
        )
        return self.view

    @resolve.validator
    def _validate_resolve(self, action: ResolveAction) -> None:
        ensure_allowed(self.view.stage, Action.resolve)

    @workflow.update
    async def answer_survey(self, answer: SurveyAnswer) -> ComplaintView:
        self.view.survey = answer
        await self._record("SurveyAnswered", answer.model_dump(mode="json"))
        return self.view

    @answer_survey.validator
    def _validate_answer_survey(self, answer: SurveyAnswer) -> None:
        ensure_allowed(self.view.stage, Action.answer_survey)
        if self.view.survey is not None:
            raise ValueError("the survey has already been answered")

    @workflow.query
    def status(self) -> ComplaintView:
        return self.view

    # ------------------------------------------------------------ helpers

    async def _record(self, event_type: str, data: dict) -> None:
        """Append one domain event, then show the new state to SREs in the Temporal UI."""
        async with self._append_lock:
            self._version += 1
            event = NewEvent(
                event_id=workflow.uuid4(),
                stream_id=self.complaint.complaint_id,
                version=self._version,
                type=event_type,
                occurred_at=workflow.now(),
                data=data,
            )
            await workflow.execute_activity_method(
                ComplaintActivities.append_event, event, summary=event_type, **ACTIVITY_OPTIONS
            )
            self.view.history.append(HistoryEntry(type=event_type, at=event.occurred_at))
            self._publish_state()

    async def _notify(self, template: str, variables: dict) -> None:
        channel, address = self.complaint.customer.reply_channel()
        request = NotificationRequest(
            idempotency_key=f"{workflow.info().workflow_id}/{template}",
            complaint_id=self.complaint.complaint_id,
            template=template,
            channel=channel,
            recipient_name=self.complaint.customer.name,
            recipient_address=address,
            variables={"complaint_id": self.complaint.complaint_id,
                       "status_url": self.complaint.status_url, **variables},
        )
        await workflow.execute_activity_method(
            ComplaintActivities.send_notification, request, summary=template, **ACTIVITY_OPTIONS
        )

    def _publish_state(self) -> None:
        v = self.view
        updates = [sa.STATUS.value_set(v.stage.value), sa.CHANNEL.value_set(v.channel.value)]
        if v.tier is not None:
            updates.append(sa.TIER.value_set(v.tier))
        if v.group:
            updates.append(sa.DEPARTMENT.value_set(v.group))
        if v.owner:
            updates.append(sa.ASSIGNEE.value_set(v.owner))
        workflow.upsert_search_attributes(updates)
        workflow.set_current_details(
            f"**{v.stage.value.replace('_', ' ')}** · tier {v.tier or '?'} · group {v.group or '-'}"
            f" · owner {v.owner or '-'}\n\nlast event: {v.history[-1].type if v.history else '-'}"
        )


def static_summary(complaint: ComplaintInput) -> str:
    """One line for the Temporal UI's list; contact data masked."""
    text = scrub_text(complaint.description.replace("\n", " "))
    return f"{complaint.channel.value} complaint {complaint.complaint_id}: {text[:120]}"
