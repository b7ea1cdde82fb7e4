"""The OpenAPI document describes exactly the routes the app serves, and every reference resolves."""

from __future__ import annotations

import json
import re


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _documented_path(rule) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).replace("{chart_id}", "{id}")


def test_every_route_is_documented_and_every_documented_path_exists(app, client):
    spec = client.get("/openapi.json").get_json()
    served = set()
    for rule in app.url_map.iter_rules():
        # FHIR routes are described by their CapabilityStatement (GET /fhir/r4/metadata) and the README.
        if rule.endpoint == "static" or rule.rule in ("/", "/docs", "/openapi.json") or rule.rule.startswith("/fhir/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((_documented_path(rule), method.lower()))
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == documented


def test_schema_references_resolve_and_protected_routes_say_so(client):
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for ref in _refs(spec):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            public = op.get("security") == []
            assert public == (not path.startswith("/v1/")), (method, path)
            if not public:
                assert "401" in op["responses"], (method, path)
    # the request schemas are the validating pydantic models
    assert schemas["ChartCreate"]["required"] == ["patient_id", "text", "codes"]
    json.dumps(spec)


def _operations(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_every_answer_the_server_gives_is_documented(client):
    spec = client.get("/openapi.json").get_json()
    for path, method, op in _operations(spec):
        statuses = set(op["responses"])
        if "{id}" in path:
            assert "404" in statuses, (method, path)
        if any(p["in"] == "query" for p in op.get("parameters", ())) or "requestBody" in op:
            assert "400" in statuses, (method, path)
        if "requestBody" in op:
            assert {"413", "415"} <= statuses, (method, path)
    paths = spec["paths"]
    assert "409" in paths["/v1/charts/{id}"]["patch"]["responses"]
    assert "409" in paths["/v1/charts/{id}/feedback"]["post"]["responses"]
    assert "404" in paths["/v1/charts/check"]["post"]["responses"]
    assert {"400", "404", "503"} <= set(paths["/v1/model/reload"]["post"]["responses"])
    assert "503" in paths["/readyz"]["get"]["responses"]


def test_query_and_path_parameters_carry_the_limits_the_server_applies(client):
    from api.schemas import MAX_ID, MAX_PAGE

    spec = client.get("/openapi.json").get_json()
    for path, method, op in _operations(spec):
        for param in op.get("parameters", ()):
            schema = param["schema"]
            if schema["type"] == "integer":
                assert "minimum" in schema and "maximum" in schema, (method, path, param["name"])
            if schema["type"] == "string" and param["in"] == "query":
                assert {"maxLength", "pattern", "format", "enum"} & set(schema), (method, path, param["name"])

    def params(path, method="get"):
        return {p["name"]: p["schema"] for p in spec["paths"][path][method]["parameters"]}

    charts = params("/v1/charts")
    assert charts["page"]["minimum"] == 1 and charts["page"]["maximum"] == MAX_PAGE
    assert charts["per_page"]["maximum"] == 200 and charts["q"]["maxLength"] == 200
    assert charts["code"]["pattern"] and charts["from"]["format"] == "date"
    assert params("/v1/codes/search")["q"]["minLength"] == 1 and params("/v1/codes/search")["limit"]["maximum"] == 100
    assert params("/v1/audit")["chart_id"]["maximum"] == MAX_ID and params("/v1/audit")["per_page"]["maximum"] == 500
    assert params("/v1/charts/{id}")["id"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def test_request_schemas_refuse_what_the_server_refuses(client):
    from suggest.completeness import default_rules

    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["SuggestRequest"]["properties"]["text"]["not"] == {"pattern": "\\x00"}
    assert schemas["ChartCreate"]["properties"]["codes"]["items"]["pattern"]
    assert set(schemas["CheckRequest"]["properties"]["document_type"]["enum"]) == {*default_rules().document_types,
                                                                                   None}
    assert schemas["CheckRequest"]["anyOf"] == [{"required": ["text"]}, {"required": ["chart_id"]}]
    for name in ("patient_id", "text", "codes"):  # may be left out of a patch, never sent as null
        assert schemas["ChartPatch"]["properties"][name]["type"] in ("string", "array"), name


def test_the_documented_role_is_the_one_the_route_requires(app, client):
    spec = client.get("/openapi.json").get_json()
    documented = {(path, method): op.get("x-role", "public") for path, method, op in _operations(spec)}
    for rule in app.url_map.iter_rules():
        required = getattr(app.view_functions[rule.endpoint], "required_role", "public")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert documented.get((_documented_path(rule), method.lower()), required) == required, (method, rule)


SERVICE_OPERATIONS = {"service.healthz", "service.readyz", "service.metrics_endpoint"}


def test_every_v1_and_service_route_is_an_operation_with_its_methods(app, client):
    spec = client.get("/openapi.json").get_json()
    rules = [rule for rule in app.url_map.iter_rules()
             if rule.rule.startswith("/v1/") or rule.endpoint in SERVICE_OPERATIONS]
    assert len(rules) >= 17
    for rule in rules:
        documented = spec["paths"].get(_documented_path(rule), {})
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = documented.get(method.lower())
            assert op is not None, (method, rule.rule)
            assert op["operationId"] == rule.endpoint.split(".")[1], (method, rule.rule)


def test_every_response_model_a_route_answers_with_is_a_component(app, client):
    from pydantic import BaseModel

    from api import responses
    from api.openapi import _api

    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    used = set()
    for rule in app.url_map.iter_rules():
        metadata = _api.get_function_metadata(app.view_functions[rule.endpoint])
        if metadata is None:
            continue
        for model in metadata.resp.code_models.values():
            used.add(model.__name__)
            own = model.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
            for name, nested in own.pop("$defs", {}).items():
                assert schemas[name] == nested, name
            assert schemas[model.__name__] == own, model.__name__
    public = {name for name, value in vars(responses).items()
              if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == responses.__name__
              and name.isidentifier() and not name.startswith("_")}
    assert {"Chart", "ChartPage", "Error", "CodeNotFound", "SuggestResponse", "Readiness"} <= used
    assert public <= set(schemas), public - set(schemas)  # nested ones (Evidence, Finding, ...) as well


def test_an_answer_off_its_model_fails_instead_of_drifting(app, client, coder, caplog, monkeypatch):
    from api_support import new_chart

    from api import store

    chart_id = new_chart(client, coder)
    to_dict = store.chart_to_dict
    monkeypatch.setattr(store, "chart_to_dict", lambda row, **kw: {**to_dict(row, **kw), "secret": row.text})
    for response in (client.get(f"/v1/charts/{chart_id}", headers=coder),
                     client.post("/v1/charts", json={"patient_id": "P", "text": "Asthma note.", "codes": []},
                                 headers=coder)):
        assert response.status_code == 500 and response.get_json() == {"error": "internal error"}
    assert "Asthma" not in caplog.text and "UndocumentedResponse" in caplog.text


def test_an_answer_with_another_model_or_an_undocumented_status_fails(app, client, coder, monkeypatch):
    from api import routes
    from api.responses import Health, Me

    monkeypatch.setattr(routes, "Me", lambda **kw: Health(status="ok"))
    assert client.get("/v1/me", headers=coder).status_code == 500
    monkeypatch.setattr(routes, "Me", lambda **kw: (Me(**kw), 202))
    assert client.get("/v1/me", headers=coder).status_code == 500
    monkeypatch.undo()
    assert client.get("/v1/me", headers=coder).status_code == 200


def test_the_readme_api_reference_is_the_one_generated_from_this_document(client):
    from pathlib import Path

    from api.openapi import MARKDOWN_BEGIN, MARKDOWN_END, markdown, replace_section

    spec = client.get("/openapi.json").get_json()
    generated = markdown(spec)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert readme.count(MARKDOWN_BEGIN) == readme.count(MARKDOWN_END) == 1
    assert replace_section(readme, generated) == readme, \
        "the README's API reference is stale: run `python -m api.openapi --markdown README.md` and commit README.md"
    # What a client must send, as the schemas say it: the feedback items and a saved chart's required codes.
    assert "| `items[].action` | `accepted` \\| `rejected` \\| `added` | yes |" in generated
    saving = generated.split("**`POST /v1/charts`**")[1].split("**`")[0]
    assert "| `codes` | array of string | yes |" in saving and "| `Idempotency-Key` (header) |" in saving
