"""The benchmark harness end to end, tiny: every run must process every event.

Speed is not checked (CI machines are noisy); the structure of results.json and the
output counts are. Quix Streams runs only if benchmarks/.venv-quix already exists, the
Kafka Streams run only if benchmarks/kstreams is built (`make kstreams-build`, which
`make test` runs first), so the test never waits for pip or Maven.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 2_000
FIELDS = {"name", "events_per_s", "p50_ms", "p99_ms", "rss_mb", "cpu_s_per_1k", "repeats"}


@pytest.mark.timeout(180)
def test_every_run_processes_every_event(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    args = ["--events", str(EVENTS), "--repeats", "1", "--no-latency", "--no-quix-install",
            "--no-kstreams-build", "--bootstrap", kafka_bootstrap,
            "--output-dir", str(tmp_path)]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    assert {"machine", "runs", "ratios"} <= results.keys()
    names = {run["name"] for run in results["runs"]}
    assert {"passthrough", "cashback-eos", "cashback-alo"} <= names
    quix = {"quixstreams-eos", "quixstreams-alo"}
    assert quix <= names or quix <= results["skipped"].keys()
    assert "kstreams-passthrough-eos" in names or "kstreams-passthrough-eos" in results["skipped"]
    for run in results["runs"]:
        assert run.keys() >= FIELDS, run["name"]
        assert run["complete"], (run["name"], run.get("errors"))
        assert run["repeats"] == 1
        assert run["events_per_s"] > 0
        (trial,) = run["throughput_runs"]
        assert trial["events"] == EVENTS
        assert trial["outputs"] == trial["expected"], run["name"]
    (tmp_path / "RESULTS.md").read_text().index("| cashback-eos |")
