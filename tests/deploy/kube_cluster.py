"""A real Kubernetes control plane on 127.0.0.1 for the chart's tests, built by
deploy/tools/install.sh: etcd (Debian), kube-apiserver with a token file and RBAC, and on
demand kube-controller-manager, kube-scheduler and kwok (fake nodes; no kubelet, no real
Pod ever runs). Every process binds 127.0.0.1 (or serves nothing) and is stopped by its PID.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

TOOLS_DIR = Path(
    os.environ.get("CASHBACK_TOOLS_DIR") or Path.home() / ".cache" / "cashback-accrual"
)
BIN = TOOLS_DIR / "bin"
CRDS = TOOLS_DIR / "crds"
KWOK_STAGES = TOOLS_DIR / "kwok-stages"
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
ADMIN_TOKEN_NAME = "cashback-admin"
CHART_CRD_FILES = (
    "keda.sh_scaledobjects.yaml",
    "keda.sh_triggerauthentications.yaml",
    "monitoring.coreos.com_servicemonitors.yaml",
    "monitoring.coreos.com_prometheusrules.yaml",
)


class ClusterError(RuntimeError):
    pass


def missing_tools(names: Sequence[str]) -> list[str]:
    return [name for name in names if not (BIN / name).is_file()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: TextIO

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class KubeCluster:
    """One control plane in `workdir`; `kubectl(...)` talks to it with an admin token."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)
    server: str = ""
    kubeconfig: Path = field(init=False)
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.kubeconfig = self.workdir / "kubeconfig"
        self.token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")

    # ------------------------------------------------------------------ processes

    def _spawn(self, name: str, args: Sequence[str]) -> Process:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("w", encoding="utf-8")
        popen = subprocess.Popen(
            [str(BIN / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
        )
        process = Process(name, popen, log_path, log)
        self.processes.append(process)
        return process

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                raise ClusterError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )

    def listening(self) -> dict[str, list[str]]:
        """Every TCP address a process of this cluster listens on, by process name."""
        output = subprocess.run(
            ["ss", "-H", "-ltnp"], check=True, capture_output=True, text=True
        ).stdout
        pids = {str(process.popen.pid): process.name for process in self.processes}
        found: dict[str, list[str]] = {}
        for line in output.splitlines():
            fields = line.split()
            for pid in re.findall(r"pid=(\d+)", line):
                if pid in pids:
                    found.setdefault(pids[pid], []).append(fields[3])
        return found

    def stop(self) -> None:
        """SIGTERM each process by its PID, newest first, each gone before the next (the API
        server shuts down in a second with etcd still there, in ten without); SIGKILL what
        outlives 10 s."""
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.popen.terminate()
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=10)
            process.log.close()
        self.processes.clear()

    # ------------------------------------------------------------------ start

    def start_api_server(self) -> None:
        certs = self.workdir / "certs"
        certs.mkdir()
        sa_key = self.workdir / "sa.key"
        sa_pub = self.workdir / "sa.pub"
        subprocess.run(
            ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)],
            check=True,
            capture_output=True,
        )
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.token},{ADMIN_TOKEN_NAME},1000,"system:masters"\n')

        etcd_client, etcd_peer = free_port(), free_port()
        self._spawn(
            "etcd",
            [
                "--name=cashback-test",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=cashback-test=http://127.0.0.1:{etcd_peer}",
                "--log-level=warn",
                "--quota-backend-bytes=1073741824",
            ],
        )
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={certs}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--anonymous-auth=false",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--event-ttl=10m",
                # A test server: stop at once on SIGTERM.
                "--shutdown-delay-duration=0s",
                "--v=0",
            ],
        )
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {"server": self.server, "insecure-skip-tls-verify": True},
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": self.token}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
                    "current-context": "test",
                }
            )
        )
        wait_until(self._ready, 120, "kube-apiserver /readyz")

    def _ready(self) -> bool:
        self._check_alive()
        # The API server's certificate is self-signed for this run: the token is what matters.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(
            self.server + "/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start_controllers(self) -> None:
        """kube-controller-manager, kube-scheduler and kwok; none of them serves a port."""
        sa_key = self.workdir / "sa.key"
        common = [f"--kubeconfig={self.kubeconfig}", "--bind-address=127.0.0.1", "--secure-port=0"]
        self._spawn(
            "kube-controller-manager",
            [
                *common,
                "--leader-elect=false",
                f"--service-account-private-key-file={sa_key}",
                f"--root-ca-file={self.workdir / 'certs' / 'apiserver.crt'}",
                "--use-service-account-credentials=false",
                # nodelifecycle lifts the not-ready taint once kwok reports a node Ready.
                "--controllers=*,-nodeipam,-cloud-node-lifecycle",
                "--concurrent-statefulset-syncs=5",
                "--v=1",
            ],
        )
        self._spawn("kube-scheduler", [*common, "--leader-elect=false", "--v=1"])
        kwok_config = self.workdir / "kwok.yaml"
        kwok_config.write_text(
            "\n---\n".join(
                path.read_text(encoding="utf-8") for path in sorted(KWOK_STAGES.glob("*.yaml"))
            )
        )
        self._spawn(
            "kwok",
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--config={kwok_config}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--cidr=10.244.0.0/16",
                "--node-ip=127.0.0.1",
                # No kwok server (port forwarding, exec): nothing of it listens anywhere.
                "--server-address=",
                "--node-port=0",
            ],
        )

    # ------------------------------------------------------------------ kubectl

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        self._check_alive()
        result = subprocess.run(
            [str(BIN / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply_crds(self) -> list[str]:
        """The real KEDA and prometheus-operator CRDs of the kinds the chart renders (the
        others, Prometheus and Alertmanager with their huge schemas, only cost start-up
        time); returns the CRD names now served."""
        files = [str(CRDS / name) for name in CHART_CRD_FILES]
        # Server-side: the prometheus-operator CRDs are too large for the annotation that a
        # client-side apply keeps.
        self.kubectl("apply", "--server-side", *(arg for path in files for arg in ("-f", path)))
        self.kubectl("wait", "--for=condition=Established", "--timeout=120s", "crd", "--all")
        return sorted(item["metadata"]["name"] for item in self.get_json("crd")["items"])

    def add_fake_nodes(self, zones: Mapping[str, str]) -> None:
        """Nodes that kwok keeps Ready, `{node name: zone}`."""
        for name, zone in zones.items():
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/zone": zone,
                        "type": "kwok",
                    },
                },
                "status": {
                    "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                    "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                },
            }
            self.kubectl("apply", "-f", "-", stdin=json.dumps(node))


@contextlib.contextmanager
def running_cluster(workdir: Path, *, controllers: bool) -> Iterator[KubeCluster]:
    cluster = KubeCluster(workdir)
    try:
        cluster.start_api_server()
        if controllers:
            cluster.start_controllers()
        yield cluster
    except ClusterError:
        for process in cluster.processes:
            print(f"--- {process.name} log tail ---\n{process.tail()}")
        raise
    finally:
        cluster.stop()
