"""The ``suggest`` command line: a thin shell over the library, training and service.

Each command group lives with the code it drives and registers itself here through
a ``register(subparsers)`` function that only touches argparse; the handlers import
their heavy dependencies (spaCy, scikit-learn, MLflow, Flask) when they run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Modules that contribute subcommands, in the order they appear in ``--help``.
COMMAND_MODULES = (
    "suggest.commands",
    "training.commands",
    "api.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suggest",
        description="Computer-assisted ICD-10-CM coding: code set, suggestions, training, service.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from suggest.errors import SuggestError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except SuggestError as exc:
        print(f"suggest {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
