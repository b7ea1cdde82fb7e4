"""Memory of the whole server: ``python -m bench.serving_memory`` (``make bench-memory``).

Starts the real server (``suggest serve``: gunicorn, ``--workers`` 2 then 4, 8 threads each) on the default model
and a throw-away chart store, sends ``POST /v1/suggest`` requests from 4 client threads, and after 1,000 and after
10,000 requests reads the memory of the master and of every worker from ``/proc/PID/smaps_rollup``:

- **RSS**: resident pages, shared ones included (so the sum over processes counts shared pages several times);
- **PSS**: each page divided by the number of processes that map it (the sum is the server's real footprint);
- **USS**: the process's private pages (what ending it would free).

The clients open a new connection every ``REQUESTS_PER_CONNECTION`` requests, so that every worker gets a share.
The charts are the project's synthetic clinic notes (``training.synth.generate_charts``), each headed by a visit
line of its own (date, MRN, vitals): a day's charts bring new numbers and words, as real ones do.

Baseline, measured in the same run: the RSS of one process that loaded and warmed the same model
(``api.modelhost.load_model`` + ``warm_up``, as the master does). Targets (printed, not asserted): the sum of PSS over
master and workers <= 1.5x that RSS, for 2 and 4 workers, and no growth between 1,000 and 10,000 requests (at most
``GROWTH_TOLERANCE_MB`` over the whole server, allocator noise). The numbers go to
``bench/results/serving-memory-<UTC timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.bench_api import Client, create_token, server_env, start_server, stop_server

PSS_TARGET_RATIO = 1.5
#: Growth of the summed PSS between the checkpoints that still counts as none (allocator noise), in MB.
GROWTH_TOLERANCE_MB = 16.0
CLIENT_THREADS = 4
#: Requests a client sends on one connection before it opens another: the kernel hands each new connection to
#: whichever worker accepts first, so every worker gets a share (on one keep-alive connection each, 4 clients can
#: all land on one worker).
REQUESTS_PER_CONNECTION = 25


@dataclass(frozen=True)
class ProcessMemory:
    """One process's memory from ``/proc/PID/smaps_rollup``, in MB."""

    pid: int
    rss: float
    pss: float
    uss: float


def read_memory(pid: int) -> ProcessMemory:
    """RSS, PSS and USS (private clean + private dirty) of ``pid``."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    uss = fields["Private_Clean"] + fields["Private_Dirty"]
    return ProcessMemory(pid, fields["Rss"] / 1024, fields["Pss"] / 1024, uss / 1024)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers, for the master)."""
    children = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ")".
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            children.append(int(entry.name))
    return sorted(children)


@dataclass(frozen=True)
class ServerMemory:
    """The master's and the workers' memory at one moment."""

    requests: int
    master: ProcessMemory
    workers: list[ProcessMemory]

    @property
    def pss_total(self) -> float:
        return self.master.pss + sum(w.pss for w in self.workers)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "master": asdict(self.master),
                "workers": [asdict(w) for w in self.workers], "pss_total": round(self.pss_total, 1)}


def wait_for_workers(master_pid: int, workers: int, seconds: float = 60.0) -> None:
    """Until the master has forked all its workers (it answers ``/readyz`` once the first one is up)."""
    deadline = time.monotonic() + seconds
    while len(child_pids(master_pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.2)


def read_server_memory(master_pid: int, requests: int) -> ServerMemory:
    return ServerMemory(requests, read_memory(master_pid), [read_memory(pid) for pid in child_pids(master_pid)])


def visit_charts(n: int, seed: int = 0) -> list[str]:
    """``n`` synthetic clinic notes, each headed by a visit line of its own (date, MRN, vitals)."""
    from training.synth import generate_charts

    rng = random.Random(seed)
    charts = generate_charts(min(n, 2000), seed=seed)
    texts = []
    for i in range(n):
        header = (f"Visit date: 2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}. "
                  f"MRN {rng.randrange(10**7, 10**8)}. BP {rng.randrange(100, 180)}/{rng.randrange(60, 110)}, "
                  f"pulse {rng.randrange(50, 120)}, weight {rng.randrange(450, 1300) / 10} kg.\n")
        texts.append(header + charts[i % len(charts)].text)
    return texts


def send_suggestions(port: int, token: str, texts: list[str], first: int, last: int,
                     threads: int = CLIENT_THREADS) -> int:
    """``POST /v1/suggest`` with ``texts[first:last]`` from ``threads`` keep-alive clients; the count of non-200s."""
    failures = [0]
    lock = threading.Lock()

    def client_loop(offset: int) -> None:
        failed = 0
        for n, i in enumerate(range(first + offset, last, threads)):
            if n % REQUESTS_PER_CONNECTION == 0:
                client = Client(port, token)
            failed += client.request("POST", "/v1/suggest", {"text": texts[i], "top_k": 10}) != 200
        with lock:
            failures[0] += failed

    pool = [threading.Thread(target=client_loop, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return failures[0]


def measure_server(model: str, workers: int, checkpoints: list[int], texts: list[str], workdir: Path,
                   threads: int = 4, env: dict[str, str] | None = None,
                   serve_options: tuple[str, ...] = ()) -> dict[str, Any]:
    """Start ``suggest serve``, read its memory once ready and at each request count of ``checkpoints``."""
    env = env or server_env(workdir)
    token = create_token(env, "coder", "serving-memory")
    proc, port, _log = start_server(model, workers, threads, workdir, env, serve_options=serve_options)
    try:
        wait_for_workers(proc.pid, workers)
        readings = [read_server_memory(proc.pid, 0)]
        sent = failures = 0
        for checkpoint in checkpoints:
            failures += send_suggestions(port, token, texts, sent, checkpoint)
            sent = checkpoint
            readings.append(read_server_memory(proc.pid, sent))
    finally:
        stop_server(proc)
    return {"workers": workers, "threads": threads, "serve_options": list(serve_options), "failures": failures,
            "readings": [r.to_dict() for r in readings], "_readings": readings}


LOADED_PROBE = """
import json, sys
from api.modelhost import load_model, warm_up
warm_up(load_model(sys.argv[1]))
from bench.serving_memory import read_memory
import os
print(json.dumps(read_memory(os.getpid()).__dict__))
"""


def isolated_env(workdir: Path) -> dict[str, str]:
    """A throw-away server's environment with a code-set cache of its own, filled before anything is measured:
    every process of the run then reads the code set from the cache (another installation sharing
    ``~/.cache`` cannot make one of them parse the XML instead, which leaves more memory behind)."""
    env = server_env(workdir, SUGGEST_CACHE_DIR=str(workdir / "cache"))
    subprocess.run([sys.executable, "-c", "from suggest.codeset import load_codeset; load_codeset()"], env=env,
                   check=True)
    return env


def single_process_memory(model: str, env: dict[str, str]) -> ProcessMemory:
    """The memory of one process that loaded and warmed ``model``, as the server's master does."""
    done = subprocess.run([sys.executable, "-c", LOADED_PROBE, model], env=env, capture_output=True, text=True,
                          check=True)
    return ProcessMemory(**json.loads(done.stdout.strip().splitlines()[-1]))


def verdicts(run: dict[str, Any], baseline_rss: float) -> dict[str, Any]:
    """Whether a run met the footprint target at every checkpoint and the no-growth target between the last two."""
    readings: list[ServerMemory] = run["_readings"]
    limit = PSS_TARGET_RATIO * baseline_rss
    counted = readings[1:] or readings
    growth = readings[-1].pss_total - readings[-2].pss_total if len(readings) > 2 else 0.0
    return {"pss_limit": round(limit, 1), "pss_met": all(r.pss_total <= limit for r in counted),
            "growth": round(growth, 1), "growth_met": growth <= GROWTH_TOLERANCE_MB}


def report_lines(run: dict[str, Any], baseline_rss: float) -> list[str]:
    readings: list[ServerMemory] = run["_readings"]
    options = " ".join(run["serve_options"]) or "default options"
    lines = [f"{run['workers']} workers x {run['threads']} threads, {options} ({run['failures']} requests not "
             "answered 200)",
             f"  {'requests':>8}  {'process':<10} {'RSS MB':>8} {'PSS MB':>8} {'USS MB':>8}"]
    for reading in readings:
        processes = [("master", reading.master)] + [(f"worker {k + 1}", w) for k, w in enumerate(reading.workers)]
        for name, memory in processes:
            lines.append(f"  {reading.requests:>8}  {name:<10} {memory.rss:>8.0f} {memory.pss:>8.0f} "
                         f"{memory.uss:>8.0f}")
        lines.append(f"  {reading.requests:>8}  {'sum of PSS':<10} {'':>8} {reading.pss_total:>8.0f} "
                     f"({reading.pss_total / baseline_rss:.2f}x the single process's RSS)")
    verdict = run["verdicts"]
    lines.append(f"  target sum of PSS <= {PSS_TARGET_RATIO}x {baseline_rss:.0f} = {verdict['pss_limit']:.0f} MB: "
                 f"{'met' if verdict['pss_met'] else 'NOT met'}")
    if len(readings) > 2:
        lines.append(f"  growth {readings[-2].requests} -> {readings[-1].requests} requests: {verdict['growth']:+.0f} "
                     f"MB (target <= {GROWTH_TOLERANCE_MB:.0f} MB: {'met' if verdict['growth_met'] else 'NOT met'})")
    return lines


def main(argv: list[str] | None = None) -> int:
    from bench.engine import write_results

    parser = argparse.ArgumentParser(prog="python -m bench.serving_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model reference to serve (default: default)")
    parser.add_argument("--workers", default="2,4", help="worker counts, one server each (default 2,4)")
    parser.add_argument("--requests", default="1000,10000", help="request counts to read the memory at")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8, as suggest serve)")
    parser.add_argument("--max-requests", type=int, help="suggest serve's --max-requests (default: its default; "
                                                          "0 measures workers that are never replaced)")
    parser.add_argument("--json", type=Path, help="results file (default bench/results/serving-memory-*.json)")
    args = parser.parse_args(argv)
    checkpoints = sorted(int(n) for n in args.requests.split(","))
    texts = visit_charts(checkpoints[-1])
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        env = isolated_env(Path(tmp))
        baseline = single_process_memory(args.model, env)
        print(f"baseline: one process that loaded and warmed model {args.model!r}: RSS {baseline.rss:.0f} MB, "
              f"PSS {baseline.pss:.0f} MB, USS {baseline.uss:.0f} MB", flush=True)
        runs = []
        for workers in (int(n) for n in args.workers.split(",")):
            workdir = Path(tmp) / f"workers-{workers}"
            workdir.mkdir()
            options = ("--max-requests", str(args.max_requests)) if args.max_requests is not None else ()
            run = measure_server(args.model, workers, checkpoints, texts, workdir, args.threads,
                                 {**env, "DATABASE_URL": f"sqlite:///{workdir / 'charts.db'}"}, options)
            run["verdicts"] = verdicts(run, baseline.rss)
            print("\n".join(report_lines(run, baseline.rss)), flush=True)
            runs.append(run)
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}, "
          f"after {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f}; {os.cpu_count()} cores")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent, check=False).stdout.strip()
    write_results({"commit": commit, "model": args.model, "baseline": asdict(baseline),
                   "load_average": {"before": load_before, "after": load_after},
                   "runs": [{k: v for k, v in run.items() if not k.startswith("_")} for run in runs]},
                  "serving-memory", args.json)
    met = all(run["verdicts"]["pss_met"] and run["verdicts"]["growth_met"] and not run["failures"] for run in runs)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
