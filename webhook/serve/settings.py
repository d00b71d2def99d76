"""Server settings: every ``serve`` option, its environment variable and its checks, declared once.

The environment prefix is ``WEBHOOK_``, not the chart's service name: Kubernetes injects ``<SERVICE>_PORT=tcp://...``
variables for Services in the namespace, which would clash with ``CONNECTIONPOOL_WEBHOOK_PORT``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from webhook.rules import releases
from webhook.rules.enforcement import Enforcement
from webhook.rules.wording import parse_version

ENV_PREFIX = "WEBHOOK_"
MAX_BODY_BYTES = 7 * 1024 * 1024


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 or :: in a container).")
    port: int = Field(8443, ge=1, le=65535, description="HTTPS port.")
    tls_cert: Path | None = Field(
        None, description="Serving certificate (PEM). Without it, self-signed dev certificates are used."
    )
    tls_key: Path | None = Field(None, description="Private key of the serving certificate (PEM).")
    client_ca: Path | None = Field(
        None, description="Require client certificates signed by this CA (PEM), e.g. the kube-apiserver's."
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field("info", description="Log level.")
    log_format: Literal["json", "text"] = Field("json", description="json: one object per line; text: for humans.")
    workers: int = Field(1, ge=1, le=64, description="Worker processes sharing the port.")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Also serve /metrics over plain HTTP on this port, for scrapers."
    )
    tls_reload_interval: float = Field(
        2.0, gt=0, le=3600, description="Seconds between checks of the certificate files for changes."
    )
    keep_alive_timeout: int = Field(
        120, ge=1, le=3600, description="Seconds an idle connection is kept; above the apiserver's 90 s."
    )
    request_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds a client may take to send a request before it is cut off."
    )
    graceful_timeout: int = Field(
        25, ge=0, le=3600, description="Seconds to finish in-flight requests after SIGTERM."
    )
    enforcement: Enforcement = Field(
        Enforcement.DENY,
        description="How /validate delivers a verdict: deny (a Status), warn (allowed with warnings) or dryrun "
        "(allowed, logged and counted). Per namespace, /validate/<mode> overrides it.",
    )
    kubernetes_version: str | None = Field(
        None, description="The cluster's Kubernetes version (e.g. 1.28 or v1.28.7), to word errors as its "
        "apiserver does; none: the newest wording."
    )
    operator_version: str = Field(
        str(releases.DEFAULT), description="The aiven-operator release the cluster runs (e.g. v0.38.0): the rules of "
        "its ConnectionPool CRD apply (a release between two that changed it takes the older one's)."
    )
    cluster_checks: bool = Field(
        False, description="Also check each ConnectionPool against the cluster: the other ConnectionPools (watched) "
        "and the Secrets it names (read by name, metadata only). A cluster that cannot be read never denies."
    )
    kubeconfig: Path | None = Field(
        None, description="kubeconfig file for --cluster-checks (default: $KUBECONFIG, ~/.kube/config, in-cluster)."
    )
    context: str | None = Field(None, description="kubeconfig context for --cluster-checks (default: the current one).")
    cluster_timeout: float = Field(
        1.0, gt=0, le=10, description="Seconds a request may wait for the cluster (a Secret lookup) before its cluster "
        "checks are skipped, with a warning."
    )
    dev_certs_dir: Path = Field(
        Path("certs/dev"), description="Where the self-signed dev certificates are kept when no --tls-cert is given."
    )

    @field_validator("kubernetes_version")
    @classmethod
    def _known_version_shape(cls, value: str | None) -> str | None:
        if value is not None:
            parse_version(value)  # a ValueError names what was expected
        return value

    @field_validator("operator_version")
    @classmethod
    def _known_release(cls, value: str) -> str:
        releases.parse(value)  # a ValueError names what was expected
        return value

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key must be given together")
        return self

    @staticmethod
    def env_name(field: str) -> str:
        return ENV_PREFIX + field.upper()
