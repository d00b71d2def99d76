"""Driving wrk: the Lua scripts it runs, the command line, and reading its results.

Results come from a Lua ``done`` hook that prints one JSON line, not from wrk's human-readable summary, so units
and rounding are never guessed. Two scripts:

* ``static``: one body, no ``response`` hook. wrk then builds the request once and never hands responses to Lua:
  the cheapest load wrk can make, for throughput and latency.
* ``checked``: rotates through several bodies, checks every answer against the body it was for (found by uid),
  and stops after a given number of answers. Slower; used for the long RSS run, where correctness under sustained
  load matters more than speed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodies import HEADERS, Body

RESULT_MARK = "BENCH_RESULT "
STOP_MARK = "BENCH_STOP"

_LUA_HEADERS = "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in HEADERS.items()) + "}"

# The done hook shared by both scripts. Latency and duration are in microseconds; %.0f because LuaJIT's %d
# does not accept every number wrk hands over.
_LUA_DONE = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local wrong, sample = 0, ""
  for _, t in ipairs(threads) do
    wrong = wrong + (t:get("wrong") or 0)
    if sample == "" then sample = t:get("sample") or "" end
  end
  local e = summary.errors
  local p = {}
  for _, q in ipairs({50, 75, 90, 99, 99.9}) do
    table.insert(p, string.format('"p%s":%.0f', q, latency:percentile(q)))
  end
  io.write(string.format(
    'BENCH_RESULT {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{%s,"mean":%.1f,"max":%.0f},"wrong":%.0f,"wrong_sample":"%s"}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(p, ","), latency.mean, latency.max, wrong,
    (string.gsub(sample, '[^%w .,:;_/%-%(%)%[%]{}=]', '?'))))
  io.flush()
end
"""

_LUA_STATIC = (
    r"""
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
for k, v in pairs(__HEADERS__) do wrk.headers[k] = v end
"""
    + _LUA_DONE
)

_LUA_CHECKED = (
    r"""
-- Each body: request path, file, uid, and what its answer must contain (plain substrings of compact JSON).
local specs = __SPECS__
local limit = tonumber(os.getenv("BENCH_LIMIT")) or 0
local reqs, n, answered = {}, 0, 0
wrong, sample = 0, ""

function init(args)
  for i, s in ipairs(specs) do
    local f = assert(io.open(s.file, "rb"))
    reqs[i] = wrk.format("POST", s.path, __HEADERS__, f:read("*a"))
    f:close()
  end
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

local function right(status, body)
  if status ~= 200 then return false end
  for _, s in ipairs(specs) do
    if string.find(body, s.uid, 1, true) then
      for _, want in ipairs(s.has) do
        if not string.find(body, want, 1, true) then return false end
      end
      for _, unwanted in ipairs(s.lacks) do
        if string.find(body, unwanted, 1, true) then return false end
      end
      return true
    end
  end
  return false
end

function response(status, headers, body)
  answered = answered + 1
  if not right(status, body) then
    wrong = wrong + 1
    if sample == "" then sample = status .. " " .. string.sub(body or "", 1, 300) end
  end
  if answered == limit then
    -- wrk's main thread sleeps for the whole -d; the driver sends SIGINT when it sees this line.
    io.write("BENCH_STOP\n")
    io.flush()
    wrk.thread:stop()
  end
end
"""
    + _LUA_DONE
)

# What a right answer contains, per expectation, as the server serialises it (compact JSON).
_MARKERS: dict[str, tuple[list[str], list[str]]] = {
    "allowed": (['"allowed":true'], ['"patch"', '"status"']),
    "warned": (['"allowed":true', '"warnings"'], ['"patch"', '"status"']),
    "denied": (['"allowed":false', '"code":422', '"reason":"Invalid"'], ['"patch"']),
    "patched": (['"allowed":true', '"patchType":"JSONPatch"'], ['"status"']),
}


def _lua_str(value: str) -> str:
    assert value.isascii(), value
    return json.dumps(value)  # an ASCII JSON string is also a valid Lua string literal


def write_scripts(directory: Path, bodies: list[Body]) -> tuple[Path, Path]:
    """The static and checked scripts, and each body in its own file (wrk reads them at start-up)."""
    directory.mkdir(parents=True, exist_ok=True)
    specs = []
    for body in bodies:
        (directory / f"{body.name}.json").write_bytes(body.data)
        has, lacks = _MARKERS[body.expect]
        specs.append(
            "{path = %s, file = %s, uid = %s, has = {%s}, lacks = {%s}}" % (  # noqa: UP031 - Lua, not Python
                _lua_str(body.path), _lua_str(str(directory / f"{body.name}.json")), _lua_str(body.uid),
                ", ".join(map(_lua_str, has)), ", ".join(map(_lua_str, lacks)),
            )
        )
    static = directory / "static.lua"
    static.write_text(_LUA_STATIC.replace("__HEADERS__", _LUA_HEADERS))
    checked = directory / "checked.lua"
    checked.write_text(
        _LUA_CHECKED.replace("__SPECS__", "{\n  " + ",\n  ".join(specs) + "\n}").replace("__HEADERS__", _LUA_HEADERS)
    )
    return static, checked


@dataclass
class Result:
    requests: int
    seconds: float
    rps: float
    latency_ms: dict[str, float]
    errors: dict[str, int]
    wrong: int = 0
    wrong_sample: str = ""
    stopped_at_limit: bool = False
    command: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "seconds": round(self.seconds, 3), "rps": round(self.rps, 1),
            "latency_ms": self.latency_ms, "errors": self.errors, "errors_total": self.error_count,
            "wrong_answers": self.wrong, "wrong_sample": self.wrong_sample, "command": self.command,
        }


class WrkError(RuntimeError):
    pass


def available() -> str | None:
    return shutil.which("wrk")


def command(url: str, script: Path, *, seconds: float, connections: int, threads: int,
            cpu: int | None) -> list[str]:
    cmd = ["taskset", "-c", str(cpu)] if cpu is not None else []
    # wrk's -d takes whole seconds.
    return [*cmd, "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
            "-s", str(script), url]


def parse(output: str, cmd: list[str]) -> Result:
    line = next((ln for ln in output.splitlines() if ln.startswith(RESULT_MARK)), None)
    if line is None:
        raise WrkError(f"wrk printed no result ({' '.join(cmd)}):\n{output[-2000:]}")
    data = json.loads(line[len(RESULT_MARK):])
    errors = {k: int(v) for k, v in data["errors"].items()}
    # wrk's own summary line, as a cross-check of the hook's status count.
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    if non2xx:
        errors["status"] = max(errors["status"], int(non2xx.group(1)))
    seconds = data["duration_us"] / 1e6
    latency = {k: round(v / 1000, 3) for k, v in data["latency_us"].items()}
    return Result(
        requests=int(data["requests"]), seconds=seconds, rps=data["requests"] / seconds if seconds else 0.0,
        latency_ms=latency, errors=errors, wrong=int(data["wrong"]), wrong_sample=data["wrong_sample"],
        command=cmd, output=output,
    )


def run(url: str, script: Path, *, seconds: float, connections: int, threads: int = 1,
        cpu: int | None = None, env: dict[str, str] | None = None) -> Result:
    """One timed wrk run."""
    cmd = command(url, script, seconds=seconds, connections=connections, threads=threads, cpu=cpu)
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=seconds + 60, check=False)
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with {proc.returncode} ({' '.join(cmd)}):\n{proc.stdout}{proc.stderr}")
    return parse(proc.stdout, cmd)


def run_count(url: str, script: Path, *, requests: int, connections: int, max_seconds: float,
              threads: int = 1, cpu: int | None = None, env: dict[str, str] | None = None) -> Result:
    """Run until ``requests`` answers (one wrk thread counts them), or ``max_seconds``."""
    assert threads == 1, "the answer count is per wrk thread"
    cmd = command(url, script, seconds=max_seconds, connections=connections, threads=threads, cpu=cpu)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {}), "BENCH_LIMIT": str(requests)})
    assert proc.stdout is not None
    lines: list[str] = []
    stopped = False
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == STOP_MARK and not stopped:
            stopped = True
            proc.send_signal(signal.SIGINT)  # ends wrk's sleep; it then joins its thread and runs done()
    code = proc.wait(timeout=30)
    output = "".join(lines)
    if code != 0:
        raise WrkError(f"wrk exited with {code} ({' '.join(cmd)}):\n{output}")
    result = parse(output, cmd)
    result.stopped_at_limit = stopped
    return result
