"""Coding a backlog on Spark against one machine's ``suggest predict``: ``python -m bench.spark`` (``make bench-spark``).

The same charts (default 100,000 synthetic clinic notes, each headed by a visit line of its own: see
``bench.serving_memory.visit_charts``) go through, one after the other in the same run, on the same model:

- **local**: ``suggest predict --jobs 2`` (one process and the workers it forks), JSONL in and out;
- **spark**: ``python -m suggest.spark`` (what ``spark-submit`` runs) on ``local[2]``: the driver, its JVM and the
  Python workers, JSONL in and Parquet out, in resumable buckets.

For each: wall seconds from start to exit (Spark's start-up and the model's loading included), charts/s, and the peak
memory of the whole process tree, sampled every 0.5 s from ``/proc/PID/smaps_rollup``: the sum of PSS (shared pages
counted once) and the sum of RSS. From Spark's rate per core, the time a cluster would take for 10 million charts
(10 nodes, several core counts) is printed, assuming the per-core rate holds (the job is embarrassingly parallel:
no shuffle but the input's repartitioning). Results go to ``bench/results/spark-<UTC timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.serving_memory import child_pids, read_memory, visit_charts

CLUSTER_CHARTS = 10_000_000
CLUSTER_NODES = 10
CORES_PER_NODE = (8, 16, 32)


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(child_pids(current))
    return found


class PeakMemory(threading.Thread):
    """Samples the summed PSS and RSS of a process tree until stopped; keeps the peaks (MB)."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_pss = self.peak_rss = 0.0
        self.peak_processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            pss = rss = 0.0
            pids = tree_pids(self.pid)
            for pid in pids:
                try:
                    memory = read_memory(pid)
                except (OSError, KeyError):
                    continue
                pss += memory.pss
                rss += memory.rss
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self.peak_processes = max(self.peak_processes, len(pids))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def timed_run(command: list[str], n_charts: int, env: dict[str, str]) -> dict[str, Any]:
    """Run ``command`` to its end; wall seconds, charts/s and the tree's peak memory."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = PeakMemory(process.pid)
    sampler.start()
    _out, err = process.communicate()
    seconds = time.monotonic() - started
    sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({process.returncode}):\n{err[-3000:]}")
    return {"seconds": round(seconds, 1), "charts_per_s": round(n_charts / seconds, 1),
            "peak_pss_mb": round(sampler.peak_pss), "peak_rss_mb": round(sampler.peak_rss),
            "peak_processes": sampler.peak_processes, "summary": [line for line in err.splitlines()
                                                                   if line.startswith("spark predict:")]}


def cluster_estimate(per_core_rate: float) -> list[dict[str, Any]]:
    """Hours for ``CLUSTER_CHARTS`` charts on ``CLUSTER_NODES`` nodes of each core count, at ``per_core_rate``."""
    return [{"nodes": CLUSTER_NODES, "cores_per_node": cores, "charts": CLUSTER_CHARTS,
             "hours": round(CLUSTER_CHARTS / (per_core_rate * CLUSTER_NODES * cores) / 3600, 2)}
            for cores in CORES_PER_NODE]


def main(argv: list[str] | None = None) -> int:
    from bench.engine import write_results

    parser = argparse.ArgumentParser(prog="python -m bench.spark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--charts", type=int, default=100_000, help="synthetic charts (default 100,000)")
    parser.add_argument("--model", default="default", help="model reference (default: default)")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--jobs", type=int, default=2, help="suggest predict --jobs for the local run (default 2)")
    parser.add_argument("--buckets", type=int, default=64, help="the Spark job's buckets (default 64)")
    parser.add_argument("--json", type=Path, help="results file (default bench/results/spark-*.json)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        folder = Path(tmp)
        charts = folder / "charts.jsonl"
        with charts.open("w", encoding="utf-8") as out:
            for i, text in enumerate(visit_charts(args.charts)):
                out.write(json.dumps({"id": f"b{i:07d}", "text": text}) + "\n")
        words = sum(len(line.split()) for line in charts.read_text(encoding="utf-8").splitlines()) / args.charts
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        print(f"{args.charts} charts ({words:.0f} words on average, JSON included), model {args.model}", flush=True)
        local = timed_run([sys.executable, "-m", "suggest", "predict", "--model", args.model, "--input", str(charts),
                           "--output", str(folder / "local.jsonl"), "--jobs", str(args.jobs)], args.charts, env)
        print(f"  local (suggest predict --jobs {args.jobs}): {local['seconds']} s, {local['charts_per_s']} charts/s, "
              f"peak PSS {local['peak_pss_mb']} MB (RSS {local['peak_rss_mb']} MB)", flush=True)
        spark = timed_run([sys.executable, "-m", "suggest.spark", "--model", args.model, "--input", str(charts),
                           "--output", str(folder / "spark"), "--master", args.master, "--buckets",
                           str(args.buckets), "--conf", "spark.ui.enabled=false"], args.charts, env)
        print(f"  spark ({args.master}): {spark['seconds']} s, {spark['charts_per_s']} charts/s, peak PSS "
              f"{spark['peak_pss_mb']} MB (RSS {spark['peak_rss_mb']} MB); {' '.join(spark['summary'])}", flush=True)
    cores = int(args.master[len("local["):-1]) if args.master.startswith("local[") and args.master[6:-1].isdigit() \
        else os.cpu_count() or 1
    per_core = spark["charts_per_s"] / cores
    estimate = cluster_estimate(per_core)
    print(f"  spark / local: {spark['charts_per_s'] / local['charts_per_s']:.2f}x the rate; per core "
          f"{per_core:.1f} charts/s")
    for row in estimate:
        print(f"  {row['charts']:,} charts on {row['nodes']} nodes x {row['cores_per_node']} cores: "
              f"about {row['hours']} h at that rate per core")
    write_results({"charts": args.charts, "mean_words": round(words, 1), "model": args.model, "master": args.master,
                   "load_before": load_before, "load_after": os.getloadavg(), "local": local, "spark": spark,
                   "per_core_charts_per_s": round(per_core, 2), "cluster_estimate": estimate}, "spark", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
