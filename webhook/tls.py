"""The server's TLS context, and reloading it from disk without a restart.

Kubernetes updates a mounted Secret by swapping a ``..data`` symlink, which inode watches can miss, so the watcher
polls the *content* of the files. A changed certificate is loaded into the same ``SSLContext``: new handshakes get
it, connections already open keep theirs. A broken or half-written pair is refused and the last good one stays.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509

log = logging.getLogger("webhook.tls")

ReloadHook = Callable[[bool], None]


class CertWatcher:
    """Owns the process's ``SSLContext``. Picklable until first used, so uvicorn can hand it to worker processes."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        client_ca_file: Path | None = None,
        interval: float = 2.0,
    ) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca_file = client_ca_file
        self.interval = interval
        self.reloads = 0
        self.failures = 0
        self.not_after: dt.datetime | None = None
        self.on_reload: list[ReloadHook] = []
        self._context: ssl.SSLContext | None = None
        self._loaded_digest = b""
        self._failed_digest = b""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_context"] = None
        state["on_reload"] = []
        return state

    @property
    def not_after_timestamp(self) -> float | None:
        return self.not_after.timestamp() if self.not_after is not None else None

    @property
    def ready(self) -> bool:
        return self._context is not None

    @property
    def context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = self._new_context()
            self._loaded_digest = self._digest()
            self._load(self._context)
            log.info("serving certificate loaded from %s", self.cert_file)
        return self._context

    def __call__(self, _config: Any = None, _default: Any = None) -> ssl.SSLContext:
        """uvicorn's ``ssl_context_factory`` hook."""
        return self.context

    def _new_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def _load(self, ctx: ssl.SSLContext) -> None:
        ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file is not None:
            ctx.load_verify_locations(cafile=self.client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
        cert = x509.load_pem_x509_certificate(Path(self.cert_file).read_bytes())
        self.not_after = cert.not_valid_after_utc

    def _digest(self) -> bytes:
        h = hashlib.sha256()
        for path in (self.cert_file, self.key_file, self.client_ca_file):
            if path is not None:
                h.update(Path(path).read_bytes())
                h.update(b"\0")
        return h.digest()

    def poll(self) -> bool:
        """Reload if the files' content changed; True if a new certificate is now in use."""
        try:
            digest = self._digest()
        except OSError as exc:
            return self._failed(b"unreadable", exc)
        if digest == self._loaded_digest:
            return False
        try:
            # A fresh context first: a mismatched or half-written pair must not touch the live one.
            self._load(self._new_context())
            self._load(self.context)
        except (OSError, ssl.SSLError, ValueError) as exc:
            return self._failed(digest, exc)
        self._loaded_digest = digest
        self.reloads += 1
        log.info("serving certificate reloaded from %s (expires %s)", self.cert_file, self.not_after)
        for hook in self.on_reload:
            hook(True)
        return True

    def _failed(self, digest: bytes, exc: Exception) -> bool:
        # Count and log each bad version of the files once, not on every poll.
        if digest != self._failed_digest:
            self._failed_digest = digest
            self.failures += 1
            log.error("certificate reload failed, keeping the current certificate: %s", exc)
            for hook in self.on_reload:
                hook(False)
        return False

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.poll()
