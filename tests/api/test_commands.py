"""``suggest tokens`` create / list / revoke, against the same database the service uses."""

from __future__ import annotations

import pytest
from api_support import bearer, make_app

from suggest.cli import main


def test_tokens_create_list_revoke(tmp_path, monkeypatch, capsys, small_model):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'charts.db'}")
    assert main(["tokens", "create", "--role", "admin", "--user", "ops"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    token = out[-1]
    assert token.startswith("sgt_") and "admin" in out[0]

    app = make_app(tmp_path, small_model)  # same database file
    client = app.test_client()
    assert client.get("/v1/audit", headers=bearer(token)).status_code == 200

    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ops" in listing and "admin" in listing and token not in listing

    token_id = out[0].split("#")[1].split()[0]
    assert main(["tokens", "revoke", token_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert client.get("/v1/audit", headers=bearer(token)).status_code == 401


def test_revoking_an_unknown_token_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'charts.db'}")
    assert main(["tokens", "revoke", "sgt_nope"]) == 2
    assert "no such token" in capsys.readouterr().err


def test_serve_refuses_bad_arguments(capsys):
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_serve_builds_a_missing_default_model_first_and_says_so(tmp_path, monkeypatch, capsys):
    from api.commands.serve import _ensure_default_model
    from suggest import plugins

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")  # no store: no champion
    built = []
    plugins.register(plugins.DEFAULT_MODEL, "build", lambda root: built.append(root) or root / "default")
    try:
        _ensure_default_model(None)
        _ensure_default_model("some/other/model")  # an explicit model is never built
    finally:
        plugins.unregister(plugins.DEFAULT_MODEL, "build")
    assert built == [tmp_path]
    err = capsys.readouterr().err
    assert "no default model" in err and "building it" in err


def test_serve_rebuilds_an_unsigned_default_model_rather_than_load_it(tmp_path, monkeypatch, capsys, small_model):
    import suggest
    from api.commands.serve import _ensure_default_model
    from suggest import plugins

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")  # no store: no champion
    (small_model.save(tmp_path / "default") / "model.joblib.sig").unlink()  # saved before models were signed
    built = []
    plugins.register(plugins.DEFAULT_MODEL, "build",
                     lambda root: built.append(root) or small_model.save(root / "default"))
    try:
        _ensure_default_model(None)
    finally:
        plugins.unregister(plugins.DEFAULT_MODEL, "build")
    assert built == [tmp_path]
    err = capsys.readouterr().err
    assert "the default model has no signature" in err and "building it" in err
    assert suggest.load_model("default").suggest("Essential hypertension.").suggestions


def test_allocator_settings_leave_an_explicit_arena_limit_alone(monkeypatch):
    from api.commands import serve

    if serve._glibc() is None:
        pytest.skip("not glibc")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert serve.limit_malloc_arenas() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert serve.limit_malloc_arenas() is True
    assert serve.release_free_heap() is True


def test_import_and_analytics_rebuild_on_the_servers_store(tmp_path, monkeypatch, capsys, small_model,
                                                           small_model_dir):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'charts.db'}")
    monkeypatch.setenv("SUGGEST_MODEL", str(small_model_dir))
    good = tmp_path / "queue.csv"
    good.write_text("patient_id,text,priority\nP-1,Assessment: asthma.,urgent\nP-2,Hypertension.,\n")
    assert main(["import", str(good), "--precompute", "--user", "ops", "--priority", "low"]) == 0
    out = capsys.readouterr().out
    assert "imported 2 charts into the queue" in out and "suggestions computed for 2 charts" in out
    app = make_app(tmp_path, small_model)  # the same database file
    from api_support import new_token

    headers = bearer(new_token(app, "coder", "casey"))
    client = app.test_client()
    assert [c["priority"] for c in client.get("/v1/worklist", headers=headers).get_json()["items"]] == ["urgent",
                                                                                                     "low"]
    assert client.get("/v1/charts/1/suggestions", headers=headers).status_code == 200

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"patient_id": "P-3", "text": "Asthma."}\n{"patient_id": "P-4"}\n')
    assert main(["import", str(bad)]) == 2
    assert "bad.jsonl: 1 bad record(s), nothing imported: line 2: text: field required" in capsys.readouterr().err
    assert main(["analytics", "rebuild"]) == 0
    assert "rebuilt from 2 live charts" in capsys.readouterr().out
