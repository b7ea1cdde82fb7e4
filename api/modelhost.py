"""The served model: resolved once, shared by requests, swapped atomically on reload.

Resolution order (``resolve_model_ref``): an explicit reference (``--model`` / ``SUGGEST_MODEL``), else the
registry's champion (the ``icd10cm_suggest.champion`` plug-in, which the training package provides for MLflow),
else ``"default"``. Loading never trains: ``suggest serve`` builds a missing default model before it loads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def resolve_model_ref(explicit: str | None) -> str:
    """Which model to serve: the explicit reference, else the MLflow champion, else ``"default"``."""
    if explicit:
        return explicit
    from suggest import plugins

    try:
        uri = plugins.in_child_process("champion")  # the MLflow registry's client stays out of the server
        if uri and _readable(str(uri)):
            return str(uri)
    except Exception as exc:  # no MLflow store, no champion: fall back quietly
        log.info("no registry champion (%s); serving the default model", type(exc).__name__)
    return "default"


def _readable(uri: str) -> bool:
    """Whether the model a registry URI names can be served: a champion registered by an older release (another
    model format), or one whose file fails its integrity check, is passed over for the default model, with a
    warning, rather than stopping the server from starting."""
    from suggest import plugins
    from suggest.errors import ModelFormatError, ModelIntegrityError
    from suggest.model.suggester import READABLE_FORMATS, Suggester

    resolved = plugins.in_child_process("resolve", uri)
    if resolved is None:
        return True
    try:
        Suggester.check_loadable(resolved.folder, resolved.sha256)
    except ModelFormatError:
        log.warning("the registry champion %s (version %s) was saved in format %s, this release reads %s: serving "
                    "the default model; train and promote a new champion", uri, resolved.version,
                    Suggester.saved_format(resolved.folder), sorted(READABLE_FORMATS))
        return False
    except ModelIntegrityError as exc:
        log.warning("the registry champion %s (version %s) fails its integrity check, so it is not loaded: serving "
                    "the default model (%s)", uri, resolved.version, exc)
        return False
    return True


def load_model(ref: str) -> Any:
    """Load ``ref``; a registry reference is resolved in a child process (``plugins.in_child_process``), so that
    neither the master nor a worker that reloads imports the registry's client (MLflow: about 100 MB each)."""
    import suggest
    from suggest import plugins
    from suggest.model.loading import load_resolved

    resolved = plugins.in_child_process("resolve", ref) if plugins.resolver_for(ref) is not None else None
    return load_resolved(ref, resolved) if resolved is not None else suggest.load_model(ref)


WARM_UP_TEXT = (
    "HISTORY OF PRESENT ILLNESS\nType 2 diabetes mellitus and essential hypertension. Denies chest pain.\n"
    "ASSESSMENT AND PLAN\nContinue metformin and lisinopril."
)


def warm_up(model: Any) -> None:
    """Run one suggestion so that lazily built parts (pipeline, caches, code set) exist before traffic arrives;
    under gunicorn this runs in the master, so the workers inherit them."""
    model.suggest(WARM_UP_TEXT, top_k=5)
    from suggest.codeset import load_codeset

    load_codeset().search("diabetes", limit=1)


def champion_version_of(ref: str) -> str | None:
    """The registry version of the model that ``ref`` (``"default"`` or a model folder) loaded, when that file is
    the registry's champion (the default model is registered and promoted when it is built, yet served from its
    folder, whose card says "local"): the champion's recorded sha256 equals the file's signed one. None otherwise,
    or when there is no registry. Reads the folder's signature, not the model file; runs at load, not per request."""
    import json
    from pathlib import Path

    from suggest import plugins
    from suggest.model.integrity import SIGNATURE_FILE
    from suggest.model.loading import DEFAULT_MODEL, default_model_dir

    if ref.startswith("models:/") or ref == "in-process":
        return None
    try:
        folder = default_model_dir() if ref == DEFAULT_MODEL else Path(ref)
        signed = json.loads((folder / SIGNATURE_FILE).read_text(encoding="utf-8"))["sha256"]
        champion = plugins.lookup(plugins.CHAMPION, "champion")
        uri = champion() if champion is not None else None
        resolved = plugins.resolve(str(uri)) if uri else None
    except Exception as exc:  # no signature, no registry, no champion: the model is not known to be registered
        log.info("no registry version for %s (%s)", ref, type(exc).__name__)
        return None
    if resolved is not None and resolved.sha256 and resolved.sha256 == signed:
        return resolved.version
    return None


@dataclass
class ServedModel:
    """A loaded model and what the API says about it."""

    model: Any
    ref: str
    loaded_at: float = field(default_factory=time.time)
    champion_version: str | None = None  # see champion_version_of

    @property
    def card(self) -> dict:
        card = getattr(self.model, "card_", None)
        return card.model_dump(mode="json") if card is not None else {}

    @property
    def name(self) -> str:
        return str(self.card.get("name") or self.ref)

    @property
    def version(self) -> str:
        return str(self.card.get("version") or "")

    @property
    def registry_version(self) -> str | None:
        """The model registry's version of the served model; None for a model the registry is not known to hold."""
        if self.card.get("registry_uri"):
            return self.version
        return self.champion_version

    @property
    def threshold(self) -> float | None:
        value = getattr(self.model, "threshold_", None)
        return None if value is None else float(value)

    @property
    def codeset_release(self) -> str:
        return str(self.card.get("codeset_release") or "")

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "ref": self.ref,
                "registry_version": self.registry_version, "codeset_release": self.codeset_release, "threshold": self.threshold, "card": self.card}


class ModelHost:
    """Holds the current ``ServedModel``; ``swap`` replaces it between requests without downtime."""

    def __init__(self, served: ServedModel | None = None):
        self._served = served
        self._lock = threading.Lock()
        self._reloading = threading.Lock()

    @property
    def served(self) -> ServedModel | None:
        return self._served

    def swap(self, served: ServedModel) -> ServedModel | None:
        with self._lock:
            old, self._served = self._served, served
        return old

    def reload(self, ref: str) -> ServedModel:
        """Load and warm ``ref`` next to the current model, then swap; requests keep using the old one meanwhile."""
        with self._reloading:
            served = ServedModel(load_model(ref), ref, champion_version=champion_version_of(ref))
            warm_up(served.model)
            self.swap(served)
            return served
