"""Where the faust runtime falls short of the conformance suite, measured: each entry
keeps its test a strict xfail (it must keep failing; if faust fixes it, the xfail
fails and the entry goes). Figures are from the runs named in the README's matrix."""

from __future__ import annotations

# (test function name, runtime) -> the reason shown by pytest, with the figures.
KNOWN_LIMITS: dict[tuple[str, str], str] = {}
