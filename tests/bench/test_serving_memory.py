"""The serving-memory benchmark's machinery, small: the real server with the small model and 2 workers, a few
requests, and the memory of the master and of each worker read from /proc. Sane numbers only: the targets live in
``python -m bench.serving_memory``, not here."""

from __future__ import annotations

import os

from bench.bench_api import server_env
from bench.serving_memory import (child_pids, measure_server, read_memory, report_lines, single_process_memory,
                                  verdicts, visit_charts)


def test_the_memory_of_a_process_is_read_from_proc():
    mine = read_memory(os.getpid())
    assert mine.pid == os.getpid()
    assert 0 < mine.uss <= mine.pss <= mine.rss
    assert os.getpid() in child_pids(os.getppid())


def test_visit_charts_are_synthetic_notes_each_with_a_visit_line_of_its_own():
    texts = visit_charts(30, seed=3)
    assert len(texts) == 30 and len(set(texts)) == 30
    assert all(text.startswith("Visit date: 2026-") and "MRN " in text for text in texts)


def test_the_server_and_each_worker_are_measured_as_the_requests_go(small_model_dir, tmp_path):
    env = server_env(tmp_path)
    baseline = single_process_memory(str(small_model_dir), env)
    assert 0 < baseline.uss <= baseline.rss
    run = measure_server(str(small_model_dir), 2, [12, 30], visit_charts(30), tmp_path, threads=2, env=env)
    assert run["failures"] == 0
    assert [reading["requests"] for reading in run["readings"]] == [0, 12, 30]
    for reading in run["_readings"]:
        assert len(reading.workers) == 2 and reading.master.pid not in {w.pid for w in reading.workers}
        for process in (reading.master, *reading.workers):
            assert 0 < process.uss <= process.pss <= process.rss
        # PSS shares the pages the workers inherit: the server's sum stays far below the sum of its RSS.
        assert reading.pss_total < reading.master.rss + sum(w.rss for w in reading.workers)
    run["verdicts"] = verdicts(run, baseline.rss)
    lines = report_lines(run, baseline.rss)
    assert sum("the single process's RSS)" in line for line in lines) == 3 and any("growth 12 -> 30" in line for line in lines)
