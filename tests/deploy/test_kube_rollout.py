"""The StatefulSet rolled out by a real kube-controller-manager and kube-scheduler on kwok's
fake nodes (no kubelet: the pods never run, kwok marks them Running and Ready): the
instances spread over nodes, the PDB computes its allowed disruptions, and each replica's
transactional.id, as the container would see it, is distinct and survives the pod's
deletion. "As the container would see it": the env of the pod the API server stored,
resolved as the kubelet does (`$(VAR)` expansion, the downward API, Secret keys), then read
by the worker's own settings code."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from chart_support import CHART, render
from kube_cluster import KubeCluster, wait_until

from cashback.runtime.settings_sources import resolve_settings

NAMESPACE = "cashback-rollout"
STATEFULSET = "payments-cashback-accrual"
REPLICAS = 3
NODES = {"fake-node-a1": "zone-a", "fake-node-a2": "zone-a", "fake-node-b1": "zone-b"}
VALUES = CHART / "ci" / "default-values.yaml"
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\$")


@pytest.fixture(scope="module")
def cluster(kube_cluster: KubeCluster) -> Iterator[KubeCluster]:
    kube_cluster.add_fake_nodes(NODES)
    wait_until(lambda: len(ready_nodes(kube_cluster)) == len(NODES), 60, "kwok nodes Ready")
    kube_cluster.kubectl("create", "namespace", NAMESPACE)
    # The SASL Secret the chart refers to (never one of its values).
    kube_cluster.kubectl(
        "create", "secret", "generic", "kafka-cashback", "-n", NAMESPACE,
        "--from-literal=username=cashback", "--from-literal=password=not-a-real-one",
    )  # fmt: skip
    manifests = render(
        VALUES,
        [
            "--namespace",
            NAMESPACE,
            "--set",
            f"replicaCount={REPLICAS},podDisruptionBudget.enabled=true",
        ],
    ).text
    kube_cluster.kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=manifests)
    yield kube_cluster


def ready_nodes(cluster: KubeCluster) -> list[str]:
    nodes = cluster.get_json("nodes")["items"]
    return [
        node["metadata"]["name"]
        for node in nodes
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in node["status"].get("conditions", [])
        )
    ]


def pods(cluster: KubeCluster) -> dict[str, dict[str, Any]]:
    items = cluster.get_json("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/instance=payments")[
        "items"
    ]
    return {pod["metadata"]["name"]: pod for pod in items}


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return pod["metadata"].get("deletionTimestamp") is None and any(
        c["type"] == "Ready" and c["status"] == "True" for c in conditions
    )


def wait_rolled_out(cluster: KubeCluster) -> dict[str, dict[str, Any]]:
    cluster.kubectl(
        "rollout", "status", f"statefulset/{STATEFULSET}", "-n", NAMESPACE, "--timeout=120s",
        timeout=150,
    )  # fmt: skip
    current: dict[str, dict[str, Any]] = {}

    def all_ready() -> bool:
        nonlocal current
        current = pods(cluster)
        return len(current) == REPLICAS and all(is_ready(pod) for pod in current.values())

    wait_until(all_ready, 60, f"{REPLICAS} ready pods")
    return current


def secret_value(cluster: KubeCluster, name: str, key: str) -> str:
    secret = cluster.get_json("secret", name, "-n", NAMESPACE)
    return base64.b64decode(secret["data"][key]).decode()


def field_value(pod: dict[str, Any], path: str) -> str:
    value: Any = pod
    for part in path.split("."):
        value = value[part]
    return str(value)


def container_env(cluster: KubeCluster, pod: dict[str, Any]) -> dict[str, str]:
    """The worker container's environment as the kubelet would build it: in order, each
    `$(NAME)` replaced by an earlier variable (left as is when unknown), `$$` as `$`."""
    (worker,) = [c for c in pod["spec"]["containers"] if c["name"] == "worker"]
    env: dict[str, str] = {}
    for item in worker.get("env", []):
        if "value" in item:

            def expand(match: re.Match[str]) -> str:
                if match.group(0) == "$$":
                    return "$"
                return env.get(match.group(1), match.group(0))

            env[item["name"]] = _REFERENCE.sub(expand, item["value"])
        elif "fieldRef" in item["valueFrom"]:
            env[item["name"]] = field_value(pod, item["valueFrom"]["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secret_value(cluster, ref["name"], ref["key"])
        else:
            raise AssertionError(f"env {item['name']}: unexpected source {item['valueFrom']}")
    return env


def transactional_id(cluster: KubeCluster, pod: dict[str, Any]) -> str:
    """What the worker in that container would use: its own settings code on that env."""
    settings = resolve_settings({}, container_env(cluster, pod), hostname=pod["metadata"]["name"])
    assert settings.processing_guarantee == "exactly_once"
    return settings.transactional_id


def test_statefulset_rolls_out_spread_over_the_fake_nodes(cluster: KubeCluster) -> None:
    current = wait_rolled_out(cluster)
    assert sorted(current) == [f"{STATEFULSET}-{i}" for i in range(REPLICAS)]
    nodes = [pod["spec"]["nodeName"] for pod in current.values()]
    # Topology spread (hostname, DoNotSchedule, maxSkew 1): one instance per node.
    assert sorted(nodes) == sorted(NODES)
    statefulset = cluster.get_json("statefulset", STATEFULSET, "-n", NAMESPACE)
    assert statefulset["status"]["readyReplicas"] == REPLICAS


def test_controllers_and_kwok_listen_nowhere(cluster: KubeCluster) -> None:
    listening = cluster.listening()
    assert set(listening) == {"etcd", "kube-apiserver"}, listening
    for name, addresses in listening.items():
        assert all(address.startswith("127.0.0.1:") for address in addresses), (name, addresses)


def test_pdb_reports_its_allowed_disruptions(cluster: KubeCluster) -> None:
    wait_rolled_out(cluster)
    status: dict[str, Any] = {}

    def computed() -> bool:
        nonlocal status
        pdb = cluster.get_json("pdb", STATEFULSET, "-n", NAMESPACE)
        status = pdb.get("status", {})
        return status.get("currentHealthy") == REPLICAS

    wait_until(computed, 60, "the disruption controller to count the pods")
    assert status["expectedPods"] == REPLICAS
    assert status["desiredHealthy"] == REPLICAS - 1
    assert status["disruptionsAllowed"] == 1


def test_transactional_ids_are_distinct_and_survive_a_pod_deletion(cluster: KubeCluster) -> None:
    before = wait_rolled_out(cluster)
    ids = {name: transactional_id(cluster, pod) for name, pod in before.items()}
    assert len(set(ids.values())) == REPLICAS
    assert ids == {name: f"cashback-cashback-accrual-{name}" for name in before}

    victim = f"{STATEFULSET}-1"
    old_uid = before[victim]["metadata"]["uid"]
    cluster.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--wait=false")

    def replaced() -> bool:
        pod = pods(cluster).get(victim)
        return pod is not None and pod["metadata"]["uid"] != old_uid and is_ready(pod)

    wait_until(replaced, 90, f"{victim} to be recreated and Ready")
    after = wait_rolled_out(cluster)
    assert after[victim]["metadata"]["uid"] != old_uid
    assert {name: transactional_id(cluster, pod) for name, pod in after.items()} == ids
