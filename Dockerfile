# syntax=docker/dockerfile:1
# cashback-accrual worker image: `docker build -t cashback-accrual .` then
# `docker run --read-only cashback-accrual run --bootstrap-servers HOST:9092`.
#
# Stages, least to most often changed: lock export -> Rust dependency fetch -> native wheel
# -> virtualenv from the lock -> runtime. The base images are build arguments; their
# defaults are the official images. Where nothing can be pulled, deploy/image/build.sh
# makes Debian-package equivalents and passes them in (make image).
#
# hadolint rules ignored, and why:
#   DL3008 (pin apt package versions): the bases are Debian stable images; a pinned .deb
#          version vanishes from the mirror at the next point release and breaks the build.
#   DL3013 (pin pip versions): only `uv` is installed by name and it is pinned by UV_VERSION;
#          everything else comes from uv.lock with hashes (hadolint cannot see that).
# hadolint global ignore=DL3008,DL3013

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG RUST_IMAGE=rust:1-slim-bookworm

# ---------------------------------------------------------------- the lock, exported
# uv turns uv.lock into hash-pinned requirement files that plain pip installs.
FROM ${PYTHON_IMAGE} AS lock
ARG UV_VERSION=0.13.8
# Extras to install beside the worker (comma-separated). The faust runtime ships by default
# (`cashback run --runtime faust`); the default runtime never imports it. "" for none.
ARG EXTRAS="faust"
WORKDIR /lock
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A build behind a TLS-intercepting proxy passes its CA bundle as the secret "build-ca";
# it is mounted for the download steps only and never lands in a layer.
RUN --mount=type=secret,id=build-ca,target=/run/secrets/build-ca \
    if [ -s /run/secrets/build-ca ]; then export PIP_CERT=/run/secrets/build-ca; fi \
 && python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}"
COPY pyproject.toml uv.lock ./
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN IFS=, read -ra names <<<"${EXTRAS}"; extras=(); \
    for name in "${names[@]}"; do extras+=(--extra "$name"); done; \
    /opt/uv/bin/uv export --frozen --no-emit-project --no-dev --format requirements-txt \
        --quiet "${extras[@]}" -o runtime.txt \
 && /opt/uv/bin/uv export --frozen --no-emit-project --only-group build \
        --format requirements-txt --quiet -o build.txt

# ---------------------------------------------------------------- Rust crates, fetched
FROM ${RUST_IMAGE} AS native-deps
ENV CARGO_HOME=/cargo CARGO_TERM_COLOR=never
# maturin runs on CPython; the official rust image has none, the local base may.
RUN if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src/native
COPY --from=lock /lock/build.txt /tmp/build.txt
RUN --mount=type=secret,id=build-ca,target=/run/secrets/build-ca \
    if [ -s /run/secrets/build-ca ]; then export PIP_CERT=/run/secrets/build-ca; fi \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install --quiet --no-cache-dir --require-hashes -r /tmp/build.txt
COPY workers/native/Cargo.toml workers/native/Cargo.lock ./
# Only the manifests: the crate downloads stay cached until Cargo.lock changes.
RUN --mount=type=secret,id=build-ca,target=/run/secrets/build-ca \
    if [ -s /run/secrets/build-ca ]; then export CARGO_HTTP_CAINFO=/run/secrets/build-ca; fi \
 && mkdir src && touch src/lib.rs && cargo fetch --locked && rm -r src

# ---------------------------------------------------------------- the native wheel
FROM native-deps AS native
COPY workers/native/ ./
# abi3-py311: the wheel loads on any CPython >= 3.11, whichever base the runtime uses.
RUN --mount=type=cache,target=/src/native/target,id=cashback-native-target \
    /opt/build/bin/maturin build --release --locked --offline --quiet --out /wheels

# ---------------------------------------------------------------- the virtualenv
# Built FROM the runtime's base, so the venv's python path is the runtime's python.
FROM ${PYTHON_IMAGE} AS venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=lock /lock/runtime.txt /lock/build.txt /tmp/
RUN --mount=type=secret,id=build-ca,target=/run/secrets/build-ca \
    if [ -s /run/secrets/build-ca ]; then export PIP_CERT=/run/secrets/build-ca; fi \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install --quiet --require-hashes -r /tmp/build.txt \
 && python3 -m venv /opt/cashback \
 && /opt/cashback/bin/pip install --quiet --require-hashes --only-binary :all: \
        -r /tmp/runtime.txt
COPY --from=native /wheels/ /tmp/wheels/
RUN /opt/cashback/bin/pip install --quiet --no-deps /tmp/wheels/*.whl
WORKDIR /src
COPY pyproject.toml README.md ./
COPY workers/ workers/
# --no-build-isolation: setuptools comes from the lock (build group), not an unpinned fetch.
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation -w /tmp/app . \
 && /opt/cashback/bin/pip install --quiet --no-deps /tmp/app/*.whl \
 && /opt/cashback/bin/pip check \
 && /opt/cashback/bin/pip uninstall --quiet --yes pip \
 && /opt/cashback/bin/python -c 'import cashback_native, cashback.cli.main' \
 && /opt/cashback/bin/cashback --version

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=venv /opt/cashback /opt/cashback
# Fixed ids >= 10000 (never a host user's); the native library must find every shared
# object it links (ldd prints "not found" otherwise). Then the shells, apt and pip go:
# the worker needs none of them, and an attacker gets no tools.
RUN groupadd --gid 10001 cashback \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin cashback \
 && so="$(find /opt/cashback/lib -name 'cashback_native*.so')" && [ -n "$so" ] \
 && ! ldd "$so" | grep 'not found' \
 && /opt/cashback/bin/cashback --version \
 && rm -rf /usr/local/bin/pip* /usr/local/lib/python3*/site-packages/pip \
        /usr/lib/python3/dist-packages/pip /usr/share/python-wheels \
        /usr/bin/apt* /var/lib/apt /var/cache/apt \
        /bin/bash /usr/bin/bash /bin/dash /usr/bin/dash /bin/sh /usr/bin/sh
ENV PATH=/opt/cashback/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp
USER 10001:10001
WORKDIR /tmp
EXPOSE 9400
# cashback is PID 1: it installs its own SIGTERM/SIGINT handlers (finish the batch,
# commit, leave the group, exit 0), so no init is needed. Probes live in the chart.
ENTRYPOINT ["cashback"]
CMD ["run"]
# Last: a new revision changes only these metadata steps, every layer above stays cached.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/cashback-accrual
LABEL org.opencontainers.image.title="cashback-accrual" \
      org.opencontainers.image.description="Kafka stream worker: purchases and refunds in, cashback accruals out, exactly once" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary"
