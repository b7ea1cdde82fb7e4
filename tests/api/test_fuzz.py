"""Whatever JSON a client sends, the API answers with JSON and a status below 500."""

from __future__ import annotations

import json

import pytest
from api_support import bearer, make_app, new_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=30)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=4), max_leaves=12)
FIELDS = ["text", "top_k", "min_confidence", "specialty", "charts", "id", "patient_id", "encounter_id", "codes",
          "provider", "document_date", "document_type", "items", "code", "action", "confidence", "chart_id",
          "version", "model_version"]
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6) | values

POSTS = ["/v1/suggest", "/v1/suggest/batch", "/v1/charts", "/v1/charts/check", "/v1/charts/1/feedback"]


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory, small_model):
    app = make_app(tmp_path_factory.mktemp("fuzz"), small_model)
    headers = bearer(new_token(app, "coder", "fuzz"))
    client = app.test_client()
    client.post("/v1/charts", json={"patient_id": "P", "text": "Asthma.", "codes": ["J45.909"]}, headers=headers)
    return client, headers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([*POSTS, "PATCH /v1/charts/1"]), body=bodies)
def test_any_json_body_gets_a_json_answer_below_500(fuzz_client, path, body):
    client, headers = fuzz_client
    method = "PATCH" if path.startswith("PATCH ") else "POST"
    url = path.removeprefix("PATCH ")
    response = client.open(url, method=method, data=json.dumps(body), headers={**headers, "Content-Type":
                                                                               "application/json"})
    assert response.status_code < 500, (url, body, response.get_json())
    assert response.is_json


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(["code", "patient_id", "from", "to", "q", "page", "per_page", "x"]),
                              st.text(max_size=12), max_size=4),
       code=st.text(min_size=1, max_size=10).filter(lambda c: "/" not in c and c.strip()))
def test_any_query_gets_a_json_answer_below_500(fuzz_client, params, code):
    client, headers = fuzz_client
    for response in (client.get("/v1/charts", query_string=params, headers=headers),
                     client.get("/v1/codes/search", query_string={"q": code, "limit": params.get("page", "5")},
                                headers=headers),
                     client.get(f"/v1/codes/{code}", headers=headers)):
        assert response.status_code < 500, (params, code, response.get_json())
        assert response.is_json
