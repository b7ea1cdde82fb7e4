"""Property test of the FHIR endpoints: resources mutated at random (values replaced by other JSON, elements dropped,
lists emptied or repeated) never get a 5xx; every refusal is an OperationOutcome, and refusals store nothing."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fhir"))
from fhir_support import document_bundle, document_reference  # noqa: E402

FHIR = "application/fhir+json"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False) |
    st.text(max_size=40) | st.sampled_from(["", "\x00", "\ud800", "Patient/1", "text/html", "@@@", "2026-13-40"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
SEEDS = [document_reference(), document_bundle(),
         {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": document_reference()}]},
         {"resourceType": "Parameters", "parameter": [{"name": "patient", "valueReference": {"reference": "P/1"}}]}]


def _paths(value, prefix=()):
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, (*prefix, key))


@st.composite
def mutated(draw):
    resource = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(resource) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = resource
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "drop", "duplicate"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], list):
            parent[path[-1]] = parent[path[-1]] * 2
    return resource


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory, small_model):
    from api_support import bearer, make_app, new_chart, new_token

    app = make_app(tmp_path_factory.mktemp("fhir-fuzz"), small_model)
    client = app.test_client()
    headers = bearer(new_token(app, "admin", "ada"))
    return client, headers, new_chart(client, headers)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(resource=mutated(), target=st.sampled_from(["$suggest", "$extract", "charts", "$claim"]))
def test_mutated_resources_never_get_a_server_error(fuzz_client, resource, target):
    client, headers, chart_id = fuzz_client
    path = {"$suggest": "/fhir/r4/DocumentReference/$suggest", "$extract": "/fhir/r4/DocumentReference/$extract",
            "charts": "/v1/charts", "$claim": f"/fhir/r4/charts/{chart_id}/$claim"}[target]
    before = client.get("/v1/charts?per_page=1", headers=headers).get_json()["total"]
    body = json.dumps(resource).encode("utf-8", "surrogatepass")
    response = client.post(path, data=body, headers={**headers, "Content-Type": FHIR})
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code >= 400:
        answer = response.get_json()
        assert answer["resourceType"] == "OperationOutcome" and answer["issue"][0]["diagnostics"]
        assert client.get("/v1/charts?per_page=1", headers=headers).get_json()["total"] == before
