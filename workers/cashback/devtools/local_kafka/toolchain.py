"""The broker's toolchain: a Java 17+ ``java`` and the Kafka jars that Maven resolves."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from cashback.devtools.local_kafka.errors import LocalKafkaError, Progress, say_stderr, tail
from cashback.devtools.local_kafka.locations import kafka_dir

MARKER_NAME: Final = ".complete"
MIN_JAVA: Final = 17


def _kafka_version(home: Path) -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", (home / "pom.xml").read_text())
    return match.group(1).strip() if match else "(version from pom.xml)"


def _pom_digest(home: Path) -> str:
    return hashlib.sha256((home / "pom.xml").read_bytes()).hexdigest()


def _jars_complete(lib: Path, digest: str) -> bool:
    marker = lib / MARKER_NAME
    try:
        lines = marker.read_text().split()
    except OSError:
        return False
    if len(lines) < 2 or lines[0] != digest:
        return False
    return all((lib / name).is_file() for name in lines[1:])


@contextlib.contextmanager
def _download_lock(home: Path) -> Iterator[None]:
    """Serialise concurrent downloads (parallel test sessions) without touching the repo."""
    key = hashlib.sha256(str(home).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"cashback-local-kafka-{key}.lock"
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


def ensure_jars(progress: Progress | None = None, *, home: Path | None = None) -> Path:
    """Return the ``lib`` directory with the broker's jars, resolving them with Maven if needed.

    The jars count as complete when ``lib/.complete`` records the current pom.xml's SHA-256
    and every jar it lists is present; otherwise Maven copies them into a staging directory
    that then replaces ``lib`` (so a changed pom never leaves stale jars behind).
    """
    say = progress or say_stderr
    home = home or kafka_dir()
    lib = home / "lib"
    digest = _pom_digest(home)
    if _jars_complete(lib, digest):
        return lib
    with _download_lock(home):
        if _jars_complete(lib, digest):  # another process finished while we waited
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(
                f"the Kafka jars are not in {lib} yet and `mvn` is not on PATH; install Apache "
                "Maven 3.8+ (e.g. `apt-get install maven`) and retry"
            )
        staging = home / "target" / "lib-staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        log_path = home / "target" / "mvn.log"
        say(f"downloading Kafka {_kafka_version(home)} jars from Maven Central (first run only)...")
        command = [
            mvn,
            "-B",
            "-ntp",
            "-f",
            str(home / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ]
        started = time.monotonic()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command, cwd=home, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            next_note = 10.0
            while proc.poll() is None:
                time.sleep(0.2)
                elapsed = time.monotonic() - started
                if elapsed >= next_note:
                    say(f"  ...still downloading ({elapsed:.0f}s)")
                    next_note += 10.0
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            raise LocalKafkaError(
                f"Maven could not resolve the Kafka jars (exit code {proc.returncode}); "
                f"check the network/proxy access to Maven Central. Last lines of {log_path}:\n"
                f"{tail(log_path, 15)}"
            )
        jars = sorted(p.name for p in staging.glob("*.jar"))
        if not any(name.startswith("kafka_") for name in jars):
            raise LocalKafkaError(
                f"Maven finished but {staging} holds no kafka_*.jar; see {log_path}"
            )
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
        (lib / MARKER_NAME).write_text("\n".join([digest, *jars]) + "\n")
        say(f"downloaded {len(jars)} jars in {time.monotonic() - started:.1f}s into {lib}")
    return lib


# ------------------------------------------------------------------------------- java


def find_java() -> str:
    """Path of a Java 17+ ``java``: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise LocalKafkaError(
            "no `java` on PATH: install a Java 17+ JDK (e.g. `apt-get install "
            "openjdk-17-jdk-headless`) or set JAVA_HOME, then retry"
        )
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalKafkaError(
            f"cannot run {java} -version ({exc}); install a Java 17+ JDK"
        ) from exc
    output = result.stderr + result.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if result.returncode != 0 or match is None:
        raise LocalKafkaError(
            f"`{java} -version` failed or printed no version; install a Java 17+ JDK:\n"
            f"{output.strip()[:500]}"
        )
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_x" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise LocalKafkaError(
            f"{java} is Java {major}, Kafka 4 needs Java {MIN_JAVA}+: install a Java 17+ JDK "
            "and put it first on PATH or set JAVA_HOME"
        )
    return java
