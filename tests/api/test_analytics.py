"""The department's figures: computed in the database, equal to an independent computation from what the test
did, the same as a full rebuild of the counters, in JSON and CSV; a coder sees only their own throughput."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import Counter

import pytest
from api_support import bearer, new_token
from sqlalchemy import select

from api.db import AnalyticsCount

TEXT = ("Date of service: 03/14/2026\nMRN: 00123456\nAssessment: type 2 diabetes mellitus, essential hypertension, "
        "asthma.\nElectronically signed by John Smith, MD on 03/14/2026\n")
CODES = ["E11.9", "I10", "J45.909", "E78.5", "K21.9", "M54.50"]


def counters(app) -> dict[tuple, float]:
    with app.extensions["db_sessions"]() as session:
        return {(c.metric, c.day, c.k1, c.k2, c.k3): round(c.value, 9) for c in session.scalars(select(AnalyticsCount))}


def figure(client, headers, name, **query) -> dict:
    response = client.get(f"/v1/analytics/{name}", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture()
def department(app, client, admin):
    return seed_department(app, client, admin)


def seed_department(app, client, admin) -> dict:
    """Charts coded by two coders through the API, with the suggestions they were shown, some completed; returns
    what an independent computation needs."""
    rng = random.Random(7)
    coders = {"casey": bearer(new_token(app, "coder", "casey")), "drew": bearer(new_token(app, "coder", "drew"))}
    specialties = client.get("/v1/specialties", headers=admin).get_json()["specialties"][:2]
    done = []
    for k in range(24):
        user = ("casey", "drew")[k % 2]
        headers = coders[user]
        final = rng.sample(CODES, rng.randint(1, 3))
        chart = client.post("/v1/charts", json={"patient_id": f"P{k}", "text": TEXT, "codes": [],
                                                "specialty": specialties[k % 2]}, headers=admin).get_json()
        taken = client.post(f"/v1/charts/{chart['id']}/status", json={"status": "in_progress", "version": 1},
                            headers=headers)
        assert taken.status_code == 200
        shown = [{"code": c, "confidence": round(rng.random(), 3), "selected": rng.random() < 0.5}
                 for c in rng.sample(CODES, 4)]
        items = [{"code": c, "action": "accepted" if c in final else "rejected"} for c in (s["code"] for s in shown)]
        items += [{"code": c, "action": "added"} for c in final if c not in {s["code"] for s in shown}]
        fed = client.post(f"/v1/charts/{chart['id']}/feedback", json={"items": items, "model_version": "7",
                                                                       "shown": shown}, headers=headers)
        assert fed.status_code == 201, fed.get_json()
        version = fed.get_json()["chart"]["version"]
        if k % 4 == 3:  # left in progress: not judged
            continue
        coded = client.post(f"/v1/charts/{chart['id']}/status", json={"status": "coded", "version": version},
                            headers=headers).get_json()
        client.post(f"/v1/charts/{chart['id']}/status", json={"status": "completed", "version": coded["version"]},
                    headers=headers)
        done.append({"user": user, "final": set(final), "shown": shown, "specialty": specialties[k % 2],
                     "items": items})
    return {"coders": coders, "done": done, "specialties": specialties}


def test_quality_calibration_and_misses_match_an_independent_computation(app, client, admin, department):
    done = department["done"]
    selected = [(s["code"], s["code"] in d["final"]) for d in done for s in d["shown"] if s["selected"]]
    finals = [(code, any(s["code"] == code and s["selected"] for s in d["shown"])) for d in done for code in d["final"]]
    accepted = sum(i["action"] == "accepted" for d in done for i in d["items"])
    rejected = sum(i["action"] == "rejected" for d in done for i in d["items"])
    overall = figure(client, admin, "quality", by="overall")
    assert overall["columns"] == ["overall", "shown", "selected", "final", "precision", "recall", "acceptance"]
    row = overall["rows"][0]
    assert row[1:4] == [4 * len(done), len(selected), len(finals)]
    assert row[4] == pytest.approx(sum(ok for _c, ok in selected) / len(selected), abs=1e-4)
    assert row[5] == pytest.approx(sum(ok for _c, ok in finals) / len(finals), abs=1e-4)
    assert row[6] == pytest.approx(accepted / (accepted + rejected), abs=1e-4)

    by_family = {r[0]: r for r in figure(client, admin, "quality", by="family")["rows"]}
    for fam in {c[:3] for c in CODES}:
        sel = [ok for c, ok in selected if c[:3] == fam]
        fin = [ok for c, ok in finals if c[:3] == fam]
        if fin:
            assert by_family[fam][3] == len(fin) and by_family[fam][5] == pytest.approx(sum(fin) / len(fin), abs=1e-4)
        if sel:
            assert by_family[fam][4] == pytest.approx(sum(sel) / len(sel), abs=1e-4)
    by_specialty = {r[0]: r for r in figure(client, admin, "quality", by="specialty")["rows"]}
    assert sum(r[3] for r in by_specialty.values()) == len(finals)
    assert set(by_specialty) == set(department["specialties"])

    shown = [(s["confidence"], s["code"] in d["final"]) for d in done for s in d["shown"]]
    for label, n, mean, share in figure(client, admin, "calibration")["rows"]:
        k = int(float(label.split("-")[0]) * 10 + 1e-9)
        members = [(c, ok) for c, ok in shown if min(int(c * 10), 9) == k]
        assert n == len(members)
        if members:
            assert mean == pytest.approx(sum(c for c, _ in members) / len(members), abs=1e-4)
            assert share == pytest.approx(sum(ok for _, ok in members) / len(members), abs=1e-4)

    missed = Counter(code for code, ok in finals if not ok)
    wrong = Counter(code for code, ok in selected if not ok)
    rows = figure(client, admin, "misses")["rows"]
    assert {r[1]: r[3] for r in rows if r[0] == "missed"} == dict(missed)
    assert {r[1]: r[3] for r in rows if r[0] == "wrongly selected"} == dict(wrong)


def test_status_codes_and_throughput_match_what_was_done(client, admin, department):
    done = department["done"]
    status = {r[0]: r[-1] for r in figure(client, admin, "status")["rows"]}
    assert status == {"new": 0, "in_progress": 24 - len(done), "on_hold": 0, "coded": 0, "completed": len(done)}
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    rows = figure(client, admin, "throughput")["rows"]
    per = Counter(d["user"] for d in done)
    assert {(r[0], r[1]): (r[2], r[3]) for r in rows} == {(today, u): (n, n) for u, n in per.items()}
    mine = figure(client, department["coders"]["casey"], "throughput")["rows"]
    assert {r[1] for r in mine} == {"casey"}
    refused = client.get("/v1/analytics/throughput", query_string={"coder": "drew"},
                         headers=department["coders"]["casey"])
    assert refused.status_code == 403 and refused.get_json()["field"] == "coder"


def test_top_codes_and_completeness_match_the_store_and_the_checks(client, admin, department):
    charts = client.get("/v1/charts", query_string={"per_page": 200}, headers=admin).get_json()["items"]
    expected_codes = Counter(code for c in charts for code in c["codes"])
    codes = figure(client, admin, "codes", limit=50)
    assert {r[1]: r[3] for r in codes["rows"] if r[0] == "code"} == dict(expected_codes)
    assert {r[1]: r[3] for r in codes["rows"] if r[0] == "family"} == dict(Counter(
        fam for c in charts for fam in {code[:3] for code in c["codes"]}))
    expected = Counter()
    with_error = 0
    for c in charts:
        findings = client.post("/v1/charts/check", json={"chart_id": c["id"]}, headers=admin).get_json()["findings"]
        expected.update({(f["rule"], f["severity"]) for f in findings})
        with_error += any(f["severity"] == "error" for f in findings)
    rows = figure(client, admin, "completeness")["rows"]
    assert rows[0][:3] == ["(any error)", "error", with_error]
    assert {(r[0], r[1]): r[2] for r in rows[1:]} == dict(expected)


def test_counters_kept_up_to_date_equal_a_full_rebuild(app, client, admin, department):
    # more changes: a code edit, a release, a reopened and recompleted chart, a deletion
    charts = client.get("/v1/charts", query_string={"per_page": 200}, headers=admin).get_json()["items"]
    first, second = charts[0], charts[1]
    client.patch(f"/v1/charts/{first['id']}", json={"codes": ["I10"]}, headers=admin)
    client.delete(f"/v1/charts/{second['id']}", headers=admin)
    before = counters(app)
    assert any(key[0] == "q_final" for key in before) and any(key[0] == "finding" for key in before)
    from api import analytics

    with app.extensions["db_sessions"]() as session, session.begin():
        analytics.rebuild(session)
    assert counters(app) == before


def test_csv_holds_the_json_rows(client, admin, department):
    table = figure(client, admin, "quality", by="specialty")
    response = client.get("/v1/analytics/quality/csv", query_string={"by": "specialty"}, headers=admin)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == table["columns"]
    assert [[str(v) if v is not None else "" for v in r] for r in table["rows"]] == rows[1:]
    unknown = client.get("/v1/analytics/speed", headers=admin)
    assert unknown.status_code == 404 and unknown.get_json()["field"] == "figure"


def test_quality_filtered_by_specialty_and_model_version_reads_the_full_counters(client, admin, department):
    done = department["done"]
    specialty = department["specialties"][0]
    mine = [d for d in done if d["specialty"] == specialty]
    selected = [s["code"] in d["final"] for d in mine for s in d["shown"] if s["selected"]]
    finals = sum(len(d["final"]) for d in mine)
    [row] = figure(client, admin, "quality", by="overall", specialty=specialty)["rows"]
    assert row[2:4] == [len(selected), finals]
    assert row[4] == pytest.approx(sum(selected) / len(selected), abs=1e-4)
    by_day = figure(client, admin, "quality", by="day", model_version="7")["rows"]
    assert sum(r[3] for r in by_day) == sum(len(d["final"]) for d in done)
    assert figure(client, admin, "quality", by="overall", model_version="8")["rows"] == []
