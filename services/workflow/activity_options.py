"""How the workflow runs its activities: defined once."""

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy

# Keep trying: an event or a customer message must never be dropped for a passing outage.
RETRY_FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


class ActivityOptions(TypedDict):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


ACTIVITY_OPTIONS = ActivityOptions(start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY_FOREVER)
LOCAL_OPTIONS = ActivityOptions(start_to_close_timeout=timedelta(seconds=10), retry_policy=RETRY_FOREVER)
# An operator's policy move: one attempt, so a bad file is refused at once instead of retried.
ONE_ATTEMPT = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=1)
)
