"""The chart store on a real PostgreSQL (psycopg 3): the same scenarios as on SQLite.

Runs when ``SUGGEST_TEST_POSTGRES_URL`` names a database the tests may wipe, e.g.
``postgresql://postgres@127.0.0.1:5432/charts_test``; skipped otherwise.
"""

from __future__ import annotations

import os

import pytest
import test_analytics
import test_bad_input
import test_bulk_import
import test_charts
import test_concurrency
import test_idempotency
import test_queries
import test_worklist
from api_support import bearer, make_app, new_token
from sqlalchemy import create_engine, text

URL = os.environ.get("SUGGEST_TEST_POSTGRES_URL")
if not URL:
    pytest.skip("set SUGGEST_TEST_POSTGRES_URL to a throw-away PostgreSQL database", allow_module_level=True)


@pytest.fixture()
def pg_app(tmp_path, small_model):
    engine = create_engine(URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    app = make_app(tmp_path, small_model, database_url=URL)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture()
def headers(pg_app):
    return bearer(new_token(pg_app, "coder", "casey")), bearer(new_token(pg_app, "admin", "ada"))


def test_migrations_match_the_models_on_postgres(pg_app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from api.db import Base

    with pg_app.extensions["db_engine"].connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


@pytest.mark.parametrize("scenario", [
    test_charts.test_create_normalises_codes_and_reads_back,
    test_charts.test_patch_keeps_every_change_in_history,
    test_charts.test_patch_with_a_stale_version_is_a_conflict,
    test_charts.test_search_by_code_patient_date_and_text,
])
def test_chart_store_scenarios_on_postgres(pg_app, headers, scenario):
    scenario(pg_app.test_client(), headers[0])


def test_delete_feedback_export_and_audit_on_postgres(pg_app, headers, tmp_path):
    client = pg_app.test_client()
    test_charts.test_delete_is_soft_and_recorded(client, *headers)
    test_charts.test_a_deleted_chart_is_gone_from_every_route_that_returns_its_content(client, *headers)
    test_charts.test_feedback_updates_codes_and_export_round_trips(client, *headers, tmp_path)


def test_concurrent_writes_on_postgres(pg_app, headers):
    test_concurrency.test_concurrent_creates_are_all_stored_whole(pg_app, headers[0])
    test_concurrency.test_concurrent_updates_of_one_chart_never_lose_an_update(pg_app, headers[0])


@pytest.mark.parametrize("scenario", [
    test_idempotency.test_a_retried_save_returns_the_first_chart_and_saves_nothing,
    test_idempotency.test_the_replay_is_the_chart_as_it_is_now,
    test_idempotency.test_the_same_key_with_another_body_is_a_422_naming_the_header,
    test_idempotency.test_malformed_keys_are_a_400_naming_the_header,
    test_idempotency.test_keys_are_per_user_not_per_token,
    test_idempotency.test_the_key_of_a_deleted_chart_is_a_409,
    test_idempotency.test_concurrent_saves_with_one_key_make_one_chart,
])
def test_idempotency_keys_on_postgres(pg_app, headers, scenario):
    scenario(pg_app, headers[0])


def test_the_loser_of_an_idempotency_race_replays_the_winner_on_postgres(pg_app, headers, monkeypatch):
    test_idempotency.test_the_loser_of_the_race_rolls_back_and_replays_the_winner(pg_app, headers[0], monkeypatch)


@pytest.mark.parametrize("kind", ["bad queries", "NUL and control characters", "lone surrogates and invalid UTF-8",
                                  "unicode edge cases", "huge values"])
def test_bad_input_on_postgres(pg_app, headers, models_dir_with_small_model, kind):
    sent, wrong = test_bad_input.corpus_failures(pg_app, headers[1], kind)
    assert sent and not wrong, f"{len(wrong)} of {sent}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("scenario", ["order", "race", "filters"])
def test_the_worklist_on_postgres(pg_app, headers, scenario):
    client = pg_app.test_client()
    coder, admin = headers
    if scenario == "order":
        test_worklist.test_next_chart_takes_priority_then_due_date_then_age(client, coder, admin)
    elif scenario == "race":
        test_worklist.test_two_coders_cannot_take_the_same_chart(pg_app, client, admin)
    else:
        specialties = client.get("/v1/specialties", headers=coder).get_json()["specialties"]
        test_worklist.test_the_worklist_filters_pages_and_counts(pg_app, client, coder, admin, specialties)


def test_concurrent_next_charts_on_postgres(pg_app, headers):
    test_worklist.test_concurrent_coders_taking_next_charts_each_get_a_different_one(pg_app, headers[1])


def test_provider_queries_on_postgres(pg_app, headers):
    client = pg_app.test_client()
    coder = headers[0]
    provider = bearer(new_token(pg_app, "provider", "dr-quinn"))
    saved = client.post("/v1/charts", json={"patient_id": "P-7", "text": test_queries.TEXT, "codes": ["I50.9"]},
                        headers=coder).get_json()
    chart = client.post(f"/v1/charts/{saved['id']}/status", json={"status": "in_progress", "version": 1},
                        headers=coder).get_json()
    test_queries.test_an_answer_amends_the_chart_keeps_its_history_and_resumes_it(client, coder, provider, chart)


def test_analytics_on_postgres(pg_app, headers):
    client = pg_app.test_client()
    admin = headers[1]
    department = test_analytics.seed_department(pg_app, client, admin)
    test_analytics.test_quality_calibration_and_misses_match_an_independent_computation(pg_app, client, admin,
                                                                                         department)
    test_analytics.test_status_codes_and_throughput_match_what_was_done(client, admin, department)
    test_analytics.test_top_codes_and_completeness_match_the_store_and_the_checks(client, admin, department)
    test_analytics.test_counters_kept_up_to_date_equal_a_full_rebuild(pg_app, client, admin, department)


def test_imports_on_postgres(pg_app, headers):
    test_bulk_import.test_concurrent_workers_compute_each_chart_once_and_take_over_stale_claims(
        pg_app, pg_app.test_client(), headers[0])
