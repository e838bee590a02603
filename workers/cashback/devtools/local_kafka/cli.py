"""``python -m cashback.devtools.local_kafka up|down|status|kill|start|pause|resume``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final

from cashback.devtools.local_kafka import security
from cashback.devtools.local_kafka.broker import (
    DEFAULT_START_TIMEOUT,
    admin_client,
    broker_listed,
    relaunch,
)
from cashback.devtools.local_kafka.errors import LocalKafkaError, say_stderr
from cashback.devtools.local_kafka.locations import state_dir
from cashback.devtools.local_kafka.pids import (
    DEFAULT_STOP_TIMEOUT,
    kill_pid,
    pid_alive,
    signal_pid,
    stop_pid,
)
from cashback.devtools.local_kafka.properties import read_listeners
from cashback.devtools.local_kafka.state import (
    BrokerState,
    clear_state,
    read_state,
    write_state,
)

ENV_PORT: Final = "CASHBACK_KAFKA_PORT"
ENV_CONTROLLER_PORT: Final = "CASHBACK_KAFKA_CONTROLLER_PORT"


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
    clear_state(directory, state)
    port = args.port if args.port is not None else _env_port(ENV_PORT)
    controller_port = (
        args.controller_port if args.controller_port is not None else _env_port(ENV_CONTROLLER_PORT)
    )
    security.remove_files(directory)
    broker, secured = security.start_secured_broker(
        directory,
        args.security,
        port=port,
        controller_port=controller_port,
        advertised_port=args.advertised_port,
        timeout=args.timeout,
        progress=say_stderr,
        die_with_parent=False,
    )
    write_state(directory, broker)
    print(f"broker ready at {broker.bootstrap} in {broker.startup_seconds:.1f}s")
    if secured is not None:
        security.write_client_files(secured, directory, broker.bootstrap)
        print(f"  {secured.protocol} with SCRAM-SHA-512, ACLs required (deny by default)")
        for name in security.CLIENT_FILES:
            print(f"  {directory / name}")
        print(f"  cashback run --kafka-config {directory / security.WORKER_PROPERTIES} ...")
    if broker.direct_bootstrap != broker.bootstrap:
        print(f"  advertised {broker.bootstrap}; the broker itself at {broker.direct_bootstrap}")
    print(f"  pid {broker.pid}, data and log in {broker.workdir}")
    print(f"  export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}   # stop with `make kafka-down`")
    return 0


def _recorded() -> BrokerState:
    state = read_state(state_dir())
    if state is None:
        raise LocalKafkaError(
            f"no local broker recorded in {state_dir()}; start one with `up` first"
        )
    return state


def _running() -> BrokerState:
    state = _recorded()
    if not state.is_running():
        raise LocalKafkaError(
            f"recorded broker pid {state.pid} is not running; `start` runs it again"
        )
    return state


def _cmd_down(args: argparse.Namespace) -> int:
    directory = state_dir()
    state = read_state(directory)
    if state is None:
        print(f"no local broker recorded in {directory}; nothing to stop")
        clear_state(directory, None)
        return 0
    if not state.is_running():
        print(f"recorded broker pid {state.pid} is not running any more; removed the stale record")
        clear_state(directory, state)
        return 0
    started = time.monotonic()
    signal_pid(state.pid, signal.SIGCONT)  # a paused broker cannot act on SIGTERM
    stop_pid(state.pid, args.timeout)
    if pid_alive(state.pid):
        raise LocalKafkaError(f"broker pid {state.pid} survived SIGKILL; check `ps {state.pid}`")
    clear_state(directory, state)
    security.remove_files(directory)
    print(
        f"stopped broker at {state.bootstrap} (pid {state.pid}) "
        f"in {time.monotonic() - started:.1f}s"
    )
    return 0


def _cmd_kill(_args: argparse.Namespace) -> int:
    state = _running()
    kill_pid(state.pid)
    print(f"killed broker pid {state.pid} (SIGKILL); data kept in {state.workdir}")
    print("  run it again with `start`")
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    state = _recorded()
    if state.is_running():
        print(f"broker already running at {state.bootstrap} (pid {state.pid})")
        return 0
    broker = relaunch(
        state.workdir,
        read_listeners(state.workdir),
        timeout=args.timeout,
        progress=say_stderr,
        client_config=security.admin_client_config(state_dir()),
    )
    write_state(state_dir(), broker)
    print(
        f"broker ready again at {broker.bootstrap} in {broker.startup_seconds:.1f}s "
        f"(pid {broker.pid}, same data and ports)"
    )
    return 0


def _cmd_pause(_args: argparse.Namespace) -> int:
    state = _running()
    signal_pid(state.pid, signal.SIGSTOP)
    print(f"paused broker pid {state.pid} (SIGSTOP); `resume` continues it")
    return 0


def _cmd_resume(_args: argparse.Namespace) -> int:
    state = _running()
    signal_pid(state.pid, signal.SIGCONT)
    print(f"resumed broker pid {state.pid} (SIGCONT)")
    return 0


def _cmd_status(_args: argparse.Namespace) -> int:
    state = read_state()
    if state is None or not state.is_running():
        print("no local broker running (start one with `make kafka-up`)")
        return 1
    ports = read_listeners(state.workdir)
    direct = f"127.0.0.1:{ports.direct_port}"
    admin = admin_client(direct, security.admin_client_config(state_dir()))
    serving = broker_listed(admin, ports.direct_port, 5.0)
    health = "serving metadata" if serving else "NOT answering metadata requests"
    print(f"broker running at {state.bootstrap} (pid {state.pid}), {health}")
    print(f"  data and log in {state.workdir}")
    return 0 if serving else 1


def _timeout(command: argparse.ArgumentParser, default: float, what: str) -> None:
    command.add_argument(
        "--timeout", type=float, default=default, help=f"{what} (default: %(default)s)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cashback.devtools.local_kafka",
        description="Run a single-node Apache Kafka broker (KRaft) on 127.0.0.1 without Docker.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a fresh broker in the background")
    up.add_argument("--port", type=int, help=f"broker port (default: ${ENV_PORT} or a free one)")
    up.add_argument(
        "--controller-port",
        type=int,
        help=f"KRaft controller port (default: ${ENV_CONTROLLER_PORT} or a free one)",
    )
    up.add_argument(
        "--advertised-port",
        type=int,
        help="port clients are told to use (a fault proxy forwarding to --port); the broker "
        "then also listens on a free internal port for its own traffic",
    )
    up.add_argument(
        "--security",
        choices=security.MODES,
        default=security.PLAINTEXT,
        help="sasl_plaintext / sasl_ssl: SCRAM users, ACLs required, TLS for sasl_ssl; "
        "writes worker.properties and admin.properties next to bootstrap (default: %(default)s)",
    )
    _timeout(up, DEFAULT_START_TIMEOUT, "seconds to wait for the broker to serve metadata")
    up.set_defaults(handler=_cmd_up)
    down = commands.add_parser("down", help="stop the broker started by `up`, drop its data")
    _timeout(down, DEFAULT_STOP_TIMEOUT, "seconds between SIGTERM and SIGKILL")
    down.set_defaults(handler=_cmd_down)
    status = commands.add_parser("status", help="is the broker started by `up` running?")
    status.set_defaults(handler=_cmd_status)
    kill = commands.add_parser("kill", help="SIGKILL the broker (a crash); data is kept")
    kill.set_defaults(handler=_cmd_kill)
    start = commands.add_parser("start", help="run the recorded broker again: same data, ports")
    _timeout(start, DEFAULT_START_TIMEOUT, "seconds to wait for the broker to serve metadata")
    start.set_defaults(handler=_cmd_start)
    pause = commands.add_parser("pause", help="SIGSTOP the broker (it answers nothing)")
    pause.set_defaults(handler=_cmd_pause)
    resume = commands.add_parser("resume", help="SIGCONT a paused broker")
    resume.set_defaults(handler=_cmd_resume)
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
