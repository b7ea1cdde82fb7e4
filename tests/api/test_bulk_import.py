"""Bulk import into the queue: JSONL, CSV and FHIR files become new charts, all or nothing; their suggestions are
computed in the background, once per chart however many processes work, and served while the text is unchanged."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from api_support import FHIR_DOCUMENT, make_app
from sqlalchemy import func, select, update

from api.db import ChartRow, PrecomputeItem
from api.imports import precompute_once

LINES = [{"patient_id": "P-1", "text": "Assessment: type 2 diabetes mellitus and essential hypertension."},
         {"patient_id": "P-2", "text": "Assessment: asthma, mild intermittent.", "priority": "urgent",
          "due_date": "2027-01-15"},
         {"patient_id": "P-3", "text": "Assessment: gastro-esophageal reflux disease.", "codes": ["K21.9"]}]


def jsonl(lines) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def drain(app, worker: str = "test") -> int:
    done = 0
    while n := precompute_once(app.extensions["db_sessions"], app.extensions["model_host"].served, worker):
        done += n
    return done


def chart_count(app) -> int:
    with app.extensions["db_sessions"]() as session:
        return session.scalar(select(func.count()).select_from(ChartRow))


def test_a_jsonl_file_fills_the_queue_and_its_suggestions_are_computed_in_the_background(app, client, coder):
    response = client.post("/v1/imports", json={"format": "jsonl", "filename": "monday.jsonl", "content": jsonl(LINES),
                                                "defaults": {"priority": "high"}}, headers=coder)
    assert response.status_code == 202, response.get_json()
    started = response.get_json()
    job, ids = started["job"], started["chart_ids"]
    assert (job["status"], job["total"], job["precomputed"], job["filename"]) == ("precomputing", 3, 0, "monday.jsonl")
    charts = [client.get(f"/v1/charts/{i}", headers=coder).get_json() for i in ids]
    assert [c["status"] for c in charts] == ["new"] * 3
    assert [c["priority"] for c in charts] == ["high", "urgent", "high"]  # the file's value wins over the default
    assert charts[1]["due_date"] == "2027-01-15" and charts[2]["codes"] == ["K21.9"]
    assert client.get(f"/v1/charts/{ids[0]}/suggestions", headers=coder).status_code == 404  # not yet

    assert drain(app) == 3
    progress = client.get(f"/v1/imports/{job['id']}", headers=coder).get_json()
    assert (progress["status"], progress["precomputed"], progress["failed"]) == ("done", 3, 0)
    assert progress["finished_at"] is not None
    stored = client.get(f"/v1/charts/{ids[0]}/suggestions", headers=coder).get_json()
    live = client.post("/v1/suggest", json={"text": LINES[0]["text"], "top_k": 100}, headers=coder).get_json()
    assert [(s["code"], round(s["confidence"], 6)) for s in stored["suggestions"]][:10] == \
        [(s["code"], round(s["confidence"], 6)) for s in live["suggestions"]][:10]
    assert stored["computed_at"] and stored["model"]["name"] == live["model"]["name"]
    assert client.get("/v1/imports", headers=coder).get_json()["jobs"][0]["id"] == job["id"]

    # a changed text makes them stale
    client.patch(f"/v1/charts/{ids[0]}", json={"text": LINES[0]["text"] + " Follow up in 3 months."}, headers=coder)
    stale = client.get(f"/v1/charts/{ids[0]}/suggestions", headers=coder)
    assert stale.status_code == 404 and stale.get_json()["field"] == "suggestions"


def test_a_bad_record_refuses_the_file_naming_its_line_and_nothing_is_stored(app, client, coder):
    before = chart_count(app)
    bad = jsonl(LINES[:1]) + '{"patient_id": "P-9"}\n' + jsonl([{**LINES[1], "priority": "soon"}]) + "not json\n"
    response = client.post("/v1/imports", json={"format": "jsonl", "filename": "bad.jsonl", "content": bad},
                           headers=coder)
    body = response.get_json()
    assert response.status_code == 400 and body["field"] == "content"
    assert "bad.jsonl: 3 bad record(s), nothing imported" in body["error"]
    assert "line 2: text: field required" in body["error"] and "line 3: priority" in body["error"]
    assert "line 4: invalid JSON" in body["error"]
    unknown_code = client.post("/v1/imports", json={"format": "jsonl", "content": jsonl(
        [LINES[0], {**LINES[1], "codes": ["Q99.99"]}])}, headers=coder)
    assert unknown_code.status_code == 400 and unknown_code.get_json()["field"] == "charts[1].codes[0]"
    assert chart_count(app) == before


def test_csv_and_fhir_files(app, client, coder):
    csv_text = ("patient_id,text,codes,priority,document_type\n"
                'P-10,"Assessment: asthma.",J45.909;I10,low,progress_note\n'
                "P-11,Hypertension.,,,\n")
    response = client.post("/v1/imports", json={"format": "csv", "content": csv_text}, headers=coder)
    assert response.status_code == 202, response.get_json()
    first = client.get(f"/v1/charts/{response.get_json()['chart_ids'][0]}", headers=coder).get_json()
    assert (first["codes"], first["priority"], first["document_type"]) == (["J45.909", "I10"], "low", "progress_note")
    bad_csv = client.post("/v1/imports", json={"format": "csv", "content": "patient_id,text\nP-12,\n"}, headers=coder)
    assert bad_csv.status_code == 400 and "line 2: text" in bad_csv.get_json()["error"]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": FHIR_DOCUMENT}, {"resource": {**FHIR_DOCUMENT, "id": "doc-2"}}]}
    fhir = client.post("/v1/imports", json={"format": "fhir", "content": json.dumps(bundle)}, headers=coder)
    assert fhir.status_code == 202, fhir.get_json()
    assert fhir.get_json()["job"]["total"] == 2
    chart = client.get(f"/v1/charts/{fhir.get_json()['chart_ids'][0]}", headers=coder).get_json()
    assert chart["patient_id"] == "Patient/p1" and "asthma" in chart["text"].lower()


def test_concurrent_workers_compute_each_chart_once_and_take_over_stale_claims(app, client, coder):
    lines = [{"patient_id": f"P-{k}", "text": f"Assessment: asthma and essential hypertension, visit {k}."}
             for k in range(40)]
    job = client.post("/v1/imports", json={"format": "jsonl", "content": jsonl(lines)}, headers=coder).get_json()["job"]
    with app.extensions["db_sessions"]() as session, session.begin():  # a claim left by a killed process
        first = session.scalar(select(PrecomputeItem.chart_id).order_by(PrecomputeItem.chart_id))
        session.execute(update(PrecomputeItem).where(PrecomputeItem.chart_id == first).values(
            claimed_by="dead:1", claimed_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
    done: list[int] = []
    threads = [threading.Thread(target=lambda k=k: done.append(drain(app, f"worker-{k}"))) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done) == 40
    progress = client.get(f"/v1/imports/{job['id']}", headers=coder).get_json()
    assert (progress["status"], progress["precomputed"], progress["failed"]) == ("done", 40, 0)


def test_the_service_process_computes_them_by_itself(tmp_path, small_model):
    from api_support import bearer, new_token

    app = make_app(tmp_path, small_model, precompute_seconds=0.2)
    client = app.test_client()
    headers = bearer(new_token(app, "coder", "casey"))
    job = client.post("/v1/imports", json={"format": "jsonl", "content": jsonl(LINES)}, headers=headers).get_json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        progress = client.get(f"/v1/imports/{job['job']['id']}", headers=headers).get_json()
        if progress["status"] == "done":
            break
        time.sleep(0.2)
    assert progress["status"] == "done" and progress["precomputed"] == 3


@pytest.mark.parametrize("who", ["admin", "other coder"])
def test_a_coder_sees_their_own_imports_an_admin_all(app, client, coder, admin, who):
    from api_support import bearer, new_token

    job = client.post("/v1/imports", json={"format": "jsonl", "content": jsonl(LINES[:1])}, headers=coder).get_json()
    viewer = admin if who == "admin" else bearer(new_token(app, "coder", "drew"))
    response = client.get(f"/v1/imports/{job['job']['id']}", headers=viewer)
    assert response.status_code == (200 if who == "admin" else 404)
