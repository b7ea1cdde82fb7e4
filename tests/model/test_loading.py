"""Resolving model references: folders, "default" and registry URIs; loading never trains."""

import json
import subprocess
import sys

import pytest

import suggest
from suggest import plugins
from suggest.errors import ModelNotFoundError


def test_a_missing_default_model_is_an_error_that_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="no default model.*suggest train --default"):
        suggest.load_model("default")
    assert not (tmp_path / "default").exists()  # nothing was trained


def test_a_stale_default_model_is_refused_not_rebuilt(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    stale = small_model.save(tmp_path / "default")
    card = json.loads((stale / "model_card.json").read_text())
    (stale / "model_card.json").write_text(json.dumps({**card, "format_version": 1}))
    with pytest.raises(ModelNotFoundError, match="older release.*suggest train --default"):
        suggest.load_model("default")


def test_an_unsigned_default_model_is_refused_with_both_ways_out(small_model, tmp_path, monkeypatch):
    from suggest.errors import ModelIntegrityError
    from suggest.model.loading import default_model_state

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    folder = small_model.save(tmp_path / "default")
    assert default_model_state() == "ready"
    (folder / "model.joblib.sig").unlink()  # as saved by a release before models were signed
    assert default_model_state() == "unsigned"
    with pytest.raises(ModelIntegrityError, match="no signature.*suggest train --default.*suggest model sign"):
        suggest.load_model("default")


def test_the_sha256_a_registry_recorded_is_checked_on_loading(small_model_dir, tmp_path):
    from suggest.errors import ModelIntegrityError
    from suggest.model.integrity import file_sha256

    recorded = {"sha256": "0" * 64}
    plugins.register_resolver("models", lambda ref: (small_model_dir, "7", recorded["sha256"]))
    try:
        with pytest.raises(ModelIntegrityError, match="not the file the registry recorded"):
            suggest.load_model("models:/somewhere@champion")
        recorded["sha256"] = file_sha256(small_model_dir / "model.joblib")
        assert suggest.load_model("models:/somewhere@champion").card_.version == "7"
    finally:
        plugins.unregister(plugins.RESOLVERS, "models")


def test_registry_uris_go_to_the_registered_resolver(small_model_dir, monkeypatch):
    seen = []

    def resolve(ref):
        seen.append(ref)
        return small_model_dir, "7"

    plugins.register_resolver("models", resolve)
    try:
        model = suggest.load_model("models:/somewhere@champion")
    finally:
        plugins.unregister(plugins.RESOLVERS, "models")
    assert seen == ["models:/somewhere@champion"]
    assert model.card_.version == "7" and model.card_.registry_uri == "models:/somewhere@champion"


def test_the_training_package_provides_the_registry_and_default_builder_as_entry_points():
    from training.default import build_default_model
    from training.registry import champion_uri, resolve_model

    assert plugins.lookup(plugins.RESOLVERS, "models") is resolve_model
    assert plugins.lookup(plugins.CHAMPION, "champion") is champion_uri
    assert plugins.lookup(plugins.DEFAULT_MODEL, "build") is build_default_model


def test_build_default_model_uses_the_registered_builder(tmp_path):
    calls = []
    plugins.register(plugins.DEFAULT_MODEL, "build", lambda root: calls.append(root) or root / "default")
    try:
        from suggest.model.loading import build_default_model

        assert build_default_model(tmp_path) == tmp_path / "default"
    finally:
        plugins.unregister(plugins.DEFAULT_MODEL, "build")
    assert calls == [tmp_path]


def assert_imports_none_of(packages: tuple[str, ...], script: str) -> None:
    """Run ``script`` in a fresh interpreter, then fail if it imported any of ``packages``."""
    check = (f"\nimport sys\nfound = sorted(m for m in sys.modules if m.split('.')[0] in {packages!r})\n"
             "print(found)\nsys.exit(1 if found else 0)\n")
    done = subprocess.run([sys.executable, "-c", script + check], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_loading_and_suggesting_import_neither_mlflow_training_nor_api(small_model_dir):
    assert_imports_none_of(("mlflow", "training", "api"), (
        "import suggest\n"
        f"model = suggest.load_model({str(small_model_dir)!r})\n"
        "model.suggest('Assessment: essential hypertension. Type 2 diabetes mellitus.')\n"
        "model.predict_proba(['Essential hypertension.'])\n"
    ))


def test_the_library_never_imports_training_or_api():
    import pathlib
    import re

    root = pathlib.Path(suggest.__file__).parent
    pattern = re.compile(r"^\s*(from|import)\s+(training|api)\b|import_module\(\s*[\"'](training|api)\b", re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


@pytest.mark.slow
def test_suggest_train_default_builds_what_load_model_then_loads(tmp_path, monkeypatch, capsys):
    from suggest.cli import main

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("SUGGEST_DEFAULT_N", "60")
    monkeypatch.setenv("SUGGEST_DEFAULT_CODESET_N", "40")
    assert main(["train", "--default", "--no-track"]) == 0
    model = suggest.load_model("default")
    names = [d.name for d in model.card_.training_data]
    assert any(name.startswith("synthetic-train") for name in names)
    assert any(name.startswith("codeset-charts") for name in names)
    assert model.suggest("Assessment: essential hypertension.").suggestions


def test_building_the_cli_imports_no_heavy_dependency():
    assert_imports_none_of(("mlflow", "flask", "sklearn", "spacy"), (
        "from suggest.cli import build_parser\n"
        "parser = build_parser()\n"
        "assert {'train', 'serve', 'codes', 'predict'} <= set(parser._subparsers._group_actions[0].choices)\n"
    ))


def test_registry_look_ups_for_the_server_run_in_a_child_process(small_model_dir, tmp_path, monkeypatch):
    """MLflow's client (about 100 MB) stays out of the server: the child answers, its errors keep their class, and a
    resolver registered at run time (it exists in this process only) is called here."""
    import subprocess

    from suggest import plugins
    from suggest.errors import ModelNotFoundError

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    children = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: children.append(args) or real_run(args, **kw))
    assert plugins.in_child_process("champion") is None  # no registry yet
    with pytest.raises(ModelNotFoundError, match="no alias 'champion'"):
        plugins.in_child_process("resolve", "models:/nobody@champion")
    assert [args[1:4] for args in children] == [["-m", "suggest.plugins", "champion"],
                                                ["-m", "suggest.plugins", "resolve"]]
    plugins.register_resolver("models", lambda ref: (small_model_dir, "3"))
    try:
        resolved = plugins.in_child_process("resolve", "models:/here@champion")
    finally:
        plugins.unregister(plugins.RESOLVERS, "models")
    assert resolved == plugins.ResolvedModel(small_model_dir, "3") and len(children) == 2


def test_the_champion_and_its_files_are_found_in_one_child_process(tmp_path, monkeypatch, small_model_dir):
    import subprocess

    from suggest import plugins

    monkeypatch.setenv("SUGGEST_MODELS_DIR", str(tmp_path))
    children = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: children.append(args) or real_run(args, **kw))
    assert plugins.in_child_process("champion_model") is None  # no registry yet
    assert [args[1:4] for args in children] == [["-m", "suggest.plugins", "champion_model"]]
    plugins.register(plugins.CHAMPION, "champion", lambda: "models:/here/3")
    plugins.register_resolver("models", lambda ref: (small_model_dir, "3", "abc"))
    try:
        found = plugins.in_child_process("champion_model")
    finally:
        plugins.unregister(plugins.CHAMPION, "champion")
        plugins.unregister(plugins.RESOLVERS, "models")
    assert found == plugins.ChampionModel("models:/here/3", plugins.ResolvedModel(small_model_dir, "3", "abc"))


def test_a_loaded_model_is_out_of_the_garbage_collectors_reach_and_earlier_freezes_stay(small_model_dir):
    """Full collections walked the libraries' objects at a quarter of a batch's time: loading freezes them, and
    never unfreezes what is frozen already (in a forked worker that would copy every shared page)."""
    import gc

    import suggest

    gc.freeze()
    before = gc.get_freeze_count()
    model = suggest.load_model(small_model_dir)
    assert gc.get_freeze_count() >= before > 0
    assert model.suggest("asthma").suggestions is not None


def test_loading_raises_the_collectors_default_threshold_and_keeps_an_applications_own(small_model_dir):
    """A chart's work frees its objects by reference counting; at Python's threshold of 700 they still set off a
    collection every half chart and full ones that walk the look-up caches."""
    import gc

    import suggest

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        suggest.load_model(small_model_dir)
        assert gc.get_threshold() == (10_000, 10, 10)
        gc.set_threshold(2_500, 5, 5)  # an application's own choice stays
        suggest.load_model(small_model_dir)
        assert gc.get_threshold() == (2_500, 5, 5)
    finally:
        gc.set_threshold(*saved)
