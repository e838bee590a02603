"""Every rendering of the chart against a real kube-apiserver with the real KEDA and
prometheus-operator CRDs installed: `kubectl apply --dry-run=server --validate=strict`, so
unknown fields, wrong types and CRD schema violations are the server's own errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from chart_support import BROKEN, CI_VALUES, NAMESPACE, expected_message, render
from kube_cluster import KubeCluster


@pytest.fixture(scope="module")
def cluster(kube_api_server: KubeCluster) -> KubeCluster:
    kube_api_server.kubectl("create", "namespace", NAMESPACE)
    return kube_api_server


def dry_run(cluster: KubeCluster, manifests: str) -> tuple[int, str]:
    result = cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-n", NAMESPACE, "-f", "-",
        stdin=manifests, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_the_real_crds_are_served(cluster: KubeCluster) -> None:
    names = {item["metadata"]["name"] for item in cluster.get_json("crd")["items"]}
    assert {
        "scaledobjects.keda.sh",
        "triggerauthentications.keda.sh",
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
    } <= names


@pytest.mark.parametrize("values", CI_VALUES, ids=[p.name for p in CI_VALUES])
def test_server_accepts_every_rendering(cluster: KubeCluster, values: Path) -> None:
    rendering = render(values)
    code, output = dry_run(cluster, rendering.text)
    assert code == 0, output
    accepted = [line for line in output.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(rendering.documents), output


@pytest.mark.parametrize("values", sorted(BROKEN.glob("server-*.yaml")), ids=lambda p: p.name)
def test_server_refuses_broken_renderings(cluster: KubeCluster, values: Path) -> None:
    code, output = dry_run(cluster, render(values).text)
    assert code != 0, output
    assert expected_message(values) in output


def test_every_control_plane_process_listens_on_loopback_only(cluster: KubeCluster) -> None:
    listening = cluster.listening()
    # etcd (client, peer) and the API server serve, nothing else.
    assert set(listening) == {"etcd", "kube-apiserver"}, listening
    for name, addresses in listening.items():
        assert all(address.startswith("127.0.0.1:") for address in addresses), (name, addresses)
