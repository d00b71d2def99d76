"""The server's TLS context, and reloading it from disk without a restart.

Kubernetes updates a mounted Secret by swapping a ``..data`` symlink, which inode watches can miss, so the watcher
polls the *content* of the files. A changed certificate is loaded into the same ``SSLContext``: new handshakes get
it, connections already open keep theirs. A broken or half-written pair is refused and the last good one stays.

The files are read once per check and OpenSSL is handed those bytes (through in-memory files: it only takes paths),
so a swap between reads can never put a new certificate and an old key into the live context.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import ssl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography import x509

log = logging.getLogger("webhook.tls")

ReloadHook = Callable[[bool], None]
Files = tuple[bytes, bytes, bytes | None]  # certificate chain, key, client CA


def _digest(files: Files) -> bytes:
    h = hashlib.sha256()
    for data in files:
        h.update(b"-" if data is None else data)
        h.update(b"\0")
    return h.digest()


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can open that holds ``data``: a Linux memfd, elsewhere a private temporary file."""
    if not hasattr(os, "memfd_create"):  # macOS, for local development
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pem"
            path.touch(mode=0o600)
            path.write_bytes(data)
            yield str(path)
        return
    fd = os.memfd_create("webhook-tls", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


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
            files = self._read()
            context = self._new_context()
            self._load(context, files)
            self.not_after = x509.load_pem_x509_certificate(files[0]).not_valid_after_utc
            self._context, self._loaded_digest = context, _digest(files)
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

    def _read(self) -> Files:
        ca = Path(self.client_ca_file).read_bytes() if self.client_ca_file is not None else None
        return Path(self.cert_file).read_bytes(), Path(self.key_file).read_bytes(), ca

    def _load(self, ctx: ssl.SSLContext, files: Files) -> None:
        cert, key, client_ca = files
        with _memory_file(cert) as cert_path, _memory_file(key) as key_path:
            ctx.load_cert_chain(cert_path, key_path)
        if client_ca is not None:
            ctx.load_verify_locations(cadata=client_ca.decode("ascii", "replace"))
            ctx.verify_mode = ssl.CERT_REQUIRED

    def poll(self) -> bool:
        """Reload if the files' content changed; True if a new certificate is now in use."""
        try:
            files = self._read()
        except OSError as exc:
            return self._failed(b"unreadable", exc)
        digest = _digest(files)
        if digest == self._loaded_digest:
            return False
        try:
            # A fresh context first: a mismatched pair must not touch the live one.
            self._load(self._new_context(), files)
            not_after = x509.load_pem_x509_certificate(files[0]).not_valid_after_utc
            self._load(self.context, files)
        except (OSError, ssl.SSLError, ValueError) as exc:
            return self._failed(digest, exc)
        self._loaded_digest, self.not_after = digest, not_after
        log.info("serving certificate reloaded from %s (expires %s)", self.cert_file, self.not_after)
        for hook in self.on_reload:
            hook(True)
        return True

    def _failed(self, digest: bytes, exc: Exception) -> bool:
        # Count and log each bad version of the files once, not on every poll.
        if digest != self._failed_digest:
            self._failed_digest = digest
            log.error("certificate reload failed, keeping the current certificate: %s", exc)
            for hook in self.on_reload:
                hook(False)
        return False

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.poll()
