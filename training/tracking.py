"""MLflow configuration and run logging for training.

The project keeps an embedded MLflow store beside its models: tracking and the
model registry in SQLite (``sqlite:///<models_dir>/mlflow.db``) and artifacts in
``<models_dir>/mlruns``, unless ``MLFLOW_TRACKING_URI`` points elsewhere.

``mlflow`` is imported inside functions only: importing it costs seconds and the
core library and the service must never pay for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from suggest.paths import models_dir as default_models_dir

#: The MLflow experiment that training runs go to.
DEFAULT_EXPERIMENT = "icd10cm-suggester"

#: The registered model name training registers and the registry commands manage.
DEFAULT_REGISTERED_NAME = "icd10cm-suggester"

_MAX_PARAM_LENGTH = 6000


def tracking_uri_for(models_dir: Path | None = None) -> str:
    """The tracking URI in effect: ``$MLFLOW_TRACKING_URI`` or the embedded SQLite store."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    folder = Path(models_dir) if models_dir is not None else default_models_dir()
    return f"sqlite:///{folder.resolve() / 'mlflow.db'}"


def configure_mlflow(
    models_dir: Path | None = None,
    *,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
) -> str:
    """Point MLflow at the project's store and make sure the experiment exists.

    Parameters
    ----------
    models_dir : Path, optional
        Folder that holds ``mlflow.db`` and ``mlruns/`` (default ``suggest.paths.models_dir()``).
    tracking_uri : str, optional
        Explicit tracking and registry URI; otherwise ``$MLFLOW_TRACKING_URI``, otherwise the
        embedded SQLite store under ``models_dir``.
    experiment : str
        Experiment to create (with its artifact location under ``models_dir/mlruns`` when the
        store is the embedded one) and to make active.

    Returns
    -------
    str
        The experiment id.
    """
    import mlflow
    from mlflow import MlflowClient

    folder = (Path(models_dir) if models_dir is not None else default_models_dir()).resolve()
    embedded = not tracking_uri and not os.environ.get("MLFLOW_TRACKING_URI")
    uri = tracking_uri or tracking_uri_for(folder)
    if embedded:
        folder.mkdir(parents=True, exist_ok=True)
    _quiet_mlflow()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        artifact_location = None
        if uri.startswith("sqlite:"):
            # Keep artifacts next to the database it belongs to, not in the current directory.
            db_path = Path(uri.removeprefix("sqlite:///"))
            artifact_location = (db_path.parent / "mlruns").as_uri()
        experiment_id = client.create_experiment(experiment, artifact_location=artifact_location)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _quiet_mlflow() -> None:
    """Keep MLflow's INFO chatter, progress bars and advisory warnings off the user's terminal."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not logging.getLogger().isEnabledFor(logging.INFO):
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
    # Signatures and requirements are always given explicitly; MLflow's advice about them is noise.
    warnings.filterwarnings("ignore", message=r".*(type hints|input example|input_example).*")


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a nested config into MLflow params (``a.b`` keys, JSON values for lists)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_params(value, prefix=f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[name] = text[:_MAX_PARAM_LENGTH]
    return out


def metric_key(name: str) -> str:
    """An MLflow-safe metric name: ``p@5`` becomes ``p_at_5``."""
    return re.sub(r"[^\w.\- /]", "_", name.replace("@", "_at_"))


def mlflow_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric entries of ``metrics`` with MLflow-safe names."""
    return {
        prefix + metric_key(k): float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


@contextmanager
def quiet_logging() -> Iterator[None]:
    """Silence MLflow's advisory warnings for the duration of a logging call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logger = logging.getLogger("mlflow")
        level = logger.level
        if not logging.getLogger().isEnabledFor(logging.INFO):
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(level)
