"""The local broker tooling fails with one actionable LocalKafkaError, never a hang.

Java and Maven are replaced by small shell scripts on a private PATH, so these tests need
neither a JDK nor the network and run in a few seconds.
"""

from __future__ import annotations

import shutil
import socket
import stat
import time
from pathlib import Path

import pytest

from cashback.devtools import local_kafka
from cashback.devtools.local_kafka import LocalKafkaError, ensure_jars, find_java, start_broker

# The fake tools run with PATH set to their own directory: resolve helpers up front.
SLEEP = shutil.which("sleep") or "/bin/sleep"
TOUCH = shutil.which("touch") or "/bin/touch"
JAVA_17 = "echo 'openjdk version \"17.0.9\" 2023-10-17' >&2; exit 0"


def _script(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _fake_java(bin_dir: Path, on_broker: str, on_version: str = JAVA_17) -> None:
    """A `java` that answers -version, 'formats' storage, and runs ``on_broker`` as kafka.Kafka."""
    _script(
        bin_dir,
        "java",
        f"""for arg in "$@"; do
  case "$arg" in
    -version) {on_version} ;;
    kafka.tools.StorageTool) exit 0 ;;
    kafka.Kafka) {on_broker} ;;
  esac
done
exit 99""",
    )


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private directory as the whole PATH (so no java/mvn unless a test adds one)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    monkeypatch.setenv("PATH", str(fake_bin))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return fake_bin


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    jars = tmp_path / "home" / "lib"
    jars.mkdir(parents=True)
    return jars


def test_no_java_on_path(bin_dir: Path, lib: Path, tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match=r"no `java` on PATH: install a Java 17\+ JDK"):
        start_broker(tmp_path / "work", lib=lib)


def test_java_too_old(bin_dir: Path) -> None:
    _fake_java(bin_dir, "exit 1", on_version="echo 'java version \"1.8.0_391\"' >&2; exit 0")
    with pytest.raises(LocalKafkaError, match=r"Java 8, Kafka 4 needs Java 17\+"):
        find_java()


def test_broker_exiting_during_start_shows_its_log(
    bin_dir: Path, lib: Path, tmp_path: Path
) -> None:
    _fake_java(
        bin_dir,
        'i=1; while [ $i -le 30 ]; do echo "noise line $i"; i=$((i+1)); done; '
        'echo "ERROR fatal: log dir is not writable"; exit 3',
    )
    with pytest.raises(LocalKafkaError) as caught:
        start_broker(tmp_path / "work", lib=lib, timeout=20)
    message = str(caught.value)
    assert "exited with code 3 during start-up" in message
    assert "log dir is not writable" in message
    assert "noise line 30" in message
    assert "noise line 5\n" not in message  # only the last lines of the log


def test_timeout_kills_the_broker(bin_dir: Path, lib: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "broker.pid"
    _fake_java(bin_dir, f'echo $$ > "{pid_file}"; exec {SLEEP} 60')
    started = time.monotonic()
    with pytest.raises(LocalKafkaError, match=r"did not become ready within 2s"):
        start_broker(tmp_path / "work", lib=lib, timeout=2)
    assert time.monotonic() - started < 15
    pid = int(pid_file.read_text())
    assert not local_kafka._pid_alive(pid), "the half-started broker must be killed"


def test_requested_port_taken(bin_dir: Path, lib: Path, tmp_path: Path) -> None:
    _fake_java(bin_dir, "exit 1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalKafkaError, match=rf"port {port} on 127.0.0.1 .* already in use"):
            start_broker(tmp_path / "work", lib=lib, port=port)


def test_automatic_ports_are_retried_on_bind_failure(
    bin_dir: Path, lib: Path, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts"
    _fake_java(
        bin_dir,
        f'echo x >> "{attempts}"; '
        'echo "ERROR Socket server failed to bind to 127.0.0.1:1: Address already in use"; '
        "exit 1",
    )
    with pytest.raises(LocalKafkaError, match="already in use"):
        start_broker(tmp_path / "work", lib=lib, timeout=20)
    assert len(attempts.read_text().split()) == local_kafka.PORT_ATTEMPTS


def _kafka_home(tmp_path: Path) -> Path:
    home = tmp_path / "local-kafka"
    home.mkdir()
    (home / "pom.xml").write_text("<project><properties><kafka.version>9.9.9</kafka.version>")
    return home


def test_no_maven(bin_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match=r"`mvn` is not on PATH; install Apache Maven"):
        ensure_jars(home=_kafka_home(tmp_path))


def test_maven_failure_shows_its_last_lines(bin_dir: Path, tmp_path: Path) -> None:
    _script(bin_dir, "mvn", 'echo "[ERROR] Could not transfer artifact kafka_2.13"; exit 1')
    notes: list[str] = []
    with pytest.raises(LocalKafkaError, match=r"(?s)exit code 1.*Could not transfer artifact"):
        ensure_jars(notes.append, home=_kafka_home(tmp_path))
    assert notes == ["downloading Kafka 9.9.9 jars from Maven Central (first run only)..."]


def test_jars_are_downloaded_once(bin_dir: Path, tmp_path: Path) -> None:
    calls = tmp_path / "mvn-calls"
    _script(
        bin_dir,
        "mvn",
        f"""echo call >> "{calls}"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}" ;; esac
done
{TOUCH} "$out/kafka_2.13-9.9.9.jar" "$out/kafka-clients-9.9.9.jar\"""",
    )
    home = _kafka_home(tmp_path)
    first = ensure_jars(lambda _note: None, home=home)
    second = ensure_jars(lambda _note: None, home=home)
    assert first == second == home / "lib"
    assert (home / "lib" / "kafka_2.13-9.9.9.jar").is_file()
    assert len(calls.read_text().split()) == 1

    (home / "lib" / "kafka-clients-9.9.9.jar").unlink()  # incomplete: fetched again
    ensure_jars(lambda _note: None, home=home)
    assert len(calls.read_text().split()) == 2


def test_cli_prints_error_and_exits_2(
    bin_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _fake_java(bin_dir, "exit 1", on_version="echo 'no version here' >&2; exit 1")
    monkeypatch.setattr(local_kafka.cli, "state_dir", lambda: tmp_path / ".kafka")
    assert local_kafka.main(["up"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "install a Java 17+ JDK" in err
    assert "Traceback" not in err
