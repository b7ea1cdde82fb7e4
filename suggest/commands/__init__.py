"""Library subcommands of the ``suggest`` CLI (code set, predict, assess)."""

from __future__ import annotations

import importlib

_GROUPS = ("suggest.commands.codes", "suggest.commands.model")


def register(subparsers) -> None:
    for name in _GROUPS:
        importlib.import_module(name).register(subparsers)
