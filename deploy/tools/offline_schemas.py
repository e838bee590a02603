"""Offline JSON schemas for kubeconform, so `make test-deploy` validates without a network.

- Kubernetes: kubernetes-validate's bundled strict schemas for one minor version, whose
  `$ref`s point at `/api/_definitions.json` on a web server; rewritten to a `file://` path.
- Custom resources (KEDA, prometheus-operator): each CRD version's `openAPIV3Schema`, made
  strict the way kubeconform's own converter does (an object with listed properties and no
  `x-kubernetes-preserve-unknown-fields` takes no other field).

Layout, as kubeconform's `-schema-location` templates read it:
  OUT/kubernetes/{kind}{-group}-{version}.json    OUT/crds/{group}/{kind}_{version}.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS_REF = '"/api/_definitions.json'


class CrdLoader(yaml.SafeLoader):
    """PyYAML reads a plain `=` as YAML 1.1's `value` tag; in CRDs it is just the string."""


CrdLoader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


def copy_kubernetes(bundle: Path, version: str, out: Path) -> int:
    source = (
        bundle / "kubernetes_validate" / "kubernetes-json-schema" / f"v{version}.0-local-strict"
    )
    if not source.is_dir():
        raise SystemExit(f"kubernetes-validate has no schemas for {version} at {source}")
    out.mkdir(parents=True, exist_ok=True)
    target_ref = '"' + (out / "_definitions.json").resolve().as_uri()
    count = 0
    for schema in source.glob("*.json"):
        text = schema.read_text(encoding="utf-8").replace(DEFINITIONS_REF, target_ref)
        (out / schema.name).write_text(text, encoding="utf-8")
        count += 1
    return count


def strict(schema: Any) -> Any:
    """No field beyond the listed ones, unless the CRD says unknown fields are kept."""
    if isinstance(schema, dict):
        result = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in result
            and "additionalProperties" not in result
            and not result.get("x-kubernetes-preserve-unknown-fields")
        ):
            result["additionalProperties"] = False
        return result
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def convert_crds(crds: Path, out: Path) -> int:
    count = 0
    for path in sorted(crds.glob("*.yaml")):
        for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=CrdLoader):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            kind = spec["names"]["kind"].lower()
            for version in spec["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema is None:
                    continue
                target = out / spec["group"] / f"{kind}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(strict(schema), indent=1), encoding="utf-8")
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-validate", type=Path, required=True)
    parser.add_argument("--kubernetes-version", required=True, help="a minor, e.g. 1.35")
    parser.add_argument("--crds", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    native = copy_kubernetes(
        args.kubernetes_validate, args.kubernetes_version, args.out / "kubernetes"
    )
    custom = convert_crds(args.crds, args.out / "crds")
    print(f"offline schemas: {native} Kubernetes {args.kubernetes_version}, {custom} CRD versions")


if __name__ == "__main__":
    main()
