"""Custom search attributes, so SREs can find complaints in the Temporal UI
(e.g. `ComplaintStatus = "assigned" AND ComplaintTier = 1`). Registered when the dev server starts."""

from temporalio.common import SearchAttributeKey

STATUS = SearchAttributeKey.for_keyword("ComplaintStatus")
TIER = SearchAttributeKey.for_int("ComplaintTier")
CHANNEL = SearchAttributeKey.for_keyword("ComplaintChannel")
ASSIGNEE = SearchAttributeKey.for_keyword("ComplaintAssignee")
DEPARTMENT = SearchAttributeKey.for_keyword("ComplaintDepartment")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("ComplaintNextDeadline")
BREACHED = SearchAttributeKey.for_bool("ComplaintBreached")
ESCALATION_LEVEL = SearchAttributeKey.for_int("ComplaintEscalationLevel")

ALL = (STATUS, TIER, CHANNEL, ASSIGNEE, DEPARTMENT, NEXT_DEADLINE, BREACHED, ESCALATION_LEVEL)
