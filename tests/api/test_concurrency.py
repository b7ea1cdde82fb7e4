"""Concurrent saves: no lost or half-written chart, no lost update."""

from __future__ import annotations

import threading

from api_support import CHART_TEXT
from sqlalchemy import text


def test_concurrent_creates_are_all_stored_whole(app, coder):
    n_threads, per_thread = 8, 6
    errors: list[str] = []

    def worker(k: int) -> None:
        client = app.test_client()
        for j in range(per_thread):
            codes = ["E11.9", "I10"] if (k + j) % 2 else ["I10"]
            r = client.post("/v1/charts", json={"patient_id": f"T{k}-{j}", "text": CHART_TEXT, "codes": codes},
                            headers=coder)
            if r.status_code != 201:
                errors.append(f"{r.status_code} {r.get_json()}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.extensions["db_engine"].connect() as conn:
        charts = conn.execute(text("SELECT id, patient_id FROM charts")).all()
        codes = conn.execute(text("SELECT chart_id, code FROM chart_codes")).all()
        history = conn.execute(text("SELECT chart_id FROM chart_history")).all()
    assert len(charts) == n_threads * per_thread
    by_chart: dict[int, set[str]] = {}
    for chart_id, code in codes:
        by_chart.setdefault(chart_id, set()).add(code)
    for chart_id, patient in charts:
        k, j = (int(x) for x in patient[1:].split("-"))
        assert by_chart[chart_id] == ({"E11.9", "I10"} if (k + j) % 2 else {"I10"})
    assert len(history) == len(charts)


def test_concurrent_updates_of_one_chart_never_lose_an_update(app, coder):
    client = app.test_client()
    chart = client.post("/v1/charts", json={"patient_id": "P", "text": CHART_TEXT, "codes": []},
                        headers=coder).get_json()
    wins: list[str] = []
    conflicts: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker(code: str) -> None:
        c = app.test_client()
        barrier.wait()
        r = c.patch(f"/v1/charts/{chart['id']}", json={"codes": [code], "version": 1}, headers=coder)
        with lock:
            if r.status_code == 200:
                wins.append(code)
            else:
                conflicts.append(r.status_code)

    codes = ["E11.9", "I10", "K21.9", "N39.0", "M54.50", "R51.9"]
    threads = [threading.Thread(target=worker, args=(code,)) for code in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # optimistic locking: exactly one writer of version 1 wins, the others are told to reload
    assert len(wins) == 1 and conflicts == [409] * 5
    final = client.get(f"/v1/charts/{chart['id']}", headers=coder).get_json()
    assert final["codes"] == wins and final["version"] == 2
    history = client.get(f"/v1/charts/{chart['id']}/history", headers=coder).get_json()["history"]
    assert [h["version"] for h in history] == [1, 2]
