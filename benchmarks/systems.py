"""The systems under test: how each is started as a process, and what it must write.

Each run gets a fresh consumer group and fresh output topics; the harness starts the
process, watches it, and stops it with SIGTERM (SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmarks import kstreams
from benchmarks.workload import RULES, WORK, Expected
from cashback.domain.native_engine import native_module

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUIX_VERSION = "3.28.1"
QUIX_VENV = ROOT / "benchmarks" / ".venv-quix"
QUIX_MARKER = QUIX_VENV / ".installed"
STOP_GRACE_SECONDS = 30.0
# BENCH_BASELINE=DIR, a checkout of an earlier commit: the `cashback-*-baseline` runs start
# that tree's worker (its workers/ first on PYTHONPATH, this venv otherwise) beside ours.
BASELINE = os.environ.get("BENCH_BASELINE", "")
# Dependencies the pricing code needs and the Quix venv must not take from our pins.
_NOT_FOR_QUIX = ("confluent-kafka", "prometheus-client")
# Runs that copy each input unparsed to two topics.
COPY_FAMILIES = ("passthrough", "kstreams")


@dataclass(frozen=True, slots=True)
class System:
    name: str
    family: str  # passthrough | cashback | faust (cashback run --runtime faust) | quixstreams
    # | kstreams (benchmarks/kstreams: the same copy as passthrough, in Kafka Streams)
    guarantee: str  # eos | alo

    def output_roles(self) -> tuple[str, ...]:
        if self.family in COPY_FAMILIES:
            return ("copy-a", "copy-b")
        return ("accruals", "notifications", "dlq")

    def expected(self, inputs: int, priced: Expected) -> dict[str, int]:
        if self.family in COPY_FAMILIES:
            return {"copy-a": inputs, "copy-b": inputs}
        return {
            "accruals": priced.accruals,
            "notifications": priced.notifications,
            "dlq": priced.dead_letters,
        }

    def command(
        self, bootstrap: str, source: str, outputs: Mapping[str, str], group: str
    ) -> tuple[list[str], dict[str, str]]:
        env = _clean_env()
        if self.family == "passthrough":
            args = [str(BIN / "python"), "-m", "benchmarks.passthrough", "--bootstrap", bootstrap,
                    "--input", source, "--outputs", f"{outputs['copy-a']},{outputs['copy-b']}",
                    "--group", group, "--mode", self.guarantee]  # fmt: skip
            return args, env
        if self.family == "kstreams":
            return kstreams.command(bootstrap, source, outputs, group)
        if self.family in ("cashback", "faust"):
            guarantee = "exactly_once" if self.guarantee == "eos" else "at_least_once"
            # faust names its transactional producers itself (one per input partition).
            identity = (
                ["--transactional-id", f"tx-{group}"]
                if self.family == "cashback"
                else ["--runtime", "faust"]
            )
            entry = [str(BIN / "cashback")]
            if self.name.endswith("-baseline"):
                entry = [str(BIN / "python"), "-m", "cashback.cli.main"]
                env["PYTHONPATH"] = str(Path(BASELINE).resolve() / "workers")
            args = [*entry, "run", "--bootstrap-servers", bootstrap,
                    "--input-topics", source, "--accruals-topic", outputs["accruals"],
                    "--notifications-topic", outputs["notifications"],
                    "--dlq-topic", outputs["dlq"], "--rules-topic", "", "--rules", str(RULES),
                    "--group-id", group, *identity,
                    "--processing-guarantee", guarantee, "--metrics-host", "127.0.0.1",
                    "--metrics-port", "0", "--log-level", "warning"]  # fmt: skip
            return args, env
        guarantee = "exactly-once" if self.guarantee == "eos" else "at-least-once"
        args = [str(QUIX_VENV / "bin" / "python"), "-m", "benchmarks.quix_job",
                "--bootstrap", bootstrap, "--input", source, "--accruals", outputs["accruals"],
                "--notifications", outputs["notifications"], "--dlq", outputs["dlq"],
                "--group", group, "--rules", str(RULES), "--guarantee", guarantee,
                "--state-dir", str(WORK / "quix-state" / group)]  # fmt: skip
        env["PYTHONPATH"] = f"{ROOT / 'workers'}{os.pathsep}{ROOT}"
        return args, env


SYSTEMS = {
    s.name: s
    for s in (
        System("passthrough", "passthrough", "alo"),
        System("passthrough-eos", "passthrough", "eos"),
        System("kstreams-passthrough-eos", "kstreams", "eos"),
        System("cashback-eos", "cashback", "eos"),
        System("cashback-alo", "cashback", "alo"),
        System("faust-eos", "faust", "eos"),
        System("faust-alo", "faust", "alo"),
        System("quixstreams-eos", "quixstreams", "eos"),
        System("quixstreams-alo", "quixstreams", "alo"),
    )
}


if BASELINE:
    SYSTEMS.update(
        (s.name, s)
        for s in (
            System("cashback-eos-baseline", "cashback", "eos"),
            System("cashback-alo-baseline", "cashback", "alo"),
        )
    )


def _clean_env() -> dict[str, str]:
    """The harness's environment without settings the systems would pick up on their own."""
    prefixes = ("KAFKA_", "CASHBACK_", "Quix__")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (finish the batch in hand and leave), then SIGKILL after the grace period."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


# ----------------------------------------------------------------------------- quix venv


def _quix_marker() -> str:
    # The Quix job prices with the engine the worker runs: the native one when it is built.
    return QUIX_VERSION + (" native" if native_module() is not None else "")


def quix_ready() -> bool:
    return QUIX_MARKER.is_file() and QUIX_MARKER.read_text().strip() == _quix_marker()


def ensure_quix_venv(log: Path) -> str | None:
    """Create benchmarks/.venv-quix with the pinned Quix Streams and our pricing deps;
    None when ready, else why not (the pip output is in `log`)."""
    if quix_ready():
        return None
    with (ROOT / "pyproject.toml").open("rb") as file:
        deps = tomllib.load(file)["project"]["dependencies"]
    ours = [d for d in deps if not d.lower().startswith(_NOT_FOR_QUIX)]
    python = QUIX_VENV / "bin" / "python"
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(QUIX_VENV)],
        [str(python), "-m", "pip", "install", "-q", f"quixstreams=={QUIX_VERSION}", *ours],
    ]
    if native_module() is not None:
        native = ROOT / "workers" / "native"
        steps.append([str(python), "-m", "pip", "install", "-q", "--no-deps", str(native)])
    with log.open("wb") as out:
        for step in steps:
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                return f"`{' '.join(step[:4])} ...` failed (exit {done.returncode}); see {log}"
    QUIX_MARKER.write_text(_quix_marker() + "\n")
    return None
