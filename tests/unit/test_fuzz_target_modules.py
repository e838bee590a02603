"""The native fuzz target compiles the engine's source files by path (it cannot link the
pyo3 crate): every module of the engine must be listed there too, or `make fuzz` stops
compiling the day a module is added (it did: `demand`, 1 December)."""

from __future__ import annotations

import re
from pathlib import Path

NATIVE = Path(__file__).resolve().parents[2] / "workers" / "native"
# The modules that hold the Python binding; the fuzz target calls the engine directly.
BINDING_ONLY = {"batch"}


def test_the_fuzz_target_lists_every_engine_module() -> None:
    crate = set(re.findall(r"^mod (\w+);", (NATIVE / "src" / "lib.rs").read_text(), re.M))
    target = (NATIVE / "fuzz" / "fuzz_targets" / "handle.rs").read_text()
    listed = set(re.findall(r'#\[path = "\.\./\.\./src/(\w+)\.rs"\]\nmod \1;', target))
    assert crate - BINDING_ONLY - listed == set(), "modules missing from the fuzz target"
    assert listed <= crate, "the fuzz target lists a module the crate does not have"
