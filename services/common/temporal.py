"""One way to reach Temporal for every service: pydantic payloads, same namespace and queue."""

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from services.common.codec import with_encryption
from services.common.settings import Settings

_runtimes: dict[str, Runtime] = {}


def runtime_with_metrics(address: str) -> Runtime:
    """The SDK's own metrics (workflow task latency and failures, schedule-to-start, pollers,
    sticky cache …) on a Prometheus endpoint of their own, one runtime per process."""
    if address not in _runtimes:
        _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    return _runtimes[address]


async def connect(settings: Settings, lazy: bool = False, sdk_metrics: str | None = None) -> Client:
    """`lazy`: connect on first use, so a service can start (and accept work) while Temporal
    is down. `sdk_metrics`: host:port for the SDK's Prometheus endpoint (the worker's)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=with_encryption(pydantic_data_converter, settings.payload_keys_file),
        # Also applies to workers built on this client: workflow and activity spans.
        interceptors=[TracingInterceptor()],
        lazy=lazy,
        runtime=runtime_with_metrics(sdk_metrics) if sdk_metrics else None,
    )
