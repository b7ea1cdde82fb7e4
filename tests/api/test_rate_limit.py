"""Per-token rate limiting, configured like SUGGEST_RATE_LIMIT."""

from __future__ import annotations

from api_support import bearer, make_app, new_token


def test_rate_limit_is_per_token_and_json(tmp_path, small_model):
    app = make_app(tmp_path, small_model, rate_limit="3/minute")
    client = app.test_client()
    first, second = bearer(new_token(app, "coder", "a")), bearer(new_token(app, "coder", "b"))
    assert [client.get("/v1/model", headers=first).status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/v1/model", headers=first)
    assert limited.status_code == 429 and limited.is_json and "rate limit" in limited.get_json()["error"]
    assert limited.headers.get("Retry-After")
    assert client.get("/v1/model", headers=second).status_code == 200  # other tokens are unaffected
    assert client.get("/healthz").status_code == 200  # health checks are never limited
    assert client.get("/healthz").status_code == 200


def test_rate_limit_setting_comes_from_the_environment(monkeypatch):
    from api.config import ApiConfig

    monkeypatch.setenv("SUGGEST_RATE_LIMIT", "10/second")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    config = ApiConfig.from_env()
    assert config.rate_limit == "10/second" and config.database_url == "sqlite:///x.db"
