"""The contract that intake, the benches and the tests drive complaints through matches the
workflow it names, and intake depends on nothing else of the workflow service."""

import ast
from pathlib import Path

from temporalio.workflow import _Definition

from services.common.deadlines.policy import load_policy
from services.common.settings import Settings
from services.workflow import contract
from services.workflow.contract import ComplaintInput, ComplaintView
from services.workflow.workflows import ComplaintWorkflow

SERVICES = Path(__file__).parents[2] / "services"


def test_the_contract_names_the_workflow_its_updates_and_its_query_with_their_types():
    definition = _Definition.must_from_class(ComplaintWorkflow)
    assert definition.name == contract.WORKFLOW_TYPE
    assert definition.arg_types == [ComplaintInput]
    assert set(definition.updates) == set(contract.UPDATES)
    for name, argument in contract.UPDATES.items():
        update = definition.updates[name]
        assert update.arg_types == [argument], name
        assert update.ret_type is ComplaintView, name
    assert set(definition.queries) == {contract.STATUS_QUERY}
    assert definition.queries[contract.STATUS_QUERY].ret_type is ComplaintView


def test_a_complaint_id_survives_the_round_trip_through_its_workflow_id():
    workflow_id = contract.workflow_id_for("20261130-9F3A1B2C")
    assert workflow_id == "complaint-20261130-9F3A1B2C"
    assert contract.complaint_id_from_workflow_id(workflow_id) == "20261130-9F3A1B2C"


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_a_service_imports_nothing_of_another_service_but_its_contract():
    services = ("intake", "workflow", "notify", "reporting")
    for service in services:
        for path in (SERVICES / service).rglob("*.py"):
            for module in _imported_modules(path):
                other = next((o for o in services if o != service and module.startswith(f"services.{o}")), None)
                if other:
                    assert module.startswith(f"services.{other}.contract"), f"{service}/{path.name} imports {module}"


def test_the_contract_imports_no_part_of_the_workflow_implementation():
    for path in (SERVICES / "workflow" / "contract").rglob("*.py"):
        for module in _imported_modules(path):
            if module.startswith("services.workflow"):
                assert module.startswith("services.workflow.contract"), f"{path.name} imports {module}"


def test_customers_see_times_in_the_zone_of_the_default_policys_calendar():
    settings = Settings()
    policy = load_policy(settings.default_policy, settings.policy_dir)
    assert settings.time_zone.key == policy.calendar.timezone


def test_a_message_key_reads_as_given_when_it_fits_and_stays_one_message_when_not():
    from services.notify.contract import MAX_KEY_LENGTH, notification_key

    fits = "complaint-20261204-0A1B2C3D/ack/acknowledge:console:5f0e"
    assert notification_key(fits) == fits
    long = f"complaint-20261204-0A1B2C3D/progress/post_progress:{'k' * 199}"
    keys = {notification_key(long + end) for end in ("1", "2")}
    assert len(keys) == 2 and all(len(k) == MAX_KEY_LENGTH and k.startswith(long[:100]) for k in keys)
    assert notification_key(long + "1") == notification_key(long + "1")
