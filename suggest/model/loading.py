"""Resolving a model reference: a folder, ``"default"``, or an MLflow ``models:/`` URI."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from suggest.errors import ModelNotFoundError
from suggest.paths import models_dir

log = logging.getLogger(__name__)
_build_lock = threading.Lock()

DEFAULT_MODEL = "default"


def default_model_dir() -> Path:
    """Where the default model lives: ``$SUGGEST_MODELS_DIR/default``."""
    return models_dir() / DEFAULT_MODEL


def load_model(ref: str | Path = DEFAULT_MODEL):
    """Load a :class:`~suggest.Suggester`.

    ``ref`` is a model folder (holding ``model.joblib``), ``"default"`` (built on
    first use from the project's own material, then reused), or a registry URI
    such as ``"models:/icd10cm-suggester@champion"``.
    """
    from suggest.model.suggester import FORMAT_VERSION, MODEL_FILE, Suggester

    ref_str = str(ref)
    if ref_str == DEFAULT_MODEL:
        folder = default_model_dir()

        def missing_or_stale() -> bool:
            return not (folder / MODEL_FILE).exists() or Suggester.saved_format(folder) != FORMAT_VERSION

        if missing_or_stale():
            with _build_lock:
                if missing_or_stale():
                    log.warning("no default model of format %d in %s: building it from the project's own material",
                                FORMAT_VERSION, folder)
                    # Training code lives in the training package; imported only when a build is needed.
                    from training.default import build_default_model

                    build_default_model(models_dir())
        return Suggester.load(folder)
    if ref_str.startswith("models:/"):
        from training.registry import resolve_model

        folder, version = resolve_model(ref_str)
        model = Suggester.load(folder)
        # The registry's version number exists only once the model is registered: the card says "local".
        model.card_ = {**model.card_, "version": version, "registry_uri": ref_str}
        return model
    folder = Path(ref_str)
    if folder.is_file() and folder.name == MODEL_FILE:
        folder = folder.parent
    if not (folder / MODEL_FILE).exists():
        raise ModelNotFoundError(
            f"no model at {ref_str!r}: give a folder holding {MODEL_FILE}, 'default', or a models:/ URI"
        )
    return Suggester.load(folder)
