"""Start, restart, kill, pause and resume one broker process, and wait until it serves."""

from __future__ import annotations

import ctypes
import logging
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from cashback.devtools.local_kafka.errors import (
    BindConflictError,
    LocalKafkaError,
    Progress,
    tail,
)
from cashback.devtools.local_kafka.locations import HOST, kafka_dir
from cashback.devtools.local_kafka.pids import (
    DEFAULT_STOP_TIMEOUT,
    kill_pid,
    pid_alive,
    signal_pid,
    stop_pid,
)
from cashback.devtools.local_kafka.ports import free_port, pick_ports
from cashback.devtools.local_kafka.properties import (
    PROPERTIES_NAME,
    Listeners,
    cluster_id,
    write_server_properties,
)
from cashback.devtools.local_kafka.toolchain import ensure_jars, find_java

DEFAULT_START_TIMEOUT: Final = 60.0
BROKER_HEAP: Final = ("-Xms256m", "-Xmx768m")
PORT_ATTEMPTS: Final = 3
LOG_NAME: Final = "broker.log"
_BIND_FAILURE = re.compile(r"Address already in use|failed to bind", re.IGNORECASE)
_PR_SET_PDEATHSIG: Final = 1


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


def admin_client(bootstrap: str, extra: Mapping[str, str] | None = None) -> AdminClient:
    quiet = logging.getLogger("cashback.devtools.local_kafka.librdkafka")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    conf: dict[str, str | int | float | bool] = {
        "bootstrap.servers": bootstrap,
        "socket.connection.setup.timeout.ms": 2000,
        **(extra or {}),
    }
    # While the broker boots, connection errors are expected: keep them off the terminal.
    return AdminClient(conf, logger=quiet, error_cb=lambda _err: None)


def broker_listed(admin: AdminClient, port: int, timeout: float) -> bool:
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


@dataclass(frozen=True)
class _Runtime:
    """What it takes to run the node's JVM again on the same data directory."""

    java: str
    lib: Path
    home: Path
    die_with_parent: bool
    # librdkafka properties the readiness check needs (a secured node's admin credentials).
    client_config: Mapping[str, str] = field(default_factory=dict)


@dataclass
class LocalBroker:
    """A broker process started by :func:`start_broker` (or found by ``status``/``down``).

    ``bootstrap`` is what clients use (the advertised address: a fault proxy's when one
    was asked for); ``direct_bootstrap`` always reaches the broker itself.
    """

    bootstrap: str
    pid: int
    workdir: Path
    log_path: Path
    startup_seconds: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    listeners: Listeners | None = None
    runtime: _Runtime | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.bootstrap.rsplit(":", 1)[1])

    @property
    def direct_bootstrap(self) -> str:
        if self.listeners is None:
            return self.bootstrap
        return f"{HOST}:{self.listeners.direct_port}"

    def is_alive(self) -> bool:
        if self.pid <= 0:
            return False  # never started (kill(-1, 0) would address every process)
        if self.process is not None:
            return self.process.poll() is None
        return pid_alive(self.pid)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Safe to call twice."""
        if self.process is None:
            stop_pid(self.pid, timeout)
            return
        if self.process.poll() is None:
            signal_pid(self.pid, signal.SIGCONT)  # a paused JVM cannot handle SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL (a crash): the data directory is kept for :meth:`restart`."""
        kill_pid(self.pid)
        if self.process is not None:
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the process holds its sockets but answers nothing."""
        signal_pid(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        signal_pid(self.pid, signal.SIGCONT)

    def restart(self, timeout: float = DEFAULT_START_TIMEOUT) -> float:
        """Start the node again on the same data directory and ports (after :meth:`kill`
        or :meth:`stop`); returns the seconds until it served metadata."""
        if self.is_alive():
            raise LocalKafkaError(f"broker pid {self.pid} is still running; stop or kill it")
        if self.runtime is None or self.listeners is None:
            raise LocalKafkaError("this broker was not started here; use `start` instead")
        started = time.monotonic()
        proc = _spawn(self.runtime, self.workdir, self.log_path, append=True)
        _await_ready(
            proc,
            self.log_path,
            self.listeners,
            started + timeout,
            timeout,
            fixed=True,
            client_config=self.runtime.client_config,
        )
        self.process = proc
        self.pid = proc.pid
        return time.monotonic() - started

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _format_storage(
    runtime: _Runtime, data_dir: Path, props: Path, extra: Sequence[str] = ()
) -> None:
    command = [
        *_java_base(runtime.java, runtime.home, data_dir),
        "-Xmx256m",
        "-cp",
        _classpath(runtime.lib),
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "--cluster-id",
        cluster_id(),
        "--config",
        str(props),
        *extra,
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
        lines = (result.stdout + result.stderr).strip().splitlines()[-15:]
        quoted = "\n".join(f"  | {line}" for line in lines)
        raise LocalKafkaError(
            f"kafka.tools.StorageTool format failed (exit code {result.returncode}); if the "
            f"jars in {runtime.lib} are damaged, delete that directory to download them "
            f"again:\n{quoted}"
        )


def _spawn(
    runtime: _Runtime, data_dir: Path, log_path: Path, *, append: bool
) -> subprocess.Popen[bytes]:
    command = [
        *_java_base(runtime.java, runtime.home, data_dir),
        *BROKER_HEAP,
        "-cp",
        _classpath(runtime.lib),
        "kafka.Kafka",
        str(data_dir / PROPERTIES_NAME),
    ]
    with log_path.open("ab" if append else "wb") as log:
        return subprocess.Popen(
            command,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The hook only calls an already resolved prctl(2); it takes no Python locks.
            preexec_fn=_set_pdeathsig_factory() if runtime.die_with_parent else None,  # noqa: PLW1509
        )


def _await_ready(
    proc: subprocess.Popen[bytes],
    log_path: Path,
    ports: Listeners,
    deadline: float,
    timeout: float,
    *,
    fixed: bool,
    client_config: Mapping[str, str] | None = None,
) -> None:
    """Until an AdminClient on the direct listener lists the broker; kills it on failure."""
    bootstrap = f"{HOST}:{ports.direct_port}"
    admin: AdminClient | None = None
    try:
        while True:
            code = proc.poll()
            if code is not None:
                text = tail(log_path)
                if _BIND_FAILURE.search(text):
                    bound = re.search(r"failed to bind to [^\s:]+:(\d+)", text)
                    which = bound.group(1) if bound else f"{ports.port} or {ports.controller_port}"
                    what = "requested" if fixed else "picked as free, then taken"
                    raise BindConflictError(
                        f"port {which} on {HOST} ({what}) is already in use; stop what "
                        "listens there or let the tool pick free ports. "
                        f"Last lines of {log_path}:\n{text}"
                    )
                raise LocalKafkaError(
                    f"the Kafka broker exited with code {code} during start-up. "
                    f"Last lines of {log_path}:\n{text}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LocalKafkaError(
                    f"the Kafka broker did not become ready within {timeout:.0f}s (no "
                    f"AdminClient metadata from {bootstrap}); raise the timeout if the machine "
                    f"is slow. Last lines of {log_path}:\n{tail(log_path)}"
                )
            if admin is None:
                if _tcp_open(ports.direct_port):
                    admin = admin_client(bootstrap, client_config)
                else:
                    time.sleep(0.1)
                continue
            if broker_listed(admin, ports.direct_port, min(remaining, 2.0)):
                return
            time.sleep(0.1)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise


def _launch_once(
    runtime: _Runtime,
    workdir: Path,
    ports: Listeners,
    timeout: float,
    *,
    fixed_ports: bool,
    overlay: Mapping[str, str] | None,
    format_args: Sequence[str] = (),
) -> LocalBroker:
    started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="broker-", dir=workdir))
    props = write_server_properties(data_dir, ports, overlay)
    log_path = data_dir / LOG_NAME
    _format_storage(runtime, data_dir, props, format_args)
    proc = _spawn(runtime, data_dir, log_path, append=False)
    _await_ready(
        proc,
        log_path,
        ports,
        started + timeout,
        timeout,
        fixed=fixed_ports,
        client_config=runtime.client_config,
    )
    return LocalBroker(
        bootstrap=f"{HOST}:{ports.client_port}",
        pid=proc.pid,
        workdir=data_dir,
        log_path=log_path,
        startup_seconds=time.monotonic() - started,
        process=proc,
        listeners=ports,
        runtime=runtime,
    )


def start_broker(
    workdir: Path,
    *,
    port: int | None = None,
    controller_port: int | None = None,
    advertised_port: int | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    lib: Path | None = None,
    progress: Progress | None = None,
    die_with_parent: bool = True,
    overlay: Mapping[str, str] | None = None,
    format_args: Sequence[str] = (),
    client_config: Mapping[str, str] | None = None,
) -> LocalBroker:
    """Start a fresh single-node KRaft broker under ``workdir`` and wait until it serves.

    ``port``/``controller_port`` pin the listeners (an error if taken); by default free
    ports are picked, and picked again if the broker loses the race for them.
    ``advertised_port`` makes the broker tell clients to connect there (a fault proxy that
    forwards to ``port``); the broker then also listens on an internal port of its own.
    ``timeout`` bounds the wait for AdminClient metadata (format and start included).
    ``lib`` skips :func:`ensure_jars`. With ``die_with_parent`` (Linux) the broker is killed
    when the calling thread's process dies, so a crashed test run leaves no JVM behind.
    ``overlay`` adds or replaces server.properties keys (a broker mode's settings),
    ``format_args`` go to ``StorageTool format`` (SCRAM users), ``client_config`` to the
    AdminClient that waits for the node (credentials); see ``security``.
    """
    java = find_java()
    home = kafka_dir() if lib is None else lib.parent
    lib = lib if lib is not None else ensure_jars(progress, home=home)
    runtime = _Runtime(
        java=java,
        lib=lib,
        home=home,
        die_with_parent=die_with_parent,
        client_config=dict(client_config or {}),
    )
    workdir.mkdir(parents=True, exist_ok=True)
    fixed = port is not None or controller_port is not None
    attempts = 1 if fixed else PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        broker_port, ctrl_port = pick_ports(port, controller_port)
        internal = None
        if advertised_port is not None:
            internal = free_port()
            while internal in (broker_port, ctrl_port, advertised_port):
                internal = free_port()
        ports = Listeners(broker_port, ctrl_port, advertised_port, internal)
        try:
            return _launch_once(
                runtime,
                workdir,
                ports,
                timeout,
                fixed_ports=fixed,
                overlay=overlay,
                format_args=format_args,
            )
        except BindConflictError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def relaunch(
    data_dir: Path,
    ports: Listeners,
    *,
    timeout: float = DEFAULT_START_TIMEOUT,
    progress: Progress | None = None,
    client_config: Mapping[str, str] | None = None,
) -> LocalBroker:
    """Run the node again on an existing data directory (``start`` after ``kill``)."""
    java = find_java()
    home = kafka_dir()
    runtime = _Runtime(
        java,
        ensure_jars(progress, home=home),
        home,
        die_with_parent=False,
        client_config=dict(client_config or {}),
    )
    broker = LocalBroker(
        bootstrap=f"{HOST}:{ports.client_port}",
        pid=-1,
        workdir=data_dir,
        log_path=data_dir / LOG_NAME,
        listeners=ports,
        runtime=runtime,
    )
    broker.startup_seconds = broker.restart(timeout)
    return broker
