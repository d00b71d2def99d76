"""``make bench-cluster``: what the server's view of the cluster (``serve --cluster-checks``) costs.

Against the suite's stand-in apiserver (tests/support/fake_apiserver.py, real TLS on loopback, run in a child
process so that its objects are not counted), with ConnectionPools shaped like ones a real apiserver stores
(managedFields and all):

- the list: how long the view takes to list N pools in pages of 500 and be synced;
- the memory the view keeps for them: retained by Python allocations (tracemalloc, after a collection; measured in a
  second run, since tracemalloc slows allocation) and the growth of the process's resident set;
- freshness: from a change made at the apiserver to the view answering with it;
- Secret lookups: one Secret's metadata read through the view (``view.secret``), and what a lookup adds to an
  admission answer: the same CREATE to a server with ``--cluster-checks`` (one lookup each) and without.

Figures are printed; nothing is asserted (a shared 2-core machine is too noisy for that).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import SERVICE_NAME, https  # noqa: E402
from tests.support.fake_apiserver import FakeApiserver, stored  # noqa: E402
from tests.support.https import free_port  # noqa: E402
from tests.support.reviews import pool, review  # noqa: E402
from webhook import certs  # noqa: E402
from webhook.serve.clusterview import ClusterView  # noqa: E402

TEAMS = 200  # namespaces; each pool its own name, its team's service


def pools(count: int) -> Iterator[dict[str, Any]]:
    template = json.dumps(stored("template", "team-0"))
    for i in range(count):
        obj = json.loads(template)
        team = i % TEAMS
        obj["metadata"].update(name=f"pool-{i:06d}", namespace=f"team-{team}", uid=f"4c6f6e67-{i:012d}")
        obj["spec"]["serviceName"] = f"pg-{team}"
        yield obj


# --- the stand-in apiserver, in a child process ---------------------------------------------------------------------

def serve_fake(count: int, cert_dir: Path, kubeconfig: Path) -> None:
    """The child: a fake holding ``count`` pools; writes its kubeconfig, says so, then obeys one command a line on
    stdin (``create NAME``, ``delete NAME``, ``secret NAME``), answering each with a line."""
    fake = FakeApiserver(cert_dir)
    fake.load(list(pools(count)))
    with fake:
        fake.kubeconfig(kubeconfig, cert_dir / certs.CA_FILE)
        print("ready", flush=True)
        for line in sys.stdin:
            verb, name = line.split()
            if verb == "create":
                fake.create(stored(name, "bench", project="fresh"))
            elif verb == "delete":
                fake.delete("bench", name)
            elif verb == "secret":
                fake.put_secret("bench", name, controller={"apiVersion": "aiven.io/v1alpha1",
                                                           "kind": "ConnectionPool", "name": name})
            print("ok", flush=True)


class Fake:
    def __init__(self, count: int, cert_dir: Path, work: Path) -> None:
        self.kubeconfig = work / f"kubeconfig-{count}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(count), "--certs", str(cert_dir),
                                      "--kubeconfig", str(self.kubeconfig)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the stand-in apiserver did not start")

    def tell(self, command: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


# --- measuring ------------------------------------------------------------------------------------------------------

def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def synced_view(kubeconfig: Path) -> tuple[ClusterView, float]:
    view = ClusterView(kubeconfig)
    started = time.perf_counter()
    view.start()
    if not view.wait_synced(600):
        raise SystemExit("the view did not sync")
    return view, time.perf_counter() - started


def list_and_memory(fake: Fake, count: int) -> dict[str, float]:
    gc.collect()
    before = rss()
    view, seconds = synced_view(fake.kubeconfig)
    assert len(view.snapshot()) == count, len(view.snapshot())
    gc.collect()
    grown = rss() - before
    view.stop()
    del view
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    view, _ = synced_view(fake.kubeconfig)
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    view.stop()
    return {"pools": count, "list_s": seconds, "retained": retained - base, "peak": peak - base, "rss": grown}


def spin(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("the view never saw the change")
        time.sleep(0.0002)  # a busy loop would hold the GIL the watch thread needs (switch interval: 5 ms)


def freshness(fake: Fake, changes: int) -> list[float]:
    view, _ = synced_view(fake.kubeconfig)
    time.sleep(0.2)  # the watch is open
    seen = []
    for i in range(changes):
        name = f"fresh-{i}"
        identity = ("fresh", "my-pg", name)
        started = time.perf_counter()
        fake.tell(f"create {name}")
        spin(lambda identity=identity: view.with_identity(identity))  # type: ignore[misc]
        seen.append(time.perf_counter() - started)
        started = time.perf_counter()
        fake.tell(f"delete {name}")
        spin(lambda identity=identity: not view.with_identity(identity))  # type: ignore[misc]
        seen.append(time.perf_counter() - started)
    view.stop()
    return seen


def lookups(fake: Fake, count: int) -> list[float]:
    fake.tell("secret looked-up")
    view, _ = synced_view(fake.kubeconfig)

    async def run() -> list[float]:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            assert await view.secret("bench", "looked-up") is not None
            times.append(time.perf_counter() - started)
        return times

    try:
        return asyncio.run(run())
    finally:
        view.stop()


class Client(https.Client):
    """The suite's client, with Nagle's algorithm off as Go's clients (the apiserver's) have it: http.client sends
    headers and body in two writes, and the second would wait for the server's delayed ACK (40 ms)."""

    def connect(self) -> ssl.SSLSocket:
        sock = super().connect()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


@contextmanager
def server(cert_dir: Path, *args: str) -> Iterator[Client]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "webhook", "serve", "--port", str(port), "--log-level", "warning",
                             "--tls-cert", str(cert_dir / certs.CERT_FILE), "--tls-key", str(cert_dir / certs.KEY_FILE),
                             *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = Client(port, cert_dir / certs.CA_FILE)
        deadline = time.monotonic() + 60
        while True:
            try:
                if b"cluster_view_synced 1.0" in client.request("GET", "/metrics").body or not args:
                    break
            except OSError:
                client.close()
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start, or its view did not sync")
            time.sleep(0.05)
        yield client
        client.close()
    finally:
        proc.terminate()
        proc.wait(30)


def answers(client: Client, count: int) -> list[float]:
    body = json.dumps(review(pool(project="bench-unique"))).encode()
    times = []
    for _ in range(count + 20):  # the first 20 warm up
        started = time.perf_counter()
        reply = client.request("POST", "/validate", body, {"Content-Type": "application/json"})
        times.append(time.perf_counter() - started)
        assert reply.status == 200 and reply.json()["response"]["allowed"], reply.body
    return times[20:]


def quantiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[10_000, 100_000], help="pools listed, per run")
    parser.add_argument("--lookups", type=int, default=500, help="Secret lookups and admission answers timed")
    parser.add_argument("--changes", type=int, default=50, help="creations (and deletions) timed for freshness")
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--certs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake is not None:
        serve_fake(args.serve_fake, args.certs, args.kubeconfig)
        return
    with tempfile.TemporaryDirectory(prefix="cluster-view-bench-") as tmp:
        work = Path(tmp)
        cert_dir = work / "pki"
        certs.generate(cert_dir, [SERVICE_NAME, "localhost"], ["127.0.0.1"], 1)
        print(f"the view of {', '.join(f'{n:,}' for n in args.pools)} ConnectionPools, stand-in apiserver over TLS "
              f"on loopback; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
        print(f"{'pools':>8}  {'list+sync':>10}  {'pools/s':>8}  {'retained':>9}  {'per pool':>8}  "
              f"{'peak':>8}  {'RSS growth':>10}")
        for count in args.pools:
            fake = Fake(count, cert_dir, work)
            try:
                row = list_and_memory(fake, count)
            finally:
                fake.close()
            print(f"{count:>8,}  {row['list_s']:>9.2f}s  {count / row['list_s']:>8,.0f}  "
                  f"{row['retained'] / 1e6:>7.1f}MB  {row['retained'] / count:>7.0f}B  {row['peak'] / 1e6:>6.1f}MB  "
                  f"{row['rss'] / 1e6:>8.1f}MB")
        fake = Fake(min(args.pools), cert_dir, work)
        try:
            fresh = freshness(fake, args.changes)
            median, p99 = quantiles(fresh)
            print(f"\nfreshness, change at the apiserver to the view ({len(fresh)} creations and deletions): "
                  f"median {median:.2f} ms, max {max(fresh) * 1000:.2f} ms")
            read = lookups(fake, args.lookups)
            median, p99 = quantiles(read)
            print(f"Secret lookup through the view ({len(read)}): median {median:.2f} ms, p99 {p99:.2f} ms")
            with server(cert_dir) as plain:
                without = answers(plain, args.lookups)
            with server(cert_dir, "--cluster-checks", "--kubeconfig", str(fake.kubeconfig)) as checking:
                with_lookup = answers(checking, args.lookups)
        finally:
            fake.close()
        off, off99 = quantiles(without)
        on, on99 = quantiles(with_lookup)
        print(f"admission answer, CREATE ({args.lookups} each): without cluster checks median {off:.2f} ms, p99 "
              f"{off99:.2f} ms; with them (one Secret lookup) median {on:.2f} ms, p99 {on99:.2f} ms: "
              f"a lookup adds {on - off:.2f} ms at the median")


if __name__ == "__main__":
    main()
