"""Tracked training: fit a ``suggest.Suggester`` on JSONL charts, evaluate, save, log to MLflow.

``train(TrainOptions(...))`` is what ``suggest train`` runs:

1. read the training charts (one or more JSONL corpora, including the chart store's
   feedback export) and the optional dev charts;
2. fit ``suggest.Suggester(**config)`` with the seed applied;
3. evaluate on dev (MAP, P@k/R@k, F1, ECE, recall of dev codes unseen in training);
4. save the model folder with its card (data fingerprints, code-set release, metrics) and
   an evaluation report without chart text in ``<folder>/evaluation``;
5. unless ``track`` is off, log the run to MLflow (params, metrics, tags, artifacts) and
   register the model as a pyfunc under ``registered_name``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from suggest.errors import SuggestError
from suggest.model.integrity import MODEL_FILE, SHA256_TAG, file_sha256
from suggest.paths import models_dir as default_models_dir
from suggest.types import Chart
from training.tracking import DEFAULT_REGISTERED_NAME

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """What to train on and where the results go.

    Attributes
    ----------
    train : list of Path
        JSONL corpora with coded charts; concatenated.
    dev : Path or None
        JSONL corpus to evaluate on (and, later, to judge promotions on).
    output : Path or None
        Model folder; default ``<models_dir>/runs/<run name>``.
    config : dict
        Settings of ``suggest.model.config.SuggesterConfig`` (unset ones keep their defaults).
    seed : int or None
        Seed: overrides the config's ``random_state`` and seeds numpy/random.
    track : bool
        Log the run to MLflow and register the model.
    registered_name : str
        Registered model name in the MLflow registry.
    models_dir : Path or None
        Root of the model store (default ``suggest.paths.models_dir()``).
    run_name : str or None
        MLflow run name and default folder name; default ``<timestamp>-<data hash>``.
    """

    train: list[Path]
    dev: Path | None = None
    output: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    track: bool = True
    registered_name: str = DEFAULT_REGISTERED_NAME
    models_dir: Path | None = None
    run_name: str | None = None


@dataclass
class TrainResult:
    """Where the model went and how it did."""

    model_dir: Path
    run_name: str
    metrics: dict[str, float]
    run_id: str | None = None
    model_uri: str | None = None
    registered_version: str | None = None
    report_dir: Path | None = None


def fingerprint(path: Path, charts: list[Chart]) -> dict[str, Any]:
    """A dataset's identity for the model card and the run: name, path, sha256, sizes."""
    return {
        "name": Path(path).name,
        "path": str(Path(path).resolve()),
        "sha256": file_sha256(Path(path)),
        "n_charts": len(charts),
        "n_labels": len({c for chart in charts for c in chart.codes}),
        "n_code_assignments": sum(len(chart.codes) for chart in charts),
    }


def parse_config(config_file: Path | None = None, sets: list[str] | None = None) -> dict[str, Any]:
    """The estimator config from a JSON file and ``key=value`` overrides (values parsed as JSON).

    ``--set ranker.max_iter=200`` sets a nested key. Raises SuggestError naming the bad input.
    """
    config: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = json.loads(Path(config_file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SuggestError(f"{config_file}: no such config file") from None
        except json.JSONDecodeError as exc:
            raise SuggestError(f"{config_file}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(loaded, dict):
            raise SuggestError(f"{config_file}: a config must be a JSON object of Suggester settings")
        config.update(loaded)
    for item in sets or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SuggestError(f"--set {item!r}: expected key=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = config
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise SuggestError(f"--set {item!r}: '{part}' is not a section")
        target[parts[-1]] = value
    return config


def read_training_charts(paths: list[Path]) -> tuple[list[Chart], list[dict[str, Any]]]:
    """Coded charts of all training files (uncoded ones skipped) and one fingerprint per file."""
    from suggest.corpus import read_jsonl

    charts: list[Chart] = []
    prints = []
    for path in paths:
        part = read_jsonl(path)
        coded = [c for c in part if c.codes]
        if len(coded) < len(part):
            log.warning("%s: skipping %d charts without codes", path, len(part) - len(coded))
        prints.append(fingerprint(path, coded))
        charts.extend(coded)
    if not charts:
        raise SuggestError("no coded charts to train on in " + ", ".join(str(p) for p in paths))
    return charts, prints


def resolve_config(config: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The full, validated estimator config (defaults filled in); ``seed`` sets ``random_state``.

    Raises SuggestError naming the offending setting.
    """
    from suggest.model.config import SuggesterConfig

    config = dict(config)
    if seed is not None:
        config["random_state"] = seed
    try:
        return SuggesterConfig(**config).model_dump()
    except (TypeError, ValueError) as exc:
        raise SuggestError(f"invalid model config: {_short_error(exc)}") from None


def build_estimator(config: dict[str, Any], name: str = DEFAULT_REGISTERED_NAME):
    """``suggest.Suggester`` with a config from :func:`resolve_config`."""
    import suggest

    return suggest.Suggester(**config, name=name)


def _short_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors()]
            return "; ".join(parts)
        except Exception:  # not a pydantic error after all
            pass
    return str(exc).splitlines()[0]


def _run_name(prints: list[dict[str, Any]]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    data = hashlib.sha256("".join(p["sha256"] for p in prints).encode()).hexdigest()[:6]
    return f"{stamp}-{data}"


def train(options: TrainOptions) -> TrainResult:
    """Fit, evaluate, save and (optionally) log and register a model. See the module docstring."""
    from training.evaluation import evaluate_model, load_gold, write_report

    models_dir = Path(options.models_dir) if options.models_dir is not None else default_models_dir()
    charts, prints = read_training_charts([Path(p) for p in options.train])
    dev_charts = load_gold(options.dev) if options.dev is not None else None
    dev_print = fingerprint(Path(options.dev), dev_charts) if dev_charts is not None else None
    run_name = options.run_name or _run_name(prints)
    if options.output is not None:
        output = Path(options.output)
    else:
        output = models_dir / "runs" / run_name
        suffix = 1
        while output.exists():
            suffix += 1
            output = models_dir / "runs" / f"{run_name}-{suffix}"
        run_name = output.name

    if options.seed is not None:
        random.seed(options.seed)
        np.random.seed(options.seed)
    config = resolve_config(options.config, options.seed)
    estimator = build_estimator(config, name=options.registered_name)
    log.info("training on %d charts (%d codes)", len(charts), len({c for ch in charts for c in ch.codes}))
    try:
        estimator.fit([c.text for c in charts], [list(c.codes) for c in charts],
                      specialties=[c.specialty for c in charts],
                      data_name="+".join(p["name"] for p in prints), progress=sys.stderr.isatty())
    except ValueError as exc:
        raise SuggestError(f"training failed: {_short_error(exc)}") from None

    metrics: dict[str, float] = {}
    evaluation = None
    if dev_charts is not None:
        seen = {code for chart in charts for code in chart.codes}
        evaluation = evaluate_model(estimator, dev_charts, seen_codes=seen,
                                    model_ref=run_name, data_ref=str(options.dev))
        metrics = evaluation.metrics

    from suggest.model.card import DataFingerprint

    # File fingerprints a user can check with sha256sum; the engine's content hash is kept beside them.
    update: dict[str, Any] = {
        "training_data_content": estimator.card_.training_data,
        "training_data": [DataFingerprint(**p) for p in prints],
        "seed": config.get("random_state"),
    }
    if dev_print is not None:
        update["dev_data"] = DataFingerprint(**dev_print)
        update["metrics"] = {**estimator.card_.metrics, **{f"dev_{k}": float(v) for k, v in metrics.items()}}
    card = estimator.card_ = estimator.card_.model_copy(update=update)
    estimator.save(output)  # writes model.joblib and model_card.json (this card)

    report_dir = None
    if evaluation is not None:
        report_dir = output / "evaluation"
        evaluation.model_info = {**evaluation.model_info, "name": card.name, "version": card.version}
        write_report(evaluation, report_dir, redact=True)

    result = TrainResult(model_dir=output, run_name=run_name, metrics=metrics, report_dir=report_dir)
    if options.track:
        _log_run(options, result, config, card, prints, dev_print, models_dir)
    return result


def _log_run(options, result: TrainResult, config, card, prints, dev_print, models_dir: Path) -> None:
    import mlflow

    from training.pyfunc import log_pyfunc_model
    from training.tracking import configure_mlflow, flatten_params, mlflow_metrics, quiet_logging

    configure_mlflow(models_dir)
    tags = {"codeset_release": card.codeset_release, "model_dir": str(result.model_dir)}
    tags["seed"] = str(config.get("random_state"))
    for i, p in enumerate(prints):
        for key in ("name", "path", "sha256", "n_charts", "n_labels"):
            tags[f"train_data.{i}.{key}"] = str(p[key])
    if dev_print is not None:
        for key in ("name", "path", "sha256", "n_charts", "n_labels"):
            tags[f"dev_data.{key}"] = str(dev_print[key])
    with quiet_logging(), mlflow.start_run(run_name=result.run_name) as run:
        mlflow.set_tags(tags)
        mlflow.log_params(flatten_params(config))
        mlflow.log_metrics(mlflow_metrics({k: v for k, v in card.metrics.items() if not k.startswith("dev_")}))
        if card.training_sizes is not None:
            mlflow.log_params({f"trained.{k}": v for k, v in card.training_sizes.model_dump().items()})
        if card.training_notes:
            mlflow.set_tag("training_notes", " | ".join(card.training_notes)[:5000])
        if result.metrics:
            mlflow.log_metrics(mlflow_metrics(result.metrics, prefix="dev_"))
        mlflow.log_artifact(str(result.model_dir / "model_card.json"))
        if result.report_dir is not None:
            for name in ("metrics.json", "report.html"):
                mlflow.log_artifact(str(result.report_dir / name), artifact_path="evaluation")
            mlflow.log_artifacts(str(result.report_dir / "plots"), artifact_path="plots")
        info = log_pyfunc_model(result.model_dir, registered_name=options.registered_name or None)
        result.run_id = run.info.run_id
        result.model_uri = info.model_uri
        if info.registered_model_version is not None:
            result.registered_version = str(info.registered_model_version)
    if result.registered_version is not None:
        client = mlflow.MlflowClient()
        name, version = options.registered_name, result.registered_version
        client.set_model_version_tag(name, version, "codeset_release", tags["codeset_release"])
        # Kept in MLflow's store, out of reach of a writer of the artifacts: loading the version checks it.
        client.set_model_version_tag(name, version, SHA256_TAG, file_sha256(result.model_dir / MODEL_FILE))
        summary = f"Trained on {', '.join(p['name'] for p in prints)} ({sum(p['n_charts'] for p in prints)} charts)"
        for key in ("map", "micro_f1"):
            if key in result.metrics:
                client.set_model_version_tag(name, version, f"dev_{key}", f"{result.metrics[key]:.4f}")
        if dev_print is not None and result.metrics:
            summary += (f"; on {dev_print['name']} ({dev_print['n_charts']} charts) MAP {result.metrics['map']:.4f},"
                        f" micro-F1 {result.metrics['micro_f1']:.4f}")
        client.update_model_version(name, version, description=f"{summary}; code set {tags['codeset_release']}.")
