"""`make fuzz`: both engines under coverage-guided fuzzing for a fixed time each.

- Python (atheris, libFuzzer inside CPython): decode + price + encode through
  `Engine.handle`, the native engine compared with it on every input (fuzz_engine.py);
- native (libFuzzer via the libfuzzer-sys crate, built with the sanitizer-coverage flags
  cargo-fuzz uses, on the stable toolchain): `engine::handle` from workers/native/fuzz.

The corpus is seeded from schemas/examples (every purchase/refund example) and the sample
events, plus one duplicate-key variant of each valid example; it grows in
`$CASHBACK_TOOLS_DIR/fuzz/` (outside the tree) between runs. Findings (crash-*, timeout-*
files) are copied to tests/fuzz/findings/<engine>/ and each must become a regression
test in tests/unit/test_fuzz_findings.py.

    python tests/fuzz/run.py [--seconds 60] [--engines python,native]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("CASHBACK_TOOLS_DIR", Path.home() / ".cache" / "cashback-accrual"))
WORK = TOOLS / "fuzz"
NATIVE_CRATE = ROOT / "workers" / "native" / "fuzz"
TARGET_DIR = TOOLS / "native-fuzz-target"
TRIPLE = "x86_64-unknown-linux-gnu"
SANCOV = (
    "-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 "
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters "
    "-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares "
    "--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
)
DICT = Path(__file__).with_name("json.dict")
FINDINGS = Path(__file__).with_name("findings")
_DONE = re.compile(rb"Done (\d+) runs in (\d+) second")
_COVERAGE = re.compile(rb"cov: (\d+) ft: (\d+) corp: (\d+)")


def seeds(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted((ROOT / "schemas" / "examples" / "purchase.v1").rglob("*.json"))
    count = 0
    for path in found:
        raw = path.read_bytes().strip()
        (folder / f"example-{path.parent.name}-{path.stem}").write_bytes(raw)
        if path.parent.name == "valid":
            # A duplicate of its first key: the decoders' hardest question.
            (folder / f"twice-{path.stem}").write_bytes(raw.replace(b"{", b'{"type":"x",', 1))
            count += 1
        count += 1
    sample = ROOT / "deploy" / "examples" / "events" / "sample.jsonl"
    for number, line in enumerate(sample.read_bytes().splitlines()):
        if line.strip():
            (folder / f"sample-{number}").write_bytes(line)
            count += 1
    return count


def spec_file() -> Path:
    """The sample catalog as the native engine's spec (what NativeEngine hands it)."""
    sys.path.insert(0, str(ROOT / "workers"))
    from cashback.domain.native_spec import export_catalog  # noqa: PLC0415
    from cashback.rulefiles import load_catalog  # noqa: PLC0415

    path = WORK / "spec.json"
    catalog = load_catalog([ROOT / "deploy" / "examples" / "rules"])
    path.write_bytes(export_catalog(catalog, 64 * 1024))
    return path


def build_native() -> Path:
    env = {**os.environ, "RUSTFLAGS": SANCOV}
    env["PATH"] = f"{Path.home() / '.cargo' / 'bin'}:{env.get('PATH', '')}"
    command = ["cargo", "build", "--release", "--bin", "handle", "--target", TRIPLE,
               "--target-dir", str(TARGET_DIR)]  # fmt: skip
    subprocess.run(command, cwd=NATIVE_CRATE, env=env, check=True)
    return TARGET_DIR / TRIPLE / "release" / "handle"


def run(engine: str, command: list[str], seconds: int, env: dict[str, str]) -> dict[str, object]:
    corpus, artifacts = WORK / engine / "corpus", WORK / engine / "artifacts"
    for folder in (corpus, artifacts):
        folder.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in artifacts.iterdir()}
    flags = [f"-max_total_time={seconds}", f"-artifact_prefix={artifacts}/", f"-dict={DICT}",
             "-max_len=8192", "-timeout=10", "-print_final_stats=1"]  # fmt: skip
    # Plain mode: a run stops at its first finding (atheris cannot run libFuzzer's -fork).
    done = subprocess.run(
        [*command, *flags, str(corpus), str(WORK / "seeds")],
        capture_output=True, env={**os.environ, **env}, check=False, timeout=seconds + 300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    (WORK / engine / "last-run.log").write_bytes(output)
    runs = sum(int(n) for n, _ in _DONE.findall(output))
    execs = re.findall(rb"stat::number_of_executed_units:\s+(\d+)", output)
    if execs:
        runs = max(runs, sum(int(n) for n in execs))
    coverage = _COVERAGE.findall(output)
    new = sorted(p.name for p in artifacts.iterdir() if p.name not in before)
    if new:
        target = FINDINGS / engine
        target.mkdir(parents=True, exist_ok=True)
        for name in new:
            shutil.copy2(artifacts / name, target / name)
    return {
        "engine": engine,
        "seconds": seconds,
        "executions": runs,
        "coverage": int(coverage[-1][0]) if coverage else None,
        "corpus": len(list(corpus.iterdir())),
        "findings": new,
        "exit": done.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="per engine [%(default)s]")
    parser.add_argument("--engines", default="python,native")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORK / "seeds", ignore_errors=True)
    print(f"seeds: {seeds(WORK / 'seeds')} inputs from schemas/examples and the sample events")
    results = []
    engines = args.engines.split(",")
    if "python" in engines:
        python = [sys.executable, str(Path(__file__).with_name("fuzz_engine.py"))]
        results.append(run("python", python, args.seconds, {}))
    if "native" in engines:
        binary = build_native()
        env = {"CASHBACK_FUZZ_SPEC": str(spec_file())}
        results.append(run("native", [str(binary)], args.seconds, env))
    failed = False
    for result in results:
        print(
            f"{result['engine']:7} {result['seconds']} s: {result['executions']:,} executions, "
            f"coverage {result['coverage']}, corpus {result['corpus']}, "
            f"findings {len(result['findings'])} {result['findings'] or ''}"
        )
        failed = failed or bool(result["findings"])
    if failed:
        print(
            f"findings copied to {FINDINGS}/: make each a test in tests/unit/test_fuzz_findings.py"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
