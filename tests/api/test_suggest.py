"""Suggestions, code look-ups, completeness checks and the model endpoints over HTTP."""

from __future__ import annotations

from api_support import CHART_TEXT


def test_suggest_returns_ranked_suggestions_with_model_and_evidence(client, coder, small_model):
    response = client.post("/v1/suggest", json={"text": CHART_TEXT, "top_k": 5}, headers=coder)
    assert response.status_code == 200
    body = response.get_json()
    assert body["model"] == {"name": small_model.card_.name, "version": str(small_model.card_.version)}
    assert body["codeset_release"]
    suggestions = body["suggestions"]
    assert 0 < len(suggestions) <= 5
    confidences = [s["confidence"] for s in suggestions]
    assert confidences == sorted(confidences, reverse=True)
    # the same answer as the library gives
    direct = small_model.suggest(CHART_TEXT, top_k=5).to_dict()["suggestions"]
    assert [s["code"] for s in suggestions] == [s["code"] for s in direct]
    for s in suggestions:
        for ev in s["evidence"]:
            assert CHART_TEXT[ev["start"]:ev["end"]] == ev["text"]


def test_min_confidence_filters(client, coder):
    body = client.post("/v1/suggest", json={"text": CHART_TEXT, "min_confidence": 0.999999}, headers=coder).get_json()
    assert all(s["confidence"] >= 0.999999 for s in body["suggestions"])


def test_empty_text_is_answered_with_a_warning(client, coder):
    body = client.post("/v1/suggest", json={"text": "   "}, headers=coder).get_json()
    assert body["suggestions"] == [] and body["warnings"]


def test_batch_keeps_ids_and_order(client, coder, small_model):
    charts = [{"id": "a", "text": CHART_TEXT}, {"text": "Asthma exacerbation with wheezing."}]
    body = client.post("/v1/suggest/batch", json={"charts": charts, "top_k": 3}, headers=coder).get_json()
    assert [r["id"] for r in body["results"]] == ["a", "1"]
    expected = small_model.suggest("Asthma exacerbation with wheezing.", top_k=3).to_dict()["suggestions"]
    assert [s["code"] for s in body["results"][1]["suggestions"]] == [s["code"] for s in expected]


def test_code_search_and_detail(client, coder):
    hits = client.get("/v1/codes/search?q=E11.9&limit=5", headers=coder).get_json()["results"]
    assert hits[0]["code"] == "E11.9" and hits[0]["billable"] is True
    detail = client.get("/v1/codes/e1122", headers=coder).get_json()
    assert detail["code"] == "E11.22" and detail["validation"]["status"] == "billable"
    assert [a["code"] for a in detail["ancestors"]] == ["E11.2", "E11"]
    assert any("N18" in note for note in detail["use_additional_code"])
    category = client.get("/v1/codes/E11", headers=coder).get_json()
    assert category["validation"]["status"] == "not_billable"
    assert any(child["code"] == "E11.9" for child in category["children"])
    missing = client.get("/v1/codes/E11.99", headers=coder)
    assert missing.status_code == 404 and missing.get_json()["near_matches"]


def test_check_endpoint_reports_code_and_document_findings(client, coder):
    request = {"text": "Assessment: diabetes.", "codes": ["E11.9", "e109", "S72.001"]}
    body = client.post("/v1/charts/check", json=request, headers=coder).get_json()
    rules = {f["rule"] for f in body["findings"]}
    assert {"signature", "document_date", "patient_mrn", "excludes1", "seventh_character"} <= rules
    assert body["counts"]["error"] >= 4
    clean = client.post("/v1/charts/check", json={"text": CHART_TEXT, "codes": ["I10"]}, headers=coder).get_json()
    assert not [f for f in clean["findings"] if f["severity"] == "error"]


def test_check_a_saved_chart_by_id(client, coder):
    chart = client.post("/v1/charts", json={"patient_id": "P9", "text": CHART_TEXT, "codes": ["E11.9", "E11.65"],
                                            "confirm_findings": True}, headers=coder).get_json()
    body = client.post("/v1/charts/check", json={"chart_id": chart["id"]}, headers=coder).get_json()
    assert any(f["rule"] == "unspecified_with_specific" and f["code"] == "E11.9" for f in body["findings"])


def test_model_info_and_reload(client, coder, admin, small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    info = client.get("/v1/model", headers=coder).get_json()
    assert info["threshold"] == small_model.threshold_
    assert info["card"]["name"] == small_model.card_.name
    folder = small_model.save(tmp_path / "saved-model")
    response = client.post("/v1/model/reload", json={"model": str(folder)}, headers=admin)
    assert response.status_code == 200
    assert response.get_json()["model"]["ref"] == str(folder)
    assert client.post("/v1/suggest", json={"text": CHART_TEXT}, headers=coder).status_code == 200
    bad = client.post("/v1/model/reload", json={"model": str(tmp_path / "nope")}, headers=admin)
    assert bad.status_code == 404 and bad.get_json()["field"] == "model"
    unknown = client.post("/v1/model/reload", json={"model": "models:/no-such-model@champion"}, headers=admin)
    assert unknown.status_code == 404 and unknown.get_json()["field"] == "model"
    by_name = client.post("/v1/model/reload", json={"model": "saved-model"}, headers=admin)
    assert by_name.status_code == 200 and by_name.get_json()["model"]["ref"] == str(folder)
    # still serving the model that loaded
    assert client.get("/v1/model", headers=coder).get_json()["ref"] == str(folder)


class _RunsCode:
    """A pickle that, when loaded, writes a file: what an attacker would put in a model file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_reload_never_reads_a_model_outside_the_models_folder(client, admin, small_model, tmp_path, monkeypatch):
    import joblib

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(models))
    planted = tmp_path / "elsewhere"
    small_model.save(planted)  # a valid card beside it
    marker = tmp_path / "code-ran"
    joblib.dump(_RunsCode(marker), planted / "model.joblib")
    (models / "link").symlink_to(planted, target_is_directory=True)
    for ref in (str(planted), str(planted / "model.joblib"), "../elsewhere", "link", str(models / ".." / "elsewhere")):
        response = client.post("/v1/model/reload", json={"model": ref}, headers=admin)
        assert response.status_code == 403 and response.get_json()["field"] == "model", ref
    assert not marker.exists()


def test_reload_refuses_a_model_file_that_is_not_the_one_signed_and_never_unpickles_it(client, admin, coder,
                                                                                        small_model, tmp_path,
                                                                                        monkeypatch):
    import joblib

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    folder = small_model.save(tmp_path / "tampered")
    marker = tmp_path / "code-ran"
    joblib.dump(_RunsCode(marker), folder / "model.joblib")  # its old signature stays beside it
    response = client.post("/v1/model/reload", json={"model": "tampered"}, headers=admin)
    assert response.status_code == 422 and response.get_json()["field"] == "model"
    assert "changed since it was signed" in response.get_json()["error"]
    (folder / "model.joblib.sig").unlink()
    response = client.post("/v1/model/reload", json={"model": str(folder)}, headers=admin)
    assert response.status_code == 422 and "no signature" in response.get_json()["error"]
    assert not marker.exists()
    assert client.get("/v1/model", headers=coder).get_json()["ref"] == "in-process"  # still the previous model


def test_reload_of_an_unsigned_default_model_says_how_to_rebuild_or_sign_it(client, admin, small_model, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    folder = small_model.save(tmp_path / "default")
    (folder / "model.joblib.sig").unlink()
    response = client.post("/v1/model/reload", json={"model": "default"}, headers=admin)
    assert response.status_code == 422 and response.get_json()["field"] == "model"
    assert "suggest train --default" in response.get_json()["error"]
    assert f"suggest model sign {folder}" in response.get_json()["error"]


def test_the_server_does_not_start_on_a_model_that_fails_its_check(tmp_path, small_model, monkeypatch, capsys):
    import joblib

    from suggest.cli import main

    folder = small_model.save(tmp_path / "tampered")
    marker = tmp_path / "code-ran"
    joblib.dump(_RunsCode(marker), folder / "model.joblib")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'charts.db'}")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert main(["serve", "--model", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "suggest serve: error:" in err and "changed since it was signed" in err and "refusing to load it" in err
    assert not marker.exists()


def test_a_champion_that_fails_its_check_is_passed_over_for_the_default_model(tmp_path, small_model, caplog):
    from api.modelhost import resolve_model_ref
    from suggest import plugins
    from suggest.model.integrity import model_signing_key, sign

    folder = small_model.save(tmp_path / "champion")
    (folder / "model.joblib.sig").unlink()
    plugins.register(plugins.CHAMPION, "champion", lambda: "models:/suggester/3")
    plugins.register_resolver("models", lambda ref: (folder, "3", None))
    try:
        with caplog.at_level("WARNING", logger="api.modelhost"):
            assert resolve_model_ref(None) == "default"
        sign(folder, model_signing_key())
        assert resolve_model_ref(None) == "models:/suggester/3"
    finally:
        plugins.unregister(plugins.CHAMPION, "champion")
        plugins.unregister(plugins.RESOLVERS, "models")
    assert "models:/suggester/3 (version 3) fails its integrity check" in caplog.text


def test_the_server_serves_the_champion_it_looked_up_while_loading(tmp_path, small_model_dir):
    import json

    from api.modelhost import serve_model
    from suggest import plugins
    from suggest.model.integrity import SIGNATURE_FILE

    signed = json.loads((small_model_dir / SIGNATURE_FILE).read_text(encoding="utf-8"))["sha256"]
    plugins.register(plugins.CHAMPION, "champion", lambda: "models:/suggester/7")
    plugins.register_resolver("models", lambda ref: (small_model_dir, "7", signed))
    try:
        champion = serve_model(None)
        # An explicit folder that holds the champion's file is served from the folder, with the champion's version.
        folder = serve_model(str(small_model_dir))
    finally:
        plugins.unregister(plugins.CHAMPION, "champion")
        plugins.unregister(plugins.RESOLVERS, "models")
    assert champion.ref == "models:/suggester/7" and champion.model.card_.version == "7"
    assert folder.ref == str(small_model_dir) and folder.champion_version == "7"
    assert champion.model.suggest("asthma").suggestions


def test_a_reload_in_one_worker_reaches_the_others(tmp_path, small_model, monkeypatch):
    """Workers share the database: a reload in one is picked up by the others at their next poll."""
    import time

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    from api_support import bearer, make_app, new_token

    first = make_app(tmp_path, small_model, model_poll_seconds=0.0)
    second = make_app(tmp_path, small_model, model_poll_seconds=0.0)
    admin = bearer(new_token(first, "admin", "ada"))
    folder = small_model.save(tmp_path / "next-model")
    assert first.test_client().post("/v1/model/reload", json={"model": str(folder)}, headers=admin).status_code == 200
    client = second.test_client()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if client.get("/v1/model", headers=admin).get_json()["ref"] == str(folder):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the second worker never loaded the new model")
    assert client.post("/v1/suggest", json={"text": "asthma"}, headers=admin).status_code == 200


def test_model_resolution_falls_back_to_the_default_model(tmp_path, monkeypatch):
    from api.modelhost import resolve_model_ref

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_model_ref("some/folder") == "some/folder"
    assert resolve_model_ref(None) == "default"  # no MLflow store, hence no champion


def test_setting_and_patient_in_the_body(client, coder, small_model):
    text = "ASSESSMENT AND PLAN\nAtrial fibrillation.\nMEDICATIONS\nApixaban 5 mg twice daily.\n"
    body = client.post("/v1/suggest", json={"text": text, "top_k": 30, "setting": "inpatient",
                                            "patient": {"sex": "female", "age_years": 50}}, headers=coder).get_json()
    assert body["setting"] == "inpatient"
    z79 = next(s for s in body["suggestions"] if s["code"] == "Z79.01")
    assert z79["selected"] and z79["rules"][0]["rule"] == "long_term_drug" and z79["rules"][0]["why"]
    default = client.post("/v1/suggest", json={"text": text}, headers=coder).get_json()
    assert default["setting"] == small_model.get_params()["setting"]
    batch = client.post("/v1/suggest/batch", json={"charts": [{"text": text}], "setting": "mentions"},
                        headers=coder).get_json()
    assert batch["setting"] == "mentions"


def test_unknown_setting_or_patient_field_is_a_400_naming_it(client, coder):
    bad = client.post("/v1/suggest", json={"text": "Asthma.", "setting": "emergency"}, headers=coder)
    assert bad.status_code == 400 and "setting" in bad.get_json()["field"]
    bad = client.post("/v1/suggest", json={"text": "Asthma.", "patient": {"sex": "x"}}, headers=coder)
    assert bad.status_code == 400 and "patient" in bad.get_json()["field"]


def test_a_model_name_too_long_for_the_file_system_is_not_found(client, admin, small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    response = client.post("/v1/model/reload", json={"model": "m" * 300}, headers=admin)
    assert response.status_code == 404 and response.get_json()["field"] == "model"


def test_a_reload_body_of_blanks_is_a_400_not_a_reload(client, admin):
    response = client.post("/v1/model/reload", data=b" \n", headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["field"] == "body"


def test_model_info_reports_the_registry_version_of_a_folder_that_holds_the_champion(client, coder, admin, tmp_path,
                                                                                      small_model, monkeypatch):
    """The default model is registered and promoted when it is built, yet served from its folder (card: "local"):
    /v1/model names the registry's version when the champion is that very file, and none for another file."""
    from suggest import plugins
    from suggest.model.integrity import file_sha256

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    assert client.get("/v1/model", headers=coder).get_json()["registry_version"] is None  # in-process
    folder = small_model.save(tmp_path / "default")
    champion_sha256 = {"value": file_sha256(folder / "model.joblib")}
    plugins.register(plugins.CHAMPION, "champion", lambda: "models:/suggester/1")
    plugins.register_resolver("models", lambda ref: (folder, "1", champion_sha256["value"]))
    try:
        reloaded = client.post("/v1/model/reload", json={"model": "default"}, headers=admin).get_json()["model"]
        assert reloaded["version"] == "local" and reloaded["registry_version"] == "1"
        assert reloaded["codeset_release"] == small_model.card_.codeset_release
        info = client.get("/v1/model", headers=coder).get_json()
        assert info["registry_version"] == "1"
        champion_sha256["value"] = "0" * 64  # the champion is another file
        assert client.post("/v1/model/reload", json={"model": "default"},
                           headers=admin).get_json()["model"]["registry_version"] is None
        # loaded from the registry: the card carries the version
        champion_sha256["value"] = file_sha256(folder / "model.joblib")
        by_uri = client.post("/v1/model/reload", json={"model": "models:/suggester/1"}, headers=admin).get_json()
        assert by_uri["model"]["version"] == "1" and by_uri["model"]["registry_version"] == "1"
    finally:
        plugins.unregister(plugins.CHAMPION, "champion")
        plugins.unregister(plugins.RESOLVERS, "models")
