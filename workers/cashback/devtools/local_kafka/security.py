"""A secured local broker: SCRAM-SHA-512 users, TLS, StandardAuthorizer, deny by default.

``up --security sasl_ssl`` (or ``sasl_plaintext``) starts the node with:

- client listener: SASL_SSL (or SASL_PLAINTEXT) with SCRAM-SHA-512; the users ``admin``
  (a super user) and ``cashback`` (the worker, no ACLs at all until an operator adds them)
  are created at format time (``StorageTool format --add-scram``), so no credential is
  ever in clear in the metadata log;
- controller listener: SASL (PLAIN, the KRaft controller cannot use SCRAM: its users live
  in the metadata the controller serves) with the same admin user, TLS too in sasl_ssl;
- ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``: nothing is allowed
  without an ACL, except to ``User:admin``.

Passwords are drawn at run time (``secrets``) and certificates made at run time with
``openssl`` (an EC P-256 CA and a broker certificate for 127.0.0.1, valid 2 days): nothing
secret is in the repository. What clients need is written next to the state files as
librdkafka properties: ``worker.properties`` and ``admin.properties`` (mode 0600), which
``cashback run --kafka-config`` reads.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cashback.devtools.local_kafka.broker import LocalBroker, start_broker
from cashback.devtools.local_kafka.errors import LocalKafkaError
from cashback.devtools.local_kafka.locations import HOST

PLAINTEXT: Final = "plaintext"
SASL_PLAINTEXT: Final = "sasl_plaintext"
SASL_SSL: Final = "sasl_ssl"
MODES: Final = (PLAINTEXT, SASL_PLAINTEXT, SASL_SSL)
MECHANISM: Final = "SCRAM-SHA-512"
ADMIN: Final = "admin"
WORKER: Final = "cashback"
WORKER_PROPERTIES: Final = "worker.properties"
ADMIN_PROPERTIES: Final = "admin.properties"
# The same admin for Kafka's Java tools (kafka-acls.sh --command-config): other keys.
ADMIN_TOOL_PROPERTIES: Final = "admin-java.properties"
CLIENT_FILES: Final = (WORKER_PROPERTIES, ADMIN_PROPERTIES, ADMIN_TOOL_PROPERTIES)
CA_NAME: Final = "ca.pem"
KEYSTORE_NAME: Final = "broker.p12"
CERT_DAYS: Final = "2"
AUTHORIZER: Final = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
_PLAIN_MODULE: Final = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM_MODULE: Final = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class User:
    name: str
    password: str

    def __repr__(self) -> str:  # never a password in a traceback or a log line
        return f"User(name={self.name!r}, password='***')"


@dataclass(frozen=True)
class BrokerSecurity:
    """One secured node's credentials and files (``tls_dir`` None: no TLS)."""

    mode: str
    admin: User
    worker: User
    tls_dir: Path | None = None
    keystore_password: str = ""

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.tls_dir is not None else "SASL_PLAINTEXT"

    @property
    def ca_path(self) -> Path | None:
        return self.tls_dir / CA_NAME if self.tls_dir is not None else None


def _password() -> str:
    # URL-safe: no character that the --add-scram syntax or a JAAS string would need quoted.
    return secrets.token_urlsafe(24)


def prepare(mode: str, directory: Path) -> BrokerSecurity | None:
    """New credentials (and certificates for sasl_ssl) under ``directory``; None when plain."""
    if mode not in MODES:
        raise LocalKafkaError(f"--security must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == PLAINTEXT:
        return None
    admin, worker = User(ADMIN, _password()), User(WORKER, _password())
    if mode == SASL_PLAINTEXT:
        return BrokerSecurity(mode, admin, worker)
    tls_dir = directory / "tls"
    keystore_password = _password()
    make_certificates(tls_dir, keystore_password)
    return BrokerSecurity(mode, admin, worker, tls_dir, keystore_password)


def make_certificates(tls_dir: Path, keystore_password: str) -> None:
    """A CA and a broker certificate for 127.0.0.1/localhost, the broker's in a PKCS12."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LocalKafkaError(
            "the sasl_ssl broker makes its certificates with `openssl`, which is not on "
            "PATH: install it (e.g. `apt-get install openssl`)"
        )
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    ca_key, ca_pem = tls_dir / "ca.key", tls_dir / CA_NAME
    key, csr, pem = tls_dir / "broker.key", tls_dir / "broker.csr", tls_dir / "broker.pem"
    ext = tls_dir / "broker.ext"
    ext.write_text(f"subjectAltName=IP:{HOST},DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca_pem, "-days", CERT_DAYS,
         "-subj", "/CN=cashback local test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={HOST}"],
        ["x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
         "-out", pem, "-days", CERT_DAYS, "-extfile", ext],
        ["pkcs12", "-export", "-in", pem, "-inkey", key, "-certfile", ca_pem,
         "-name", "broker", "-out", tls_dir / KEYSTORE_NAME,
         "-passout", "env:CASHBACK_KEYSTORE_PASSWORD"],
    ]  # fmt: skip
    env = {**os.environ, "CASHBACK_KEYSTORE_PASSWORD": keystore_password}
    for step in steps:
        result = subprocess.run(
            [openssl, *map(str, step)], capture_output=True, text=True, env=env, check=False
        )
        if result.returncode != 0:
            raise LocalKafkaError(
                f"openssl {step[0]} failed making the test certificates: "
                f"{result.stderr.strip()[-400:]}"
            )
    for secret in (ca_key, key):
        os.chmod(secret, 0o600)


def _jaas(module: str, user: User, *, plain_users: bool = False) -> str:
    extra = f' user_{user.name}="{user.password}"' if plain_users else ""
    return f'{module} required username="{user.name}" password="{user.password}"{extra};'


def server_overlay(security: BrokerSecurity, *, internal: bool = False) -> dict[str, str]:
    """server.properties keys for a secured node (``properties.server_settings`` overlay).

    The listener names stay those of the plain node (PLAINTEXT, and INTERNAL behind a
    fault proxy), so restarts read the same ports back; only their protocol changes.
    Every client-facing listener gets SCRAM, the CONTROLLER listener PLAIN.
    """
    protocol = security.protocol
    listener_names = ["PLAINTEXT", *(["INTERNAL"] if internal else [])]
    names = [*listener_names, "CONTROLLER"]
    settings = {
        "listener.security.protocol.map": ",".join(f"{name}:{protocol}" for name in names),
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": _jaas(
            _PLAIN_MODULE, security.admin, plain_users=True
        ),
        "authorizer.class.name": AUTHORIZER,
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN}",
    }
    for name in listener_names:
        key = f"listener.name.{name.lower()}.{MECHANISM.lower()}.sasl.jaas.config"
        settings[key] = _jaas(_SCRAM_MODULE, security.admin)
    if security.tls_dir is not None:
        settings.update(
            {
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.location": str(security.tls_dir / KEYSTORE_NAME),
                "ssl.keystore.password": security.keystore_password,
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(security.tls_dir / CA_NAME),
                "ssl.endpoint.identification.algorithm": "https",
            }
        )
    return settings


def format_arguments(security: BrokerSecurity) -> list[str]:
    """``StorageTool format`` arguments creating both SCRAM users in the first metadata."""
    return [
        arg
        for user in (security.admin, security.worker)
        for arg in ("--add-scram", f"{MECHANISM}=[name={user.name},password={user.password}]")
    ]


def client_properties(security: BrokerSecurity, user: User, bootstrap: str) -> dict[str, str]:
    """librdkafka properties for ``user`` (what ``--kafka-config`` reads)."""
    props = {
        "bootstrap.servers": bootstrap,
        "security.protocol": security.protocol,
        "sasl.mechanism": MECHANISM,
        "sasl.username": user.name,
        "sasl.password": user.password,
    }
    if security.ca_path is not None:
        props["ssl.ca.location"] = str(security.ca_path)
    return props


def _write_private(path: Path, title: str, props: dict[str, str]) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"# {title} (local test broker; generated, secret)\n")
        handle.writelines(f"{key}={value}\n" for key, value in props.items())


def write_client_files(security: BrokerSecurity, directory: Path, bootstrap: str) -> None:
    """``worker.properties``, ``admin.properties`` (librdkafka) and
    ``admin-java.properties`` (Kafka's tools) in ``directory``, readable by us only."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, user in ((WORKER_PROPERTIES, security.worker), (ADMIN_PROPERTIES, security.admin)):
        props = client_properties(security, user, bootstrap)
        _write_private(directory / name, f"librdkafka properties for User:{user.name}", props)
    tool = java_admin_properties(security, bootstrap)
    _write_private(directory / ADMIN_TOOL_PROPERTIES, f"Java client for User:{ADMIN}", tool)


def read_properties(path: Path) -> dict[str, str]:
    """A properties file as written above ({} when there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            found[key.strip()] = value.strip()
    return found


def admin_client_config(directory: Path) -> dict[str, str]:
    """What the readiness check needs to reach a secured node recorded in ``directory``
    (its admin.properties without the bootstrap); {} for a plain node."""
    found = read_properties(directory / ADMIN_PROPERTIES)
    found.pop("bootstrap.servers", None)
    return found


def remove_files(directory: Path) -> None:
    """The client files and certificates a secured ``up`` wrote (``down``)."""
    for name in CLIENT_FILES:
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / "tls", ignore_errors=True)


def java_admin_properties(security: BrokerSecurity, bootstrap: str) -> dict[str, str]:
    """The same admin credentials for Kafka's own Java tools (kafka-acls.sh and friends)."""
    props = {
        "bootstrap.servers": bootstrap,
        "security.protocol": security.protocol,
        "sasl.mechanism": MECHANISM,
        "sasl.jaas.config": _jaas(_SCRAM_MODULE, security.admin),
    }
    if security.ca_path is not None:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = str(security.ca_path)
    return props


def readiness_config(security: BrokerSecurity) -> dict[str, str]:
    """The admin's librdkafka properties, for ``start_broker(client_config=...)``."""
    found = client_properties(security, security.admin, "")
    found.pop("bootstrap.servers")
    return found


def start_secured_broker(
    workdir: Path, mode: str, **options: Any
) -> tuple[LocalBroker, BrokerSecurity | None]:
    """``start_broker`` in a security mode: credentials and certificates under
    ``workdir``; returns the broker and its security (None for plaintext)."""
    security = prepare(mode, workdir)
    if security is None:
        return start_broker(workdir, **options), None
    broker = start_broker(
        workdir,
        overlay=server_overlay(security, internal=options.get("advertised_port") is not None),
        format_args=format_arguments(security),
        client_config=readiness_config(security),
        **options,
    )
    return broker, security
