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


async def register(client) -> None:
    """Register the attributes on a server that does not have them yet (test server, a new
    cluster namespace); the dev server gets them from `make run` at start."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL},
        )
    )


if __name__ == "__main__":
    import asyncio

    from services.common.settings import Settings
    from services.common.temporal import connect

    async def _main() -> None:
        await register(await connect(Settings()))
        print("registered:", ", ".join(key.name for key in ALL))

    asyncio.run(_main())
