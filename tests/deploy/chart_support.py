"""Rendering the chart with the real `helm`, validating with the real `kubeconform`."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kube_cluster import BIN, TOOLS_DIR

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "cashback-accrual"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
BROKEN = Path(__file__).resolve().parent / "broken-values"
SCHEMAS = TOOLS_DIR / "schemas"
RELEASE = "payments"
NAMESPACE = "cashback"
# The Kubernetes minor the API server is built at (deploy/tools/kube/go.mod).
KUBERNETES_VERSION = "1.35.0"


@dataclass(frozen=True)
class Rendering:
    values: Path
    text: str

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(self.text) if doc]

    def kinds(self) -> list[str]:
        return sorted(doc["kind"] for doc in self.documents)

    def one(self, kind: str) -> dict[str, Any]:
        found = [doc for doc in self.documents if doc["kind"] == kind]
        assert len(found) == 1, f"{self.values.name}: {len(found)} {kind} objects"
        return found[0]


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / "helm"), *args], check=False, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def template_args(values: Path, extra: Sequence[str] = ()) -> list[str]:
    return [
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBERNETES_VERSION,
        "-f",
        str(values),
        *extra,
    ]


def render(values: Path, extra: Sequence[str] = ()) -> Rendering:
    return _render(values, tuple(extra))


@functools.cache
def _render(values: Path, extra: tuple[str, ...]) -> Rendering:
    # Renderings are pure functions of the chart and the values: one helm call per set.
    return Rendering(values, helm(*template_args(values, extra)).stdout)


def kubeconform(manifests: str) -> subprocess.CompletedProcess[str]:
    """Strict and offline: the local Kubernetes schemas and the CRDs' schemas, nothing else
    (a kind without a schema is an error, not a skip)."""
    return subprocess.run(
        [
            str(BIN / "kubeconform"),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            KUBERNETES_VERSION,
            "-schema-location",
            str(SCHEMAS / "kubernetes" / "{{.ResourceKind}}{{.KindSuffix}}.json"),
            "-schema-location",
            str(SCHEMAS / "crds" / "{{.Group}}" / "{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"),
            "-",
        ],
        input=manifests,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def expected_message(path: Path) -> str:
    """What a broken values file's `# expect:` line says the failure must mention."""
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            return line.removeprefix("# expect: ")
    raise AssertionError(f"{path.name} says nothing about what must fail")


def kubeconform_report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return report
