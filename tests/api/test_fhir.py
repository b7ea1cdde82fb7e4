"""The FHIR R4 endpoints on the real app: a DocumentReference in, Conditions, a Provenance and a Claim out, every
resource validated with fhir.resources (R4B); every refusal an OperationOutcome with a 4xx, and nothing stored."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim
from fhir.resources.R4B.operationoutcome import OperationOutcome

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fhir"))
from fhir_support import NOTE, b64, document_bundle, document_reference  # noqa: E402
from test_reading import INVALID  # noqa: E402

FHIR = "application/fhir+json"


def post(client, path, resource, headers, content_type=FHIR):
    return client.post(path, data=json.dumps(resource), headers={**headers, "Content-Type": content_type})


def outcome(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == FHIR
    body = response.get_json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]


def chart_count(client, admin) -> int:
    return client.get("/v1/charts?per_page=1", headers=admin).get_json()["total"]


def test_round_trip_suggest_save_accept_export_and_claim(client, coder, admin):
    answer = post(client, "/fhir/r4/DocumentReference/$suggest?top_k=5", document_reference(), coder)
    assert answer.status_code == 200 and answer.mimetype == FHIR
    bundle = answer.get_json()
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[:-2] == ["Condition"] * (len(kinds) - 2) and kinds[-2:] == ["Provenance", "OperationOutcome"]
    suggested = [e["resource"]["code"]["coding"][0]["code"] for e in bundle["entry"][:-2]]
    assert "I10" in suggested
    checks = {i["details"]["coding"][0]["code"] for i in bundle["entry"][-1]["resource"]["issue"] if "details" in i}
    assert "signature" not in checks  # the authenticator signs the document

    saved = post(client, "/v1/charts", document_reference(), coder)
    assert saved.status_code == 201, saved.get_json()
    chart = saved.get_json()
    assert (chart["patient_id"], chart["encounter_id"], chart["provider"], chart["signed_by"], chart["document_date"],
            chart["document_type"], chart["text"]) == ("Patient/p1", "Encounter/e1", "Dr Jane Roe", "Dr Jane Roe",
                                                       "2026-03-14", "progress_note", NOTE)
    accepted = ["I10", suggested[0]] if suggested[0] != "I10" else ["I10"]
    patched = client.patch(f"/v1/charts/{chart['id']}", json={"codes": accepted, "version": 1,
                                                              "confirm_findings": True}, headers=coder)
    assert patched.status_code == 200, patched.get_json()
    check = client.post("/v1/charts/check", json={"chart_id": chart["id"]}, headers=coder).get_json()
    assert "signature" not in {f["rule"] for f in check["findings"]}

    export = client.get(f"/fhir/r4/charts/{chart['id']}/$export", headers=coder)
    exported = export.get_json()
    Bundle.model_validate(exported)
    conditions = [e["resource"] for e in exported["entry"]]
    assert [c["code"]["coding"][0]["code"] for c in conditions] == accepted
    assert {c["verificationStatus"]["coding"][0]["code"] for c in conditions} == {"confirmed"}
    assert conditions[0]["subject"] == {"reference": "Patient/p1"} and conditions[0]["code"]["coding"][0]["display"]

    missing = client.get(f"/fhir/r4/charts/{chart['id']}/$claim?patient=Patient/p1&provider=Practitioner/dr-roe",
                         headers=coder)
    issue = outcome(missing, 400)
    assert issue["code"] == "required" and issue["expression"] == ["Claim.insurance"]
    assert "insurance, priority" in issue["diagnostics"]
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": "Patient/p1"}},
        {"name": "provider", "valueReference": {"reference": "Practitioner/dr-roe"}},
        {"name": "insurance", "valueReference": {"reference": "Coverage/c1"}},
        {"name": "priority", "valueCode": "normal"}]}
    claimed = post(client, f"/fhir/r4/charts/{chart['id']}/$claim", parameters, coder)
    claim_bundle = claimed.get_json()
    Bundle.model_validate(claim_bundle)
    claim = claim_bundle["entry"][-1]["resource"]
    Claim.model_validate(claim)
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == accepted
    assert (claim["patient"], claim["provider"]) == ({"reference": "Patient/p1"}, {"reference": "Practitioner/dr-roe"})


def test_a_document_bundle_gets_suggestions_for_its_composition(client, coder):
    answer = post(client, "/fhir/r4/DocumentReference/$suggest", document_bundle(), coder)
    assert answer.status_code == 200
    codes = [e["resource"]["code"]["coding"][0]["code"] for e in answer.get_json()["entry"]
             if e["resource"]["resourceType"] == "Condition"]
    assert "I10" in codes


@pytest.mark.parametrize("name", sorted(INVALID))
def test_every_invalid_input_gets_an_operation_outcome_and_nothing_is_stored(client, coder, admin, name):
    resource, status, expression = INVALID[name]
    before = chart_count(client, admin)
    for path in ("/fhir/r4/DocumentReference/$suggest", "/v1/charts"):
        issue = outcome(post(client, path, resource, coder), status)
        assert issue["severity"] == "error" and issue["diagnostics"]
        assert issue.get("expression", [""]) == [expression] if expression else "expression" not in issue
    assert chart_count(client, admin) == before


def test_content_type_size_json_and_subject_are_checked(client, coder, admin):
    before = chart_count(client, admin)
    issue = outcome(post(client, "/fhir/r4/DocumentReference/$suggest", document_reference(), coder, "text/plain"),
                    415)
    assert issue["code"] == "not-supported"
    assert post(client, "/fhir/r4/DocumentReference/$suggest", document_reference(), coder,
                "application/json").status_code == 200
    big = document_reference("x" * 1_200_000)  # 1.6 MB once in base64
    assert outcome(post(client, "/fhir/r4/DocumentReference/$suggest", big, coder), 413)["code"] == "too-costly"
    fits = document_reference("word " * 190_000)  # 950 kB: over the JSON API's 1 MB body once in base64, not here
    assert post(client, "/fhir/r4/DocumentReference/$suggest?top_k=1", fits, coder).status_code == 200
    malformed = client.post("/fhir/r4/DocumentReference/$suggest", data="{", headers={**coder, "Content-Type": FHIR})
    assert outcome(malformed, 400)["code"] == "structure"
    no_subject = document_reference()
    del no_subject["subject"]
    assert outcome(post(client, "/fhir/r4/DocumentReference/$suggest", no_subject, coder), 400)["expression"] == [
        "DocumentReference.subject"]
    assert outcome(post(client, "/v1/charts", no_subject, coder), 400)["expression"] == ["DocumentReference.subject"]
    too_old = document_reference(date="2099-01-01T00:00:00Z")
    assert outcome(post(client, "/v1/charts", too_old, coder), 400)["expression"] == ["DocumentReference.date"]
    assert outcome(client.post("/fhir/r4/DocumentReference/$suggest", json=document_reference()), 401)["code"] == \
        "login"
    assert outcome(client.get("/fhir/r4/charts/999/$export", headers=coder), 404)["code"] == "not-found"
    assert chart_count(client, admin) == before


def test_metadata_is_public_and_extract_gives_the_chart_fields(client, coder):
    statement = client.get("/fhir/r4/metadata")
    assert statement.status_code == 200 and statement.get_json()["resourceType"] == "CapabilityStatement"
    definition = client.get("/fhir/r4/OperationDefinition/DocumentReference-suggest").get_json()
    assert definition["resourceType"] == "OperationDefinition" and definition["code"] == "suggest"
    assert outcome(client.get("/fhir/r4/OperationDefinition/nope"), 404)["code"] == "not-found"
    params = post(client, "/fhir/r4/DocumentReference/$extract", document_reference(), coder).get_json()
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in params["parameter"]}
    assert values["text"] == NOTE and values["signed_by"] == "Dr Jane Roe" and values["document_date"] == "2026-03-14"
    html = document_reference(content=[{"attachment": {"contentType": "text/html", "data": b64("<p>Asthma.</p>")}}])
    assert post(client, "/fhir/r4/DocumentReference/$extract", html, coder).get_json()["parameter"][0][
        "valueString"] == "Asthma."
