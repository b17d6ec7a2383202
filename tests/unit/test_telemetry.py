"""The local trace files: one JSON line a span, the object the SDK's own `to_json` writes."""

import json

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.telemetry import SpanLines


def _spans() -> list[ReadableSpan]:
    exported = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "complaints-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("RunWorkflow:Complaint", kind=trace.SpanKind.SERVER) as parent:
        parent.set_attribute("temporalWorkflowID", "complaint-20261202-00000001")
        with tracer.start_as_current_span(
            "RunActivity:record", links=[trace.Link(parent.get_span_context(), {"why": "test"})]
        ) as child:
            child.add_event("retried", {"attempt": 2})
            child.set_status(trace.Status(trace.StatusCode.ERROR, "the database went away"))
    return list(exported.get_finished_spans())


def test_a_span_line_is_the_object_the_sdk_writes():
    lines = SpanLines()
    for span in _spans():
        line = lines(span)
        assert line.endswith("\n") and "\n" not in line[:-1]
        assert json.loads(line) == json.loads(span.to_json())


def test_the_resource_is_turned_into_json_once_for_all_spans(monkeypatch):
    calls = []
    original = Resource.to_json
    monkeypatch.setattr(Resource, "to_json", lambda self, indent=4: calls.append(self) or original(self, indent))
    lines = SpanLines()
    written = [json.loads(lines(span)) for span in _spans() * 50]
    assert len(calls) == 1
    assert {w["resource"]["attributes"]["service.name"] for w in written} == {"complaints-test"}
