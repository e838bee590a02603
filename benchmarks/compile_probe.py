"""Catalog compile time, memory and live-swap stall at one size, in a fresh process.

    python -m benchmarks.compile_probe rules 10000     # prints one JSON object

- compile: parse + compile every document (`parse_ruleset`), assemble the `Catalog`, then
  build the native engine (export the spec, compile it in Rust); seconds of each.
- memory: RSS (/proc/self/status VmRSS) after the documents are built as bytes, after the
  Python catalog, after the native engine: the deltas are what the compiled catalog holds.
- swap: a worker-shaped loop prices batches of 200 sample events with the example rules;
  then the catalog of this size arrives as its last document, and the loop takes it the
  way `Worker.swap_rules` does, first with everything on the loop (parse, compile, engine
  build: how it was), then with `BackgroundRules` compiling on its own thread. The stall
  is the longest loop step (swap + batch) minus the median batch, over the whole swap.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import statistics
import sys
import time
from typing import Any

import orjson

from benchmarks import catalogs
from benchmarks.curves import sample
from cashback.domain.catalog import Catalog
from cashback.domain.native_engine import NativeEngine
from cashback.domain.rules import parse_ruleset
from cashback.runtime.rules_feed import APPLIED, apply_document
from cashback.runtime.rules_swap import BackgroundRules

DOCS = {"rules": catalogs.rules_docs, "rule_sets": catalogs.sets_docs,
        "versions": catalogs.versions_docs}  # fmt: skip
BATCH = 200


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class LastDocument:
    """The rules feed with one document left to read (what RulesFeed.poll does with it),
    arriving `after` seconds from now. A refused document ends the probe with its reason:
    the 10,000-rule version once "never swapped" because the feed refused it (too large)."""

    def __init__(self, key: bytes, value: bytes, after: float = 1.0) -> None:
        self.key, self.value, self.done = key, value, False
        self.at = time.monotonic() + after
        self.refused: str | None = None

    def poll(self, catalog: Catalog) -> Catalog:
        if self.done or time.monotonic() < self.at:
            return catalog
        self.done = True
        applied = apply_document(catalog, self.key, self.value)
        if applied.result != APPLIED:
            self.refused = f"{applied.result} ({applied.reason}): {applied.problem}"
        return applied.catalog


def _key(doc: dict[str, Any]) -> bytes:
    return f"{doc['ruleset']}:{doc['version']}".encode()


def swap_stall(docs: list[bytes], keys: list[bytes], background: bool) -> dict[str, float]:
    events, _ = sample(2000)
    base = catalogs.load_examples()
    for raw in docs[:-1]:
        base = base.with_ruleset(parse_ruleset(raw))
    engine = NativeEngine(base)
    feed = LastDocument(keys[-1], docs[-1])
    updates = BackgroundRules(feed, engine, logging.getLogger("probe"), poll_seconds=0.01)
    source = updates if background else feed
    steps: list[float] = []
    swapped_at = arrived_at = None
    if background:
        updates.start()
    i = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and feed.refused is None:
        start = time.perf_counter()
        catalog = source.poll(engine.catalog)  # Worker.swap_rules
        if catalog is not engine.catalog:
            engine.catalog = catalog
            swapped_at = len(steps)
        for value in events[(i * BATCH) % 1800 : (i * BATCH) % 1800 + BATCH]:
            engine.handle(value)
        steps.append(time.perf_counter() - start)
        if arrived_at is None and feed.done:
            arrived_at = len(steps) - 1  # the step in which the document was read (or began)
        i += 1
        if swapped_at is not None and len(steps) > swapped_at + 20:
            break
    updates.close()
    if feed.refused is not None:
        raise SystemExit(f"the feed did not apply the document: {feed.refused}")
    if swapped_at is None or arrived_at is None:
        raise SystemExit("the swap never happened within 120 s")
    # Each step against the median batch of the same catalog: the new one may price
    # slower (50 rule sets in force), which is not a stall.
    before, after = steps[:swapped_at], steps[swapped_at + 1 :]
    normal_before, normal_after = statistics.median(before), statistics.median(after)
    stall = max(max(before) - normal_before, max(steps[swapped_at:]) - normal_after)
    compiling = steps[arrived_at:swapped_at]
    return {"stall_ms": round(stall * 1e3, 1), "batch_ms": round(normal_before * 1e3, 2),
            "batch_after_ms": round(normal_after * 1e3, 2),
            "swap_step_ms": round(steps[swapped_at] * 1e3, 1),
            # from the step that read the document to the swap: the loop kept pricing
            "arrival_to_swap_s": round(sum(steps[arrived_at:swapped_at + 1]), 3),
            "batches_while_compiling": len(compiling),
            "longest_compiling_step_ms": round(max(compiling, default=0.0) * 1e3, 1),
            "steps_over_100ms": sum(step > 0.1 for step in steps)}  # fmt: skip


def documents(axis: str, size: int) -> tuple[list[bytes], list[bytes]]:
    built = DOCS[axis](size)
    return [orjson.dumps(doc) for doc in built], [_key(doc) for doc in built]


def main() -> None:
    axis, size = sys.argv[1], int(sys.argv[2])
    with_swap = "--no-swap" not in sys.argv
    # The documents are generated in a child process: building them here would leave freed
    # heap that the catalog then reuses, hiding it from RSS.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        docs, keys = pool.apply(documents, (axis, size))
    gc.collect()
    # The module loaded, CEL and the zone table of Europe/Moscow built (once per process
    # and zone, ~1 CPU s: native_spec.offset_table) before anything is timed.
    NativeEngine(catalogs.load_examples())
    before = rss_mb()
    c0, t0 = time.process_time(), time.perf_counter()
    rulesets = [parse_ruleset(raw) for raw in docs]
    c1, t1 = time.process_time(), time.perf_counter()
    catalog = Catalog.of(rulesets)
    c2, t2 = time.process_time(), time.perf_counter()
    gc.collect()
    after_python = rss_mb()
    c2b, t2b = time.process_time(), time.perf_counter()
    engine = NativeEngine(catalog)
    c3, t3 = time.process_time(), time.perf_counter()
    gc.collect()
    after_native = rss_mb()
    del engine
    rules = sum(len(rs.rules) for rs in catalog.all())
    found: dict[str, Any] = {
        "axis": axis, "size": size, "rules": rules, "versions": len(catalog),
        "parse_compile_s": round(t1 - t0, 3), "catalog_s": round(t2 - t1, 3),
        "native_s": round(t3 - t2b, 3), "compile_s": round(t1 - t0 + t2 - t1 + t3 - t2b, 3),
        # CPU seconds of this process: what an idle core would take, near enough
        "parse_compile_cpu_s": round(c1 - c0, 3), "native_cpu_s": round(c3 - c2b, 3),
        "compile_cpu_s": round(c2 - c0 + c3 - c2b, 3),
        "python_catalog_mb": round(after_python - before, 1),
        "native_engine_mb": round(after_native - after_python, 1),
        "document_mb": round(sum(map(len, docs)) / 2**20, 2),
    }  # fmt: skip
    del rulesets, catalog
    gc.collect()
    if with_swap:
        found["swap_on_loop"] = swap_stall(docs, keys, background=False)
        found["swap_background"] = swap_stall(docs, keys, background=True)
    print(orjson.dumps(found).decode())


if __name__ == "__main__":
    main()
