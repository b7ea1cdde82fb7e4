"""``suggest train``: fit a real Suggester, evaluate, save, log the run and register a pyfunc model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from suggest.cli import main

import charts_support
from charts_support import FAST

SUFFIX = " Follow up in three months."


def write_charts(path: Path, n: int, seed: int, *, meta: bool = False) -> Path:
    return charts_support.write_charts(path, n, seed, meta=meta, suffix=SUFFIX)


def fast_args() -> list[str]:
    args = []
    for key, value in FAST.items():
        args += ["--set", f"{key}={value}"]
    return args


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """An empty embedded MLflow store under a temporary models folder."""
    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "models"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*noload.*")
def test_train_logs_the_run_registers_a_pyfunc_model_and_is_reproducible(tmp_path, store, capsys):
    import mlflow
    import pandas as pd

    import suggest
    from training.registry import resolve_model_uri
    from training.train import TrainOptions
    from training.train import train as train_model

    train = write_charts(tmp_path / "train.jsonl", 60, seed=1, meta=True)
    dev = write_charts(tmp_path / "dev.jsonl", 20, seed=2)
    assert main(["train", "--train", str(train), "--dev", str(dev), "--seed", "3", *fast_args()]) == 0
    out = capsys.readouterr().out
    assert "registered as models:/icd10cm-suggester/1" in out and "MAP" in out

    # The model folder is where the run says, and it is a Suggester with the data on its card.
    runs = list((store / "runs").iterdir())
    assert len(runs) == 1
    local = suggest.load_model(str(runs[0]))
    card = json.loads((runs[0] / "model_card.json").read_text())
    assert card["training_data"][0]["sha256"] == hashlib.sha256(train.read_bytes()).hexdigest()
    assert card["training_data"][0]["n_charts"] == 60
    assert card["config"]["random_state"] == 3 and card["config"]["cv_folds"] == 2
    assert 0.0 <= card["metrics"]["dev_map"] <= 1.0

    client = mlflow.MlflowClient()
    version = client.get_model_version("icd10cm-suggester", "1")
    run = client.get_run(version.run_id)
    assert run.data.params["cv_folds"] == "2" and run.data.params["classifier_alpha"] == "1.0"
    assert run.data.metrics["dev_map"] == pytest.approx(card["metrics"]["dev_map"])
    assert {"dev_p_at_5", "dev_r_at_15", "dev_micro_f1", "dev_macro_f1", "dev_ece", "dev_unseen_r_at_15"} <= set(run.data.metrics)
    assert run.data.tags["dev_data.sha256"] == hashlib.sha256(dev.read_bytes()).hexdigest()
    assert run.data.tags["dev_data.path"] == str(dev.resolve())
    assert run.data.tags["train_data.0.n_charts"] == "60"
    assert run.data.tags["codeset_release"] == card["codeset_release"] != ""
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    artifacts |= {a.path for d in ("evaluation", "plots") for a in client.list_artifacts(run.info.run_id, d)}
    assert {"model_card.json", "evaluation/metrics.json", "evaluation/report.html", "plots/reliability.png",
            "plots/precision_recall.png", "plots/per_chapter_f1.png"} <= artifacts
    # Artifacts live beside the database, not in the working directory.
    assert (store / "mlflow.db").is_file() and (store / "mlruns").is_dir()

    # The registered pyfunc answers a DataFrame with JSON suggestions, like the local model.
    text = "Patient presents with atrial fibrillation. Denies asthma."
    pyfunc = mlflow.pyfunc.load_model("models:/icd10cm-suggester/1")
    frame = pyfunc.predict(pd.DataFrame({"text": [text, ""]}), params={"top_k": 5})
    assert list(frame.columns[:1]) == ["suggestions"] and len(frame) == 2
    suggestions = json.loads(frame["suggestions"][0])
    expected = [s.code for s in local.suggest(text, top_k=5).suggestions]
    assert [s["code"] for s in suggestions] == expected and expected
    assert {"code", "description", "confidence", "selected", "evidence"} <= set(suggestions[0])

    # The joblib model inside the registered version stays loadable by suggest.load_model.
    folder = resolve_model_uri("models:/icd10cm-suggester/1")
    assert folder.is_dir() and str(folder).startswith(str(store))
    registered = suggest.load_model(str(folder))
    assert [s.code for s in registered.suggest(text, top_k=5).suggestions] == expected
    assert resolve_model_uri("models:/icd10cm-suggester/1") == folder  # cached

    # Same data, config and seed: same metrics (and --no-track touches no store).
    retrained = train_model(TrainOptions(train=[train], dev=dev, config=FAST, seed=3, track=False,
                                         output=tmp_path / "again", models_dir=tmp_path / "elsewhere"))
    assert retrained.metrics == pytest.approx({k[4:]: v for k, v in card["metrics"].items() if k.startswith("dev_")})
    assert not (tmp_path / "elsewhere" / "mlflow.db").exists()
    assert (tmp_path / "again" / "evaluation" / "report.html").is_file()


def test_bad_input_is_reported_with_the_file_or_setting(tmp_path, store, capsys):
    missing = tmp_path / "nope.jsonl"
    assert main(["train", "--train", str(missing), "--no-track"]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "text": "x", "codes": ["I10"]}\n{"id": "b", "codes": []}\n')
    assert main(["train", "--train", str(broken), "--no-track"]) == 2
    assert f"{broken}:2: missing field 'text'" in capsys.readouterr().err

    good = write_charts(tmp_path / "good.jsonl", 10, seed=1)
    assert main(["train", "--train", str(good), "--no-track", "--set", "classifier_alpha=-1"]) == 2
    err = capsys.readouterr().err
    assert "classifier_alpha" in err and "Traceback" not in err
    assert main(["train", "--train", str(good), "--no-track", "--set", "no_such_setting=1"]) == 2
    assert "no_such_setting" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--output", "elsewhere"], ["--seed", "2"], ["--set", "classifier_alpha=2"]])
def test_the_default_model_refuses_options_it_would_ignore(tmp_path, capsys, extra):
    assert main(["train", "--default", "--no-track", *extra]) == 2
    assert "--default builds the project's default model" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()


def test_config_file_and_overrides_merge(tmp_path):
    from training.train import parse_config, resolve_config

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"classifier_alpha": 3.0, "cv_folds": 4}))
    config = parse_config(cfg, ["cv_folds=2", "prefer_billable=false"])
    assert config == {"classifier_alpha": 3.0, "cv_folds": 2, "prefer_billable": False}
    full = resolve_config(config, seed=9)
    assert full["random_state"] == 9 and full["classifier_alpha"] == 3.0 and "ranker_max_iter" in full


@pytest.mark.filterwarnings("ignore:.*noload.*")
def test_tracking_store_is_embedded_unless_mlflow_tracking_uri_is_set(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from training.tracking import DEFAULT_EXPERIMENT, configure_mlflow

    other = tmp_path / "elsewhere" / "tracking.db"
    other.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    configure_mlflow(tmp_path / "models")
    experiment = MlflowClient().get_experiment_by_name(DEFAULT_EXPERIMENT)
    assert other.is_file() and not (tmp_path / "models" / "mlflow.db").exists()
    assert experiment.artifact_location == (other.parent / "mlruns").as_uri()
