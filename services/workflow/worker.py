"""The worker that runs ComplaintWorkflow and its activities (started by the workflow service)."""

from temporalio.client import Client
from temporalio.worker import Worker

from services.workflow.activities import ComplaintActivities
from services.workflow.workflows import ComplaintWorkflow


def build_worker(client: Client, task_queue: str, activities: ComplaintActivities) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ComplaintWorkflow],
        activities=[activities.append_event, activities.send_notification],
    )
