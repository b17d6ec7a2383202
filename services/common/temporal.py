"""One way to reach Temporal for every service: pydantic payloads, same namespace and queue."""

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter

from services.common.settings import Settings


async def connect(settings: Settings, lazy: bool = False) -> Client:
    """`lazy`: connect on first use, so a service can start (and accept work) while Temporal
    is down."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        # Also applies to workers built on this client: workflow and activity spans.
        interceptors=[TracingInterceptor()],
        lazy=lazy,
    )
