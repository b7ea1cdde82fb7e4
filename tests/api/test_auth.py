"""Who may call what: tokens, roles, revocation, public endpoints."""

from __future__ import annotations

from api_support import CHART_TEXT, bearer, new_token

from api.auth import revoke_token


def test_protected_endpoints_need_a_token(client):
    for method, path in [("post", "/v1/suggest"), ("get", "/v1/charts"), ("get", "/v1/codes/search?q=asthma"),
                         ("get", "/v1/model"), ("get", "/v1/charts/1"), ("post", "/v1/charts/check")]:
        response = getattr(client, method)(path, json={"text": "x"} if method == "post" else None)
        assert response.status_code == 401, path
        assert "token" in response.get_json()["error"]


def test_unknown_and_malformed_tokens_are_refused(client):
    for header in ({"Authorization": "Bearer sgt_not-a-real-token"}, {"Authorization": "Basic abc"},
                   {"Authorization": "Bearer"}):
        assert client.get("/v1/model", headers=header).status_code == 401


def test_public_endpoints_need_no_token(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["model_loaded"] is True
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    assert b"Coder Workspace" in client.get("/").data
    assert client.get("/static/app.js").status_code == 200
    assert b"suggest_http_requests_total" in client.get("/metrics").data


def test_coder_is_refused_admin_routes(client, coder):
    chart = client.post("/v1/charts", json={"patient_id": "P1", "text": CHART_TEXT, "codes": ["E11.9"]},
                        headers=coder).get_json()
    for method, path in [("delete", f"/v1/charts/{chart['id']}"), ("post", "/v1/model/reload"),
                         ("get", "/v1/audit"), ("get", "/v1/feedback/export")]:
        response = getattr(client, method)(path, headers=coder)
        assert response.status_code == 403, path
        assert response.get_json()["error"] == "this action needs an admin token"
    # the refused delete left the chart alone
    assert client.get(f"/v1/charts/{chart['id']}", headers=coder).status_code == 200


def test_revoked_token_is_refused(app, client):
    token = new_token(app, "coder", "temp")
    assert client.get("/v1/model", headers=bearer(token)).status_code == 200
    with app.extensions["db_sessions"]() as session, session.begin():
        assert revoke_token(session, token) is not None
    assert client.get("/v1/model", headers=bearer(token)).status_code == 401


def test_me_names_the_caller(client, coder, admin):
    assert client.get("/v1/me", headers=coder).get_json()["role"] == "coder"
    me = client.get("/v1/me", headers=admin).get_json()
    assert me["user"] == "ada" and me["role"] == "admin"
    assert any(t["id"] == "discharge_summary" for t in me["document_types"])


def test_tokens_are_stored_as_an_hmac_under_the_server_secret(app):
    import hashlib
    import stat

    from api.auth import hash_token
    from api.db import ApiToken
    from api.secret import secret_path

    token = new_token(app, "coder", "hana")
    with app.extensions["db_sessions"]() as session:
        rows = session.query(ApiToken).all()
        stored = {row.token_hash for row in rows}
        assert all(token not in row.token_hash and token not in row.prefix for row in rows)  # never in clear
    assert hash_token(token) in stored
    assert hashlib.sha256(token.encode()).hexdigest() not in stored  # not the unkeyed digest
    assert stat.S_IMODE(secret_path().stat().st_mode) == 0o600


def test_a_token_stored_by_an_earlier_release_is_upgraded_on_first_use(app, client):
    from api.auth import hash_token, legacy_hash
    from api.db import ApiToken, utcnow

    token = "sgt_" + "x" * 43
    with app.extensions["db_sessions"]() as session, session.begin():
        session.add(ApiToken(token_hash=legacy_hash(token), prefix=token[:10], user="old", role="coder",
                             created_at=utcnow()))
    assert client.get("/v1/model", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with app.extensions["db_sessions"]() as session:
        row = session.query(ApiToken).filter_by(user="old").one()
        assert row.token_hash == hash_token(token)
    assert client.get("/v1/model", headers={"Authorization": f"Bearer {token}"}).status_code == 200
