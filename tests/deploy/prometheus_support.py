"""A real Prometheus (Debian's package) for the deploy tests: installed when missing, run on
127.0.0.1 in a temporary folder, asked over its HTTP API, and stopped by its own PID."""

from __future__ import annotations

import importlib.util
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import yaml

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "deploy" / "tools" / "prometheus.sh"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yaml"


def load_module(path: Path, name: str) -> ModuleType:
    """A generator under deploy/ (not a package) imported by path, once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def alert_rules() -> ModuleType:
    return load_module(ROOT / "deploy" / "prometheus" / "rules.py", "cashback_alert_rules")


def dashboard_generator() -> ModuleType:
    return load_module(ROOT / "deploy" / "grafana" / "dashboard.py", "cashback_dashboard")


def ensure_prometheus() -> None:
    """Debian's prometheus and promtool on PATH (the installer does nothing if present)."""
    result = subprocess.run(
        ["bash", str(INSTALLER)], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{INSTALLER} failed ({result.returncode}): {result.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix time, value), NaN and Inf dropped


class PrometheusServer:
    """`prometheus` scraping `targets` (job name -> host:port) every `scrape_seconds`."""

    def __init__(
        self,
        workdir: Path,
        targets: dict[str, Sequence[str]],
        *,
        scrape_seconds: int = 1,
        rule_files: Sequence[Path] = (ALERTS,),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / "prometheus.log"
        config = {
            "global": {
                "scrape_interval": f"{scrape_seconds}s",
                "scrape_timeout": f"{scrape_seconds}s",
                "evaluation_interval": f"{scrape_seconds}s",
            },
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(found)}]}
                for job, found in targets.items()
            ],
        }
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> PrometheusServer:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prometheus did not become ready: {self.log_path.read_text()[-2000:]}"
                )
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        """By its own PID: SIGTERM, then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as r:
                document = orjson.loads(r.read())
        except urllib.error.HTTPError as exc:  # Prometheus says why in the body
            raise AssertionError(f"{path} {params}: {exc.code} {exc.read()[:500]!r}") from None
        if document.get("status") != "success":
            raise AssertionError(f"{path} {params}: {document}")
        return document["data"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Sample]:
        data = self.api(
            "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step}"
        )
        found = []
        for series in data["result"]:
            points = [(float(t), float(v)) for t, v in series["values"]]
            finite = [(t, v) for t, v in points if math.isfinite(v)]
            if finite:
                found.append(Sample(dict(series["metric"]), finite))
        return found

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result
