"""Failed authentication counted per client address: rotating bad tokens are refused after a few tries."""

from __future__ import annotations

from api_support import bearer, make_app, new_token

from api.lockout import FailedAuthLockout


def test_an_address_is_locked_out_after_failed_authentications(tmp_path, small_model):
    app = make_app(tmp_path, small_model, auth_failures_per_minute=3)
    client = app.test_client()
    good = bearer(new_token(app, "coder"))
    for i in range(3):
        assert client.get("/v1/model", headers=bearer(f"sgt_guess{i}")).status_code == 401
    locked = client.get("/v1/model", headers=bearer("sgt_guess4"))
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1 and locked.is_json
    assert client.get("/v1/model", headers=good).status_code == 429  # whatever token the address presents
    other = {"REMOTE_ADDR": "10.0.0.9"}
    assert client.get("/v1/model", headers=good, environ_overrides=other).status_code == 200


def test_behind_a_trusted_proxy_the_client_address_counts(tmp_path, small_model):
    app = make_app(tmp_path, small_model, auth_failures_per_minute=2, trusted_proxies=1)
    client = app.test_client()
    good = bearer(new_token(app, "coder"))
    for _ in range(2):
        client.get("/v1/model", headers={**bearer("sgt_bad"), "X-Forwarded-For": "203.0.113.5"})
    assert client.get("/v1/model", headers={**good, "X-Forwarded-For": "203.0.113.5"}).status_code == 429
    assert client.get("/v1/model", headers={**good, "X-Forwarded-For": "198.51.100.7"}).status_code == 200


def test_the_window_slides():
    lockout = FailedAuthLockout(2, 60.0)
    lockout.record_failure("a", now=0.0)
    lockout.record_failure("a", now=10.0)
    assert lockout.retry_after("a", now=11.0) == 50
    assert lockout.retry_after("a", now=61.0) is None  # the first failure left the window
    assert lockout.retry_after("b", now=11.0) is None
    assert FailedAuthLockout(0, 60.0).retry_after("a") is None  # 0 disables
