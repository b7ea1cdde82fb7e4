"""The department benchmark's machinery, small: 3,000 seeded charts on SQLite, the real server with the small model,
a few requests per figure and a few coders taking charts at once. It ran and produced numbers, its seeded counters
are what ``api.analytics.rebuild`` makes of the seeded charts, and no chart was taken twice; the targets live in
``python -m bench.department``, not here (no timing is asserted)."""

from __future__ import annotations

from bench.department import run_department, verdicts

FIGURES = ("status", "throughput", "completeness", "codes", "quality", "calibration", "misses")


def test_the_department_bench_runs_small_and_its_seeded_counters_equal_a_rebuild(small_model_dir, tmp_path):
    report = run_department(charts=3000, model=small_model_dir, workdir=tmp_path, cache_dir=None, requests=3,
                            warmup=1, coders=3, takes=2, check=True, quiet=True)
    result = report["stores"]["sqlite"]
    assert "error" not in result, result.get("traceback")
    seeded = result["seeded"]
    assert seeded["rows"]["charts"] == result["rows"]["charts"] == 3000
    assert all(result["rows"][table] > 0 for table in ("chart_codes", "chart_status_changes", "shown_suggestions",
                                                       "feedback", "analytics_counts"))
    assert seeded["statuses"]["new"] > 0 and seeded["statuses"]["completed"] > seeded["statuses"]["new"]

    check = result["rebuild_check"]
    assert check["counters_equal"] and check["contributions_equal"], check["differences"]

    measured = result["measured"]
    assert tuple(measured["figures"]) == FIGURES
    for name, stats in measured["figures"].items():
        assert stats["statuses"] == {"200": 3}, name
        assert stats["rows"] > 0 and stats["p50_ms"] > 0 and stats["p95_ms"] >= stats["p50_ms"], name
        assert measured["profile"][name]["statements"] >= 1 and measured["profile"][name]["plan"], name
    assert measured["me"]["statuses"] == {"200": measured["me"]["n"]}
    for key, requests in (("next_alone", 2), ("next_parallel", 6), ("me_parallel", 6)):
        assert measured[key]["n"] == requests and measured[key]["statuses"] == {"200": requests}, key
        assert measured[key]["p95_ms"] > 0, key

    takes = measured["takes"]
    assert takes["ok"] and takes["takes"] == takes["distinct_charts"] == takes["in_progress_added"] == 8, takes
    assert measured["naive_codes"]["best_ms"] > 0 and measured["naive_codes"]["equals_counters"]
    assert set(verdicts(report)["sqlite"]) == {*(f"figure_{name}" for name in FIGURES), "next_chart",
                                               "no_double_takes"}
