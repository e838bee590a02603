"""One measured run of one system: throughput on the preloaded topic, or latency at a rate.

Throughput window, per run (see benchmarks/README.md, "Method"):
- start: the first output's LogAppendTime. The input is preloaded, so the process is
  busy from its first poll on; its first output follows its first consumed batch by the
  time to price that batch (a few tens of ms), which is left out of the window.
- end: the moment the last output became visible to a read_committed reader. Exactly
  once, that is the last transaction's commit, which also commits the input offsets: the
  harness polls the group's committed offsets every `POLL_SECONDS` and takes the first
  poll that sees them at the end of the input. At least once, outputs are visible on
  append: the last output's LogAppendTime.
events/s = inputs / (end - start); CPU over the same window from /proc samples.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from benchmarks import measure, systems
from benchmarks.systems import QUIX_MARKER, System
from benchmarks.workload import (
    OUTPUT_CONFIG,
    PARTITIONS,
    Expected,
    rate_producer,
    send_at_rate,
)
from cashback.devtools.sample_stream import SampleRecord
from cashback.runtime.topics import TopicSpec, create_topics

POLL_SECONDS = 0.05
RUN_TIMEOUT_SECONDS = 600.0
WARMUP = 200  # events sent before the measured fixed-rate stream, not counted


def quix_version() -> str:
    return QUIX_MARKER.read_text().strip() if QUIX_MARKER.is_file() else "not installed"


class RunFailedError(RuntimeError):
    pass


class Bench:
    def __init__(self, bootstrap: str, run_id: str, logs: Path, say: Callable[[str], None]) -> None:
        self.bootstrap = bootstrap
        self.run_id = run_id
        self.logs = logs
        self.say = say

    # ------------------------------------------------------------------ topics

    def _outputs(self, system: System, tag: str) -> dict[str, str]:
        outputs = {role: f"bench-{self.run_id}-{tag}-{role}" for role in system.output_roles()}
        specs = [TopicSpec(name, PARTITIONS, config=OUTPUT_CONFIG) for name in outputs.values()]
        create_topics({"bootstrap.servers": self.bootstrap}, specs)
        return outputs

    def delete_topics(self, names: Sequence[str]) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.delete_topics(list(names), operation_timeout=30).values():
            try:
                future.result(30)
            except Exception as exc:  # best effort: a leftover topic only costs disk
                self.say(f"could not delete a topic: {exc}")

    # ------------------------------------------------------------------ throughput

    def throughput(
        self, system: System, source: str, inputs: int, priced: Expected, repeat: int
    ) -> dict[str, Any]:
        tag = f"{system.name}-t{repeat}"
        outputs = self._outputs(system, tag)
        group = f"bench-{self.run_id}-{tag}-{uuid.uuid4().hex[:6]}"
        input_partitions = measure.partitions_of(self.bootstrap, [source])
        progress = measure.GroupProgress(self.bootstrap, group, input_partitions)
        args, env = system.command(self.bootstrap, source, outputs, group)
        log = self.logs / f"{tag}.log"
        launched = time.time()
        process = systems.start(args, env, log)
        sampler = measure.ProcessSampler(process.pid)
        try:
            done_seen = self._wait_committed(process, sampler, progress, inputs, log)
        finally:
            sampler.sample()
            code = systems.stop(process)
            progress.close()
        read = measure.read_outputs(
            self.bootstrap, measure.partitions_of(self.bootstrap, list(outputs.values()))
        )
        self.delete_topics(list(outputs.values()))
        counts = {role: read.counts[topic] for role, topic in outputs.items()}
        expected = system.expected(inputs, priced)
        if read.first_append is None or read.last_append is None:
            raise RunFailedError(f"{tag}: no output at all; see {log}")
        start = read.first_append
        end = done_seen if system.guarantee == "eos" else read.last_append
        seconds = max(end - start, 1e-3)
        cpu = sampler.cpu_between(start, end)
        result = {
            "events": inputs,
            "seconds": round(seconds, 3),
            "events_per_s": round(inputs / seconds, 1),
            "cpu_s": round(cpu, 3),
            "cpu_s_per_1k": round(cpu / inputs * 1000, 4),
            "rss_mb": round(sampler.peak_rss_mb, 1),
            "rss_start_mb": round(sampler.nearest(start).rss_mb, 1),
            "rss_end_mb": round(sampler.nearest(end).rss_mb, 1),
            "startup_s": round(start - launched, 2),
            "outputs": counts,
            "expected": expected,
            "complete": _complete(system, counts, expected),
            "exit_code": code,
        }
        self.say(
            f"{tag}: {result['events_per_s']:,.0f} events/s, {seconds:.1f}s, "
            f"cpu {result['cpu_s_per_1k']:.3f} s/1k, rss {result['rss_mb']:.0f} MB, "
            f"outputs {counts}{'' if result['complete'] else f' EXPECTED {expected}'}"
        )
        return result

    def _wait_committed(
        self,
        process: Any,
        sampler: measure.ProcessSampler,
        progress: measure.GroupProgress,
        target: int,
        log: Path,
    ) -> float:
        """Sample the process until the group has committed `target` input offsets."""
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        next_check = 0.0
        while time.monotonic() < deadline:
            sampler.sample()
            if process.poll() is not None:
                raise RunFailedError(f"exited with {process.returncode}; see {log}")
            now = time.monotonic()
            if now >= next_check:
                next_check = now + POLL_SECONDS
                if progress.committed() >= target:
                    return time.time()
            time.sleep(POLL_SECONDS / 2)
        raise RunFailedError(f"not done in {RUN_TIMEOUT_SECONDS:.0f}s; see {log}")

    # ------------------------------------------------------------------ latency

    def latency(
        self, system: System, records: Sequence[SampleRecord], rate: int, repeat: int
    ) -> dict[str, Any]:
        tag = f"{system.name}-l{repeat}"
        source = f"bench-{self.run_id}-{tag}-purchases"
        create_topics({"bootstrap.servers": self.bootstrap}, [TopicSpec(source, PARTITIONS)])
        outputs = self._outputs(system, tag)
        group = f"bench-{self.run_id}-{tag}-{uuid.uuid4().hex[:6]}"
        input_partitions = measure.partitions_of(self.bootstrap, [source])
        output_partitions = measure.partitions_of(self.bootstrap, list(outputs.values()))
        tail = measure.LatencyTail(self.bootstrap, output_partitions, skip=WARMUP)
        tail.start()
        progress = measure.GroupProgress(self.bootstrap, group, input_partitions)
        args, env = system.command(self.bootstrap, source, outputs, group)
        log = self.logs / f"{tag}.log"
        process = systems.start(args, env, log)
        sampler = measure.ProcessSampler(process.pid)
        try:
            producer = rate_producer(self.bootstrap)
            send_at_rate(producer, source, records[:WARMUP], rate=rate)
            if not tail.first_seen.wait(120):
                raise RunFailedError(f"{tag}: no output within 120 s; see {log}")
            time.sleep(1.0)
            sampler.sample()
            sending = send_at_rate(
                producer, source, records[WARMUP:], rate=rate, first_sequence=WARMUP
            )
            sent_done = time.time()
            done_seen = self._wait_committed(process, sampler, progress, len(records), log)
        finally:
            tail.drain.set()
            tail.join(60)
            code = systems.stop(process)
            progress.close()
        self.delete_topics([source, *outputs.values()])
        latencies = sorted(tail.latencies_ms)
        if tail.error is not None or not latencies:
            raise RunFailedError(f"{tag}: latency reader failed: {tail.error or 'no outputs'}")
        measured = len(records) - WARMUP
        result = {
            "events": measured,
            "rate": rate,
            "send_seconds": round(sending, 2),
            "drain_seconds": round(done_seen - sent_done, 2),
            "outputs_timed": len(latencies),
            "p50_ms": round(_quantile(latencies, 0.50), 1),
            "p99_ms": round(_quantile(latencies, 0.99), 1),
            "max_ms": round(latencies[-1], 1),
            "rss_start_mb": round(sampler.samples[0].rss_mb, 1),
            "rss_end_mb": round(sampler.samples[-1].rss_mb, 1),
            "complete": code is not None,
            "exit_code": code,
        }
        self.say(
            f"{tag}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms at {rate}/s, "
            f"{len(latencies):,} outputs, drained {result['drain_seconds']}s after the last send"
        )
        return result


def _complete(system: System, counts: Mapping[str, int], expected: Mapping[str, int]) -> bool:
    """Every expected output is there; exactly once means not one more either."""
    if system.guarantee == "eos":
        return dict(counts) == dict(expected)
    return all(counts[role] >= n for role, n in expected.items())


def _quantile(ordered: Sequence[float], q: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=1000, method="inclusive")[round(q * 1000) - 1]
