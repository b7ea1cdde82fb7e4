"""``Idempotency-Key`` on ``POST /v1/charts``: a retried save returns the chart saved first and saves nothing, even
when the retries race each other (issue: "a retried save duplicates the chart")."""

from __future__ import annotations

import json
import threading

from api_support import CHART_TEXT, bearer, new_token
from sqlalchemy import text

from api import store

BODY = {"patient_id": "P-1", "encounter_id": "E-1", "text": CHART_TEXT, "codes": ["e1122", "I10"]}


def _count(app, table: str) -> int:
    with app.extensions["db_engine"].connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def _save(client, headers: dict, key: str | None, body: dict | None = None, **kwargs):
    extra = {} if key is None else {"Idempotency-Key": key}
    return client.post("/v1/charts", json=BODY if body is None else body, headers={**headers, **extra}, **kwargs)


def test_a_retried_save_returns_the_first_chart_and_saves_nothing(app, coder):
    client = app.test_client()
    first = _save(client, coder, "save-7f3a")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = _save(client, coder, "save-7f3a")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    # the same JSON spelled otherwise (key order, spacing) is the same request
    respelled = json.dumps(dict(reversed(list(BODY.items()))), indent=2)
    third = client.post("/v1/charts", data=respelled, content_type="application/json",
                        headers={**coder, "Idempotency-Key": "save-7f3a"})
    assert third.status_code == 201 and third.headers["Idempotent-Replayed"] == "true"
    assert third.get_json()["id"] == first.get_json()["id"]
    assert (_count(app, "charts"), _count(app, "chart_history"), _count(app, "idempotency_keys")) == (1, 1, 1)
    assert first.get_json()["codes"] == ["E11.22", "I10"]


def test_without_a_key_every_save_is_a_new_chart(app, coder):
    client = app.test_client()
    ids = {_save(client, coder, None).get_json()["id"] for _ in range(2)}
    assert len(ids) == 2 and _count(app, "idempotency_keys") == 0


def test_the_replay_is_the_chart_as_it_is_now(app, coder):
    client = app.test_client()
    chart = _save(client, coder, "k-now").get_json()
    patched = client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["E11.9"], "version": 1}, headers=coder)
    assert patched.status_code == 200
    replay = _save(client, coder, "k-now")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["codes"] == ["E11.9"] and replay.get_json()["version"] == 2


def test_the_same_key_with_another_body_is_a_422_naming_the_header(app, coder):
    client = app.test_client()
    assert _save(client, coder, "k-body").status_code == 201
    other = _save(client, coder, "k-body", {**BODY, "codes": ["J45.909"]})
    assert other.status_code == 422 and other.get_json()["field"] == "Idempotency-Key"
    assert _count(app, "charts") == 1


def test_malformed_keys_are_a_400_naming_the_header(app, coder):
    client = app.test_client()
    for key in ("", "x" * 201, "caf\u00e9", "tab\there", " lead", "trail ", "del\x7f"):
        response = _save(client, coder, key)
        assert response.status_code == 400, key
        assert response.get_json()["field"] == "Idempotency-Key", key
    assert _count(app, "charts") == 0
    for key in ("x" * 200, "a", "550e8400-e29b-41d4-a716-446655440000", "in ner:~!{}"):
        assert _save(client, coder, key).status_code == 201, key


def test_keys_are_per_user_not_per_token(app, coder):
    client = app.test_client()
    mine = _save(client, coder, "shared-key").get_json()
    other_user = bearer(new_token(app, "coder", "dana"))
    theirs = _save(client, other_user, "shared-key", {**BODY, "patient_id": "P-2"})
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["id"] != mine["id"]
    same_user_new_token = bearer(new_token(app, "coder", "casey"))
    replay = _save(client, same_user_new_token, "shared-key")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_json()["id"] == mine["id"]


def test_the_key_of_a_deleted_chart_is_a_409(app, coder):
    client = app.test_client()
    chart = _save(client, coder, "k-deleted").get_json()
    admin = bearer(new_token(app, "admin", "ada"))
    assert client.delete(f"/v1/charts/{chart['id']}", headers=admin).status_code == 200
    response = _save(client, coder, "k-deleted")
    assert response.status_code == 409 and response.get_json()["field"] == "Idempotency-Key"


def test_the_loser_of_the_race_rolls_back_and_replays_the_winner(app, coder, monkeypatch):
    """The request whose look-up found no key (the winner had not committed yet) hits the unique constraint: its
    chart is rolled back and it answers with the winner's."""
    client = app.test_client()
    winner = _save(client, coder, "k-race").get_json()
    real = store._idempotent_chart
    calls: list[str] = []

    def missed_once(session, who, key, digest):
        calls.append(key)
        return None if len(calls) == 1 else real(session, who, key, digest)

    monkeypatch.setattr(store, "_idempotent_chart", missed_once)
    loser = _save(client, coder, "k-race")
    assert len(calls) == 2, "the loser should have looked the key up again after the constraint stopped it"
    assert loser.status_code == 201 and loser.headers["Idempotent-Replayed"] == "true"
    assert loser.get_json()["id"] == winner["id"]
    assert (_count(app, "charts"), _count(app, "chart_history"), _count(app, "idempotency_keys")) == (1, 1, 1)


def _race(app, headers: dict, key: str, body: dict, n_threads: int) -> list[tuple[int, int | None, bool]]:
    """``n_threads`` saves with one key and body, released together: (status, chart id, replayed) of each."""
    barrier = threading.Barrier(n_threads)
    answers: list[tuple[int, int | None, bool]] = []
    lock = threading.Lock()

    def worker() -> None:
        client = app.test_client()
        barrier.wait()
        response = _save(client, headers, key, body)
        with lock:
            answers.append((response.status_code, (response.get_json() or {}).get("id"),
                            response.headers.get("Idempotent-Replayed") == "true"))

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_concurrent_saves_with_one_key_make_one_chart(app, coder):
    n_threads, rounds = 8, 4
    for r in range(rounds):
        answers = _race(app, coder, f"race-{r}", {**BODY, "patient_id": f"RACE-{r}"}, n_threads)
        assert [status for status, _, _ in answers] == [201] * n_threads, answers
        assert len({chart_id for _, chart_id, _ in answers}) == 1, answers
        assert sum(not replayed for _, _, replayed in answers) == 1, answers
    assert (_count(app, "charts"), _count(app, "chart_history"), _count(app, "idempotency_keys")) == (rounds,) * 3
    with app.extensions["db_engine"].connect() as conn:
        creates = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'create'")).scalar()
    assert creates == rounds
