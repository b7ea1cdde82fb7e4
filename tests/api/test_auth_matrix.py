"""Who may call what, over every route the app serves: each caller gets the status the table below declares."""

from __future__ import annotations

import pytest
from api_support import (
    VALID_REQUESTS,
    bearer,
    error_message,
    make_app,
    new_token,
    path_ids,
    role_headers,
    route_url,
    served_routes,
)

from api.auth import ROLES, revoke_token

#: The least a caller needs for each endpoint: no token ("public"), any valid token ("any"), a coder's or an admin's
#: ("coder"), an admin's, or a provider's ("provider": answering the queries addressed to them).
ACCESS = {
    "service.index": "public", "service.docs": "public", "service.openapi": "public", "service.healthz": "public",
    "service.readyz": "public", "service.metrics_endpoint": "public", "static": "public",
    "v1.suggest": "coder", "v1.suggest_batch": "coder", "v1.code_search": "coder", "v1.code_detail": "coder",
    "v1.check_chart": "coder", "v1.create_chart": "coder", "v1.list_charts": "coder", "v1.get_chart": "coder",
    "v1.patch_chart": "coder", "v1.chart_history": "coder", "v1.chart_feedback": "coder", "v1.me": "any",
    "v1.model_info": "coder", "v1.specialties": "coder",
    "v1.delete_chart": "admin", "v1.feedback_export": "admin", "v1.audit_log": "admin", "v1.model_reload": "admin",
    "fhir.metadata": "public", "fhir.operation_definition": "public", "fhir.suggest_documents": "coder", "fhir.extract_fields": "coder",
    "fhir.export_chart": "coder", "fhir.claim_chart": "coder",
    "work.worklist_page": "coder", "work.next_chart": "coder", "work.change_status": "coder", "work.users": "coder",
    "work.query_templates": "coder", "work.open_query": "coder", "work.close_query": "coder",
    "work.start_import": "coder", "work.list_imports": "coder", "work.get_import": "coder",
    "work.chart_suggestions": "coder",
    "work.set_profile": "admin", "work.analytics_figure": "coder", "work.analytics_csv": "coder",
    "work.list_queries": "any", "work.get_query": "any", "work.answer_query": "provider",
}

MALFORMED = {
    "basic scheme": "Basic Y2FzZXk6c2VjcmV0", "scheme only": "Bearer", "blank token": "Bearer    ",
    "other scheme": "Token sgt_abc", "two words": "Bearer sgt_a sgt_b", "huge token": "Bearer " + "x" * 8000,
    "control characters": "Bearer sgt_\x01\x7f",
}
CALLERS = ["no header", *(f"malformed: {name}" for name in MALFORMED), "unknown token", "revoked token", *ROLES]


def expected_status(access: str, caller: str) -> str:
    """``"2xx"``, ``"401"`` or ``"403"``: what ``caller`` gets from a valid request to an endpoint of ``access``."""
    if access == "public":
        return "2xx"
    if caller not in ROLES:
        return "401"
    allowed = {"any": ROLES, "coder": ("coder", "admin"), "admin": ("admin",), "provider": ("provider",)}[access]
    return "2xx" if caller in allowed else "403"


@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory, small_model, models_dir_with_small_model):
    # No lockout: this test presents dozens of bad tokens from one address on purpose (the lockout has its tests).
    return make_app(tmp_path_factory.mktemp("matrix"), small_model, model_ref=str(models_dir_with_small_model),
                    auth_failures_per_minute=0)


@pytest.fixture(scope="module")
def caller_headers(matrix_app) -> dict[str, dict[str, str]]:
    headers = {"no header": {}, "unknown token": bearer("sgt_" + "u" * 43),
               **{f"malformed: {name}": {"Authorization": value} for name, value in MALFORMED.items()},
               **{role: bearer(new_token(matrix_app, role, f"matrix-{role}")) for role in ROLES}}
    # the provider the queries are addressed to, and the user whose profile is set
    headers["provider"] = role_headers(matrix_app, headers["admin"])["provider"]
    revoked = new_token(matrix_app, "admin", "matrix-revoked")
    with matrix_app.extensions["db_sessions"]() as session, session.begin():
        revoke_token(session, revoked)
    headers["revoked token"] = bearer(revoked)
    return headers


def test_the_table_covers_every_route(matrix_app):
    served = {endpoint for endpoint, _method, _rule in served_routes(matrix_app)}
    assert served == set(ACCESS), f"declare the access of {served ^ set(ACCESS)}"


def test_the_table_is_what_the_routes_require(matrix_app):
    for endpoint, access in ACCESS.items():
        required = getattr(matrix_app.view_functions[endpoint], "required_role", "public")
        assert required == access, endpoint


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_answers_each_caller_as_declared(matrix_app, caller_headers, caller):
    client = matrix_app.test_client()
    wrong = []
    for endpoint, method, rule in served_routes(matrix_app):
        valid = VALID_REQUESTS[endpoint]
        importer = caller_headers["coder"] if caller == "coder" else caller_headers["admin"]
        chart, query = path_ids(client, rule, caller_headers["admin"], valid.path, importer)
        response = client.open(route_url(rule, valid.path, chart, query_id=query), method=method, json=valid.body,
                               query_string=valid.query, headers=caller_headers[caller])
        want = expected_status(ACCESS[endpoint], caller)
        status = response.status_code
        if not (200 <= status < 300 if want == "2xx" else str(status) == want):
            wrong.append(f"{method} {rule.rule}: {status}, expected {want}")
        elif status >= 400 and "token" not in error_message(response.get_json()):
            wrong.append(f"{method} {rule.rule}: {status} does not say what is wrong with the token")
    assert not wrong, "\n".join(wrong)
