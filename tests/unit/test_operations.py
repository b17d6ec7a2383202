"""The operations files: the alert rules and the Grafana dashboard parse, and every metric of
ours they name is one a service registers (a renamed metric would silence an alert)."""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OURS = re.compile(r"\b((?:complaints?|customers|outbox|notifications|projection|starter|service)_[a-z_]+)\b")


def registered_metrics() -> set[str]:
    names = set()
    for path in (ROOT / "services").rglob("*.py"):
        names.update(re.findall(r'(?:Gauge|Counter|Histogram)\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    return names | {f"{n}_{suffix}" for n in names for suffix in ("total", "bucket", "count", "sum")}


def test_every_alert_names_metrics_that_exist_and_a_runbook_section():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    runbook = (ROOT / "deploy/RUNBOOK.md").read_text()
    anchors = {
        "#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^## (.+)$", runbook, re.M)
    }
    known = registered_metrics()
    assert {"complaints_open", "starter_backlog", "outbox_oldest_pending_seconds"} <= known
    for rule in rules:
        assert set(OURS.findall(rule["expr"])) <= known, rule["alert"]
        if "runbook" in rule["annotations"]:
            assert "#" + rule["annotations"]["runbook"].split("#")[1] in anchors, rule["alert"]


def test_the_grafana_dashboard_plots_metrics_that_exist():
    dashboard = json.loads((ROOT / "deploy/grafana/complaints.json").read_text())
    known = registered_metrics()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 8
    for expr in exprs:
        assert set(OURS.findall(expr)) <= known, expr


def test_the_kubernetes_manifests_validate_against_the_api_schemas():
    import kubernetes_validate

    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/k8s/complaints.yaml").read_text()) if d]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"} <= kinds
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)  # raises on the first wrong field
    workers = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "worker"]
    assert (
        workers
        and workers[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/healthz"
    )
    assert_settings_exist({name for d in docs if d["kind"] == "ConfigMap" for name in d["data"]})


def assert_settings_exist(names) -> None:
    """A misspelt or unknown variable is silently ignored by the services: refuse it here."""
    from services.common.settings import Settings

    for name in names:
        assert (
            name == "DATABASE_URL"
            or name.startswith("OTEL_")
            or name.removeprefix("COMPLAINTS_").lower() in Settings.model_fields
        ), name


def test_the_compose_file_follows_the_compose_spec_and_every_service_can_call_the_others(tmp_path, monkeypatch):
    """No Docker engine runs here, so the file is checked, not run: the compose specification's
    schema, settings the services read, and the tokens `make compose-env` makes."""
    from check_jsonschema.builtin_schemas import get_builtin_schema
    from jsonschema.validators import validator_for

    from services.common.service_auth import caller_of
    from services.common.settings import Settings
    from services.compose_env import SERVICES, write

    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    schema = get_builtin_schema("vendor.compose-spec")
    errors = [e.message for e in validator_for(schema)(schema).iter_errors(compose)]
    assert errors == []
    services = compose["services"]
    assert {"postgres", "temporal", "temporal-ui", "search-attributes", "otel-collector", "prometheus"} <= set(services)
    assert services["temporal"]["environment"]["DB"].startswith("postgres")  # Temporal on PostgreSQL persistence

    made = write(tmp_path)
    for name in ("payload-keys", "operator-token"):
        assert (tmp_path / compose["secrets"][name]["file"].removeprefix("../.data/")) in made
    reply_keys: dict[str, str | None] = {}
    for service, caller in SERVICES.items():
        spec = services[service]
        env_file = tmp_path / spec["env_file"].removeprefix("../.data/")
        assert env_file.exists(), service
        module = spec["command"][1].split(":")[0] if spec["command"][0] == "uvicorn" else spec["command"][2]
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), module
        variables = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        variables |= {k: str(v) for k, v in spec["environment"].items()}
        assert_settings_exist(variables)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        settings = Settings(_env_file=None)
        assert settings.service_token is not None
        assert caller_of(settings.service_token.get_secret_value(), settings) == caller, service
        assert set(settings.caller_tokens) >= {"intake", "workflow", "notify", "reporting", "operator"}
        # Notify signs reply addresses and intake checks them, with the same key; no one else holds it.
        reply_keys[service] = settings.mail_reply_key.get_secret_value() if settings.mail_reply_key else None
        monkeypatch.delenv("COMPLAINTS_MAIL_REPLY_KEY", raising=False)
    assert reply_keys["intake"] and reply_keys["intake"] == reply_keys["notify"]
    assert not any(key for service, key in reply_keys.items() if service not in ("intake", "notify"))
    assert (
        write(tmp_path) and (tmp_path / "compose" / "notify.env").read_text().count(reply_keys["notify"]) == 1
    )  # kept
