"""Plug-in points that other packages fill, so that the library never imports them.

Three kinds of plug-in, each an entry-point group (declared in a package's ``pyproject.toml``) or registered
at run time with the ``register_*`` functions, which take precedence:

- ``icd10cm_suggest.model_resolvers``: the entry point's name is a reference scheme (``models`` for
  ``models:/name@alias``); its object is ``resolve(ref) -> (folder, version)`` or ``(folder, version, sha256)``,
  the model file's digest as the registry recorded it (checked on loading besides its signature). The training package
  registers the MLflow registry this way, so ``suggest.load_model("models:/...")`` imports MLflow only when
  such a reference is loaded.
- ``icd10cm_suggest.champion``: name ``champion``; ``champion() -> ref | None``, the reference of the model a
  service should serve when none is named (the registry's champion).
- ``icd10cm_suggest.default_model``: name ``build``; ``build(models_dir) -> folder``, which trains the default
  model. Only explicit commands call it (``suggest train --default``, ``suggest serve``); loading never does.
- ``icd10cm_suggest.commands``: each entry point's object is ``register(subparsers)``, adding subcommands to
  the ``suggest`` command line (the library's own ones, and those of the packages installed beside it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

RESOLVERS = "icd10cm_suggest.model_resolvers"
CHAMPION = "icd10cm_suggest.champion"
DEFAULT_MODEL = "icd10cm_suggest.default_model"
COMMANDS = "icd10cm_suggest.commands"

Resolver = Callable[[str], tuple[Path, str] | tuple[Path, str, str | None]]


@dataclass(frozen=True)
class ResolvedModel:
    """What a resolver found: the model folder, its version, and the model file's sha256 if the registry has it."""

    folder: Path
    version: str
    sha256: str | None = None


@dataclass(frozen=True)
class ChampionModel:
    """The registry's champion: its reference (``models:/name/N``) and what resolving it found."""

    uri: str
    model: ResolvedModel


_registered: dict[tuple[str, str], Any] = {}


def register(group: str, name: str, obj: Any) -> None:
    """Register ``obj`` under ``name`` in ``group`` for this process (it wins over an entry point)."""
    _registered[(group, name)] = obj


def unregister(group: str, name: str) -> None:
    """Forget a run-time registration (the entry point, if any, applies again)."""
    _registered.pop((group, name), None)


def lookup(group: str, name: str) -> Any | None:
    """The plug-in ``name`` of ``group``: registered at run time, else loaded from its entry point, else None."""
    if (group, name) in _registered:
        return _registered[(group, name)]
    for ep in entry_points(group=group, name=name):
        return ep.load()
    return None


def names(group: str) -> list[str]:
    """Names available in ``group`` (entry points and run-time registrations), sorted."""
    found = {ep.name for ep in entry_points(group=group)}
    found.update(name for g, name in _registered if g == group)
    return sorted(found)


def register_resolver(scheme: str, resolver: Resolver) -> None:
    """Resolve references ``<scheme>:/...`` with ``resolver(ref) -> (model folder, version[, sha256])``."""
    register(RESOLVERS, scheme, resolver)


def resolver_for(ref: str) -> Resolver | None:
    """The resolver of ``ref``'s scheme (``models`` for ``models:/...``), or None when ``ref`` has no scheme."""
    scheme, sep, _ = ref.partition(":/")
    if not sep or not scheme.isidentifier():
        return None
    return lookup(RESOLVERS, scheme)


def resolve(ref: str) -> ResolvedModel | None:
    """``ref`` resolved by the resolver of its scheme, or None when no resolver applies to it."""
    resolver = resolver_for(ref)
    if resolver is None:
        return None
    folder, version, *sha256 = resolver(ref)
    return ResolvedModel(Path(folder), str(version), sha256[0] if sha256 else None)


def champion() -> str | None:
    """The reference of the registry's champion, or None when no champion plug-in is installed or it names none."""
    found = lookup(CHAMPION, "champion")
    return None if found is None else found()


def champion_model() -> ChampionModel | None:
    """The champion and its resolution (one registry session: a server looks both up when it starts)."""
    uri = champion()
    resolved = resolve(str(uri)) if uri else None
    return ChampionModel(str(uri), resolved) if resolved is not None else None


# What a child process may run for ``in_child_process``: the plug-in calls that import a registry client.
_CHILD_CALLS: dict[str, Callable[..., Any]] = {"resolve": resolve, "champion": champion,
                                               "champion_model": champion_model}
_CHILD_GROUPS = {"resolve": (RESOLVERS,), "champion": (CHAMPION,), "champion_model": (CHAMPION, RESOLVERS)}


def _resolved_to_json(value: ResolvedModel) -> dict[str, Any]:
    return {"folder": str(value.folder), "version": value.version, "sha256": value.sha256}


def _resolved_from_json(value: dict[str, Any]) -> ResolvedModel:
    return ResolvedModel(Path(value["folder"]), value["version"], value["sha256"])


def in_child_process(call: str, *args: str) -> Any:
    """``resolve(ref)``, ``champion()`` or ``champion_model()`` run in a child Python process: the plug-in's
    imports (MLflow's registry client, about 100 MB) stay out of this one. For the server, whose master and workers
    would each carry them. Plug-ins registered at run time exist in this process only, so they are called here. A
    ``SuggestError`` of the child is raised again here, with its class and message."""
    if any(g in _CHILD_GROUPS[call] for g, _ in _registered):
        return _CHILD_CALLS[call](*args)
    done = subprocess.run([sys.executable, "-m", "suggest.plugins", call, *args], capture_output=True, text=True,
                          check=False)
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"the {call} plug-in failed in its child process: {done.stderr.strip()[-500:]}") from None
    if "error" in answer:
        from suggest import errors

        error = getattr(errors, answer["error"], errors.SuggestError)
        raise error(answer["message"])
    value = answer["value"]
    if value and call == "resolve":
        return _resolved_from_json(value)
    if value and call == "champion_model":
        return ChampionModel(value["uri"], _resolved_from_json(value["model"]))
    return value


def _child_main(argv: list[str]) -> int:
    """``python -m suggest.plugins resolve REF | champion | champion_model``: the call's result as one line of JSON."""
    from suggest.errors import SuggestError

    try:
        value = _CHILD_CALLS[argv[0]](*argv[1:])
    except SuggestError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        return 0
    if isinstance(value, ResolvedModel):
        value = _resolved_to_json(value)
    elif isinstance(value, ChampionModel):
        value = {"uri": value.uri, "model": _resolved_to_json(value.model)}
    print(json.dumps({"value": value}))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
