"""The chart store over HTTP: create, read, change with history, soft delete, search, feedback, export, audit."""

from __future__ import annotations

from api_support import CHART_TEXT

from suggest.codeset import load_codeset
from suggest.corpus import read_jsonl


def _create(client, headers, **fields):
    body = {"patient_id": "P1", "text": CHART_TEXT, "codes": ["e119", "I10", "E11.9"], **fields}
    response = client.post("/v1/charts", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_normalises_codes_and_reads_back(client, coder):
    chart = _create(client, coder, encounter_id="E-1", provider="Dr Smith", document_date="2026-03-14",
                    specialty="endocrinology", document_type="progress_note")
    assert chart["codes"] == ["E11.9", "I10"]
    assert chart["version"] == 1 and chart["created_by"] == "casey"
    again = client.get(f"/v1/charts/{chart['id']}", headers=coder).get_json()
    assert again == chart


def test_patch_keeps_every_change_in_history(client, coder):
    chart = _create(client, coder)
    updated = client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["E11.22", "N18.30"], "provider": "Dr Who"},
                           headers=coder)
    assert updated.status_code == 200
    body = updated.get_json()
    assert body["codes"] == ["E11.22", "N18.30"] and body["version"] == 2 and body["provider"] == "Dr Who"
    client.patch(f"/v1/charts/{chart['id']}", json={"document_date": "2026-01-31"}, headers=coder)
    history = client.get(f"/v1/charts/{chart['id']}/history", headers=coder).get_json()["history"]
    assert [h["version"] for h in history] == [1, 2, 3]
    assert [h["action"] for h in history] == ["created", "updated", "updated"]
    assert history[1]["changes"]["codes"] == [["E11.9", "I10"], ["E11.22", "N18.30"]]
    assert history[1]["changes"]["provider"] == [None, "Dr Who"]
    assert history[2]["changes"] == {"document_date": [None, "2026-01-31"]}


def test_patch_with_a_stale_version_is_a_conflict(client, coder):
    chart = _create(client, coder)
    assert client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["I10"], "version": 1},
                        headers=coder).status_code == 200
    stale = client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["J45.909"], "version": 1}, headers=coder)
    assert stale.status_code == 409 and stale.get_json()["field"] == "version"
    assert client.get(f"/v1/charts/{chart['id']}", headers=coder).get_json()["codes"] == ["I10"]


def test_patch_without_changes_keeps_the_version(client, coder):
    chart = _create(client, coder)
    same = client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["E11.9", "I10"]}, headers=coder).get_json()
    assert same["version"] == 1


def test_delete_is_soft_and_recorded(client, coder, admin):
    chart = _create(client, coder)
    assert client.delete(f"/v1/charts/{chart['id']}", headers=admin).get_json() == {"id": chart["id"], "deleted": True}
    assert client.get(f"/v1/charts/{chart['id']}", headers=coder).status_code == 404
    assert client.get("/v1/charts?patient_id=P1", headers=coder).get_json()["total"] == 0
    audit = client.get(f"/v1/audit?chart_id={chart['id']}", headers=admin).get_json()["items"]
    assert ("ada", "delete") in [(a["user"], a["action"]) for a in audit]


def test_a_deleted_chart_is_gone_from_every_route_that_returns_its_content(client, coder, admin):
    chart = _create(client, coder, patient_id="GONE")
    client.post(f"/v1/charts/{chart['id']}/feedback", json={"items": [{"code": "E11.9", "action": "accepted"}]},
                headers=coder)
    assert client.delete(f"/v1/charts/{chart['id']}", headers=admin).status_code == 200
    cid = chart["id"]
    for headers in (coder, admin):
        for method, path, body in [
            ("get", f"/v1/charts/{cid}", None),
            ("get", f"/v1/charts/{cid}/history", None),
            ("patch", f"/v1/charts/{cid}", {"codes": ["I10"]}),
            ("delete", f"/v1/charts/{cid}", None),
            ("post", f"/v1/charts/{cid}/feedback", {"items": [{"code": "I10", "action": "added"}]}),
            ("post", "/v1/charts/check", {"chart_id": cid}),
        ]:
            response = getattr(client, method)(path, json=body, headers=headers)
            expected = 403 if method == "delete" and headers is coder else 404
            assert response.status_code == expected, (method, path, response.status_code)
            assert "Type 2 diabetes" not in response.get_data(as_text=True)
        listed = client.get("/v1/charts?patient_id=GONE", headers=headers).get_json()
        assert listed["total"] == 0 and listed["items"] == []
    export = client.get("/v1/feedback/export", headers=admin).get_data(as_text=True)
    assert '"GONE"' not in export


def test_search_by_code_patient_date_and_text(client, coder):
    a = _create(client, coder, patient_id="A", document_date="2026-01-10", codes=["E11.9"],
                text="Type 2 diabetes, poorly controlled. Signed by Dr X.")
    b = _create(client, coder, patient_id="B", document_date="2026-02-10", codes=["J45.909", "I10"],
                text="Asthma with wheezing; hypertension stable.")
    _create(client, coder, patient_id="B", document_date="2026-03-10", codes=["I10"], text="Hypertension review.")

    def ids(query):
        body = client.get(f"/v1/charts?{query}", headers=coder).get_json()
        return sorted(item["id"] for item in body["items"])

    assert ids("code=E11.9") == [a["id"]]
    assert ids("code=e11") == [a["id"]]  # a category finds the codes under it
    assert ids("code=I10&patient_id=B&to=2026-02-28") == [b["id"]]
    assert ids("from=2026-02-01&to=2026-02-28") == [b["id"]]
    assert ids("q=WHEEZING asthma") == [b["id"]]
    assert ids("q=100%25") == []
    page = client.get("/v1/charts?per_page=2&page=2", headers=coder).get_json()
    assert page["total"] == 3 and len(page["items"]) == 1
    assert "text" not in page["items"][0] and page["items"][0]["snippet"]


def test_feedback_updates_codes_and_export_round_trips(client, coder, admin, tmp_path):
    chart = _create(client, coder, specialty="endocrinology", codes=["E11.9", "I10"])
    response = client.post(f"/v1/charts/{chart['id']}/feedback", headers=coder, json={"items": [
        {"code": "E11.9", "action": "accepted", "confidence": 0.91},
        {"code": "I10", "action": "rejected", "confidence": 0.4},
        {"code": "z794", "action": "added"},
    ]})
    assert response.status_code == 201
    assert response.get_json()["chart"]["codes"] == ["E11.9", "Z79.4"]
    _create(client, coder, patient_id="P2", codes=[])  # uncoded charts are not exported
    bad = client.post(f"/v1/charts/{chart['id']}/feedback", headers=coder,
                      json={"items": [{"code": "E11.9", "action": "liked"}]})
    assert bad.status_code == 400 and bad.get_json()["field"] == "items[0].action"

    export = client.get("/v1/feedback/export", headers=admin)
    assert export.status_code == 200 and export.mimetype == "application/x-ndjson"
    path = tmp_path / "export.jsonl"
    path.write_bytes(export.data)
    charts = read_jsonl(path)
    assert len(charts) == 1
    assert charts[0].id == f"chart-{chart['id']}" and charts[0].text == CHART_TEXT
    assert charts[0].codes == ["E11.9", "Z79.4"] and charts[0].specialty == "endocrinology"
    assert charts[0].meta["feedback"] == {"accepted": 1, "rejected": 1, "added": 1}


def test_audit_log_records_who_did_what(client, coder, admin):
    chart = _create(client, coder)
    client.get(f"/v1/charts/{chart['id']}", headers=coder)
    client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["I10"]}, headers=coder)
    items = client.get(f"/v1/audit?chart_id={chart['id']}", headers=admin).get_json()["items"]
    assert [(a["user"], a["action"]) for a in reversed(items)] == [("casey", "create"), ("casey", "view"),
                                                                  ("casey", "update")]
    assert items[0]["codes"] == ["I10"]
    assert all("text" not in (a["detail"] or {}) for a in items)


def test_feedback_that_would_give_a_chart_too_many_codes_is_a_conflict_and_records_nothing(client, coder, admin):
    from api.schemas import MAX_CODES

    full = [c for c in load_codeset().billable_codes() if c.startswith("S")][:MAX_CODES]
    chart = client.post("/v1/charts", json={"patient_id": "P1", "text": "x", "codes": full, "confirm_findings": True},
                        headers=coder).get_json()
    response = client.post(f"/v1/charts/{chart['id']}/feedback", headers=coder,
                           json={"items": [{"code": "I10", "action": "added"}]})
    assert response.status_code == 409 and response.get_json()["field"] == "items"
    assert client.get(f"/v1/charts/{chart['id']}", headers=coder).get_json()["codes"] == full
    assert client.get("/v1/feedback/export?only_feedback=true", headers=admin).get_data() == b""
    swap = client.post(f"/v1/charts/{chart['id']}/feedback", headers=coder, json={"items": [
        {"code": full[0], "action": "rejected"}, {"code": "I10", "action": "added"}]})
    assert swap.status_code == 201 and len(swap.get_json()["chart"]["codes"]) == MAX_CODES
