"""Smoke test of the engine benchmark: ``python -m bench.engine --quick`` runs and writes its numbers.

No timing is asserted (targets live in the benchmark's output, not in tests): only that every section ran
and recorded the numbers a reader of the JSON expects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # One native thread per pool: the machine is shared, and OpenMP threads spin under contention.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bench.engine", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_quick_bench_writes_speed_memory_and_robustness_numbers(tmp_path):
    out = tmp_path / "engine.json"
    proc = _run_bench("--quick", "--sections", "speed,memory,robustness", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["quick"] is True
    sections = report["sections"]
    assert {name: s["status"] for name, s in sections.items()} == {
        "speed": "ok", "memory": "ok", "robustness": "ok"}

    speed = sections["speed"]["methods"]
    assert set(speed) == {"model", "model_2proc", "model_1_thread", "notebook", "dictionary"}
    for method in speed.values():
        assert method["batch"]["charts_per_s_median"] > 0
        assert method["batch_vs_notebook"] > 0  # the targets are multiples of the notebook's rate in the same run
        assert 0 < method["single"]["p50_ms"] <= method["single"]["p95_ms"] <= method["single"]["p99_ms"]

    stages = sections["memory"]["stages"]
    assert list(stages) == ["import", "model", "batch"]
    # Each stage is a fresh process doing more than the one before: loading a model costs memory.
    assert 0 < stages["import"]["peak_rss_mb"] < stages["model"]["peak_rss_mb"] <= stages["batch"]["peak_rss_mb"]

    cases = {c["case"]: c for c in sections["robustness"]["cases"]}
    assert all(c["status"] in ("ok", "skipped") for c in cases.values()), cases
    for empty in ("empty text", "whitespace only"):
        assert cases[empty]["suggestions"] == 0 and cases[empty]["warnings"]
    scaled = [c for c in cases.values() if c["s_per_mb"] is not None]
    assert len(scaled) >= 2 and all(c["seconds"] > 0 for c in scaled)

    # The tables a reader sees.
    for title in ("Speed (", "Memory (", "Robustness of suggest()"):
        assert title in proc.stdout


def test_unknown_section_is_a_usage_error_naming_the_sections():
    proc = _run_bench("--sections", "speed,latency", timeout=60)
    assert proc.returncode == 2
    assert "unknown section(s) latency" in proc.stderr
    assert "accuracy, aci, speed, memory, train, robustness" in proc.stderr


def test_spark_bench_times_both_engines_and_estimates_a_cluster(tmp_path, small_model_dir, spark):
    """``bench.spark`` on 40 charts: both runs recorded with their rates and peak memory (``spark`` only gives the
    reason to skip where pyspark or Java is missing)."""
    out = tmp_path / "spark.json"
    proc = subprocess.run([sys.executable, "-m", "bench.spark", "--charts", "40", "--model", str(small_model_dir),
                           "--buckets", "2", "--json", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    for engine in ("local", "spark"):
        assert report[engine]["charts_per_s"] > 0 and report[engine]["peak_pss_mb"] > 0
    assert report["spark"]["summary"][0].startswith("spark predict: 40 charts (0 failed)")
    assert [row["cores_per_node"] for row in report["cluster_estimate"]] == [8, 16, 32]
