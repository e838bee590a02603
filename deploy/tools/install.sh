#!/usr/bin/env bash
# Installs what `make test-deploy` needs, each piece only when it is missing, into
# ${CASHBACK_TOOLS_DIR:-$HOME/.cache/cashback-accrual} (binaries in bin/, schemas and CRDs
# beside them), never into the work tree:
#   helm, kubeconform, kwok          go install from the Go module proxy, pinned versions
#   kube-apiserver, -controller-manager, -scheduler, kubectl
#                                    one `go build` of deploy/tools/kube (go.mod/go.sum pinned)
#   etcd                             Debian's etcd-server (apt)
#   schemas/                         offline JSON schemas for kubeconform: Kubernetes' from
#                                    kubernetes-validate (PyPI), KEDA's and prometheus-operator's
#                                    from their CRDs (Go modules); crds/ keeps the CRD YAML
# Usage: deploy/tools/install.sh PYTHON   (a Python with PyYAML: the project's .venv)
set -euo pipefail

PYTHON=${1:-python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS_DIR=${CASHBACK_TOOLS_DIR:-$HOME/.cache/cashback-accrual}
BIN=$TOOLS_DIR/bin

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
KWOK_VERSION=v0.8.0
KEDA_VERSION=v2.21.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# The Kubernetes minor the API server is built at (deploy/tools/kube/go.mod); kubeconform
# validates against the same one.
KUBERNETES_SCHEMA_VERSION=1.35

mkdir -p "$BIN"
export GOFLAGS=-mod=mod

say() { echo "deploy-tools: $*" >&2; }

go_install() { # binary module/cmd@version
	if [[ -x $BIN/$1 ]]; then return; fi
	say "building $1 ($2)"
	local start=$SECONDS
	GOBIN=$BIN go install -trimpath -ldflags='-s -w' "$2"
	say "$1 built in $((SECONDS - start)) s"
}

go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
go_install kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
go_install kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"

# The control plane: one go build for all four shares their compile work.
kube_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
missing=0
for name in "${kube_bins[@]}"; do [[ -x $BIN/$name ]] || missing=1; done
if ((missing)); then
	say "building ${kube_bins[*]} from deploy/tools/kube (a few minutes, ~2.5 GB of memory)"
	start=$SECONDS
	(cd "$HERE/kube" && go build -trimpath -ldflags='-s -w' -o "$BIN/" \
		$(printf 'k8s.io/kubernetes/cmd/%s ' "${kube_bins[@]}"))
	say "control plane built in $((SECONDS - start)) s"
fi

if [[ ! -x $BIN/etcd ]]; then
	if ! command -v etcd >/dev/null; then
		say "installing Debian's etcd-server"
		if [[ $(id -u) -ne 0 ]]; then
			say "etcd is missing and apt-get needs root: run 'apt-get install -y etcd-server'"
			exit 1
		fi
		# Only the binary is used: the tests start their own etcd on 127.0.0.1 and a free port.
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends etcd-server >/dev/null ||
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends etcd-server >/dev/null; }
	fi
	ln -sf "$(command -v etcd)" "$BIN/etcd"
fi

# kwok's stage configs (fake node heartbeats, pods going Ready) ship in its module.
if [[ ! -d $TOOLS_DIR/kwok-stages ]]; then
	dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	mkdir -p "$TOOLS_DIR/kwok-stages.tmp"
	cp "$dir"/kustomize/stage/node/fast/node-initialize.yaml \
		"$dir"/kustomize/stage/node/heartbeat/node-heartbeat.yaml \
		"$dir"/kustomize/stage/pod/fast/pod-{ready,complete,delete}.yaml "$TOOLS_DIR/kwok-stages.tmp/"
	mv "$TOOLS_DIR/kwok-stages.tmp" "$TOOLS_DIR/kwok-stages"
fi

# CRDs (applied to the API server) and offline schemas (for kubeconform).
if [[ ! -f $TOOLS_DIR/schemas/.complete ]]; then
	say "preparing offline schemas (Kubernetes $KUBERNETES_SCHEMA_VERSION, KEDA $KEDA_VERSION, prometheus-operator $PROMETHEUS_OPERATOR_VERSION)"
	rm -rf "$TOOLS_DIR/schemas" "$TOOLS_DIR/crds" "$TOOLS_DIR/kubernetes-validate"
	mkdir -p "$TOOLS_DIR/crds"
	keda=$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	promop=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	cp "$keda"/config/crd/bases/keda.sh_*.yaml "$TOOLS_DIR/crds/"
	cp "$promop"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$TOOLS_DIR/crds/"
	chmod u+w "$TOOLS_DIR"/crds/*.yaml
	"$PYTHON" -m pip install -q --no-deps --target "$TOOLS_DIR/kubernetes-validate" \
		"kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
	"$PYTHON" "$HERE/offline_schemas.py" \
		--kubernetes-validate "$TOOLS_DIR/kubernetes-validate" \
		--kubernetes-version "$KUBERNETES_SCHEMA_VERSION" \
		--crds "$TOOLS_DIR/crds" --out "$TOOLS_DIR/schemas"
	rm -rf "$TOOLS_DIR/kubernetes-validate" # every version's schemas; one is kept
	touch "$TOOLS_DIR/schemas/.complete"
fi
say "tools ready in $BIN"
