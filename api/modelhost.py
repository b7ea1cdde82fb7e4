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

from api.batching import SuggestCoalescer

log = logging.getLogger(__name__)


class _ChampionLookup(threading.Thread):
    """The champion looked up in a child process (``plugins.in_child_process``), in the background."""

    def __init__(self) -> None:
        super().__init__(name="champion-lookup", daemon=True)
        self.champion: Any = None

    def run(self) -> None:
        from suggest import plugins

        try:
            self.champion = plugins.in_child_process("champion_model")  # the registry's client stays out
        except Exception as exc:  # no MLflow store, no champion: the default model is served
            log.info("no registry champion (%s)", type(exc).__name__)


_pending_lookup: _ChampionLookup | None = None
#: A champion argument not given: the function looks the champion up (None means there is none).
UNKNOWN: Any = object()
_pending_lock = threading.Lock()


def start_champion_lookup() -> None:
    """Start looking the registry's champion up now, in a child process (about 2 s: the registry's client is
    imported there), so that it overlaps the imports and the model loading; :func:`find_champion` takes its
    answer."""
    global _pending_lookup
    with _pending_lock:
        if _pending_lookup is None:
            _pending_lookup = _ChampionLookup()
            _pending_lookup.start()


def forget_champion_lookup() -> None:
    """Drop a lookup :func:`start_champion_lookup` started that nothing took (its answer may be stale by now)."""
    global _pending_lookup
    with _pending_lock:
        _pending_lookup = None


def find_champion() -> Any:
    """The registry's champion (a ``plugins.ChampionModel``), or None when there is none or no registry. Takes the
    answer of a lookup :func:`start_champion_lookup` started, else looks it up now; each answer is used once (the
    alias can move: a reload looks again)."""
    global _pending_lookup
    start_champion_lookup()
    with _pending_lock:
        lookup, _pending_lookup = _pending_lookup, None
    assert lookup is not None
    lookup.join()
    return lookup.champion


def resolve_model_ref(explicit: str | None, champion: Any = UNKNOWN) -> str:
    """Which model to serve: the explicit reference, else the MLflow champion (``champion``, when the caller has
    looked it up), else ``"default"``."""
    if explicit:
        return explicit
    champion = find_champion() if champion is UNKNOWN else champion
    return champion.uri if champion is not None and _readable(champion) else "default"


def _readable(champion: Any) -> bool:
    """Whether the champion can be served: a champion registered by an older release (another model format), or one
    whose file fails its integrity check, is passed over for the default model, with a warning, rather than
    stopping the server from starting."""
    from suggest.errors import ModelFormatError, ModelIntegrityError
    from suggest.model.suggester import READABLE_FORMATS, Suggester

    resolved = champion.model
    try:
        Suggester.check_loadable(resolved.folder, resolved.sha256)
    except ModelFormatError:
        log.warning("the registry champion %s (version %s) was saved in format %s, this release reads %s: serving "
                    "the default model; train and promote a new champion", champion.uri, resolved.version,
                    Suggester.saved_format(resolved.folder), sorted(READABLE_FORMATS))
        return False
    except ModelIntegrityError as exc:
        log.warning("the registry champion %s (version %s) fails its integrity check, so it is not loaded: serving "
                    "the default model (%s)", champion.uri, resolved.version, exc)
        return False
    return True


def load_model(ref: str, champion: Any = UNKNOWN) -> Any:
    """Load ``ref``; a registry reference is resolved in a child process (``plugins.in_child_process``), so that
    neither the master nor a worker that reloads imports the registry's client (MLflow: about 100 MB each), unless
    it is the ``champion`` already looked up."""
    import suggest
    from suggest import plugins
    from suggest.model.loading import load_resolved

    if champion not in (None, UNKNOWN) and ref == champion.uri:
        return load_resolved(ref, champion.model)
    resolved = plugins.in_child_process("resolve", ref) if plugins.resolver_for(ref) is not None else None
    return load_resolved(ref, resolved) if resolved is not None else suggest.load_model(ref)


def serve_model(explicit: str | None) -> ServedModel:
    """Resolve and load the model to serve: ``explicit``, else the readable champion, else the default model. The
    champion lookup (a child process) runs while the model it most likely names is loaded: the explicit folder or the
    default model, which the champion usually is (the default model is promoted when it is built)."""
    from suggest import plugins
    from suggest.model.loading import DEFAULT_MODEL, default_model_state

    if explicit and plugins.resolver_for(explicit) is not None:
        return ServedModel(load_model(explicit), explicit)
    start_champion_lookup()
    guess = explicit or DEFAULT_MODEL
    early = None
    try:
        if explicit or default_model_state() == "ready":
            try:
                early = load_model(guess)
            except Exception as exc:  # raised again below if this is the model to serve
                log.info("could not load %s (%s)", guess, type(exc).__name__)
        champion = find_champion()
    finally:
        forget_champion_lookup()
    ref = resolve_model_ref(explicit, champion)
    model = early if ref == guess and early is not None else load_model(ref, champion)
    return ServedModel(model, ref, champion_version=champion_version_of(ref, champion))


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


def champion_version_of(ref: str, champion: Any = UNKNOWN) -> str | None:
    """The registry version of the model that ``ref`` (``"default"`` or a model folder) loaded, when that file is
    the registry's champion (the default model is registered and promoted when it is built, yet served from its
    folder, whose card says "local"): the champion's recorded sha256 equals the file's signed one. None otherwise,
    or when there is no registry. ``champion``: the champion when the caller has looked it up. Reads the folder's
    signature, not the model file; runs at load, not per request."""
    import json
    from pathlib import Path

    from suggest.model.integrity import SIGNATURE_FILE
    from suggest.model.loading import DEFAULT_MODEL, default_model_dir

    if ref.startswith("models:/") or ref == "in-process":
        return None
    try:
        folder = default_model_dir() if ref == DEFAULT_MODEL else Path(ref)
        signed = json.loads((folder / SIGNATURE_FILE).read_text(encoding="utf-8"))["sha256"]
    except Exception as exc:  # no signature: the model is not known to be registered
        log.info("no registry version for %s (%s)", ref, type(exc).__name__)
        return None
    champion = find_champion() if champion is UNKNOWN else champion
    resolved = champion.model if champion is not None else None
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
    #: Suggests the single charts that requests ask for at the same time in one batch.
    coalescer: SuggestCoalescer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.coalescer = SuggestCoalescer(self.model)

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

    def reload(self, ref: str, champion: Any = UNKNOWN) -> ServedModel:
        """Load and warm ``ref`` next to the current model, then swap; requests keep using the old one meanwhile.
        ``champion``: the registry's champion when the caller has looked it up."""
        with self._reloading:
            if champion is UNKNOWN:
                champion = None if ref.startswith("models:/") else find_champion()
            served = ServedModel(load_model(ref, champion), ref, champion_version=champion_version_of(ref, champion))
            warm_up(served.model)
            self.swap(served)
            return served
