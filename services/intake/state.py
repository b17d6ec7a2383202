"""What intake's routes share, built once at start (`api.lifespan`) and handed to each route
as a FastAPI dependency."""

from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

import httpx
from fastapi import Depends, Request

from services.intake.keys import KeyStore, RateLimiter
from services.intake.submissions import Submissions
from services.notify.contract import ReplyAddresses
from services.workflow.contract import ComplaintClient


@dataclass(frozen=True)
class Intake:
    submissions: Submissions
    complaints: ComplaintClient
    keys: KeyStore
    limiter: RateLimiter
    http: httpx.AsyncClient  # to notify, for the messages a customer was sent
    notify_url: str
    workflow_url: str  # the workflow service: a closed complaint's kept view, once Temporal forgot it
    zone: ZoneInfo  # the organisation's: customers' pages show times in it
    replies: ReplyAddresses  # how a customer's e-mail answer names its complaint (notify's Reply-To)


def intake_of(request: Request) -> Intake:
    return request.app.state.intake


IntakeDep = Annotated[Intake, Depends(intake_of)]
