"""Part of ``make bench-cluster``: the CPU an answer costs with the cluster checks on, against the same server with
them off and against the Go peer, for answers that need no Secret lookup.

    python bench/checks_cpu_bench.py [--pools N ...] [--rounds N] [--duration S]

Two bodies answered from memory: an UPDATE that leaves the identity as it was (the usual UPDATE: ``kubectl label``,
a new poolSize), and a CREATE that writes no Secret and names none (``connInfoSecretTargetDisabled``, no
``authSecretRef``), whose identity is looked up in the view's index. A third, the captured ``kubectl apply`` CREATE,
needs two Secret lookups with the checks on (the Secret it writes, the Aiven token it names): its "vs off" is what
the lookups cost the server in CPU (the stand-in apiserver that answers them runs on the same two cores).

Each server (``serve --operator-version v0.38.0`` without checks; the same with ``--cluster-checks`` against the
stand-in apiserver holding N pools, synced; the Go peer) is pinned to one CPU and saturated by wrk on another; its
CPU time (utime + stime, all its threads, the watch's included) over the answers it gave is the CPU per answer.
Servers take turns within each round, in an order that rotates, and the figures are medians over the rounds. Nothing
is asserted: the targets are printed beside the figures (for the answers that need no lookup: at most 5% more CPU per
answer with the checks on; at or above the Go peer's throughput).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bodies
import loadgen
import peer
from cluster_view_bench import Fake

from bench import Server, cpu_plan, cpu_seconds, raise_priority, running
from webhook import certs

OPERATOR = "v0.38.0"  # the release that has connInfoSecretTargetDisabled


def _create_no_secret(obj: dict[str, Any]) -> None:
    spec = obj["spec"]
    spec.pop("authSecretRef", None)
    spec["connInfoSecretTargetDisabled"] = True
    spec["project"] = "bench-unique"  # no pool of the stand-in's shares its identity


def build_bodies() -> list[bodies.Body]:
    captured = bodies._capture(bodies.REFERENCE)
    create = "c0000000-0000-4000-8000-000000000001"
    update = next(b for b in bodies.build_updates() if b.name == "validate-update")
    lookups = next(b for b in bodies.build() if b.name == "validate-valid")
    return [bodies.Body("create-no-secret", "/validate?timeout=10s", create,
                        bodies._review(captured, create, _create_no_secret), "allowed"),
            update,
            bodies.Body("create-2-lookups", lookups.path, lookups.uid, lookups.data, "allowed")]


@dataclass
class Ours(Server):
    """Our server, with arguments of its own (the release, the cluster checks)."""

    args: tuple[str, ...] = ()

    def command(self) -> list[str]:
        return [*super().command(), *self.args]


@dataclass
class Run:
    rps: float
    cpu_us: float  # server CPU per answer, microseconds


def measure(server: Server, body: bodies.Body, static: Path, *, seconds: float, wrk_cpu: int | None) -> Run:
    before = cpu_seconds(server.pid)
    result = loadgen.run(f"https://127.0.0.1:{server.port}{body.path}", static, seconds=seconds, connections=16,
                         cpu=wrk_cpu, env={"BENCH_BODY": str(static.parent / f"{body.name}.json")})
    spent = cpu_seconds(server.pid) - before
    if result.error_count or not result.requests:
        raise SystemExit(f"{server.label}: {result.errors} errors, {result.requests} answers")
    return Run(result.rps, spent / result.requests * 1e6)


@contextmanager
def servers(pki: Path, work: Path, fakes: dict[int, Fake], server_cpu: int | None) -> Iterator[dict[str, Server]]:
    found: dict[str, Server] = {}
    with ExitStack() as stack:
        release = ("--operator-version", OPERATOR)
        found["checks off"] = stack.enter_context(running(
            Ours("checks off", "webhook", pki, work, cpu=server_cpu, args=release)))
        for count, fake in fakes.items():
            on = Ours(f"checks on, {count:,} pools", "webhook", pki, work, cpu=server_cpu,
                      args=(*release, "--cluster-checks", "--kubeconfig", str(fake.kubeconfig)))
            found[on.label] = stack.enter_context(running(on))
            _wait_synced(on)
        try:
            binary = peer.build(work / "peer-go")
        except peer.BuildError as exc:
            print(f"(no Go peer: {exc})")
        else:
            go = Server("go peer", "go", pki, work, cpu=server_cpu, binary=binary)
            found["go peer"] = stack.enter_context(running(go))
        yield found


def _wait_synced(server: Server, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, metrics = server.request("GET", "/metrics")
        if b"cluster_view_synced 1.0" in metrics:
            return
        time.sleep(0.2)
    raise SystemExit(f"{server.label}: the view did not sync")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measured run")
    args = parser.parse_args(argv)
    if loadgen.available() is None:
        raise SystemExit("wrk not found: `make bench-cluster` installs it")
    priority = raise_priority()
    server_cpu, wrk_cpu = cpu_plan()
    with tempfile.TemporaryDirectory(prefix="checks-cpu-bench-") as tmp:
        work = Path(tmp)
        pki = work / "pki"
        certs.generate(pki, ["localhost"], ["127.0.0.1"], 1)
        cases = build_bodies()
        static, _ = loadgen.write_scripts(work / "wrk", cases)
        fakes: dict[int, Fake] = {}
        try:
            for count in args.pools:
                fakes[count] = Fake(count, pki, work)
            with servers(pki, work, fakes, server_cpu) as found:
                for server in found.values():  # every server gives the right answer before any load
                    for body in cases:
                        status, answer = server.request("POST", body.path, body.data)
                        wrong = bodies.check(body, status, answer)
                        if wrong:
                            raise SystemExit(f"{server.label}, {body.name}: {wrong}")
                        measure(server, body, static, seconds=1, wrk_cpu=wrk_cpu)  # warm-up
                runs: dict[tuple[str, str], list[Run]] = {}
                labels = list(found)
                for round_ in range(args.rounds):
                    order = labels[round_ % len(labels):] + labels[:round_ % len(labels)]
                    for body in cases:
                        for label in order:
                            runs.setdefault((label, body.name), []).append(
                                measure(found[label], body, static, seconds=args.duration, wrk_cpu=wrk_cpu))
        finally:
            for fake in fakes.values():
                fake.close()
    pinned = f"servers pinned to CPU {server_cpu}" if server_cpu is not None else "unpinned"
    report(runs, labels, cases, f"{args.rounds} rounds of {args.duration:g}s per server and body, medians; {pinned}; "
           f"{priority}")


def report(runs: dict[tuple[str, str], list[Run]], labels: list[str], cases: list[bodies.Body], how: str) -> None:
    print(f"\nCPU per answer ({how})\n")
    print(f"{'body':<18} {'server':<26} {'req/s':>8} {'CPU/answer':>11} {'vs off':>8} {'vs Go req/s':>11}")
    for body in cases:
        off = statistics.median(r.cpu_us for r in runs[("checks off", body.name)])
        go = runs.get(("go peer", body.name))
        go_rps = statistics.median(r.rps for r in go) if go else None
        for label in labels:
            rps = statistics.median(r.rps for r in runs[(label, body.name)])
            cpu = statistics.median(r.cpu_us for r in runs[(label, body.name)])
            versus_off = f"{(cpu / off - 1) * 100:+.1f}%" if label.startswith("checks on") else ""
            versus_go = f"{rps / go_rps:.2f}x" if go_rps and label != "go peer" else ""
            print(f"{body.name:<18} {label:<26} {rps:>8,.0f} {cpu:>9.1f}µs {versus_off:>8} {versus_go:>11}")
    print("\ntargets, for the answers that need no Secret lookup: checks on at most +5% CPU per answer; req/s at or "
          "above the Go peer's (1.00x)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
