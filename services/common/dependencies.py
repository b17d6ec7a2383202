"""What counts as a dependency being down (PostgreSQL, Temporal, another service): the one
classification behind an API's 503 (services/common/web.py) and a background loop's warning
instead of a bug's traceback (services/common/loops.py)."""

import asyncio

import asyncpg
import httpx
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

DATABASE_DOWN: tuple[type[Exception], ...] = (  # unreachable, shutting down, out of connections
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.InterfaceError,
)
# What a dependency that is down may raise (`unavailable_dependency` tells which instances do).
DEPENDENCY_EXCEPTIONS: tuple[type[Exception], ...] = (
    *DATABASE_DOWN,
    RPCError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    httpx.TransportError,
    httpx.HTTPStatusError,  # a 502, 503 or 504 from a service this one calls (else a bug, a 500)
    OSError,
    asyncio.TimeoutError,
)


def unavailable_dependency(exc: BaseException) -> str | None:
    """Which dependency an exception says is down (or too busy to answer), if it says so."""
    if isinstance(exc, DATABASE_DOWN):
        return "the database"
    if isinstance(exc, RPCError) and exc.status in (
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
    ):
        return "the workflow engine"
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        return "the workflow engine's workers"
    if isinstance(exc, httpx.TransportError):
        return "a service this one calls"
    if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (502, 503, 504):
        return "a service this one calls"  # it answered, saying that it (or what it needs) is down
    if isinstance(exc, (OSError, asyncio.TimeoutError)):  # refused, reset, unreachable, timed out
        return "a dependency"
    return None
