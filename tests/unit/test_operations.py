"""The operations files: the alert rules and the Grafana dashboard parse, and every metric of
ours they name is one a service registers (a renamed metric would silence an alert)."""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OURS = re.compile(r"\b((?:complaints?|outbox|notifications|projection|starter|service)_[a-z_]+)\b")


def registered_metrics() -> set[str]:
    names = set()
    for path in (ROOT / "services").rglob("*.py"):
        names.update(re.findall(r'(?:Gauge|Counter)\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    return names | {f"{n}_total" for n in names}


def test_every_alert_names_metrics_that_exist_and_a_runbook_section():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    runbook = (ROOT / "deploy/RUNBOOK.md").read_text()
    anchors = {"#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^## (.+)$", runbook, re.M)}
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
    assert workers and workers[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/healthz"
