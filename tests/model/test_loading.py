"""Resolving model references: folders, and the default model built on first use."""

import json

import pytest

import suggest
from suggest.model.suggester import FORMAT_VERSION


@pytest.mark.slow
def test_a_stale_default_model_is_rebuilt_in_the_current_format(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("SUGGEST_DEFAULT_N", "60")
    monkeypatch.setenv("SUGGEST_DEFAULT_TRACK", "0")
    stale = small_model.save(tmp_path / "default")
    card = json.loads((stale / "model_card.json").read_text())
    (stale / "model_card.json").write_text(json.dumps({**card, "format_version": FORMAT_VERSION - 1}))

    model = suggest.load_model("default")

    assert model.card_["format_version"] == FORMAT_VERSION
    assert model.card_["training_data"][0]["n_charts"] == 60
    assert suggest.load_model("default").card_["created"] == model.card_["created"]  # reused, not rebuilt again
