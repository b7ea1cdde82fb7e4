"""The model registry: promotion gated on paired evaluation, challenger, rollback, URI resolution.

Two real models are trained once for the module (a weak one on 6 charts, a strong one on 60)
and registered; every test then gets a fresh registered model whose versions point at them:
version 1 = weak, 2 = strong, 3 = the strong model again (so it cannot beat version 2).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from suggest.cli import main
from suggest.model.suggester import READABLE_FORMATS

import charts_support
from charts_support import FAST

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*noload.*")]


_names = itertools.count(1)


def write_charts(path: Path, n: int, seed: int) -> Path:
    return charts_support.write_charts(path, n, seed)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A models folder with an embedded MLflow store holding a weak and a strong registered model."""
    from training.train import TrainOptions, train

    root = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUGGEST_MODELS_DIR", str(root / "models"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        dev = write_charts(root / "dev.jsonl", 16, seed=2)
        versions = {}
        for label, n in (("weak", 6), ("strong", 60)):
            data = write_charts(root / f"train-{label}.jsonl", n, seed=1)
            result = train(TrainOptions(train=[data], dev=dev, config=FAST, seed=3, registered_name="base"))
            versions[label] = result.registered_version
        yield {"root": root, "dev": dev, "versions": versions}


@pytest.fixture()
def registry(trained, monkeypatch):
    """A fresh registered model: v1 weak, v2 strong, v3 strong again. Returns its name."""
    from mlflow import MlflowClient

    from training.tracking import configure_mlflow

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(trained["root"] / "models"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("USER", "tester")
    configure_mlflow()
    client = MlflowClient()
    name = f"suggester-{next(_names)}"
    client.create_registered_model(name)
    for label in ("weak", "strong", "strong"):
        base = client.get_model_version("base", trained["versions"][label])
        client.create_model_version(name, source=base.source, run_id=base.run_id)
    return name


def _aliases(name: str) -> dict[str, str]:
    from mlflow import MlflowClient

    return {alias: str(v) for alias, v in MlflowClient().get_registered_model(name).aliases.items()}


def test_first_promotion_needs_no_champion_and_is_recorded(registry, capsys):
    from mlflow import MlflowClient

    from training.registry import champion_uri, history

    assert champion_uri(registry) is None
    assert main(["promote", "--name", registry, "--version", "1", "--reason", "first model"]) == 0
    assert "no champion yet" in capsys.readouterr().out
    assert _aliases(registry) == {"champion": "1"}
    assert champion_uri(registry) == f"models:/{registry}/1"
    tags = MlflowClient().get_model_version(registry, "1").tags
    assert tags["promotion.champion.who"] == "tester"
    assert tags["promotion.champion.why"] == "first model"
    assert json.loads(tags["promotion.champion.metrics"])["map"] > 0  # evaluated on the recorded dev data
    [event] = history(registry)
    assert event["action"] == "promote" and event["version"] == "1" and event["previous"] is None


def test_a_better_version_is_promoted_with_confidence_intervals(registry, capsys):
    assert main(["promote", "--name", registry, "--version", "1"]) == 0
    capsys.readouterr()
    assert main(["promote", "--name", registry, "--version", "2", "--user", "alice"]) == 0
    out = capsys.readouterr().out
    assert "95% CI" in out and "beats the champion" in out
    assert _aliases(registry) == {"champion": "2"}


def test_promotion_is_refused_when_not_better_unless_forced(registry, trained, capsys):
    from mlflow import MlflowClient

    from training.registry import history

    assert main(["promote", "--name", registry, "--version", "2"]) == 0
    capsys.readouterr()
    # Version 3 is the same model as the champion: no improvement, refused with exit 2.
    assert main(["promote", "--name", registry, "--version", "3"]) == 2
    captured = capsys.readouterr()
    assert "does not beat the champion" in captured.err and "--force" in captured.err
    assert "95% CI [+0.0000, +0.0000]" in captured.out
    # The weak version is worse: refused too, also on explicitly given data.
    assert main(["promote", "--name", registry, "--version", "1", "--data", str(trained["dev"])]) == 2
    assert _aliases(registry) == {"champion": "2"}
    # --force promotes anyway and says so in the record.
    assert main(["promote", "--name", registry, "--version", "1", "--force", "--reason", "hotfix"]) == 0
    assert _aliases(registry) == {"champion": "1"}
    last = history(registry)[-1]
    assert last["forced"] is True and last["why"] == "hotfix" and last["previous"] == "2"
    assert MlflowClient().get_model_version(registry, "1").tags["promotion.champion.why"] == "hotfix"


def test_rollback_walks_back_through_previous_champions(registry, capsys):
    from training.registry import promote, rollback

    assert promote("1", name=registry).promoted
    assert promote("2", name=registry).promoted
    assert promote("3", name=registry, force=True).promoted
    assert main(["rollback", "--name", registry, "--reason", "bad release"]) == 0
    assert "from version 3 to version 2" in capsys.readouterr().out
    assert _aliases(registry)["champion"] == "2"
    assert rollback(name=registry).version == "1"
    assert main(["rollback", "--name", registry]) == 2
    assert "no previous champion" in capsys.readouterr().err
    assert _aliases(registry)["champion"] == "1"


def test_challenger_alias_and_registry_listing(registry, capsys):
    assert main(["promote", "--name", registry, "--version", "2"]) == 0
    assert main(["promote", "--name", registry, "--version", "3", "--as", "challenger"]) == 0
    assert _aliases(registry) == {"champion": "2", "challenger": "3"}
    capsys.readouterr()
    assert main(["registry", "--name", registry, "--history"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()[:1].isdigit()}
    assert "champion" in lines["2"] and "challenger" in lines["3"]
    assert "promote  challenger: - -> 3" in out


def test_models_uri_resolves_to_a_loadable_cached_folder(registry):
    import suggest
    from training.registry import promote, resolve_model_uri

    promote("2", name=registry)
    folder = resolve_model_uri(f"models:/{registry}@champion")
    assert (folder / "model.joblib").is_file()
    assert resolve_model_uri(f"models:/{registry}/2") == folder
    model = suggest.load_model(f"models:/{registry}@champion")
    codes = [s.code for s in model.suggest("Patient presents with asthma.", top_k=3).suggestions]
    assert "J45.909" in codes
    with pytest.raises(Exception, match="no version 9"):
        resolve_model_uri(f"models:/{registry}/9")
    with pytest.raises(Exception, match="not a registry URI"):
        resolve_model_uri("models:/")


def test_a_spark_job_runs_the_registry_champion_and_records_its_version(registry, spark, tmp_path):
    from suggest.spark.predict import PredictJob, run_predict
    from suggest.spark.sources import ChartSource
    from training.registry import promote

    promote("2", name=registry)
    charts = tmp_path / "charts.jsonl"
    charts.write_text(json.dumps({"id": "a", "text": "Patient presents with asthma."}) + "\n", encoding="utf-8")
    output = tmp_path / "out"
    summary = run_predict(spark, ChartSource(path=str(charts)),
                          PredictJob(model=f"models:/{registry}@champion", output=str(output), buckets=1))
    assert (summary.charts, summary.failed, summary.model_version) == (1, 0, "2")
    row = spark.read.parquet(str(output)).first()
    assert row["model_version"] == "2" and "J45.909" in [s["code"] for s in row["suggestions"]]


def test_a_champion_this_release_cannot_read_is_replaced(registry, capsys):
    """A champion saved in an older model format cannot be served: any readable version replaces it."""
    import suggest
    from suggest.errors import ModelFormatError
    from training.registry import resolve_model_uri

    assert main(["promote", "--name", registry, "--version", "2"]) == 0
    card_path = resolve_model_uri(f"models:/{registry}/2") / "model_card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "format_version": min(READABLE_FORMATS) - 1}))
    with pytest.raises(ModelFormatError, match="train it again"):
        suggest.load_model(f"models:/{registry}@champion")
    capsys.readouterr()
    # The weak version would not beat version 2, but version 2 can no longer be read.
    assert main(["promote", "--name", registry, "--version", "1"]) == 0
    assert "cannot read" in capsys.readouterr().out
    assert _aliases(registry)["champion"] == "1"


def test_the_service_serves_the_default_model_rather_than_a_champion_it_cannot_read(registry, capsys):
    from api.modelhost import resolve_model_ref
    from suggest import plugins
    from training.registry import resolve_model_uri

    assert main(["promote", "--name", registry, "--version", "3", "--force"]) == 0
    uri = f"models:/{registry}@champion"
    champion = plugins.ChampionModel(uri, plugins.resolve(uri))
    assert resolve_model_ref(None, champion) == uri
    card_path = resolve_model_uri(f"models:/{registry}/3") / "model_card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "format_version": min(READABLE_FORMATS) - 1}))
    assert resolve_model_ref(None, champion) == "default"


def test_training_records_the_model_files_sha256_on_the_registered_version(trained, registry):
    from mlflow import MlflowClient

    from suggest.model.integrity import file_sha256, model_signing_key, verify
    from training.registry import resolve_model

    for version in trained["versions"].values():
        folder, _, recorded = resolve_model(f"models:/base/{version}")
        assert recorded == MlflowClient().get_model_version("base", version).tags["model_sha256"]
        assert recorded == file_sha256(folder / "model.joblib")
        assert verify(folder, model_signing_key(), recorded) == recorded  # its signature travelled with it


def test_a_signed_file_that_is_not_the_registered_one_is_refused_and_its_champion_replaced(registry, capsys):
    """A writer of the artifact store with a signed model of its own still cannot pass it off as a version."""
    import shutil

    from mlflow import MlflowClient

    import suggest
    from api.modelhost import resolve_model_ref
    from suggest import plugins
    from suggest.errors import ModelIntegrityError
    from suggest.model.integrity import file_sha256
    from training.registry import resolve_model_uri

    assert main(["promote", "--name", registry, "--version", "2"]) == 0
    uri = f"models:/{registry}@champion"
    folder = resolve_model_uri(uri)
    MlflowClient().set_model_version_tag(registry, "2", "model_sha256", file_sha256(folder / "model.joblib"))
    assert resolve_model_ref(None, plugins.ChampionModel(uri, plugins.resolve(uri))) == uri
    other = resolve_model_uri(f"models:/{registry}/1")
    for name in ("model.joblib", "model.joblib.sig"):
        shutil.copyfile(other / name, folder / name)
    with pytest.raises(ModelIntegrityError, match="not the file the registry recorded"):
        suggest.load_model(uri)
    assert resolve_model_ref(None, plugins.ChampionModel(uri, plugins.resolve(uri))) == "default"
    capsys.readouterr()
    # The weak version would not beat version 2, but version 2 can no longer be loaded.
    assert main(["promote", "--name", registry, "--version", "1"]) == 0
    assert "fails its integrity check" in capsys.readouterr().out
    assert _aliases(registry)["champion"] == "1"


def chart_store_with_completed_charts(path: Path, charts: list[dict]) -> str:
    """A chart store (the service's own schema and store functions) whose ``charts`` were completed just now."""
    from api.auth import Principal
    from api.db import make_engine, make_sessionmaker, migrate
    from api.schemas import ChartCreate
    from api.store import create_chart
    from api.worklist import move

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    coder = Principal(token_id=0, user="casey", role="coder")
    with make_sessionmaker(engine)() as session, session.begin():
        for k, chart in enumerate(charts):
            row = create_chart(session, ChartCreate(patient_id=f"P{k}", text=chart["text"], codes=chart["codes"]),
                               coder)
            for status in ("in_progress", "coded", "completed"):
                row = move(session, row, status, coder, version=row.version, assignee="casey")
        create_chart(session, ChartCreate(patient_id="P-new", text="Asthma.", codes=["J45.909"]), coder)  # not done
    engine.dispose()
    return url


def test_shadow_evaluation_judges_on_the_charts_completed_since_the_champion_went_live(registry, trained, tmp_path,
                                                                                      capsys):
    from suggest.model.suggester import Suggester
    from training.registry import promote, resolve_model
    from training.shadow import champion_live_since, completed_charts

    assert promote("1", name=registry).promoted  # the weak model goes live
    went_live = champion_live_since(registry)
    assert went_live is not None
    charts = [json.loads(line) for line in trained["dev"].read_text().splitlines()]
    good = chart_store_with_completed_charts(tmp_path / "good.db", charts)
    shadow = completed_charts(good, went_live)
    assert len(shadow) == len(charts) and shadow[0].codes == charts[0]["codes"]
    assert completed_charts(good, went_live.replace(year=went_live.year + 1)) == []

    # compare on the shadow charts from the command line
    assert main(["compare", f"models:/{registry}/1", f"models:/{registry}/2", "--shadow", "--database-url",
                 good]) == 0
    captured = capsys.readouterr()
    assert f"{len(charts)} charts of the chart store" in captured.err and "MAP" in captured.out

    # charts whose final codes are what the weak champion ranks first: the strong candidate does worse there
    weak_folder, _, weak_sha = resolve_model(f"models:/{registry}/1")
    weak = Suggester.load(weak_folder, weak_sha)
    odd = [{"text": c["text"], "codes": [weak.suggest(c["text"], top_k=1).suggestions[0].code]} for c in charts]
    worse = chart_store_with_completed_charts(tmp_path / "worse.db", odd)
    assert main(["promote", "--name", registry, "--version", "2", "--shadow", "--database-url", worse]) == 2
    captured = capsys.readouterr()
    assert "does worse than the champion on" in captured.err and _aliases(registry) == {"champion": "1"}
    assert main(["promote", "--name", registry, "--version", "2", "--shadow", "--database-url", good]) == 0
    out = capsys.readouterr().out
    assert "on the charts coded since it went live" in out and "on the shadow charts" in out
    assert _aliases(registry) == {"champion": "2"}
