"""Service subcommands of the ``suggest`` CLI (serve, tokens)."""

from __future__ import annotations

import importlib

_GROUPS = ("api.commands.serve", "api.commands.tokens")


def register(subparsers) -> None:
    for name in _GROUPS:
        importlib.import_module(name).register(subparsers)
