"""Resolving a model reference: a folder, ``"default"``, or a registry URI such as ``models:/name@alias``.

Loading never trains. Registry URIs are resolved by the plug-in registered for their scheme
(:mod:`suggest.plugins`; the training package registers ``models:/`` for the MLflow registry), so the
library itself imports neither MLflow nor the training code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from suggest import plugins
from suggest.errors import ModelIntegrityError, ModelNotFoundError
from suggest.paths import models_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
BUILD_DEFAULT_ADVICE = "build it with 'suggest train --default' (or 'make train'; 'make serve' builds it too)"


def default_model_dir() -> Path:
    """Where the default model lives: ``$SUGGEST_MODELS_DIR/default``."""
    return models_dir() / DEFAULT_MODEL


def default_model_state(folder: Path | None = None) -> str:
    """``"ready"``, ``"missing"``, ``"stale"`` (saved in a format this release cannot read) or ``"unsigned"``
    (saved before models were signed: see :mod:`suggest.model.integrity`). "ready" is not a verified signature."""
    from suggest.model.integrity import SIGNATURE_FILE
    from suggest.model.suggester import MODEL_FILE, READABLE_FORMATS, Suggester

    folder = folder or default_model_dir()
    if not (folder / MODEL_FILE).exists():
        return "missing"
    if Suggester.saved_format(folder) not in READABLE_FORMATS:
        return "stale"
    return "ready" if (folder / SIGNATURE_FILE).exists() else "unsigned"


def build_default_model(models_root: Path | None = None) -> Path:
    """Train the default model with the installed builder (the training package's); returns its folder.

    Only explicit commands call this (``suggest train --default``, ``suggest serve`` when none exists).
    """
    builder = plugins.lookup(plugins.DEFAULT_MODEL, "build")
    if builder is None:
        raise ModelNotFoundError(
            "no default-model builder is installed: install the project with its training package "
            "(pip install -e .) to build the default model"
        )
    return Path(builder(models_root or models_dir()))


@dataclass(frozen=True)
class ModelLocation:
    """Where a model reference points: the model folder and, for a registry reference, what the registry recorded
    (the model file's sha256, checked on loading besides the signature, and the version number)."""

    folder: Path
    sha256: str | None = None
    registry_ref: str | None = None
    registry_version: str | None = None


def locate_model(ref: str | Path = DEFAULT_MODEL) -> ModelLocation:
    """Find the model folder ``ref`` names (see :func:`load_model`), unpickling nothing and checking no signature.

    Raises
    ------
    ModelNotFoundError
        The reference names no model (for ``"default"``: none has been built yet, or it is stale).
    ModelIntegrityError
        The default model has no signature (it was saved before models were signed).
    """
    from suggest.model.suggester import MODEL_FILE

    ref_str = str(ref)
    if ref_str == DEFAULT_MODEL:
        folder = default_model_dir()
        state = default_model_state(folder)
        if state == "unsigned":
            raise ModelIntegrityError(f"the default model in {folder} has no signature (it was saved before models "
                                      f"were signed): {BUILD_DEFAULT_ADVICE}; or, if you trust it, sign "
                                      f"it with 'suggest model sign {folder}'")
        if state != "ready":
            what = "no default model" if state == "missing" else "the default model was saved by an older release"
            raise ModelNotFoundError(f"{what} in {folder}: {BUILD_DEFAULT_ADVICE}")
        return ModelLocation(folder)
    resolved = plugins.resolve(ref_str)
    if resolved is not None:
        return ModelLocation(Path(resolved.folder), resolved.sha256, ref_str, resolved.version)
    if ref_str.startswith("models:/"):
        raise ModelNotFoundError(
            f"{ref_str!r}: no resolver for registry URIs is installed (the training package registers one)"
        )
    folder = Path(ref_str)
    if folder.is_file() and folder.name == MODEL_FILE:
        folder = folder.parent
    if not (folder / MODEL_FILE).exists():
        raise ModelNotFoundError(
            f"no model at {ref_str!r}: give a folder holding {MODEL_FILE}, 'default', or a models:/ URI"
        )
    return ModelLocation(folder)


def load_model(ref: str | Path = DEFAULT_MODEL):
    """Load a :class:`~suggest.Suggester`; never trains.

    ``ref`` is a model folder (holding ``model.joblib``), ``"default"`` (the model built by
    ``suggest train --default``), or a registry URI such as ``"models:/icd10cm-suggester@champion"``.

    Every model file is checked against its signature (and a registry's record of its sha256) before it is
    unpickled: :mod:`suggest.model.integrity`.

    Raises
    ------
    ModelNotFoundError
        The reference names no model (for ``"default"``: none has been built yet, or it is stale).
    ModelIntegrityError
        The model file is unsigned, signed under another key, or not the file that was signed.
    """
    from suggest.model.suggester import Suggester

    location = locate_model(ref)
    if location.registry_ref is not None:
        return load_resolved(location.registry_ref,
                             plugins.ResolvedModel(location.folder, location.registry_version or "", location.sha256))
    return Suggester.load(location.folder)


def load_resolved(ref: str, resolved: plugins.ResolvedModel):
    """Load the model a registry reference ``ref`` was resolved to (checked against the registry's sha256)."""
    from suggest.model.suggester import Suggester

    model = Suggester.load(resolved.folder, resolved.sha256)
    # The registry's version number exists only once the model is registered: the card says "local".
    model.card_ = model.card_.with_registry(resolved.version, ref)
    return model
