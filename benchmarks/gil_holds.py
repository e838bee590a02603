"""How long the rules thread holds the GIL at a stretch while it compiles a 10,000-rule
version under the probe's busy loop, in CPU ms of that thread (load-independent enough
to read on a shared machine, unlike the wall-clock stall).

    python -m benchmarks.gil_holds [--rules 10000] [--rounds 2]

A thread switch can only happen between bytecodes, so the loop's batch waits at most for
the longest C call the rules thread makes without running Python inside it (a C call that
calls back into Python, e.g. `any(generator)`, is not counted), or for a collection of
the cyclic garbage collector started on that thread. Interleaved rounds: the compile as
`BackgroundRules` runs it (collector paused, catalogs frozen), and without that (as before).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import threading
import time
from types import FrameType
from typing import Any

from benchmarks import compile_probe
from cashback.runtime import rules_swap

RULES_THREAD = "rules-swap"


class Holds:
    """C calls and collections on the rules thread: the longest, in thread CPU seconds."""

    def __init__(self) -> None:
        self.open: list[list[Any]] = []  # [function, started, called back into Python]
        self.longest_call: tuple[float, str] = (0.0, "")
        self.collections: list[tuple[int, float]] = []
        self._gc_started = 0.0

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            for entry in self.open:
                entry[2] = True
        elif event == "c_call":
            self.open.append([arg, time.thread_time(), False])
        elif event in ("c_return", "c_exception") and self.open:
            function, started, called_back = self.open.pop()
            spent = time.thread_time() - started
            if not called_back and spent > self.longest_call[0]:
                name = f"{getattr(function, '__module__', '') or ''}.{function.__qualname__}"
                self.longest_call = (spent, name)

    def collector(self, phase: str, info: dict[str, Any]) -> None:
        if threading.current_thread().name != RULES_THREAD:
            return
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self.collections.append((info["generation"], time.thread_time() - self._gc_started))


def one_round(docs: list[bytes], keys: list[bytes], paused: bool) -> dict[str, Any]:
    real_pause, real_freeze = rules_swap.collector_paused, gc.freeze
    if not paused:
        setattr(rules_swap, "collector_paused", contextlib.nullcontext)  # noqa: B010
        setattr(gc, "freeze", lambda: None)  # noqa: B010
    holds = Holds()
    gc.unfreeze()
    gc.collect()
    gc.callbacks.append(holds.collector)
    threading.setprofile(holds.profile)  # threads started from here on: the rules thread
    try:
        found = compile_probe.swap_stall(docs, keys, background=True)
    finally:
        threading.setprofile(None)
        gc.callbacks.remove(holds.collector)
        setattr(rules_swap, "collector_paused", real_pause)  # noqa: B010
        setattr(gc, "freeze", real_freeze)  # noqa: B010
    longest_gc = max((spent for _, spent in holds.collections), default=0.0)
    return {
        "collector": "paused, catalogs frozen" if paused else "as before",
        "longest_c_call_cpu_ms": round(holds.longest_call[0] * 1e3, 1),
        "longest_c_call": holds.longest_call[1],
        "collections_on_rules_thread": len(holds.collections),
        "full_collections": sum(generation == 2 for generation, _ in holds.collections),
        "longest_collection_cpu_ms": round(longest_gc * 1e3, 1),
        "stall_ms_wall": found["stall_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        docs, keys = pool.apply(compile_probe.documents, ("rules", args.rules))
    for n in range(args.rounds):
        for paused in (True, False):
            print(n, one_round(docs, keys, paused), flush=True)


if __name__ == "__main__":
    main()
