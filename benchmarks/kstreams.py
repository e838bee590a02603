"""The `kstreams-passthrough-eos` run: building benchmarks/kstreams/ with Maven, and its command.

The build goes outside the work tree, to `$CASHBACK_TOOLS_DIR/kstreams/<digest>/`
(default `~/.cache/cashback-accrual`), named by a digest of pom.xml and src/, so an edit
rebuilds and an unchanged tree builds once: `mvn compile dependency:build-classpath`
writes the classes there and `classpath.txt`, the dependency jars in Maven's local
repository (~/.m2). The build counts as done while the class and every listed jar are there.

    python -m benchmarks.kstreams          # build when missing; prints the classpath
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from benchmarks.workload import WORK
from cashback.devtools.local_kafka.errors import LocalKafkaError
from cashback.devtools.local_kafka.toolchain import find_java

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "benchmarks" / "kstreams"
MAIN_CLASS = "local.cashback.bench.PassthroughEos"
BUILD_TIMEOUT_SECONDS = 900.0
# A fixed heap: the JVM's default (a quarter of the machine's memory) would make peak RSS
# a figure of the machine, not of the job; 512 MB is far more than a stateless copy needs.
JVM_OPTIONS = ("-Xms256m", "-Xmx512m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")


def tools_dir() -> Path:
    return Path(os.environ.get("CASHBACK_TOOLS_DIR") or Path.home() / ".cache/cashback-accrual")


def _digest() -> str:
    sha = hashlib.sha256((PROJECT / "pom.xml").read_bytes())
    for path in sorted((PROJECT / "src").rglob("*")):
        if path.is_file():
            sha.update(str(path.relative_to(PROJECT)).encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]


def build_dir() -> Path:
    return tools_dir() / "kstreams" / _digest()


def classpath() -> str | None:
    """The run's classpath when the build is complete, else None."""
    where = build_dir()
    listed = where / "classpath.txt"
    main = where / "classes" / (MAIN_CLASS.replace(".", "/") + ".class")
    if not (listed.is_file() and main.is_file()):
        return None
    jars = [jar for jar in listed.read_text().strip().split(os.pathsep) if jar]
    if not jars or not all(Path(jar).is_file() for jar in jars):
        return None
    return os.pathsep.join([str(where / "classes"), *jars])


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time (two benchmark runs, or a test beside `make bench`)."""
    lock = Path(tempfile.gettempdir()) / "cashback-kstreams-build.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_built(log: Path, *, build: bool = True) -> str | None:
    """None when the run can start, else why not (Maven's own error line included)."""
    if classpath() is not None:
        return None
    if not build:
        return "benchmarks/kstreams is not built yet (--no-kstreams-build)"
    mvn = shutil.which("mvn")
    if mvn is None:
        return "`mvn` is not on PATH (Apache Maven 3.8+ builds benchmarks/kstreams)"
    try:
        find_java()
    except LocalKafkaError as exc:
        return str(exc)
    with _build_lock():
        if classpath() is not None:
            return None
        where = build_dir()
        shutil.rmtree(where, ignore_errors=True)
        listed = where / "classpath.txt"
        command = [mvn, "-B", "-ntp", "-f", str(PROJECT / "pom.xml"),
                   f"-Dkstreams.build.dir={where}", "compile", "dependency:build-classpath",
                   "-Dmdep.includeScope=runtime", f"-Dmdep.outputFile={listed}"]  # fmt: skip
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            try:
                done = subprocess.run(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    timeout=BUILD_TIMEOUT_SECONDS, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                return f"the Maven build took over {BUILD_TIMEOUT_SECONDS:.0f}s; see {log}"
        if done.returncode != 0 or classpath() is None:
            return (
                f"the Maven build failed (exit {done.returncode}): {_first_error(log)}; see {log}"
            )
    return None


def _first_error(log: Path) -> str:
    """Maven's first few [ERROR] lines, which name the goal and what it could not do."""
    found: list[str] = []
    for raw in log.read_text(errors="replace").splitlines():
        line = raw
        while line.startswith("[ERROR]"):
            line = line.removeprefix("[ERROR]").strip()
        noise = line.startswith(("-> [Help", "To see the full", "Re-run Maven"))
        if line and not noise and line not in found and len(found) < 4:
            found.append(line)
    return " | ".join(found) or "no [ERROR] line"


def command(
    bootstrap: str, source: str, outputs: Mapping[str, str], group: str
) -> tuple[list[str], dict[str, str]]:
    found = classpath()
    if found is None:
        raise RuntimeError("benchmarks/kstreams is not built (benchmarks.kstreams.ensure_built)")
    state = WORK / "kstreams-state" / group
    args = [find_java(), *JVM_OPTIONS, "-cp", found, MAIN_CLASS, "--bootstrap", bootstrap,
            "--input", source, "--outputs", f"{outputs['copy-a']},{outputs['copy-b']}",
            "--group", group, "--state-dir", str(state)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CASHBACK_"))}
    return args, env


def main() -> int:
    why = ensure_built(WORK / "kstreams-build.log")
    if why is not None:
        print(f"kstreams: {why}", file=sys.stderr)
        return 1
    print(classpath())
    return 0


if __name__ == "__main__":
    sys.exit(main())
