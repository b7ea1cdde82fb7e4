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
    from suggest.model.suggester import FORMAT_VERSION, Suggester

    resolved = plugins.in_child_process("resolve", uri)
    if resolved is None:
        return True
    try:
        Suggester.check_loadable(resolved.folder, resolved.sha256)
    except ModelFormatError:
        log.warning("the registry champion %s (version %s) was saved in format %s, this release reads %s: serving "
                    "the default model; train and promote a new champion", uri, resolved.version,
                    Suggester.saved_format(resolved.folder), FORMAT_VERSION)
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


@dataclass
class ServedModel:
    """A loaded model and what the API says about it."""

    model: Any
    ref: str
    loaded_at: float = field(default_factory=time.time)

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
    def threshold(self) -> float | None:
        value = getattr(self.model, "threshold_", None)
        return None if value is None else float(value)

    @property
    def codeset_release(self) -> str:
        return str(self.card.get("codeset_release") or "")

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "ref": self.ref,
                "codeset_release": self.codeset_release, "threshold": self.threshold, "card": self.card}


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
            served = ServedModel(load_model(ref), ref)
            warm_up(served.model)
            self.swap(served)
            return served
