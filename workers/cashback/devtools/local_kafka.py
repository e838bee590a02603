"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1, without Docker.

The broker runs from the Kafka jars that Maven resolves from ``deploy/local-kafka/pom.xml``
into ``deploy/local-kafka/lib/`` (once; a marker file records the pom's hash, so later runs
download nothing). Each start gets free ports, a fresh data directory, a generated
``server.properties`` for a combined broker+controller node, formatted storage, and then
waits until an AdminClient sees the broker in the cluster metadata.

Command line (the Makefile's ``kafka-up`` / ``kafka-down``)::

    python -m cashback.devtools.local_kafka up [--port N] [--controller-port N] [--timeout S]
    python -m cashback.devtools.local_kafka status
    python -m cashback.devtools.local_kafka down

``up`` leaves the broker running in the background and writes ``<repo>/.kafka/bootstrap``
and ``<repo>/.kafka/pid``; ``down`` stops exactly that process.

Python API (tests, demo, benchmarks)::

    with start_broker(tmp_dir) as broker:      # LocalBroker
        use(broker.bootstrap)                 # "127.0.0.1:NNNNN"

Every expected failure (no Java, no Maven, a failed download, a broker that exits or never
becomes ready, a requested port that is taken) raises :class:`LocalKafkaError` with one
message that says what to do; the command line prints it as ``error: ...`` and exits 2.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

__all__ = [
    "BrokerState",
    "LocalBroker",
    "LocalKafkaError",
    "ensure_jars",
    "find_java",
    "kafka_dir",
    "main",
    "read_state",
    "running_bootstrap",
    "start_broker",
    "state_dir",
    "stop_pid",
]

Progress = Callable[[str], None]

HOST: Final = "127.0.0.1"
ENV_KAFKA_DIR: Final = "CASHBACK_LOCAL_KAFKA_DIR"
ENV_PORT: Final = "CASHBACK_KAFKA_PORT"
ENV_CONTROLLER_PORT: Final = "CASHBACK_KAFKA_CONTROLLER_PORT"
POM_RELATIVE: Final = Path("deploy") / "local-kafka" / "pom.xml"
MARKER_NAME: Final = ".complete"
MIN_JAVA: Final = 17
DEFAULT_START_TIMEOUT: Final = 60.0
DEFAULT_STOP_TIMEOUT: Final = 30.0
BROKER_HEAP: Final = ("-Xms256m", "-Xmx768m")
LOG_TAIL_LINES: Final = 20
PORT_ATTEMPTS: Final = 3
_BIND_FAILURE = re.compile(r"Address already in use|failed to bind", re.IGNORECASE)
_PR_SET_PDEATHSIG: Final = 1


class LocalKafkaError(Exception):
    """An expected failure of the local broker tooling; the message says what to do."""


class _BindConflictError(LocalKafkaError):
    """The broker exited because one of its ports was taken (retried with automatic ports)."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- locations


def _walk_up_for_pom(start: Path) -> Path | None:
    for candidate in (start, *start.parents):
        if (candidate / POM_RELATIVE).is_file():
            return candidate
    return None


def _repo_root() -> Path | None:
    return _walk_up_for_pom(Path(__file__).resolve().parent) or _walk_up_for_pom(
        Path.cwd().resolve()
    )


def kafka_dir() -> Path:
    """The directory holding ``pom.xml``, ``log4j2.properties`` and ``lib/``.

    ``$CASHBACK_LOCAL_KAFKA_DIR`` wins; otherwise the first ``deploy/local-kafka`` found
    walking up from this module (an editable install), then from the working directory.
    """
    override = os.environ.get(ENV_KAFKA_DIR)
    if override:
        path = Path(override).expanduser().resolve()
        if not (path / "pom.xml").is_file():
            raise LocalKafkaError(
                f"{ENV_KAFKA_DIR}={override} has no pom.xml; point it at the directory that "
                "holds the local-kafka pom.xml (deploy/local-kafka in the repository)"
            )
        return path
    root = _repo_root()
    if root is None:
        raise LocalKafkaError(
            f"cannot find {POM_RELATIVE} above {Path(__file__).resolve().parent} or the "
            f"working directory; run from the cashback-accrual checkout or set {ENV_KAFKA_DIR}"
        )
    return root / POM_RELATIVE.parent


def state_dir() -> Path:
    """Where ``up`` records the running broker: ``<repo>/.kafka``."""
    root = _repo_root()
    return (root if root is not None else kafka_dir()) / ".kafka"


def _kafka_version(home: Path) -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", (home / "pom.xml").read_text())
    return match.group(1).strip() if match else "(version from pom.xml)"


# ------------------------------------------------------------------------------- jars


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


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` non-blank lines of a log, Java stack frames left out."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    kept = [line for line in text.splitlines() if line.strip() and not _STACK_FRAME.match(line)][
        -lines:
    ]
    return "\n".join(f"  | {line}" for line in kept) if kept else "(no output)"


def ensure_jars(progress: Progress | None = None, *, home: Path | None = None) -> Path:
    """Return the ``lib`` directory with the broker's jars, resolving them with Maven if needed.

    The jars count as complete when ``lib/.complete`` records the current pom.xml's SHA-256
    and every jar it lists is present; otherwise Maven copies them into a staging directory
    that then replaces ``lib`` (so a changed pom never leaves stale jars behind).
    """
    say = progress or _stderr
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
                f"{_tail(log_path, 15)}"
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


# ------------------------------------------------------------------------------ ports


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the JVM's server sockets, so TIME_WAIT leftovers do not count as taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _pick_ports(port: int | None, controller_port: int | None) -> tuple[int, int]:
    for value, what in ((port, "--port"), (controller_port, "--controller-port")):
        if value is not None and not _port_is_free(value):
            raise LocalKafkaError(
                f"port {value} on {HOST} (requested with {what}) is already in use; stop what "
                "listens there or leave the port unset to pick a free one"
            )
    broker = port if port is not None else _free_port()
    controller = controller_port if controller_port is not None else _free_port()
    while controller == broker:
        if controller_port is not None and port is not None:
            raise LocalKafkaError("--port and --controller-port must differ")
        if controller_port is None:
            controller = _free_port()
        else:
            broker = _free_port()
    return broker, controller


# ------------------------------------------------------------------------- the broker


def _cluster_id() -> str:
    # Kafka's text form of a UUID: URL-safe base64 of 16 bytes without padding. An id that
    # starts with "-" would read like an option, so draw again (as Kafka itself does).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir / "logs"),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "5000",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "3",
        "num.io.threads": "4",
    }
    header = "# generated by cashback.devtools.local_kafka for one single-node test broker\n"
    return header + "".join(f"{key}={value}\n" for key, value in settings.items())


def _java_base(java: str, home: Path, data_dir: Path) -> list[str]:
    command = [java, "-Djava.awt.headless=true", f"-Dkafka.logs.dir={data_dir}"]
    log_config = home / "log4j2.properties"
    if log_config.is_file():
        command.append(f"-Dlog4j2.configurationFile={log_config}")
    return command


def _classpath(lib: Path) -> str:
    return str(lib / "*")  # the JVM expands "dir/*" to every jar in dir


def _set_pdeathsig_factory() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGKILL the broker when its parent thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook


def _admin(bootstrap: str) -> AdminClient:
    quiet = logging.getLogger("cashback.devtools.local_kafka.librdkafka")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    conf: dict[str, str | int | float | bool] = {
        "bootstrap.servers": bootstrap,
        "socket.connection.setup.timeout.ms": 2000,
    }
    # While the broker boots, connection errors are expected: keep them off the terminal.
    return AdminClient(conf, logger=quiet, error_cb=lambda _err: None)


def _broker_listed(admin: AdminClient, port: int, timeout: float) -> bool:
    try:
        metadata = admin.list_topics(timeout=max(timeout, 0.1))
    except KafkaException:
        return False
    return any(broker.port == port for broker in metadata.brokers.values())


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class LocalBroker:
    """A broker process started by :func:`start_broker` (or found by ``status``/``down``)."""

    bootstrap: str
    pid: int
    workdir: Path
    log_path: Path
    startup_seconds: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.bootstrap.rsplit(":", 1)[1])

    def is_alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return _pid_alive(self.pid)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Safe to call twice."""
        if self.process is None:
            stop_pid(self.pid, timeout)
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _format_storage(java: str, lib: Path, home: Path, data_dir: Path, props: Path) -> None:
    command = [
        *_java_base(java, home, data_dir),
        "-Xmx256m",
        "-cp",
        _classpath(lib),
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "--cluster-id",
        _cluster_id(),
        "--config",
        str(props),
    ]
    try:
        result = subprocess.run(
            command, cwd=data_dir, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError(
            "formatting the broker storage took over 120s; is the machine overloaded?"
        ) from exc
    if result.returncode != 0:
        tail = "\n".join(
            f"  | {line}" for line in (result.stdout + result.stderr).strip().splitlines()[-15:]
        )
        raise LocalKafkaError(
            f"kafka.tools.StorageTool format failed (exit code {result.returncode}); if the "
            f"jars in {lib} are damaged, delete that directory to download them again:\n{tail}"
        )


def _launch_once(
    *,
    java: str,
    lib: Path,
    home: Path,
    workdir: Path,
    port: int,
    controller_port: int,
    timeout: float,
    die_with_parent: bool,
    fixed_ports: bool,
) -> LocalBroker:
    started = time.monotonic()
    deadline = started + timeout
    data_dir = Path(tempfile.mkdtemp(prefix="broker-", dir=workdir))
    props = data_dir / "server.properties"
    props.write_text(_server_properties(data_dir, port, controller_port))
    log_path = data_dir / "broker.log"
    _format_storage(java, lib, home, data_dir, props)
    command = [
        *_java_base(java, home, data_dir),
        *BROKER_HEAP,
        "-cp",
        _classpath(lib),
        "kafka.Kafka",
        str(props),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The hook only calls an already resolved prctl(2); it takes no Python locks.
            preexec_fn=_set_pdeathsig_factory() if die_with_parent else None,  # noqa: PLW1509
        )
    bootstrap = f"{HOST}:{port}"
    admin: AdminClient | None = None
    try:
        while True:
            code = proc.poll()
            if code is not None:
                tail = _tail(log_path)
                if _BIND_FAILURE.search(tail):
                    bound = re.search(r"failed to bind to [^\s:]+:(\d+)", tail)
                    ports = bound.group(1) if bound else f"{port} or {controller_port}"
                    what = "requested" if fixed_ports else "picked as free, then taken"
                    raise _BindConflictError(
                        f"port {ports} on {HOST} ({what}) is already in use; stop what "
                        "listens there or let the tool pick free ports. "
                        f"Last lines of {log_path}:\n{tail}"
                    )
                raise LocalKafkaError(
                    f"the Kafka broker exited with code {code} during start-up. "
                    f"Last lines of {log_path}:\n{tail}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LocalKafkaError(
                    f"the Kafka broker did not become ready within {timeout:.0f}s (no "
                    f"AdminClient metadata from {bootstrap}); raise the timeout if the machine "
                    f"is slow. Last lines of {log_path}:\n{_tail(log_path)}"
                )
            if admin is None:
                if _tcp_open(port):
                    admin = _admin(bootstrap)
                else:
                    time.sleep(0.1)
                continue
            if _broker_listed(admin, port, min(remaining, 2.0)):
                break
            time.sleep(0.1)
    except BaseException:
        _kill(proc)
        raise
    return LocalBroker(
        bootstrap=bootstrap,
        pid=proc.pid,
        workdir=data_dir,
        log_path=log_path,
        startup_seconds=time.monotonic() - started,
        process=proc,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def start_broker(
    workdir: Path,
    *,
    port: int | None = None,
    controller_port: int | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    lib: Path | None = None,
    progress: Progress | None = None,
    die_with_parent: bool = True,
) -> LocalBroker:
    """Start a fresh single-node KRaft broker under ``workdir`` and wait until it serves.

    ``port``/``controller_port`` pin the listeners (an error if taken); by default free
    ports are picked, and picked again if the broker loses the race for them.
    ``timeout`` bounds the wait for AdminClient metadata (format and start included).
    ``lib`` skips :func:`ensure_jars`. With ``die_with_parent`` (Linux) the broker is killed
    when the calling thread's process dies, so a crashed test run leaves no JVM behind.
    """
    java = find_java()
    home = kafka_dir() if lib is None else lib.parent
    lib = lib if lib is not None else ensure_jars(progress, home=home)
    workdir.mkdir(parents=True, exist_ok=True)
    fixed = port is not None or controller_port is not None
    attempts = 1 if fixed else PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        broker_port, ctrl_port = _pick_ports(port, controller_port)
        try:
            return _launch_once(
                java=java,
                lib=lib,
                home=home,
                workdir=workdir,
                port=broker_port,
                controller_port=ctrl_port,
                timeout=timeout,
                die_with_parent=die_with_parent,
                fixed_ports=fixed,
            )
        except _BindConflictError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------- pid bookkeeping


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # "pid (comm) STATE ..." -- a zombie has exited even though kill(0) succeeds.
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _pid_runs_broker(pid: int, workdir: Path) -> bool:
    """Whether ``pid`` is still our broker (guards against a recycled pid)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return _pid_alive(pid)  # no /proc: trust the pid file
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in args and any(str(workdir).encode() in arg for arg in args)


def stop_pid(pid: int, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds for it to exit, then SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < kill_deadline:
                time.sleep(0.05)
            return
        time.sleep(0.05)


@dataclass(frozen=True)
class BrokerState:
    """What ``up`` recorded in ``.kafka/``."""

    bootstrap: str
    pid: int
    workdir: Path

    def is_running(self) -> bool:
        return _pid_alive(self.pid) and _pid_runs_broker(self.pid, self.workdir)


def read_state(directory: Path | None = None) -> BrokerState | None:
    """The broker recorded by ``up``, or None when there is no (readable) record."""
    directory = directory or state_dir()
    try:
        bootstrap = (directory / "bootstrap").read_text().strip()
        pid = int((directory / "pid").read_text().strip())
        workdir = Path((directory / "workdir").read_text().strip())
    except (OSError, ValueError):
        return None
    return BrokerState(bootstrap=bootstrap, pid=pid, workdir=workdir)


def running_bootstrap() -> str | None:
    """Bootstrap address of the broker started by ``up`` if it is still running."""
    state = read_state()
    return state.bootstrap if state is not None and state.is_running() else None


def _write_state(directory: Path, broker: LocalBroker) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in (
        ("workdir", str(broker.workdir)),
        ("pid", str(broker.pid)),
        ("bootstrap", broker.bootstrap),
    ):
        tmp = directory / f".{name}.tmp"
        tmp.write_text(value + "\n")
        tmp.replace(directory / name)


def _clear_state(directory: Path, state: BrokerState | None) -> None:
    for name in ("bootstrap", "pid", "workdir"):
        (directory / name).unlink(missing_ok=True)
    if state is not None and state.workdir.parent == directory:
        shutil.rmtree(state.workdir, ignore_errors=True)


# ------------------------------------------------------------------------ command line


def _env_port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise LocalKafkaError(f"{name}={value!r} is not a port number") from None


def _cmd_up(args: argparse.Namespace) -> int:
    directory = state_dir()
    state = read_state(directory)
    if state is not None and state.is_running():
        print(f"broker already running at {state.bootstrap} (pid {state.pid})")
        return 0
    _clear_state(directory, state)
    port = args.port if args.port is not None else _env_port(ENV_PORT)
    controller_port = (
        args.controller_port if args.controller_port is not None else _env_port(ENV_CONTROLLER_PORT)
    )
    broker = start_broker(
        directory,
        port=port,
        controller_port=controller_port,
        timeout=args.timeout,
        progress=_stderr,
        die_with_parent=False,
    )
    _write_state(directory, broker)
    print(f"broker ready at {broker.bootstrap} in {broker.startup_seconds:.1f}s")
    print(f"  pid {broker.pid}, data and log in {broker.workdir}")
    print(f"  export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}   # stop with `make kafka-down`")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    directory = state_dir()
    state = read_state(directory)
    if state is None:
        print(f"no local broker recorded in {directory}; nothing to stop")
        _clear_state(directory, None)
        return 0
    if not state.is_running():
        print(f"recorded broker pid {state.pid} is not running any more; removed the stale record")
        _clear_state(directory, state)
        return 0
    started = time.monotonic()
    stop_pid(state.pid, args.timeout)
    if _pid_alive(state.pid):
        raise LocalKafkaError(f"broker pid {state.pid} survived SIGKILL; check `ps {state.pid}`")
    _clear_state(directory, state)
    print(
        f"stopped broker at {state.bootstrap} (pid {state.pid}) "
        f"in {time.monotonic() - started:.1f}s"
    )
    return 0


def _cmd_status(_args: argparse.Namespace) -> int:
    state = read_state()
    if state is None or not state.is_running():
        print("no local broker running (start one with `make kafka-up`)")
        return 1
    port = int(state.bootstrap.rsplit(":", 1)[1])
    serving = _broker_listed(_admin(state.bootstrap), port, 5.0)
    health = "serving metadata" if serving else "NOT answering metadata requests"
    print(f"broker running at {state.bootstrap} (pid {state.pid}), {health}")
    print(f"  data and log in {state.workdir}")
    return 0 if serving else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cashback.devtools.local_kafka",
        description="Run a single-node Apache Kafka broker (KRaft) on 127.0.0.1 without Docker.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the broker in the background")
    up.add_argument("--port", type=int, help=f"broker port (default: ${ENV_PORT} or a free one)")
    up.add_argument(
        "--controller-port",
        type=int,
        help=f"KRaft controller port (default: ${ENV_CONTROLLER_PORT} or a free one)",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_START_TIMEOUT,
        help="seconds to wait for the broker to serve metadata (default: %(default)s)",
    )
    up.set_defaults(handler=_cmd_up)
    down = commands.add_parser("down", help="stop the broker started by `up`")
    down.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_STOP_TIMEOUT,
        help="seconds between SIGTERM and SIGKILL (default: %(default)s)",
    )
    down.set_defaults(handler=_cmd_down)
    status = commands.add_parser("status", help="is the broker started by `up` running?")
    status.set_defaults(handler=_cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
