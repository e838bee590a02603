"""Listening ports on 127.0.0.1: pick free ones, or check that the requested ones are."""

from __future__ import annotations

import socket

from cashback.devtools.local_kafka.errors import LocalKafkaError
from cashback.devtools.local_kafka.locations import HOST


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the JVM's server sockets, so TIME_WAIT leftovers do not count as taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def pick_ports(port: int | None, controller_port: int | None) -> tuple[int, int]:
    for value, what in ((port, "--port"), (controller_port, "--controller-port")):
        if value is not None and not port_is_free(value):
            raise LocalKafkaError(
                f"port {value} on {HOST} (requested with {what}) is already in use; stop what "
                "listens there or leave the port unset to pick a free one"
            )
    broker = port if port is not None else free_port()
    controller = controller_port if controller_port is not None else free_port()
    while controller == broker:
        if controller_port is not None and port is not None:
            raise LocalKafkaError("--port and --controller-port must differ")
        if controller_port is None:
            controller = free_port()
        else:
            broker = free_port()
    return broker, controller
