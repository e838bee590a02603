"""The Helm chart, offline: helm lint, helm template for every ci/ values set, kubeconform
strict against local schemas, the broken values sets, and what each rendering must hold."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import (
    BROKEN,
    CHART,
    CI_VALUES,
    ROOT,
    expected_message,
    helm,
    kubeconform,
    render,
    template_args,
)
from chart_support import kubeconform_report as report_of

from conftest import require_tools

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "cashback-accrual.json"
EXACTLY_ONCE_KEDA = CHART / "ci" / "exactly-once-keda-values.yaml"
AT_LEAST_ONCE_HPA = CHART / "ci" / "at-least-once-hpa-values.yaml"
DEFAULT = CHART / "ci" / "default-values.yaml"
MINIMAL = CHART / "ci" / "minimal-values.yaml"
ci_ids = [path.name for path in CI_VALUES]


def broken(stage: str) -> list[Path]:
    return sorted(BROKEN.glob(f"{stage}-*.yaml"))


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    require_tools("helm", "kubeconform")


def container(statefulset: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = statefulset["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(statefulset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container(statefulset)["env"]}


# ------------------------------------------------------------------ lint, template, schemas


def test_the_four_required_value_sets_exist() -> None:
    assert {DEFAULT, EXACTLY_ONCE_KEDA, AT_LEAST_ONCE_HPA, MINIMAL} <= set(CI_VALUES)


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_ids)
def test_helm_lint_strict(values: Path) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(values))
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_ids)
def test_rendering_is_valid_for_kubeconform_strict_offline(values: Path) -> None:
    rendering = render(values)
    result = kubeconform(rendering.text)
    report = report_of(result)
    assert result.returncode == 0, json.dumps(report["resources"], indent=1)
    summary = report["summary"]
    assert summary["valid"] == len(rendering.documents), summary
    assert summary["invalid"] == summary["errors"] == summary["skipped"] == 0


def test_every_template_is_rendered_by_some_value_set() -> None:
    kinds = set()
    for values in CI_VALUES:
        kinds |= set(render(values).kinds())
    assert kinds == {
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PrometheusRule",
        "ScaledObject",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "StatefulSet",
        "TriggerAuthentication",
    }


def test_everything_optional_off_leaves_the_workload_alone() -> None:
    assert render(MINIMAL).kinds() == ["Service", "StatefulSet"]


def test_defaults_switch_every_optional_object_off() -> None:
    assert render(DEFAULT).kinds() == ["Service", "ServiceAccount", "StatefulSet"]


@pytest.mark.parametrize("values", broken("schema"), ids=lambda p: p.name)
def test_broken_values_are_refused_by_the_values_schema(values: Path) -> None:
    result = helm(*template_args(values), check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert expected_message(values) in result.stderr


@pytest.mark.parametrize("values", broken("render"), ids=lambda p: p.name)
def test_broken_values_are_refused_at_render_time(values: Path) -> None:
    result = helm(*template_args(values), check=False)
    assert result.returncode != 0
    assert expected_message(values) in result.stderr


@pytest.mark.parametrize("values", broken("server"), ids=lambda p: p.name)
def test_broken_values_that_render_are_refused_by_kubeconform(values: Path) -> None:
    result = kubeconform(render(values).text)
    assert result.returncode == 1
    errors = [res for res in report_of(result)["resources"] if res["status"] == "statusInvalid"]
    assert len(errors) == 1, errors
    assert expected_message(values) in errors[0]["msg"]


# ------------------------------------------------------------------ the workload


def test_statefulset_selector_is_only_name_and_instance() -> None:
    for values in CI_VALUES:
        statefulset = render(values).one("StatefulSet")
        assert statefulset["spec"]["selector"] == {
            "matchLabels": {
                "app.kubernetes.io/name": "cashback-accrual",
                "app.kubernetes.io/instance": "payments",
            }
        }


def test_statefulset_runs_locked_down() -> None:
    statefulset = render(DEFAULT).one("StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container(statefulset)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["automountServiceAccountToken"] is False
    # A Service named "kafka" would otherwise inject KAFKA_PORT=tcp://..., which the
    # worker reads as a librdkafka property.
    assert pod["enableServiceLinks"] is False
    mounts = {m["name"]: m["mountPath"] for m in container(statefulset)["volumeMounts"]}
    assert mounts["tmp"] == "/tmp"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"]


def test_probes_and_grace_period() -> None:
    statefulset = render(DEFAULT).one("StatefulSet")
    worker = container(statefulset)
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert worker["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    # A clean stop takes about a second (docs/runtime.md); the worker's docs ask for 30 s+.
    assert statefulset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def test_topology_spread_over_nodes_and_zones() -> None:
    pod = render(DEFAULT).one("StatefulSet")["spec"]["template"]["spec"]
    keys = {c["topologyKey"]: c["whenUnsatisfiable"] for c in pod["topologySpreadConstraints"]}
    assert keys == {
        "kubernetes.io/hostname": "DoNotSchedule",
        "topology.kubernetes.io/zone": "ScheduleAnyway",
    }


def test_transactional_id_comes_from_the_pod_name() -> None:
    env = env_of(render(DEFAULT).one("StatefulSet"))
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["CASHBACK_TRANSACTIONAL_ID"]["value"] == "cashback-cashback-accrual-$(POD_NAME)"
    names = list(env)
    assert names.index("POD_NAME") < names.index("CASHBACK_TRANSACTIONAL_ID")


def test_autoscaled_statefulset_leaves_replicas_to_the_autoscaler() -> None:
    assert render(DEFAULT).one("StatefulSet")["spec"]["replicas"] == 2
    for values in (EXACTLY_ONCE_KEDA, AT_LEAST_ONCE_HPA):
        assert "replicas" not in render(values).one("StatefulSet")["spec"]


# ------------------------------------------------------------------ Kafka settings, secrets


def test_secrets_only_by_reference_and_the_same_secret_for_keda() -> None:
    rendering = render(EXACTLY_ONCE_KEDA)
    assert "Secret" not in rendering.kinds()
    env = env_of(rendering.one("StatefulSet"))
    assert env["KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-cashback",
        "key": "username",
    }
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-cashback",
        "key": "password",
    }
    assert env["KAFKA_SSL_CA_LOCATION"]["value"] == "/etc/cashback/kafka-ca/ca.crt"
    refs = rendering.one("TriggerAuthentication")["spec"]["secretTargetRef"]
    assert refs == [
        {"parameter": "username", "name": "kafka-cashback", "key": "username"},
        {"parameter": "password", "name": "kafka-cashback", "key": "password"},
        {"parameter": "ca", "name": "kafka-ca", "key": "ca.crt"},
    ]
    assert "hunter" not in rendering.text and "password:" not in rendering.text.lower()


def test_librdkafka_properties_pass_through_as_kafka_env() -> None:
    env = env_of(render(EXACTLY_ONCE_KEDA).one("StatefulSet"))
    assert env["KAFKA_CLIENT_ID"]["value"] == "cashback-accrual"
    assert env["KAFKA_LINGER_MS"]["value"] == "20"
    assert env["KAFKA_STATISTICS_INTERVAL_MS"]["value"] == "5000"
    assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
    assert env["CASHBACK_INPUT_TOPICS"]["value"] == "pos.purchases,web.purchases"


# ------------------------------------------------------------------ autoscaling


def test_keda_scales_on_lag_within_the_partitions() -> None:
    rendering = render(EXACTLY_ONCE_KEDA)
    scaled = rendering.one("ScaledObject")["spec"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "payments-cashback-accrual",
    }
    assert scaled["minReplicaCount"] == 0
    assert scaled["maxReplicaCount"] == 12  # == kafka.inputPartitions
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["authenticationRef"] == {"name": "payments-cashback-accrual-kafka"}
    metadata = trigger["metadata"]
    # Two input topics: no `topic`, KEDA sums the lag over the group's topics.
    assert "topic" not in metadata
    assert metadata["consumerGroup"] == "cashback-accrual"
    assert metadata["lagThreshold"] == "5000"
    # Exactly once: one commit marker of lag per partition stays forever on an idle input.
    assert metadata["activationLagThreshold"] == "12"
    assert metadata["sasl"] == "scram_sha512"
    assert metadata["tls"] == "enable"


def test_keda_activation_under_at_least_once_and_one_topic() -> None:
    values = ["--set", "keda.enabled=true,processingGuarantee=at_least_once"]
    trigger = render(DEFAULT, values).one("ScaledObject")["spec"]["triggers"][0]["metadata"]
    assert trigger["activationLagThreshold"] == "0"
    assert trigger["topic"] == "purchases"


def test_hpa_on_cpu_when_keda_is_off() -> None:
    hpa = render(AT_LEAST_ONCE_HPA).one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["kind"] == "StatefulSet"
    assert hpa["maxReplicas"] == 8  # == kafka.inputPartitions
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_keda_and_hpa_together_are_refused() -> None:
    result = helm(
        *template_args(DEFAULT, ["--set", "keda.enabled=true,hpa.enabled=true"]), check=False
    )
    assert result.returncode != 0
    assert "exclusive" in result.stderr


def test_pdb_allows_one_eviction_at_a_time() -> None:
    pdb = render(AT_LEAST_ONCE_HPA).one("PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "cashback-accrual",
        "app.kubernetes.io/instance": "payments",
    }


# ------------------------------------------------------------------ network policy


def test_network_policy_allows_dns_kafka_and_the_metrics_port_only() -> None:
    policy = render(EXACTLY_ONCE_KEDA).one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    dns, kafka = policy["egress"]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    # The ports of kafka.bootstrapServers, to the brokers' network only.
    assert kafka["ports"] == [{"port": 9096, "protocol": "TCP"}]
    assert kafka["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]


def test_network_policy_ports_follow_the_bootstrap_servers() -> None:
    policy = render(AT_LEAST_ONCE_HPA).one("NetworkPolicy")["spec"]
    assert policy["egress"][1]["ports"] == [{"port": 9094, "protocol": "TCP"}]
    assert "to" not in policy["egress"][1]


# ------------------------------------------------------------------ one source: alerts, dashboard


def test_chart_links_to_the_one_alerts_file_and_dashboard() -> None:
    for link, target in (
        (CHART / "files" / "alerts.yaml", ALERTS),
        (CHART / "files" / "cashback-accrual.json", DASHBOARD),
    ):
        assert link.is_symlink()
        assert link.resolve() == target.resolve()


def test_prometheus_rule_is_the_alerts_file() -> None:
    rule = render(EXACTLY_ONCE_KEDA).one("PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_dashboard_config_map_is_the_dashboard_file() -> None:
    rendering = render(EXACTLY_ONCE_KEDA)
    (config_map,) = [
        doc
        for doc in rendering.documents
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-dashboard")
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Payments"}
    assert json.loads(config_map["data"]["cashback-accrual.json"]) == json.loads(
        DASHBOARD.read_text()
    )


def test_helm_package_carries_the_linked_files(tmp_path: Path) -> None:
    helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("cashback-accrual-*.tgz")
    with tarfile.open(archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
        for name, source in (
            ("cashback-accrual/files/alerts.yaml", ALERTS),
            ("cashback-accrual/files/cashback-accrual.json", DASHBOARD),
        ):
            assert members[name].isfile()
            extracted = tar.extractfile(members[name])
            assert extracted is not None
            assert extracted.read() == source.read_bytes()
        assert "cashback-accrual/ci/exactly-once-keda-values.yaml" in members
    # The packaged chart renders the same as the source tree.
    packaged = helm(
        "template", "payments", str(archive), "--namespace", "cashback",
        "--kube-version", "1.35.0", "-f", str(EXACTLY_ONCE_KEDA),
    ).stdout  # fmt: skip
    assert packaged == render(EXACTLY_ONCE_KEDA).text


def test_every_value_is_documented_and_the_readme_table_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "tools" / "values_table.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
