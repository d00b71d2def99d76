# syntax=docker/dockerfile:1
# connectionpool-webhook: `docker build -t connectionpool-webhook .`
# Builder: turn the package and its dependencies into wheels and install them into a virtualenv, so the final image
# gets only the installed files: no pip cache, no build tools, no sources.
FROM python:3.12.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY webhook/ webhook/
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && /opt/venv/bin/python -m compileall -q /opt/venv

# Final: the same Python (the virtualenv's interpreter links to it), no compiler, no package manager use.
FROM python:3.12.11-slim-bookworm

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="connectionpool-webhook" \
      org.opencontainers.image.description="Validating and mutating admission webhook for Aiven's ConnectionPool (aiven.io/v1alpha1)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/connectionpool-webhook/connectionpool-webhook" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12.11-slim-bookworm"

# A fixed UID/GID (the chart's runAsUser) so `runAsNonRoot` can be checked without an /etc/passwd lookup.
RUN groupadd --system --gid 65532 webhook \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin webhook

COPY --from=builder /opt/venv /opt/venv

# Read-only root filesystem: bytecode is compiled at build time and never written; listen on all interfaces, not
# loopback; without --tls-cert the self-signed dev certificates go to /tmp (an emptyDir in the chart).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WEBHOOK_HOST=0.0.0.0 \
    WEBHOOK_DEV_CERTS_DIR=/tmp/connectionpool-webhook-certs

USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["connectionpool-webhook", "serve"]
