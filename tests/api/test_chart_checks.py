"""Code edits, form fields and validation of charts over HTTP (issue 12): the check flags the issue's five examples
with positions, the form's fields satisfy the document checks, a save with code errors needs confirming (409 with
the findings, then an audited override), and the store refuses values it does not know with a 400 naming the field."""

from __future__ import annotations

import pytest
from api_support import CHART_TEXT, make_app

NOTE = ("Chief complaint: cough.\n"
        "HPI: 61-year-old woman with hypertension, heart failure and type 2 diabetes with hyperglycemia. Chest x-ray: "
        "no evidence of pneumonia. Family history of breast cancer. Iron deficiency anemia.\n"
        "Assessment and plan: cough; hypertension; diabetes.\n")


def _check(client, headers, codes, text=NOTE, **fields):
    response = client.post("/v1/charts/check", json={"text": text, "codes": codes, **fields}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["findings"]


def _finding(findings, rule, code):
    found = [f for f in findings if f["rule"] == rule and f.get("code") == code]
    assert found, f"no {rule} finding for {code}: {[(f['rule'], f.get('code')) for f in findings]}"
    return found[0]


# --------------------------------------------------------------------------- the five examples
def test_i10_with_i11_0_is_a_combination_conflict_pointing_at_hypertension(client, coder):
    finding = _finding(_check(client, coder, ["I10", "I11.0"]), "combination_conflict", "I10")
    assert finding["severity"] == "error" and "I11.0" in finding["message"]
    assert NOTE[finding["start"]:finding["end"]].lower() == "hypertension"


def test_e11_9_with_e11_65_is_an_unspecified_code_beside_a_specific_one(client, coder):
    finding = _finding(_check(client, coder, ["E11.9", "E11.65"]), "unspecified_with_specific", "E11.9")
    assert finding["severity"] == "error" and "E11.65" in finding["message"]


def test_d64_9_with_d50_9_is_an_unspecified_code_beside_a_specific_one(client, coder):
    finding = _finding(_check(client, coder, ["D50.9", "D64.9"]), "unspecified_with_specific", "D64.9")
    assert finding["severity"] == "error" and "D50.9" in finding["message"]


def test_j18_9_from_no_evidence_of_pneumonia_points_at_the_negated_words(client, coder):
    finding = _finding(_check(client, coder, ["J18.9"]), "evidence_status", "J18.9")
    assert finding["severity"] == "error" and NOTE[finding["start"]:finding["end"]] == "pneumonia"


def test_c50_911_from_family_history_points_at_the_relatives_condition(client, coder):
    finding = _finding(_check(client, coder, ["C50.911"]), "evidence_status", "C50.911")
    assert finding["severity"] == "error" and "breast cancer" in NOTE[finding["start"]:finding["end"]]


def test_the_tobacco_note_stays_away_from_a_chart_that_never_mentions_tobacco(client, coder):
    findings = _check(client, coder, ["I10", "J45.909"], text="Assessment: hypertension; asthma.")
    assert not [f for f in findings if "tobacco" in f["message"]]


# --------------------------------------------------------------------------- the form's fields
def test_the_forms_fields_satisfy_the_date_and_record_number_checks(client, coder):
    bare = "Assessment: hypertension."
    rules = {f["rule"] for f in _check(client, coder, [], text=bare)}
    assert {"document_date", "patient_mrn"} <= rules
    filled = {f["rule"] for f in _check(client, coder, [], text=bare, patient_id="MRN-1", encounter_id="E-1",
                                        provider="Dr Who", document_date="2026-03-14")}
    assert not {"document_date", "patient_mrn"} & filled and "signature" in filled


def test_the_forms_sex_makes_a_pregnancy_code_an_error(client, coder):
    findings = _check(client, coder, ["O80"], text="Seen today.", patient={"sex": "male", "age_years": 40})
    assert _finding(findings, "demographics", "O80")["severity"] == "error"


def test_a_saved_charts_fields_stand_in_for_the_form(client, coder):
    chart = client.post("/v1/charts", json={"patient_id": "P-7", "text": "Assessment: hypertension.", "codes": ["I10"],
                                            "document_date": "2026-03-14"}, headers=coder).get_json()
    rules = {f["rule"] for f in client.post("/v1/charts/check", json={"chart_id": chart["id"]},
                                            headers=coder).get_json()["findings"]}
    assert not {"document_date", "patient_mrn"} & rules


# --------------------------------------------------------------------------- saving with errors
def _audit(client, admin, action):
    return [a for a in client.get("/v1/audit", headers=admin).get_json()["items"] if a["action"] == action]


def test_a_save_with_code_errors_is_a_409_listing_them_and_saves_nothing(client, coder, admin):
    body = {"patient_id": "P1", "text": NOTE, "codes": ["I10", "I11.0"]}
    response = client.post("/v1/charts", json=body, headers=coder)
    assert response.status_code == 409
    answer = response.get_json()
    assert answer["field"] == "codes" and "confirm_findings" in answer["error"]
    assert ("combination_conflict", "error", "I10") in {(f["rule"], f["severity"], f.get("code"))
                                                        for f in answer["findings"]}
    assert client.get("/v1/charts", headers=coder).get_json()["total"] == 0


def test_a_confirmed_save_is_saved_and_the_override_audited_without_text(client, coder, admin):
    body = {"patient_id": "P1", "text": NOTE, "codes": ["I10", "I11.0"], "confirm_findings": True}
    response = client.post("/v1/charts", json=body, headers=coder)
    assert response.status_code == 201 and "confirm_findings" not in response.get_json()
    (override,) = _audit(client, admin, "override")
    assert override["chart_id"] == response.get_json()["id"] and override["codes"] == ["I10", "I11.0"]
    assert {"rule": "combination_conflict", "code": "I10", "severity": "error"} in override["detail"]["findings"]
    assert "pneumonia" not in str(override) and "Hypertension" not in str(override)


def test_a_patch_that_brings_a_code_error_needs_confirming_too(client, coder, admin):
    chart = client.post("/v1/charts", json={"patient_id": "P1", "text": NOTE, "codes": ["I10"]},
                        headers=coder).get_json()
    refused = client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["I10", "I11.0"]}, headers=coder)
    assert refused.status_code == 409 and refused.get_json()["field"] == "codes"
    confirmed = client.patch(f"/v1/charts/{chart['id']}", json={"codes": ["I10", "I11.0"], "confirm_findings": True},
                             headers=coder)
    assert confirmed.status_code == 200 and confirmed.get_json()["version"] == 2
    assert len(_audit(client, admin, "override")) == 1


def test_document_findings_do_not_block_a_save(client, coder):
    unsigned = {"patient_id": "P1", "text": "Assessment: hypertension.", "codes": ["I10"]}
    assert client.post("/v1/charts", json=unsigned, headers=coder).status_code == 201


def test_a_retry_with_the_same_key_after_confirming_replays_the_chart(client, coder):
    body = {"patient_id": "P1", "text": NOTE, "codes": ["I10", "I11.0"]}
    headers = {**coder, "Idempotency-Key": "k-confirm"}
    assert client.post("/v1/charts", json=body, headers=headers).status_code == 409
    first = client.post("/v1/charts", json={**body, "confirm_findings": True}, headers=headers)
    again = client.post("/v1/charts", json={**body, "confirm_findings": True}, headers=headers)
    assert first.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]


# --------------------------------------------------------------------------- the store's validation
@pytest.mark.parametrize(("fields", "field", "said"), [
    ({"document_type": "blog"}, "document_type", "progress_note"),
    ({"patient_id": "   "}, "patient_id", "blank"),
    ({"document_date": "2099-01-01"}, "document_date", "today"),
    ({"document_date": "1066-10-14"}, "document_date", "1900"),
    ({"codes": ["I10", "Z99.ZZZZ"]}, "codes[1]", "not an ICD-10-CM code"),
    ({"codes": ["J45"]}, "codes[0]", "J45.20"),
    ({"specialty": "astrology"}, "specialty", "cardiology"),
])
def test_the_store_refuses_what_it_does_not_know_naming_the_field(client, coder, fields, field, said):
    body = {"patient_id": "P1", "text": CHART_TEXT, "codes": ["I10"], **fields}
    response = client.post("/v1/charts", json=body, headers=coder)
    assert response.status_code == 400 and response.get_json()["field"] == field
    assert said in response.get_json()["error"]


def test_a_near_miss_of_a_code_gets_near_matches(client, coder):
    response = client.post("/v1/charts", json={"patient_id": "P1", "text": "x", "codes": ["E11.99"]}, headers=coder)
    assert response.status_code == 400 and "E11.9" in response.get_json()["error"]


def test_with_non_billable_confirm_a_category_is_a_finding_to_confirm(tmp_path, small_model):
    from api_support import bearer, new_token

    app = make_app(tmp_path, small_model, non_billable="confirm")
    client, coder = app.test_client(), bearer(new_token(app))
    body = {"patient_id": "P1", "text": "Asthma.", "codes": ["J45"]}
    refused = client.post("/v1/charts", json=body, headers=coder)
    assert refused.status_code == 409 and _finding(refused.get_json()["findings"], "not_billable", "J45")
    assert client.post("/v1/charts", json={**body, "confirm_findings": True}, headers=coder).status_code == 201


def test_feedback_cannot_add_a_code_outside_the_code_set(client, coder):
    chart = client.post("/v1/charts", json={"patient_id": "P1", "text": "x", "codes": ["I10"]}, headers=coder).get_json()
    response = client.post(f"/v1/charts/{chart['id']}/feedback", headers=coder,
                           json={"items": [{"code": "Z99.ZZZZ", "action": "added"}]})
    assert response.status_code == 400 and response.get_json()["field"] == "items[0].code"


# --------------------------------------------------------------------------- specialties
def test_specialties_are_the_models_and_an_unknown_one_is_a_400_everywhere(client, coder, small_model):
    known = client.get("/v1/specialties", headers=coder).get_json()["specialties"]
    assert known == sorted(small_model.stats_.specialty_charts) and "cardiology" in known
    for path, body, field in [
        ("/v1/suggest", {"text": "asthma", "specialty": "astrology"}, "specialty"),
        ("/v1/suggest/batch", {"charts": [{"text": "asthma", "specialty": "astrology"}]}, "charts[0].specialty"),
    ]:
        response = client.post(path, json=body, headers=coder)
        assert response.status_code == 400 and response.get_json()["field"] == field
        assert "cardiology" in response.get_json()["error"]


def test_a_specialty_is_stored_in_the_models_spelling(client, coder):
    chart = client.post("/v1/charts", json={"patient_id": "P1", "text": "x", "codes": ["I10"],
                                            "specialty": "Primary Care"}, headers=coder).get_json()
    assert chart["specialty"] == "primary_care"
