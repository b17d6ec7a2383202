"""How the workflow runs its activities: defined once."""

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy

# Keep trying: an event or a customer message must never be dropped for a passing outage.
RETRY_FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


class ActivityOptions(TypedDict):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


class LocalActivityOptions(ActivityOptions, total=False):
    local_retry_threshold: timedelta


ACTIVITY_OPTIONS = ActivityOptions(start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY_FOREVER)
# Older generations: retried inside the workflow task for as long as an outage lasts.
LOCAL_OPTIONS = LocalActivityOptions(start_to_close_timeout=timedelta(seconds=10), retry_policy=RETRY_FOREVER)
# short-local-attempts-v1: a workflow task holds one attempt at most. Every retry waits on a
# workflow timer (the threshold is below the first retry's 1 s; zero would mean the default, a
# minute), so while the database is down the task ends and frees its slot instead of being
# heartbeated every 8 s. The server expects an Update's task to end within its timeout; one
# heartbeated while an acknowledgement retried against a database that was down left a history
# that did not replay (deploy/RUNBOOK.md).
SHORT_LOCAL_OPTIONS = LocalActivityOptions(**LOCAL_OPTIONS, local_retry_threshold=timedelta(milliseconds=500))
# An operator's policy move: one attempt, so a bad file is refused at once instead of retried.
ONE_ATTEMPT = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=1)
)
