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


def test_every_route_is_documented_and_every_documented_path_exists(app, client):
    spec = client.get("/openapi.json").get_json()
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule in ("/", "/docs", "/openapi.json"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).replace("{chart_id}", "{id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
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
