"""The MLflow model registry: resolving ``models:/`` URIs, promotion, rollback, listing.

Aliases carry the deployment state of ``icd10cm-suggester``:

- ``champion``: the model the service loads (``champion_uri``). ``promote`` moves it only
  when the candidate beats the current champion on MAP and micro-F1 by a margin,
  evaluated on the same charts with a paired bootstrap, unless forced.
- ``challenger``: a candidate under observation; set without a gate.

Every alias move is recorded twice: on the model version (``promotion.<alias>.*`` tags:
who, when, why, metrics) and as an event in the registered model's history
(``history.NNNN`` tags, JSON), from which ``rollback`` finds the previous champion.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from suggest.errors import ModelFormatError, ModelIntegrityError, ModelNotFoundError, SuggestError
from suggest.paths import models_dir as default_models_dir
from training.tracking import DEFAULT_REGISTERED_NAME, configure_mlflow

CHAMPION = "champion"
CHALLENGER = "challenger"
_HISTORY_PREFIX = "history."
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))/?$")


class PromotionRefused(SuggestError):
    """The candidate does not beat the champion by the required margin."""


@dataclass
class PromotionOutcome:
    """What ``promote`` or ``rollback`` did.

    Attributes
    ----------
    promoted : bool
        Whether the alias now points at ``version``.
    alias, version : str
        The alias and the version it was (or would have been) moved to.
    previous : str or None
        The version the alias pointed at before.
    message : str
        One line for the user.
    comparison : dict or None
        Paired bootstrap results (``map``/``micro_f1``: a, b, diff, ci_low, ci_high) when
        the candidate was compared with a champion; ``a`` is the champion, ``b`` the candidate.
    metrics : dict
        The candidate's metrics on the comparison data (empty when not evaluated).
    """

    promoted: bool
    alias: str
    version: str
    previous: str | None
    message: str
    comparison: dict[str, dict[str, float]] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    data: str | None = None


def _client(models_dir: Path | None = None):
    from mlflow import MlflowClient

    configure_mlflow(models_dir)
    return MlflowClient()


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """Split ``models:/name/N`` or ``models:/name@alias`` into (name, version, alias)."""
    match = _URI.match(uri.strip())
    if not match:
        raise ModelNotFoundError(
            f"'{uri}' is not a registry URI: use models:/<name>/<version> or models:/<name>@<alias>"
        )
    return match["name"], match["version"], match["alias"]


def _get_version(client, name: str, version: str | None = None, alias: str | None = None):
    from mlflow.exceptions import MlflowException

    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, str(version))
    except MlflowException:
        what = f"alias '{alias}'" if alias is not None else f"version {version}"
        raise ModelNotFoundError(
            f"registered model '{name}' has no {what} (see `suggest registry --name {name}`)"
        ) from None


def resolve_model_uri(uri: str, models_dir: Path | None = None) -> Path:
    """The local joblib model folder of a ``models:/name@alias`` or ``models:/name/N`` URI."""
    return resolve_model(uri, models_dir)[0]


def resolve_model(uri: str, models_dir: Path | None = None) -> tuple[Path, str, str | None]:
    """The local joblib model folder of a ``models:/name@alias`` or ``models:/name/N`` URI, its version, and the
    model file's sha256 recorded when the version was registered (its ``model_sha256`` tag; None for versions
    registered before it was recorded), which loading checks besides the file's signature.

    The model's artifacts are downloaded once into ``<models_dir>/registry-cache/<name>/<N>``
    and reused; an alias is resolved to its version each time, so moving ``champion`` takes
    effect on the next load.
    """
    name, version, alias = parse_model_uri(uri)
    folder = Path(models_dir) if models_dir is not None else default_models_dir()
    client = _client(folder)
    mv = _get_version(client, name, version, alias)
    import mlflow

    from suggest.model.integrity import SHA256_TAG

    tracking = hashlib.sha256(mlflow.get_tracking_uri().encode()).hexdigest()[:8]
    cache = folder / "registry-cache" / f"{name}-{tracking}" / str(mv.version)
    recorded = (mv.tags or {}).get(SHA256_TAG)
    found = _cached_model_folder(cache, mv.source)
    if found is not None:
        return found, str(mv.version), recorded
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{mv.version}.", dir=cache.parent))
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}", dst_path=str(tmp))
        if _find_model_folder(tmp) is None:
            raise ModelNotFoundError(f"{uri}: the registered model holds no suggester folder (model.joblib)")
        (tmp / ".source").write_text(mv.source, encoding="utf-8")
        if cache.exists() and _cached_model_folder(cache, mv.source) is None:
            shutil.rmtree(cache, ignore_errors=True)  # stale: an older download of another source
        try:
            os.replace(tmp, cache)
        except OSError:
            pass  # another process (a service worker) placed the same download first
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    found = _cached_model_folder(cache, mv.source)
    if found is None:
        raise ModelNotFoundError(f"{uri}: could not place the downloaded model in {cache}")
    return found, str(mv.version), recorded


def _cached_model_folder(cache: Path, source: str) -> Path | None:
    marker = cache / ".source"
    if marker.is_file() and marker.read_text(encoding="utf-8") == source:
        return _find_model_folder(cache)
    return None


def _find_model_folder(root: Path) -> Path | None:
    artifacts = root / "artifacts"
    if not artifacts.is_dir():
        return None
    for candidate in sorted(artifacts.rglob("model.joblib")):
        return candidate.parent
    return None


def champion_uri(name: str = DEFAULT_REGISTERED_NAME, models_dir: Path | None = None) -> str | None:
    """``models:/<name>/<N>`` of the current champion, or None when there is none (or no registry)."""
    from training.tracking import tracking_uri_for

    uri = tracking_uri_for(models_dir)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None  # no store yet: do not create one just to find it empty
    from mlflow.exceptions import MlflowException

    try:
        client = _client(models_dir)
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return f"models:/{name}/{mv.version}"


# --------------------------------------------------------------------------- history


def history(name: str = DEFAULT_REGISTERED_NAME, models_dir: Path | None = None, *, client=None) -> list[dict[str, Any]]:
    """Alias events of a registered model, oldest first."""
    from mlflow.exceptions import MlflowException

    client = client or _client(models_dir)
    try:
        tags = client.get_registered_model(name).tags
    except MlflowException:
        raise ModelNotFoundError(f"no registered model named '{name}'") from None
    events = []
    for key, value in tags.items():
        if key.startswith(_HISTORY_PREFIX):
            try:
                events.append(json.loads(value))
            except json.JSONDecodeError:
                continue
    return sorted(events, key=lambda e: e.get("seq", 0))


def _record(client, name: str, event: dict[str, Any], metrics: dict[str, float]) -> None:
    seq = max((e.get("seq", 0) for e in history(name, client=client)), default=0) + 1
    event = {"seq": seq, **event}
    if metrics:
        event["metrics"] = {k: round(float(v), 5) for k, v in metrics.items()}
    event["why"] = str(event.get("why", ""))[:1000]  # a registered-model tag holds at most 5000 characters
    client.set_registered_model_tag(name, f"{_HISTORY_PREFIX}{seq:04d}", json.dumps(event))
    alias, version = event["alias"], event["version"]
    for key in ("action", "who", "when", "why"):
        client.set_model_version_tag(name, version, f"promotion.{alias}.{key}", str(event.get(key, "")))
    client.set_model_version_tag(name, version, f"promotion.{alias}.metrics", json.dumps(event.get("metrics", {})))


def _who(user: str | None) -> str:
    return user or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _current(client, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


# --------------------------------------------------------------------------- promotion


def comparison_data(client, name: str, version: str, data: str | None) -> str | None:
    """The charts to judge ``version`` on: ``data``, else the dev data recorded with its run.

    Refuses recorded data whose content changed since training (sha256 mismatch).
    """
    if data:
        return str(Path(data).resolve())
    mv = _get_version(client, name, version)
    tags = client.get_run(mv.run_id).data.tags if mv.run_id else {}
    path = tags.get("dev_data.path")
    if not path:
        return None
    if not Path(path).is_file():
        raise SuggestError(f"the dev data recorded with version {version} ({path}) is gone: pass --data gold.jsonl")
    from training.train import file_sha256

    if tags.get("dev_data.sha256") and file_sha256(Path(path)) != tags["dev_data.sha256"]:
        raise SuggestError(
            f"the dev data recorded with version {version} ({path}) changed since training: pass --data gold.jsonl"
        )
    return path


#: Evaluations already run in this process, by (model artifact, data sha256): a model's results
#: on a given file never change, and promotions in one session often re-judge the champion.
_EVALUATIONS: dict[tuple[str, str], Any] = {}


def _evaluate_version(client, name: str, version: str, data: str, models_dir: Path | None):
    from suggest.model.suggester import Suggester
    from training.evaluation import evaluate_model, load_gold
    from training.train import file_sha256

    key = (_get_version(client, name, version).source, file_sha256(Path(data)))
    if key not in _EVALUATIONS:
        folder, _, recorded = resolve_model(f"models:/{name}/{version}", models_dir)
        model = Suggester.load(folder, recorded)
        if len(_EVALUATIONS) >= 8:
            _EVALUATIONS.pop(next(iter(_EVALUATIONS)))
        _EVALUATIONS[key] = evaluate_model(model, load_gold(data), model_ref=f"{name}/{version}", data_ref=data)
    return _EVALUATIONS[key]


def _unloadable(name: str, version: str, models_dir: Path | None) -> str | None:
    """Why this release cannot load a registered version (an older model format, a failed integrity check), or
    None when it can."""
    from suggest.model.suggester import Suggester

    folder, _, recorded = resolve_model(f"models:/{name}/{version}", models_dir)
    try:
        Suggester.check_loadable(folder, recorded)
    except ModelFormatError:
        return "was saved in a format this release cannot read"
    except ModelIntegrityError as exc:
        return f"fails its integrity check ({exc})"
    return None


def _run_metrics(client, name: str, version: str) -> dict[str, float]:
    """The dev metrics logged with a version's training run (``dev_map`` -> ``map``)."""
    mv = _get_version(client, name, version)
    if not mv.run_id:
        return {}
    logged = client.get_run(mv.run_id).data.metrics
    return {k: logged[f"dev_{k.replace('@', '_at_')}"] for k in ("map", "micro_f1", "p@5", "r@15", "ece")
            if f"dev_{k.replace('@', '_at_')}" in logged}


def promote(
    version: str | int,
    *,
    name: str = DEFAULT_REGISTERED_NAME,
    alias: str = CHAMPION,
    data: str | None = None,
    force: bool = False,
    reason: str = "",
    margin: float = 0.005,
    user: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    models_dir: Path | None = None,
    shadow: Any = None,
) -> PromotionOutcome:
    """Point ``alias`` at ``version`` of ``name``, gated for ``champion``.

    For ``champion`` with a current champion, both versions are evaluated on the same charts
    (``data``, else the dev data recorded with the candidate's run); the candidate is promoted
    only if it beats the champion on MAP and on micro-F1 by at least ``margin``. Otherwise the
    outcome has ``promoted=False`` (the caller decides how to refuse) unless ``force``.
    With no champion yet, the candidate is promoted. ``challenger`` is set without a gate.

    ``shadow`` (a ``training.shadow.ShadowSet``: the charts coders completed since the champion went live, with their
    final codes) adds a second gate: the candidate is refused when it does worse than the champion there, on MAP or
    micro-F1 (a negative difference), unless ``force``.
    """
    client = _client(models_dir)
    version = str(version)
    _get_version(client, name, version)
    previous = _current(client, name, alias)
    event = {"action": "promote", "alias": alias, "version": version, "previous": previous,
             "who": _who(user), "when": _now(), "why": reason or ""}
    if previous == version:
        return PromotionOutcome(False, alias, version, previous, f"version {version} already is the {alias}")
    unreadable = _unloadable(name, previous, models_dir) if alias == CHAMPION and previous is not None else None
    if alias != CHAMPION or previous is None or unreadable:
        # Nothing to compare with: record the metrics on the given data, else those of the run's dev data.
        comparison_path = None
        if data:
            comparison_path = str(Path(data).resolve())
            metrics = _headline(_evaluate_version(client, name, version, data, models_dir).metrics)
        else:
            metrics = _run_metrics(client, name, version)
        client.set_registered_model_alias(name, alias, version)
        if comparison_path:
            event["data"] = comparison_path
        _record(client, name, event, metrics)
        if unreadable:
            why = f"the champion, version {previous}, {unreadable}"
        else:
            why = "no champion yet" if alias == CHAMPION else "challengers are not gated"
        return PromotionOutcome(True, alias, version, previous, f"version {version} is now the {alias} ({why})",
                                metrics=metrics, data=comparison_path)

    path = comparison_data(client, name, version, data)
    if path is None and shadow is not None:
        return _promote_on_shadow(client, name, version, previous, alias, event, shadow, force, n_boot, seed,
                                  models_dir)
    if path is None:
        raise SuggestError(
            f"version {version} was trained without dev data, so there is nothing to compare it with "
            f"the champion (version {previous}) on: pass --data gold.jsonl"
        )
    from training.evaluation import paired_bootstrap

    champion_ev = _evaluate_version(client, name, previous, path, models_dir)
    candidate_ev = _evaluate_version(client, name, version, path, models_dir)
    boot = paired_bootstrap(champion_ev, candidate_ev, n_boot=n_boot, seed=seed)
    beats = all(boot[m]["diff"] >= margin and boot[m]["diff"] > 0 for m in ("map", "micro_f1"))
    metrics = _headline(candidate_ev.metrics)
    metrics.update({f"champion_{k}": v for k, v in _headline(champion_ev.metrics).items()})
    metrics.update({f"diff_{k}_ci_low": boot[k]["ci_low"] for k in boot})
    metrics.update({f"diff_{k}_ci_high": boot[k]["ci_high"] for k in boot})
    summary = (
        f"MAP {boot['map']['diff']:+.4f}, micro-F1 {boot['micro_f1']['diff']:+.4f} "
        f"against version {previous} (margin {margin})"
    )
    if not beats and not force:
        return PromotionOutcome(False, alias, version, previous,
                                f"version {version} does not beat the champion: {summary}; use --force to promote anyway",
                                comparison=boot, metrics=metrics, data=path)
    if shadow is not None:
        shadow_boot, shadow_metrics = _shadow_comparison(client, name, version, previous, shadow, n_boot, seed,
                                                         models_dir)
        metrics.update(shadow_metrics)
        worse = [m for m in ("map", "micro_f1") if shadow_boot[m]["diff"] < 0]
        if worse and not force:
            return PromotionOutcome(False, alias, version, previous,
                                    f"version {version} does worse than the champion on {shadow.describe()}: "
                                    + _shadow_summary(shadow_boot) + "; use --force to promote anyway",
                                    comparison=boot, metrics=metrics, data=path)
        summary += f"; on the charts coded since it went live: {_shadow_summary(shadow_boot)}"
        event["shadow"] = shadow.describe()
    client.set_registered_model_alias(name, alias, version)
    event.update({"data": path, "forced": bool(force and not beats)})
    _record(client, name, event, metrics)
    verdict = "forced" if force and not beats else "beats the champion"
    return PromotionOutcome(True, alias, version, previous, f"version {version} is now the {alias} ({verdict}: {summary})",
                            comparison=boot, metrics=metrics, data=path)


def _shadow_summary(boot: dict[str, dict[str, float]]) -> str:
    return f"MAP {boot['map']['diff']:+.4f}, micro-F1 {boot['micro_f1']['diff']:+.4f}"


def _shadow_comparison(client, name: str, version: str, previous: str, shadow, n_boot: int, seed: int,
                       models_dir: Path | None) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Champion and candidate on the shadow charts: the paired bootstrap and the ``shadow_*`` metrics to record."""
    from suggest.model.suggester import Suggester
    from training.evaluation import evaluate_model, paired_bootstrap

    evaluations = []
    for v in (previous, version):
        folder, _, recorded = resolve_model(f"models:/{name}/{v}", models_dir)
        evaluations.append(evaluate_model(Suggester.load(folder, recorded), shadow.charts, model_ref=f"{name}/{v}",
                                          data_ref=shadow.describe()))
    boot = paired_bootstrap(evaluations[0], evaluations[1], n_boot=n_boot, seed=seed)
    metrics = {f"shadow_{k}": v for k, v in _headline(evaluations[1].metrics).items()}
    metrics.update({f"shadow_champion_{k}": v for k, v in _headline(evaluations[0].metrics).items()})
    metrics["shadow_charts"] = float(len(shadow.charts))
    return boot, metrics


def _promote_on_shadow(client, name, version, previous, alias, event, shadow, force, n_boot, seed, models_dir):
    """The champion gate on the shadow charts alone (a candidate trained without dev data)."""
    boot, metrics = _shadow_comparison(client, name, version, previous, shadow, n_boot, seed, models_dir)
    worse = [m for m in ("map", "micro_f1") if boot[m]["diff"] < 0]
    if worse and not force:
        return PromotionOutcome(False, alias, version, previous,
                                f"version {version} does worse than the champion on {shadow.describe()}: "
                                + _shadow_summary(boot) + "; use --force to promote anyway",
                                comparison=boot, metrics=metrics, data=shadow.database)
    client.set_registered_model_alias(name, alias, version)
    event.update({"shadow": shadow.describe(), "forced": bool(force and worse)})
    _record(client, name, event, metrics)
    verdict = "forced" if force and worse else "no worse than the champion"
    return PromotionOutcome(True, alias, version, previous,
                            f"version {version} is now the {alias} ({verdict} on {shadow.describe()}: "
                            f"{_shadow_summary(boot)})", comparison=boot, metrics=metrics, data=shadow.database)


def _headline(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(metrics[k]) for k in ("map", "micro_f1", "p@5", "r@15", "ece") if k in metrics}


def rollback(
    *,
    name: str = DEFAULT_REGISTERED_NAME,
    alias: str = CHAMPION,
    reason: str = "",
    user: str | None = None,
    models_dir: Path | None = None,
) -> PromotionOutcome:
    """Move ``alias`` back to the version it pointed at before the current one."""
    client = _client(models_dir)
    current = _current(client, name, alias)
    if current is None:
        raise SuggestError(f"'{name}' has no {alias}: nothing to roll back")
    stack: list[str] = []
    for event in history(name, client=client):
        if event.get("alias") != alias:
            continue
        if event.get("action") == "promote":
            stack.append(str(event["version"]))
        elif event.get("action") == "rollback" and stack:
            stack.pop()
    while stack and stack[-1] == current:
        stack.pop()
    if not stack:
        raise SuggestError(f"'{name}' has no previous {alias} to roll back to (current: version {current})")
    target = stack[-1]
    client.set_registered_model_alias(name, alias, target)
    _record(client, name, {"action": "rollback", "alias": alias, "version": target, "previous": current,
                           "who": _who(user), "when": _now(), "why": reason or ""}, {})
    return PromotionOutcome(True, alias, target, current, f"{alias} rolled back from version {current} to version {target}")


def list_versions(name: str = DEFAULT_REGISTERED_NAME, models_dir: Path | None = None) -> list[dict[str, Any]]:
    """Registered versions, newest first: version, aliases, created, run id, dev MAP/micro-F1."""
    from mlflow.exceptions import MlflowException

    client = _client(models_dir)
    try:
        aliases_of: dict[str, list[str]] = {}
        for alias, version in client.get_registered_model(name).aliases.items():
            aliases_of.setdefault(str(version), []).append(alias)
    except MlflowException:
        raise ModelNotFoundError(f"no registered model named '{name}'") from None
    rows = []
    for mv in client.search_model_versions(f"name = '{name}'"):
        metrics: dict[str, float] = {}
        if mv.run_id:
            try:
                metrics = client.get_run(mv.run_id).data.metrics
            except Exception:  # a deleted run leaves the version listable
                metrics = {}
        rows.append(
            {
                "version": str(mv.version),
                "aliases": sorted(aliases_of.get(str(mv.version), [])),
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc).isoformat(timespec="seconds"),
                "run_id": mv.run_id,
                "dev_map": metrics.get("dev_map"),
                "dev_micro_f1": metrics.get("dev_micro_f1"),
            }
        )
    return sorted(rows, key=lambda r: -int(r["version"]))
