"""deploy/monitoring validated offline: every alert and dashboard expression parses as PromQL
(promql-parser, the Rust parser Prometheus' own grammar was ported to), and names only
series that /metrics serves, as a real scrape of the API shows them."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.clients import postgres
from services.supervision import heartbeats
from tests.api_harness import api_settings, running_api
from tests.fixtures_sim import SimCluster

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULES = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in document["panels"] for target in panel["targets"]]


def selected_series(expression: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def test_every_alert_parses_and_is_complete() -> None:
    found = rules()
    assert {rule["alert"] for rule in found} >= {
        "DbaasOperationStuck",
        "DbaasQueueNotDraining",
        "DbaasReconcilerNotProgressing",
        "DbaasNoLeader",
        "DbaasProgramRestarting",
    }
    for rule in found:
        assert selected_series(rule["expr"]), rule["alert"]  # parses, and reads a series
        if "for" in rule:
            assert promql_parser.parse_duration(rule["for"]).total_seconds() > 0
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_parser_rejects_a_malformed_expression_so_the_checks_can_fail() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (role (dbaas_leader)")
    assert selected_series("rate(dbaas_kube_requests_total[5m])") == {"dbaas_kube_requests_total"}


def test_every_dashboard_panel_parses_and_has_a_query() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert document["panels"]
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    for expression in dashboard_expressions():
        assert selected_series(expression), expression


def test_alerts_and_dashboard_name_only_series_that_metrics_serves(
    supervisord: Path, database_url: str, redis_url: str, tmp_path: Path, sim: SimCluster
) -> None:
    settings = dataclasses.replace(
        api_settings(
            database_url, redis_url, tmp_path, supervisor_socket=supervisord.parent / "s.sock"
        ),
        kubeconfig=str(sim.kubeconfig),
    )
    now = time.time()
    for program, leader in (("status-sync", True), ("drift", True), ("worker-0", None)):
        heartbeats.write(
            settings.home,
            heartbeats.Beat(
                program,
                1,
                now,
                leader=leader,
                last_success=now if leader else None,
                counters={"kube_requests": {"list 200": 1}},
                gauges={"drift_findings": {"spec": 0}} if program == "drift" else {},
            ),
        )
    with running_api(settings) as live:
        key = live.key()
        with live.client(key) as client:
            for name in ("orders", "billing"):
                created = client.post(
                    "/v1/databases",
                    json={"name": name, "engine": "postgres", "version": "16.13", "storage": "1Gi"},
                )
                assert created.status_code == 202, created.text
            with postgres.connect(database_url) as conn:  # one finished, as status-sync would
                conn.execute(
                    "UPDATE operations SET state = 'succeeded', finished_at = now()"
                    " WHERE seq = (SELECT min(seq) FROM operations)"
                )
            scrape = client.get("/metrics").text
    served = {
        sample.name
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
    }
    referenced: set[str] = set()
    for expression in [rule["expr"] for rule in rules()] + dashboard_expressions():
        referenced |= selected_series(expression)
    assert referenced - served == set(), f"not served by /metrics: {sorted(referenced - served)}"
