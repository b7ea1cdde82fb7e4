"""The durability benchmark's core, small: the real server is killed with SIGKILL twice while 8 clients save 200
charts with Idempotency-Keys; nothing acknowledged is lost or changed, nothing is saved twice. ``make durability`` is
the long run."""

from __future__ import annotations

import os

import pytest

from bench.durability import run_durability, summary


def _assert_durable(report: dict) -> None:
    assert report["ok"], summary(report)
    assert report["lost"] == report["corrupted"] == report["duplicates"] == 0, summary(report)
    assert report["saves_attempted"] == report["acknowledged"] == 200 and report["kills"] == 2, summary(report)
    assert report["retried"] >= 1, "the kills caught no save in flight"
    assert report["in_database"]["keys"] == report["in_database"]["charts"] == 200


def test_no_acknowledged_chart_is_lost_or_saved_twice_when_the_server_is_killed(small_model_dir, tmp_path):
    _assert_durable(run_durability(small_model_dir, tmp_path, saves=200, kills=2, seed=7))


def test_the_same_on_postgres(small_model_dir, tmp_path):
    url = os.environ.get("SUGGEST_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set SUGGEST_TEST_POSTGRES_URL to a throw-away PostgreSQL database")
    from bench.fuzz import wipe_postgres

    wipe_postgres(url)
    _assert_durable(run_durability(small_model_dir, tmp_path, url, saves=200, kills=2, seed=7))
