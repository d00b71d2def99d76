"""``--workers N``: a small supervisor running N uvicorn processes, each with a listening socket of its own.

uvicorn's supervisor hands one shared socket to every worker, and uvloop accepts greedily once woken: connections
that arrive together (the kube-apiserver opens its keep-alive pool at once) all go to one worker and stay there.
Here every worker binds its own ``SO_REUSEPORT`` socket to the same address, so the kernel spreads new connections
over the workers by a hash of their addresses.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.context import SpawnProcess

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from webhook.serve import metrics

log = logging.getLogger("webhook.workers")

# A fresh interpreter per worker: no state (threads, the metrics port, locks) copied from the supervisor.
_spawn = multiprocessing.get_context("spawn")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A worker that dies within QUICK_EXIT_SECONDS of starting, again, is restarted after a delay that doubles up to
# MAX_RESTART_DELAY: a crash loop must not take a core from the workers that still serve.
QUICK_EXIT_SECONDS = 10.0
MAX_RESTART_DELAY = 30.0


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that our other ``SO_REUSEPORT`` sockets may share; not listening yet."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections of a previous run in TIME_WAIT
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)  # the event loop's accept must never block
    return sock


def _url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, telling the supervisor when it has started serving."""

    def __init__(self, config: uvicorn.Config, ready: ctypes.c_bool) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.value = self.started
        # uvicorn says where it listens only when it binds the socket itself.
        log.info("worker %d serving %s", os.getpid(), _url(self.config.host, self.config.port))


def _worker_main(config: uvicorn.Config, ready: ctypes.c_bool) -> None:
    """Entry point of a worker process."""
    config.configure_logging()  # a spawned interpreter starts without the supervisor's logging setup
    # uvicorn drains on SIGTERM/SIGINT, then raises the signal again once its own handlers are gone: the stop was
    # asked for, so end with 0 rather than die by the signal.
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: sys.exit(0))
    try:
        sock = reuseport_socket(config.host, config.port)
    except OSError as exc:
        log.error("cannot bind %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    _Server(config, ready).run(sockets=[sock])


@dataclass(eq=False)  # compared by identity: slots.index()
class _Worker:
    process: SpawnProcess
    # Shared memory the worker sets once it serves; lock-free, so a worker killed at any moment cannot leave a lock
    # held for the supervisor to wait on.
    ready: ctypes.c_bool
    started: float = field(default_factory=time.monotonic)
    # The delay before this slot's next restart if this worker also exits quickly (0: restart at once).
    backoff: float = 0.0


def _describe(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Supervisor:
    """Keeps ``config.workers`` workers running until SIGTERM or SIGINT, then waits for them to drain."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.config = config
        self.slots: list[_Worker | None] = []  # None once a slot's worker has exited for good
        self.stopping = False
        self.restarts: dict[int, tuple[float, float]] = {}  # slot -> (when to start it again, its backoff)

    def run(self) -> int:
        """Serve; returns the process exit code."""
        host, port = self.config.host, self.config.port
        try:
            # Fails fast if something else has the port. Bound but never listening, it receives no connections;
            # kept until the end so that nothing else can take the port between worker restarts.
            guard = reuseport_socket(host, port)
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", host, port, exc)
            return 1
        # Signals wake the loop below through this socket: Python writes each signal's number to it.
        wake_read, wake_write = socket.socketpair()
        wake_write.setblocking(False)
        signal.set_wakeup_fd(wake_write.fileno())
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in STOP_SIGNALS}
        try:
            log.info("serving %s with %d workers, one SO_REUSEPORT socket each", _url(host, port), self.config.workers)
            self.slots = [self._start() for _ in range(self.config.workers)]
            return self._supervise(wake_read)
        finally:
            signal.set_wakeup_fd(-1)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in (guard, wake_read, wake_write):
                sock.close()

    def _start(self, backoff: float = 0.0) -> _Worker:
        ready = _spawn.RawValue(ctypes.c_bool, False)
        process = _spawn.Process(target=_worker_main, args=(self.config, ready), name="webhook-worker")
        process.start()
        return _Worker(process, ready, backoff=backoff)

    def _supervise(self, wake: socket.socket) -> int:
        code = 0
        while (running := [w for w in self.slots if w is not None]) or self.restarts:
            due = min((when for when, _ in self.restarts.values()), default=None)
            timeout = None if due is None else max(0.0, due - time.monotonic())
            woken = wait([wake, *(w.process.sentinel for w in running)], timeout)
            if wake in woken:
                self._on_signals(wake.recv(64))
            if self.stopping:
                self.restarts.clear()
            for slot, (when, backoff) in list(self.restarts.items()):
                if when <= time.monotonic():
                    del self.restarts[slot]
                    self.slots[slot] = self._start(backoff)
            for worker in running:
                if worker.process.sentinel not in woken:
                    continue
                worker.process.join()  # it has exited: reap it for its exit code
                pid, exitcode = worker.process.pid, worker.process.exitcode
                assert pid is not None and exitcode is not None
                worker.process.close()
                metrics.process_exited(pid)  # a killed worker could not drop its live gauges itself
                slot = self.slots.index(worker)
                self.slots[slot] = None
                if self.stopping:
                    continue
                if exitcode > 0 and not worker.ready.value:
                    # It failed before serving (uvicorn's STARTUP_FAILURE, or an exception while loading): every
                    # replacement would fail the same way.
                    log.error("worker %d failed to start (%s): stopping", pid, _describe(exitcode))
                    code = exitcode
                    self._stop(signal.SIGTERM)
                    continue
                quick = time.monotonic() - worker.started < QUICK_EXIT_SECONDS
                delay = worker.backoff if quick else 0.0
                log.warning("worker %d exited unexpectedly (%s): starting another%s", pid, _describe(exitcode),
                            f" in {delay:g}s" if delay else "")
                # The first quick exit is restarted at once, the next ones ever later; a worker that lived long
                # enough resets the slot.
                next_backoff = min(max(2 * delay, 1.0), MAX_RESTART_DELAY) if quick else 0.0
                self.restarts[slot] = (time.monotonic() + delay, next_backoff)
        return code

    def _on_signals(self, numbers: bytes) -> None:
        for number in numbers:
            if number not in STOP_SIGNALS:
                continue
            if not self.stopping:
                log.info("received %s: stopping the workers once their requests are answered",
                         signal.Signals(number).name)
                self._stop(signal.SIGTERM)
            else:
                log.warning("received %s again: killing the workers", signal.Signals(number).name)
                self._stop(signal.SIGKILL)

    def _stop(self, sig: signal.Signals) -> None:
        self.stopping = True
        for worker in self.slots:
            if worker is not None and worker.process.exitcode is None:
                assert worker.process.pid is not None
                os.kill(worker.process.pid, sig)


def run(config: uvicorn.Config) -> int:
    """Serve with ``config.workers`` processes; returns the exit code (0 after SIGTERM or SIGINT)."""
    return Supervisor(config).run()
