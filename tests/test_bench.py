"""The benchmark works: its short form runs clean, and what it measures is the right answers to realistic bodies.

Speed is never asserted here (figures on a shared 2-core machine are noise); errors and wrong answers are.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from matplotlib import image

from tests.support import ROOT, Client, ServerProcess, apply_patch, free_port

BENCH = ROOT / "bench"
BODIES = ("validate-valid", "validate-invalid", "mutate")
INFO = "validate-valid (log info)"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the benchmark reads /proc")


def need_wrk() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: `make test` installs it (apt-get install wrk)")


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    need_wrk()
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, str(BENCH / "bench.py"), "--short", "--out", str(out)],
                          capture_output=True, text=True, timeout=280, check=False, cwd=ROOT)
    return done, out


@pytest.fixture(scope="module")
def results(short_run: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    done, out = short_run
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return json.loads((out / "latest.json").read_text())


def test_short_run_exits_0_and_prints_the_figures(short_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, _ = short_run
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    for text in ("req/s", "p99 ms", "vs ceiling", "(rounds)", "median over 1 round", "VmHWM", "scaling", "targets"):
        assert text in done.stdout
    # Every target is reported, as PASS or MISS; a MISS is not a failure.
    assert done.stdout.count("PASS  ") + done.stdout.count("MISS  ") >= 9


def test_every_case_ran_without_errors(results: dict[str, Any]) -> None:
    names = [c["name"] for c in results["cases"]]
    assert {"ceiling", *BODIES, INFO} <= set(names)
    assert len(names) == len(set(names)), names  # one record per case, whatever the rounds
    assert results["ok"] is True and results["problems"] == []
    for case in results["cases"]:
        assert case["requests"] > 0 and case["rps"] > 0, case
        assert case["errors_total"] == 0 and case["errors"]["status"] == 0, case  # non-2xx count as errors
        assert set(case["errors"]) == {"connect", "read", "write", "status", "timeout"}
        assert 0 < case["latency_ms"]["p50"] <= case["latency_ms"]["p99"] <= case["latency_ms"]["max"], case
        assert case["log_level"] in ("warning", "info")
    by_name = {c["name"]: c for c in results["cases"]}
    assert by_name["ceiling"]["ratio_to_ceiling"] == pytest.approx(1.0, abs=0.01)
    for name in BODIES:
        assert by_name[name]["ratio_to_ceiling"] > 0
        assert 1500 <= by_name[name]["body_bytes"] <= 3000  # realistic, about 2 KB


def test_ratios_are_medians_of_rounds_against_the_ceiling_runs_around_them(results: dict[str, Any]) -> None:
    assert results["schema"] == 2
    rounds = results["plan"]["rounds"]
    assert rounds == 1  # the short run
    by_name = {c["name"]: c for c in results["cases"]}
    ceiling = by_name["ceiling"]
    ceiling_runs = [run["rps"] for run in ceiling["rounds"]]
    assert len(ceiling_runs) == rounds + 1 and all(rps > 0 for rps in ceiling_runs)  # one opens each round, one closes
    steady = [run["rps"] for run in ceiling["rounds"] if not run["disturbed"]] or ceiling_runs
    assert ceiling["rps"] == results["ceiling_rps"] == pytest.approx(statistics.median(steady), abs=0.1)
    assert by_name[INFO]["log_level"] == "info" and by_name[INFO]["role"] == "log-info"
    for name in (*BODIES, INFO):
        case = by_name[name]
        assert len(case["rounds"]) == rounds, case
        for number, run in enumerate(case["rounds"]):
            around = (ceiling_runs[number] + ceiling_runs[number + 1]) / 2
            assert run["ratio_to_ceiling"] == pytest.approx(run["rps"] / around, abs=1e-3), (name, number)
            assert 0 < run["p50"] <= run["p99"] <= case["p99_max_ms"]
        kept = [run for run in case["rounds"] if not run["disturbed"]] or case["rounds"]
        assert case["rounds_kept"] == len(kept)
        assert case["ratio_to_ceiling"] == pytest.approx(statistics.median(r["ratio_to_ceiling"] for r in kept),
                                                         abs=1e-4), name
        assert case["rps"] == pytest.approx(statistics.median(run["rps"] for run in kept), abs=0.1)
        assert case["server_cpu_share"] == min(run["server_cpu_share"] for run in case["rounds"])
    for case in results["cases"]:
        assert (case["role"] == "scaling") == (case["ratio_to_ceiling"] is None), case
        assert len(case["rounds"]) == rounds + (case["name"] == "ceiling"), case


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # for its sibling imports
    # Not `import bench`: that name is also the bench/ directory, a namespace package from the repository root.
    spec = importlib.util.spec_from_file_location("bench_under_test", BENCH / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _run(rps: float, p99: float, cpu: float = 1.0) -> dict[str, Any]:
    return {"requests": int(rps * 4), "seconds": 4.0, "rps": rps, "errors": dict.fromkeys(("connect", "status"), 1),
            "latency_ms": {"p50": p99 / 2, "p99": p99, "max": p99 * 2}, "wrong_answers": 0, "wrong_sample": "",
            "command": ["wrk"], "worker_cpu_seconds": [cpu * 4], "server_cpu_share": cpu}


def test_each_round_is_set_against_its_own_ceiling_runs(bench: ModuleType) -> None:
    """With the machine's speed halving and doubling, a fixed share of it stays a fixed ratio; against the ceiling's
    median instead it would swing from 0.4 to 0.8."""
    ceiling_runs = [100.0, 200.0, 100.0, 300.0]  # the machine drifting, round by round
    case_runs = [75.0, 75.0, 100.0]  # half of what it could do in each round
    ratios = bench.round_ratios(case_runs, ceiling_runs)
    assert ratios == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError):
        bench.round_ratios(case_runs, ceiling_runs[:-1])  # a closing ceiling run is needed

    runs = [_run(75.0, 2.0), _run(75.0, 5.0, cpu=0.7), _run(100.0, 1.0)]
    record = bench.aggregate(runs, [0.5, 0.4, 0.7])
    assert record["ratio_to_ceiling"] == 0.5 and record["rps"] == 75.0
    assert record["latency_ms"]["p99"] == 2.0 and record["p99_max_ms"] == 5.0 and record["latency_ms"]["max"] == 10.0
    assert record["requests"] == 1000 and record["errors_total"] == 6 and record["errors"]["status"] == 3
    assert record["server_cpu_share"] == 0.7 and record["worker_cpu_seconds"] == [10.8]
    assert [r["ratio_to_ceiling"] for r in record["rounds"]] == [0.5, 0.4, 0.7]
    assert [r["p99"] for r in record["rounds"]] == [2.0, 5.0, 1.0]


def test_disturbed_rounds_are_left_out(bench: ModuleType) -> None:
    """A round where the pinned server lost its core, in its own run or a ceiling run next to it, says nothing about
    our code: it is kept in the record but not in the medians, unless every round was disturbed."""
    ceiling = [_run(100.0, 1.0), _run(100.0, 1.0, cpu=0.5), _run(100.0, 1.0), _run(100.0, 1.0)]
    case = [_run(60.0, 2.0), _run(90.0, 2.0), _run(70.0, 3.0, cpu=0.6)]
    disturbed = bench.disturbed_rounds(case, ceiling)
    assert disturbed == [True, True, True]  # rounds 1 and 2 by the ceiling run between them, round 3 by its own
    assert bench.disturbed_rounds(case[:2], ceiling[2:] + ceiling[:1]) == [False, False]
    record = bench.aggregate(case, [0.6, 0.9, 0.7], [False, True, False])
    assert record["rounds_kept"] == 2 and record["ratio_to_ceiling"] == 0.65 and record["rps"] == 65.0
    assert [r["disturbed"] for r in record["rounds"]] == [False, True, False]
    everything = bench.aggregate(case, [0.6, 0.9, 0.7], [True, True, True])
    assert everything["rounds_kept"] == 3 and everything["ratio_to_ceiling"] == 0.7


def test_answers_were_checked_before_load(results: dict[str, Any]) -> None:
    servers = {p["server"] for p in results["preflight"]}
    assert {"ceiling", "webhook", "webhook-info", "webhook-rss", "ceiling-rss", "webhook-1w", "webhook-2w"} <= servers
    for server in servers:
        assert sorted(p["body"] for p in results["preflight"] if p["server"] == server) == sorted(BODIES)
    assert all(p["ok"] for p in results["preflight"]), results["preflight"]


def test_rss_run_and_scaling_are_reported(results: dict[str, Any]) -> None:
    rss = results["rss"]
    assert rss["requests"] >= rss["requests_planned"]
    assert rss["wrong_answers"] == 0 and rss["errors"] == 0
    assert rss["samples"][0]["after_requests"] == 0 and len(rss["samples"]) == 4
    assert all(s["vmrss_mb"] > 0 and s["vmhwm_mb"] >= s["vmrss_mb"] for s in rss["samples"])
    assert isinstance(rss["growth_mb"], float)
    control = rss["ceiling_control"]
    assert control["requests"] >= rss["requests_planned"] and control["errors"] == 0
    assert len(control["samples"]) == 4 and control["peak_mb"] > 0
    scaling = results["scaling"]
    assert scaling["rps_1_worker"] > 0 and scaling["rps_2_workers"] > 0 and scaling["ratio"] > 0
    by_name = {c["name"]: c for c in results["cases"]}
    one, two = by_name["validate-valid (1 worker)"]["rounds"], by_name["validate-valid (2 workers)"]["rounds"]
    # Each round's 2-worker run against the 1-worker run of the same round; the ratio is their median.
    assert scaling["round_ratios"] == [pytest.approx(b["rps"] / a["rps"], abs=1e-3)
                                       for a, b in zip(one, two, strict=True)]
    assert scaling["ratio"] == pytest.approx(statistics.median(scaling["round_ratios"]), abs=1e-3)
    assert len(scaling["worker_cpu_seconds_2_workers"]) == 2  # both worker processes found
    assert 0 <= scaling["balance"] <= 1
    assert results["servers"]["webhook-2w"]["vmhwm_mb"] > results["servers"]["webhook-1w"]["vmhwm_mb"]
    assert all(isinstance(t["pass"], bool) for t in results["targets"])


def test_plot_is_a_png(short_run: tuple[subprocess.CompletedProcess[str], Path], results: dict[str, Any]) -> None:
    _, out = short_run
    png = out / "latest.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = image.imread(png).shape
    assert height > 100 and width > 100
    assert len(list(out.glob("bench-*-short.json"))) == len(list(out.glob("bench-*-short.png"))) == 1


def _bodies(out: Path) -> dict[str, bytes]:
    return {name: (out / "wrk" / f"{name}.json").read_bytes() for name in BODIES}


def test_the_bodies_mean_what_their_names_say(short_run: tuple[subprocess.CompletedProcess[str], Path],
                                              client: Client) -> None:
    """Independently of the benchmark's own checks: our server, our test client, the real JSON Patch library."""
    _, out = short_run
    sent = _bodies(out)

    valid = client.post("/validate?timeout=10s", sent["validate-valid"])
    assert valid.status == 200
    assert valid.json()["response"]["allowed"] is True and "patch" not in valid.json()["response"]

    invalid = client.post("/validate?timeout=10s", sent["validate-invalid"]).json()["response"]
    assert invalid["allowed"] is False and invalid["status"]["code"] == 422
    fields = sorted(c["field"] for c in invalid["status"]["details"]["causes"])
    assert fields == ["spec.poolMode", "spec.poolSize", "spec.project", "spec.username"]

    review = json.loads(sent["mutate"])
    patched = client.post("/mutate?timeout=10s", sent["mutate"]).json()["response"]
    obj = review["request"]["object"]
    after = apply_patch(obj, patched)
    assert after["spec"]["connInfoSecretTarget"] == {"name": "my-pool"}
    del after["spec"]["connInfoSecretTarget"]
    assert after == obj  # annotations, managedFields: everything else untouched


@pytest.fixture
def loadgen(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # The bench scripts import each other as siblings, the way they run: `python bench/bench.py`.
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("loadgen")


def wait_ready(port: int, ca_file: Path, proc: subprocess.Popen[bytes]) -> None:
    client = Client(port, ca_file)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the ceiling app exited"
        try:
            if client.request("GET", "/readyz").status == 200:
                client.close()
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail("the ceiling app did not become ready")


def test_checked_load_tells_right_from_wrong_answers(
    short_run: tuple[subprocess.CompletedProcess[str], Path], server: ServerProcess, pki: Path,
    loadgen: ModuleType,
) -> None:
    """The RSS run's answer checks can fail: the ceiling's constant answer is wrong for every body."""
    need_wrk()
    checked = short_run[1] / "wrk" / "checked.lua"

    ours = loadgen.run_count(f"https://127.0.0.1:{server.port}/validate", checked, requests=300, connections=4,
                             max_seconds=60)
    assert ours.stopped_at_limit and ours.requests >= 300
    assert ours.wrong == 0 and ours.error_count == 0

    port = free_port()
    proc = subprocess.Popen([sys.executable, str(BENCH / "ceiling.py"), "--port", str(port),
                             "--tls-cert", str(pki / "tls.crt"), "--tls-key", str(pki / "tls.key"),
                             "--log-level", "warning"], cwd=pki)
    try:
        wait_ready(port, pki / "ca.crt", proc)
        ceiling = loadgen.run_count(f"https://127.0.0.1:{port}/validate", checked, requests=300,
                                    connections=4, max_seconds=60)
        assert ceiling.requests >= 300 and ceiling.wrong == ceiling.requests
        assert "00000000-0000-0000-0000-000000000000" in ceiling.wrong_sample
    finally:
        proc.terminate()
        proc.wait(30)
