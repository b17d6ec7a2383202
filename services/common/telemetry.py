"""OpenTelemetry: one trace from the intake request through the workflow and its activities
to the notify call. FastAPI and httpx are instrumented (W3C trace context on every HTTP hop);
Temporal's TracingInterceptor carries the context through workflow and activity headers."""

import os

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from services.common.settings import Settings

_configured = False


def configure_tracing(service: str, settings: Settings) -> None:
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"complaints-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if settings.traces_dir:
        settings.traces_dir.mkdir(parents=True, exist_ok=True)
        out = open(settings.traces_dir / f"{service}.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - process-long
        exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
        # Batched off the event loop: a file write per span used ~6 % of intake's CPU under load.
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    _configured = True


def instrument_app(app: FastAPI) -> None:
    # Health probes and the projector's feed polling would drown the traces that matter; the
    # per-message ASGI receive/send spans say nothing the request's span does not, and cost
    # two spans a request.
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,v1/events", exclude_spans=["receive", "send"])


def instrument_http_client(client) -> None:
    """Propagate trace context on this client's requests (the calls a complaint's trace needs)."""
    HTTPXClientInstrumentor.instrument_client(client)
