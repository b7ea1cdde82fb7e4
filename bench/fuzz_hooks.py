"""Schemathesis hooks of ``bench.fuzz`` (loaded through ``SCHEMATHESIS_HOOKS``): the NDJSON export, which
schemathesis cannot read, is checked line by line against the document's ``CorpusLine`` schema, and the check that a
created chart stays available is kept to the operations that name the chart in their path."""

from __future__ import annotations

import json

import jsonschema_rs
import schemathesis
from schemathesis.specs.openapi.checks import ensure_resource_availability

NDJSON = "application/x-ndjson"


@schemathesis.check
def ndjson_lines_conform(ctx, response, case) -> bool | None:
    """Every line of an NDJSON answer is JSON that its operation's response schema accepts."""
    if not response.headers.get("content-type", [""])[0].startswith(NDJSON):
        return None
    declared = case.operation.definition.raw["responses"][str(response.status_code)]["content"][NDJSON]["schema"]
    components = case.operation.schema.raw_schema["components"]
    validator = jsonschema_rs.validator_for({**declared, "components": components})
    lines = response.content.splitlines()
    if response.content_size > len(response.content):  # only the body's head was kept: its last line may be cut
        lines = lines[:-1]
    for number, line in enumerate(lines, 1):
        errors = [error.message for error in validator.iter_errors(json.loads(line))]
        if errors:
            raise AssertionError(f"line {number} does not match the schema: {errors[0]}")
    return True


@schemathesis.check
def created_chart_stays_available(ctx, response, case) -> bool | None:
    """schemathesis' ``ensure_resource_availability`` (which ``bench.fuzz`` runs in its stead) but for
    ``POST /v1/charts/check``: that operation names a chart in its body, so schemathesis takes every chart id it
    draws there for the chart just created, and the 404 of one that does not exist for a created chart gone."""
    if case.path == "/v1/charts/check":
        return None
    return ensure_resource_availability(ctx, response, case)
