"""Everything under tests/deploy is marked `deploy` (`make test-deploy` runs `pytest -m deploy`).

The tools come from `make deploy-tools` (deploy/tools/install.sh); a missing one is a test
failure that says so, never a skip: CI installs them through the Makefile.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_cluster import KubeCluster, missing_tools, running_cluster

DEPLOY_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DEPLOY_TESTS in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.deploy)


def require_tools(*names: str) -> None:
    missing = missing_tools(names)
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make deploy-tools` first", pytrace=False)


# Module-scoped: each control plane lives only as long as the tests that use it, so
# nothing of it runs while the rest of the suite does.


@pytest.fixture(scope="module")
def kube_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """etcd and a kube-apiserver with the real KEDA and prometheus-operator CRDs."""
    require_tools("etcd", "kube-apiserver", "kubectl")
    with running_cluster(tmp_path_factory.mktemp("kube-api"), controllers=False) as cluster:
        cluster.apply_crds()
        yield cluster


@pytest.fixture(scope="module")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes)."""
    require_tools(
        "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"
    )
    with running_cluster(tmp_path_factory.mktemp("kube"), controllers=True) as cluster:
        yield cluster
