"""Bad input gets a 4xx JSON answer naming the field; never a 500 or an HTML page."""

from __future__ import annotations

import pytest
from api_support import CHART_TEXT


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/suggest", {}, "text"),
        ("/v1/suggest", {"text": 42}, "text"),
        ("/v1/suggest", {"text": "asthma", "top_k": "ten"}, "top_k"),
        ("/v1/suggest", {"text": "asthma", "top_k": 0}, "top_k"),
        ("/v1/suggest", {"text": "asthma", "min_confidence": 2}, "min_confidence"),
        ("/v1/suggest", {"text": "asthma", "txt": "typo"}, "txt"),
        ("/v1/suggest/batch", {"charts": []}, "charts"),
        ("/v1/suggest/batch", {"charts": [{"id": "a"}]}, "charts[0].text"),
        ("/v1/charts", {"text": CHART_TEXT, "codes": []}, "patient_id"),
        ("/v1/charts", {"patient_id": "P1", "codes": []}, "text"),
        ("/v1/charts", {"patient_id": "P1", "text": CHART_TEXT}, "codes"),
        ("/v1/charts", {"patient_id": "P1", "text": CHART_TEXT, "codes": "E11.9"}, "codes"),
        ("/v1/charts", {"patient_id": "P1", "text": CHART_TEXT, "codes": ["E11.9", "not a code"]}, "codes[1]"),
        ("/v1/charts", {"patient_id": "P1", "text": CHART_TEXT, "codes": [], "document_date": "yesterday"},
         "document_date"),
        ("/v1/charts/check", {"codes": ["E11.9"]}, "text"),
        ("/v1/charts/check", {"text": "x", "document_type": "novel"}, "document_type"),
    ],
)
def test_wrong_or_missing_fields_are_named(client, coder, path, body, field):
    response = client.post(path, json=body, headers=coder)
    assert response.status_code == 400
    assert response.is_json
    assert response.get_json()["field"] == field


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe", b'"text"'])
def test_malformed_json_is_a_400(client, coder, raw):
    response = client.post("/v1/suggest", data=raw, headers={**coder, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["field"] == "body"


def test_bodies_over_one_megabyte_get_413_json(client, coder):
    response = client.post("/v1/suggest", data=b'{"text": "' + b"a" * 1_100_000 + b'"}',
                           headers={**coder, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.is_json and "too large" in response.get_json()["error"]


def test_unknown_routes_and_methods_are_json(client, coder):
    missing = client.get("/v1/nothing-here", headers=coder)
    assert missing.status_code == 404 and missing.get_json() == {"error": "not found"}
    wrong = client.put("/v1/suggest", json={"text": "x"}, headers=coder)
    assert wrong.status_code == 405 and wrong.is_json


def test_query_parameters_are_validated(client, coder):
    for query, field in [("per_page=0", "per_page"), ("page=abc", "page"), ("from=13/45/2020", "from"),
                         ("colour=red", "colour"), ("code=%25%25", "code")]:
        response = client.get(f"/v1/charts?{query}", headers=coder)
        assert response.status_code == 400, query
        assert response.get_json()["field"] == field
    assert client.get("/v1/codes/search", headers=coder).get_json()["field"] == "q"


def test_missing_chart_is_404_json(client, coder):
    response = client.get("/v1/charts/999999", headers=coder)
    assert response.status_code == 404 and "999999" in response.get_json()["error"]
    assert client.patch("/v1/charts/999999", json={"codes": []}, headers=coder).status_code == 404


JSON_BODY_ENDPOINTS = [
    ("post", "/v1/suggest"), ("post", "/v1/suggest/batch"), ("post", "/v1/charts"), ("post", "/v1/charts/check"),
    ("patch", "/v1/charts/1"), ("post", "/v1/charts/1/feedback"), ("post", "/v1/model/reload"),
]


@pytest.mark.parametrize(("method", "path"), JSON_BODY_ENDPOINTS)
def test_deeply_nested_json_is_a_400_before_parsing(client, admin, method, path):
    raw = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    response = getattr(client, method)(path, data=raw, content_type="application/json", headers=admin)
    assert response.status_code == 400, response.get_data(as_text=True)[:200]
    assert response.get_json()["field"] == "body"


def test_brackets_inside_strings_do_not_count_as_nesting(client, coder):
    text = "Assessment: " + "[" * 200 + " asthma " + "}" * 200
    assert client.post("/v1/suggest", json={"text": text}, headers=coder).status_code == 200


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/suggest", {"text": "asthma\u0000"}, "text"),
    ("/v1/charts", {"patient_id": "P1", "text": "Asthma.", "codes": ["J45.909\u0000"]}, "codes[0]"),
    ("/v1/suggest/batch", {"charts": [{"text": "ok"}, {"text": "a\u0000b"}]}, "charts[1].text"),
])
def test_nul_characters_are_refused_naming_the_field(client, coder, path, body, field):
    response = client.post(path, json=body, headers=coder)
    assert response.status_code == 400 and response.get_json()["field"] == field


@pytest.mark.parametrize("chart_id", [0, 2**31, 2**63, 2**64 + 5])
def test_chart_ids_no_column_can_hold_are_404(client, coder, admin, chart_id):
    for method, path, body in [("get", f"/v1/charts/{chart_id}", None), ("get", f"/v1/charts/{chart_id}/history", None),
                               ("patch", f"/v1/charts/{chart_id}", {"codes": []}),
                               ("post", f"/v1/charts/{chart_id}/feedback", {"items": [{"code": "I10", "action": "added"}]})]:
        response = getattr(client, method)(path, json=body, headers=coder)
        assert response.status_code == 404 and response.is_json, (method, path)
    assert client.delete(f"/v1/charts/{chart_id}", headers=admin).status_code == 404


@pytest.mark.parametrize("digits", ["\u0661", "\uff11", "\u1c51", "%D9%A1"])
def test_a_chart_id_is_ascii_digits_only(client, coder, admin, digits):
    """Other scripts' digits (Arabic-Indic, full-width, Ol Chiki: Python's ``int`` reads them all) name no chart,
    as the document's integer ``id`` says; make fuzz found /v1/charts/%E1%B1%98 answering chart 8."""
    created = client.post("/v1/charts", json={"patient_id": "P1", "text": "Asthma.", "codes": ["J45.909"]},
                          headers=coder)
    assert created.get_json()["id"] == 1
    for method, path, body in [("get", f"/v1/charts/{digits}", None), ("get", f"/v1/charts/{digits}/history", None),
                               ("patch", f"/v1/charts/{digits}", {"codes": []}),
                               ("post", f"/v1/charts/{digits}/feedback", {"items": [{"code": "I10", "action": "added"}]}),
                               ("delete", f"/v1/charts/{digits}", None)]:
        response = getattr(client, method)(path, json=body, headers=admin)
        assert response.status_code == 404 and response.is_json, (method, path, response.status_code)
    assert client.get("/v1/charts/1", headers=coder).get_json()["codes"] == ["J45.909"]


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/charts?page=9223372036854775808", "page"),
    ("/v1/audit?chart_id=9223372036854775808", "chart_id"),
    ("/v1/audit?page=99999999999999999999", "page"),
])
def test_huge_numbers_in_queries_are_a_400(client, admin, path, field):
    response = client.get(path, headers=admin)
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_huge_chart_id_in_a_check_is_a_400(client, coder):
    response = client.post("/v1/charts/check", json={"chart_id": 2**63}, headers=coder)
    assert response.status_code == 400 and response.get_json()["field"] == "chart_id"


def test_method_not_allowed_says_which_are(client, coder):
    response = client.put("/v1/suggest", json={"text": "x"}, headers=coder)
    assert response.status_code == 405 and response.is_json
    assert "POST" in response.headers["Allow"]


def test_a_flag_that_is_neither_true_nor_false_is_a_400(client, admin):
    response = client.get("/v1/feedback/export?only_feedback=maybe", headers=admin)
    assert response.status_code == 400 and response.get_json()["field"] == "only_feedback"
    assert client.get("/v1/feedback/export?only_feedback=false", headers=admin).status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_json_body_needs_a_json_content_type(client, coder, content_type):
    headers = dict(coder)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/suggest", data='{"text": "asthma"}', headers=headers)
    assert response.status_code == 415 and response.get_json()["field"] == "Content-Type"
    ok = client.post("/v1/suggest", data='{"text": "asthma"}',
                     headers={**coder, "Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


def test_a_chunked_body_over_the_limit_is_a_413_and_one_under_it_is_read_whole(client, coder):
    import io

    chunked = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    big = b'{"text": "' + b"a" * 3_000_000 + b'"}'
    response = client.post("/v1/suggest", input_stream=io.BytesIO(big), headers={**coder, **chunked},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.get_json()["field"] == "body"
    small = b'{"text": "Assessment: asthma."}'
    response = client.post("/v1/suggest", input_stream=io.BytesIO(small), headers={**coder, **chunked},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 200


def test_options_says_which_methods_with_no_html(client):
    response = client.options("/v1/suggest")
    assert response.status_code == 204 and not response.get_data()
    assert "POST" in response.headers["Allow"] and "html" not in response.headers.get("Content-Type", "")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/suggest", {"text": "asthma", "top_k": True}, "top_k"),
    ("/v1/suggest", {"text": "asthma", "top_k": "10"}, "top_k"),
    ("/v1/suggest", {"text": "asthma", "min_confidence": False}, "min_confidence"),
    ("/v1/suggest", {"text": "asthma", "patient": {"age_years": "50"}}, "patient.age_years"),
    ("/v1/charts", {"patient_id": "P1", "text": "Asthma.", "codes": [], "document_date": 0}, "document_date"),
    ("/v1/charts/check", {"chart_id": "1"}, "chart_id"),
])
def test_json_values_are_taken_with_their_json_type(client, coder, path, body, field):
    response = client.post(path, json=body, headers=coder)
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_an_integer_may_be_spelled_as_a_whole_number(client, coder):
    assert client.post("/v1/suggest", json={"text": "asthma", "top_k": 3.0}, headers=coder).status_code == 200
    assert client.post("/v1/suggest", json={"text": "asthma", "top_k": 3.5}, headers=coder).status_code == 400


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/charts?to=0", "to"), ("/v1/charts?from=20260314", "from"), ("/v1/charts?q=asthma%00", "q"),
    ("/v1/charts?patient_id=%00", "patient_id"), ("/v1/codes/search?q=a%00", "q"), ("/v1/audit?user=%00", "user"),
    ("/v1/charts?code=E11%20", "code"), ("/v1/feedback/export?only_feedback=", "only_feedback"),
])
def test_query_values_the_store_should_not_see_are_a_400(client, admin, path, field):
    response = client.get(path, headers=admin)
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_a_lone_surrogate_is_refused_naming_the_field(client, coder):
    raw = b'{"patient_id": "P1", "codes": [], "text": "Asthma \\ud800."}'
    response = client.post("/v1/charts", data=raw, headers={**coder, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["field"] == "text"


def test_codes_are_refused_unless_shaped_like_a_code(client, coder):
    for codes, field in [([" E11.9"], "codes[0]"), (["E11.9", "E11..9"], "codes[1]"), (["E11.9 "], "codes[0]")]:
        response = client.post("/v1/charts", json={"patient_id": "P1", "text": "x", "codes": codes}, headers=coder)
        assert response.status_code == 400 and response.get_json()["field"] == field, codes


def test_a_patch_cannot_erase_what_a_chart_must_have(client, coder):
    chart = client.post("/v1/charts", json={"patient_id": "P1", "text": "x", "codes": []}, headers=coder).get_json()
    for name in ("patient_id", "text", "codes"):
        response = client.patch(f"/v1/charts/{chart['id']}", json={name: None}, headers=coder)
        assert response.status_code == 400 and response.get_json()["field"] == name


def test_a_check_needs_text_or_a_chart(client, coder):
    for body in ({}, {"text": None}, {"codes": ["E11.9"]}, {"chart_id": None}):
        response = client.post("/v1/charts/check", json=body, headers=coder)
        assert response.status_code == 400 and response.get_json()["field"] in ("text", "chart_id"), body


def test_a_chart_is_saved_only_with_a_document_type_the_checks_know(client, coder):
    body = {"patient_id": "P1", "text": "x", "codes": [], "document_type": "novel"}
    response = client.post("/v1/charts", json=body, headers=coder)
    assert response.status_code == 400 and response.get_json()["field"] == "document_type"
    saved = client.post("/v1/charts", json={**body, "document_type": "consultation"}, headers=coder).get_json()
    assert client.post("/v1/charts/check", json={"chart_id": saved["id"]}, headers=coder).status_code == 200
    patched = client.patch(f"/v1/charts/{saved['id']}", json={"document_type": "novel"}, headers=coder)
    assert patched.status_code == 400 and patched.get_json()["field"] == "document_type"
