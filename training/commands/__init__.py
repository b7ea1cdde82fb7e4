"""Training-side subcommands of the ``suggest`` CLI (data, train, evaluate, registry)."""

from __future__ import annotations

import importlib

_GROUPS = ("training.commands.data", "training.commands.train")


def register(subparsers) -> None:
    for name in _GROUPS:
        importlib.import_module(name).register(subparsers)
