"""Structured logs (structlog, JSON lines) with personal data masked before anything is written."""

import logging
import sys

import structlog

from services.common.privacy import mask_contact, scrub_text

_CONTACT_KEYS = {"phone", "email", "contact", "address", "recipient_address"}


def _is_identifier(key: str) -> bool:
    """Ids an SRE traces a complaint by (complaint_id, notification_id, idempotency_key …):
    never personal data, and some look like phone numbers."""
    return key.endswith(("_id", "_key")) or key in ("id", "key", "workflow_id", "batch_id")


def _mask_personal_data(_logger, _method, event_dict):
    for key, value in list(event_dict.items()):
        if not isinstance(value, str) or _is_identifier(key):
            continue
        event_dict[key] = mask_contact(value) if key in _CONTACT_KEYS else scrub_text(value)
    return event_dict


class _CurrentStderr(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a record is written. Logs are configured as a service's
    app is imported, and whatever imports it (a test runner) may swap stderr and close its own
    before the last records (an exit handler's) are written."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON logs on stderr, each naming its service; stdlib records (uvicorn, temporalio) go
    through the same masking."""

    def _add_service(_logger, _method, event_dict):
        # A processor, not a bound context variable: a context bound here (in the app's lifespan)
        # does not reach the tasks that serve requests.
        event_dict.setdefault("service", service)
        event_dict.pop("color_message", None)  # uvicorn's copy of the message for a terminal
        return event_dict

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service,
        _mask_personal_data,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn installs its own plain-text handlers before the app starts: its lines (an error in
    # a request included) are written through ours instead, as JSON and masked.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Every outgoing request is a span of its trace already; at INFO, httpx wrote a line for each,
    # and a feed polled twice a second buried everything else in the logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
