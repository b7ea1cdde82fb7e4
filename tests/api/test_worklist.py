"""The worklist: statuses, the queue's filters, "next chart", moves through the workflow, users' specialties."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from api_support import bearer, new_token
from sqlalchemy import text


def save(client, headers, **fields) -> dict:
    body = {"patient_id": "P-1", "text": "Assessment: asthma.", "codes": ["J45.909"], **fields}
    response = client.post("/v1/charts", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def move(client, headers, chart: dict, status: str, **extra):
    return client.post(f"/v1/charts/{chart['id']}/status", json={"status": status, "version": chart["version"],
                                                                  **extra}, headers=headers)


def take_next(client, headers):
    return client.post("/v1/worklist/next", headers=headers)


@pytest.fixture()
def specialties(client, coder) -> list[str]:
    known = client.get("/v1/specialties", headers=coder).get_json()["specialties"]
    assert len(known) >= 2
    return known


def test_a_saved_chart_waits_in_the_queue_as_new_unassigned_and_normal(client, coder):
    chart = save(client, coder)
    assert (chart["status"], chart["assignee"], chart["priority"], chart["due_date"]) == ("new", None, "normal", None)
    urgent = save(client, coder, priority="urgent", due_date="2026-12-24")
    assert (urgent["priority"], urgent["due_date"]) == ("urgent", "2026-12-24")


def test_next_chart_takes_priority_then_due_date_then_age(client, coder, admin):
    low = save(client, admin, priority="low")
    normal_old = save(client, admin)
    normal_due_late = save(client, admin, due_date="2027-01-31")
    normal_due_soon = save(client, admin, due_date="2027-01-02")
    high = save(client, admin, priority="high")
    order = [take_next(client, coder).get_json()["chart"]["id"] for _ in range(5)]
    assert order == [high["id"], normal_due_soon["id"], normal_due_late["id"], normal_old["id"], low["id"]]
    empty = take_next(client, coder)
    assert empty.status_code == 404 and "no unassigned new chart" in empty.get_json()["error"]


def test_a_taken_chart_is_the_coders_in_progress_and_kept_in_history_and_audit(client, coder, admin):
    chart = save(client, admin)
    taken = take_next(client, coder).get_json()["chart"]
    assert (taken["id"], taken["status"], taken["assignee"], taken["version"]) == (chart["id"], "in_progress",
                                                                                   "casey", 2)
    history = client.get(f"/v1/charts/{chart['id']}/history", headers=coder).get_json()["history"]
    assert history[-1]["action"] == "status" and history[-1]["changed_by"] == "casey"
    assert history[-1]["changes"]["status"] == ["new", "in_progress"]
    assert history[-1]["changes"]["assignee"] == [None, "casey"]
    audit = client.get("/v1/audit", query_string={"chart_id": chart["id"]}, headers=admin).get_json()["items"]
    assert any(a["action"] == "status" and a["detail"]["to"] == "in_progress" for a in audit)


def test_next_chart_keeps_to_the_coders_specialties(client, coder, admin, specialties):
    mine, other = specialties[:2]
    theirs = save(client, admin, specialty=other, priority="urgent")
    ours = save(client, admin, specialty=mine)
    anyones = save(client, admin)  # no specialty: any coder takes it
    profile = client.put("/v1/users/casey/profile", json={"specialties": [mine]}, headers=admin)
    assert profile.status_code == 200 and profile.get_json()["specialties"] == [mine]
    assert client.get("/v1/me", headers=coder).get_json()["specialties"] == [mine]
    first, second = (take_next(client, coder).get_json() for _ in range(2))
    assert {first["chart"]["id"], second["chart"]["id"]} == {ours["id"], anyones["id"]}
    assert first["specialties"] == [mine]
    assert take_next(client, coder).status_code == 404  # the urgent chart of the other specialty stays
    listed = client.get("/v1/worklist", query_string={"status": "new"}, headers=coder).get_json()
    assert [item["id"] for item in listed["items"]] == [theirs["id"]]


def test_only_an_admin_sets_profiles_and_only_of_existing_users(client, coder, admin):
    refused = client.put("/v1/users/casey/profile", json={"specialties": []}, headers=coder)
    assert refused.status_code == 403
    unknown = client.put("/v1/users/nobody/profile", json={"specialties": []}, headers=admin)
    assert unknown.status_code == 404 and unknown.get_json()["field"] == "user"
    blank = client.put("/v1/users/casey/profile", json={"specialties": [" "]}, headers=admin)
    assert blank.status_code == 400 and blank.get_json()["field"] == "specialties[0]"
    users = client.get("/v1/users", headers=coder).get_json()["users"]
    assert {u["user"]: u["roles"] for u in users} == {"casey": ["coder"], "ada": ["admin"]}


def test_two_coders_cannot_take_the_same_chart(app, client, admin):
    chart = save(client, admin)
    coders = [bearer(new_token(app, "coder", name)) for name in ("casey", "drew")]
    first = move(client, coders[0], chart, "in_progress")
    second = move(client, coders[1], chart, "in_progress")  # with the version both saw
    assert first.status_code == 200 and first.get_json()["assignee"] == "casey"
    assert second.status_code == 409 and second.get_json()["field"] == "version"
    fresh = client.get(f"/v1/charts/{chart['id']}", headers=admin).get_json()
    assert (fresh["status"], fresh["assignee"]) == ("in_progress", "casey")


def test_concurrent_coders_taking_next_charts_each_get_a_different_one(app, admin):
    client = app.test_client()
    charts = [save(client, admin)["id"] for _ in range(12)]
    coders = [bearer(new_token(app, "coder", f"coder-{k}")) for k in range(6)]
    taken: list[tuple[str, int]] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(coders))

    def worker(k: int) -> None:
        c = app.test_client()
        barrier.wait()
        for _ in range(2):
            response = take_next(c, coders[k])
            with lock:
                if response.status_code == 200:
                    taken.append((f"coder-{k}", response.get_json()["chart"]["id"]))
                else:
                    failures.append(f"{response.status_code} {response.get_json()}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(coders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(chart for _, chart in taken) == sorted(charts)  # every chart taken exactly once
    with app.extensions["db_engine"].connect() as conn:
        stored = dict(conn.execute(text("SELECT id, assignee FROM charts")).all())
        moves = conn.execute(text("SELECT count(*) FROM chart_status_changes")).scalar()
    assert all(stored[chart] == coder for coder, chart in taken)
    assert moves == len(charts)


def test_the_workflow_allows_its_moves_only(client, coder, admin):
    chart = save(client, admin, codes=[])
    bad = move(client, coder, chart, "coded")
    assert bad.status_code == 409 and bad.get_json()["field"] == "status" and "in_progress" in bad.get_json()["error"]
    chart = move(client, coder, chart, "in_progress").get_json()
    uncoded = move(client, coder, chart, "coded")
    assert uncoded.status_code == 409 and "no codes" in uncoded.get_json()["error"]
    chart = client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["J45.909"], "version": chart["version"]},
                         headers=coder).get_json()
    chart = move(client, coder, chart, "coded").get_json()
    assert chart["status"] == "coded"
    chart = move(client, coder, chart, "completed").get_json()
    assert (chart["status"], chart["assignee"]) == ("completed", "casey")
    reopen = move(client, coder, chart, "in_progress")
    assert reopen.status_code == 403 and reopen.get_json()["field"] == "status"
    reopened = move(client, admin, chart, "in_progress", note="coding review")
    assert reopened.status_code == 200 and reopened.get_json()["status"] == "in_progress"
    history = client.get(f"/v1/charts/{chart['id']}/history", headers=coder).get_json()["history"]
    assert [h["changes"]["status"][1] for h in history if h["action"] == "status"] == [
        "in_progress", "coded", "completed", "in_progress"]
    assert history[-1]["changes"]["note"] == [None, "coding review"]


def test_only_the_assignee_or_an_admin_moves_a_taken_chart_and_release_returns_it(app, client, coder, admin):
    chart = move(client, coder, save(client, admin), "in_progress").get_json()
    other = bearer(new_token(app, "coder", "drew"))
    refused = move(client, other, chart, "new")
    assert refused.status_code == 403 and "assigned to casey" in refused.get_json()["error"]
    reassign = move(client, coder, chart, "in_progress", assignee="drew")
    assert reassign.status_code == 403 and reassign.get_json()["field"] == "assignee"
    chart = move(client, admin, chart, "in_progress", assignee="drew").get_json()
    assert chart["assignee"] == "drew"
    nobody = move(client, admin, chart, "in_progress", assignee="nobody")
    assert nobody.status_code == 400 and nobody.get_json()["field"] == "assignee"
    released = move(client, other, chart, "new").get_json()
    assert (released["status"], released["assignee"]) == ("new", None)
    assert take_next(client, coder).get_json()["chart"]["id"] == chart["id"]


def test_the_worklist_filters_pages_and_counts(app, client, coder, admin, specialties):
    cardio = save(client, admin, specialty=specialties[0], document_type="progress_note", priority="high")
    plain = save(client, admin)
    taken = move(client, coder, save(client, admin), "in_progress").get_json()
    with app.extensions["db_engine"].begin() as conn:  # an old chart: 10 days in the queue
        old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
        conn.execute(text("UPDATE charts SET created_at = :at WHERE id = :id"), {"at": old, "id": plain["id"]})

    def ids(**query) -> list[int]:
        response = client.get("/v1/worklist", query_string=query, headers=coder)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids() == [cardio["id"], plain["id"], taken["id"]]  # queue order: priority, then age
    assert ids(status="new") == [cardio["id"], plain["id"]]
    assert ids(assignee="me") == ids(assignee="casey") == [taken["id"]]
    assert ids(assignee="none", sort="newest") == [cardio["id"], plain["id"]]
    assert ids(specialty=specialties[0]) == ids(document_type="progress_note") == [cardio["id"]]
    assert ids(min_age_days=7) == [plain["id"]] and ids(max_age_days=1) == [cardio["id"], taken["id"]]
    assert ids(priority="high") == [cardio["id"]]
    page = client.get("/v1/worklist", query_string={"assignee": "none", "per_page": 1, "page": 2},
                      headers=coder).get_json()
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == [plain["id"]]
    assert page["items"][0]["age_days"] == 10 and page["items"][0]["open_queries"] == 0
    counts = client.get("/v1/worklist", query_string={"status": "new"}, headers=coder).get_json()["counts"]
    assert counts == {"new": 2, "in_progress": 1, "on_hold": 0, "coded": 0, "completed": 0}
    bad = client.get("/v1/worklist", query_string={"status": "waiting"}, headers=coder)
    assert bad.status_code == 400 and bad.get_json()["field"] == "status"


def test_priority_and_due_date_change_with_the_chart_and_are_kept_in_history(client, coder):
    chart = save(client, coder)
    changed = client.patch(f"/v1/charts/{chart['id']}", json={"priority": "urgent", "due_date": "2027-02-01"},
                           headers=coder).get_json()
    assert (changed["priority"], changed["due_date"]) == ("urgent", "2027-02-01")
    history = client.get(f"/v1/charts/{chart['id']}/history", headers=coder).get_json()["history"]
    assert history[-1]["changes"]["priority"] == ["normal", "urgent"]
    bad = client.patch(f"/v1/charts/{chart['id']}", json={"priority": "asap"}, headers=coder)
    assert bad.status_code == 400 and bad.get_json()["field"] == "priority"
