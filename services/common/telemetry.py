"""OpenTelemetry: one trace from the intake request through the workflow and its activities
to the notify call. FastAPI and httpx are instrumented (W3C trace context on every HTTP hop);
Temporal's TracingInterceptor carries the context through workflow and activity headers."""

import json
import os
import re
from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.util import ns_to_iso_str

from services.common.settings import Settings

_configured = False

# A customer's tracking token is their key to the complaint: it never leaves in a trace.
_TOKEN_IN_PATH = re.compile(r"(/track/)[^/?#\s]+")


def _without_tokens(value):
    return _TOKEN_IN_PATH.sub(r"\1{token}", value) if isinstance(value, str) and "/track/" in value else value


class WithoutTrackingTokens(SpanExporter):
    """Wraps an exporter: `/track/<token>` reads `/track/{token}` in every span name and
    attribute. Done at export, on the finished span, because the ASGI instrumentation sets
    `http.target` and `http.url` again after the span has started."""

    def __init__(self, exporter: SpanExporter):
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([self._redacted(span) for span in spans])

    @staticmethod
    def _redacted(span: ReadableSpan) -> ReadableSpan:
        attributes = dict(span.attributes or {})
        if "/track/" not in span.name and not any(isinstance(v, str) and "/track/" in v for v in attributes.values()):
            return span
        return ReadableSpan(
            name=_without_tokens(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes={key: _without_tokens(value) for key, value in attributes.items()},
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class SpanLines:
    """A span as one JSON line: the object `ReadableSpan.to_json` writes, built with the SDK's
    own formatters for its parts (tests/unit/test_telemetry.py compares the two), except the
    resource, turned into JSON once instead of for every span. That was most of what exporting a
    span cost: the SDK writes the resource as indented JSON, in Python's slow encoder, and parses
    it back, for each span."""

    def __init__(self) -> None:
        self._last: tuple[Resource, dict] | None = None  # a provider has one resource

    def _resource(self, resource: Resource) -> dict:
        if self._last is None or self._last[0] is not resource:
            self._last = (resource, json.loads(resource.to_json(indent=None)))
        return self._last[1]

    def __call__(self, span: ReadableSpan) -> str:
        status = {"status_code": span.status.status_code.name}
        if span.status.description:
            status["description"] = span.status.description
        line = {
            "name": span.name,
            "context": ReadableSpan._format_context(span.context) if span.context else None,
            "kind": str(span.kind),
            "parent_id": f"0x{trace.format_span_id(span.parent.span_id)}" if span.parent else None,
            "start_time": ns_to_iso_str(span.start_time) if span.start_time else None,
            "end_time": ns_to_iso_str(span.end_time) if span.end_time else None,
            "status": status,
            "attributes": ReadableSpan._format_attributes(span.attributes),
            "events": ReadableSpan._format_events(span.events),
            "links": ReadableSpan._format_links(span.links),
            "resource": self._resource(span.resource),
        }
        return json.dumps(line) + "\n"


def configure_tracing(service: str, settings: Settings) -> None:
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"complaints-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(WithoutTrackingTokens(OTLPSpanExporter())))
    if settings.traces_dir:
        settings.traces_dir.mkdir(parents=True, exist_ok=True)
        out = open(settings.traces_dir / f"{service}.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - process-long
        exporter = ConsoleSpanExporter(out=out, formatter=SpanLines())
        # Batched off the event loop: a file write per span used ~6 % of intake's CPU under load.
        provider.add_span_processor(BatchSpanProcessor(WithoutTrackingTokens(exporter), schedule_delay_millis=500))
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
