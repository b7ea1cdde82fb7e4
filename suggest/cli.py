"""The ``suggest`` command line: a thin shell over the library and the packages installed beside it.

Command groups are found through the ``icd10cm_suggest.commands`` entry points (see
:mod:`suggest.plugins`): each is a ``register(subparsers)`` function that only touches argparse, and
their handlers import their heavy dependencies (spaCy, scikit-learn, MLflow, Flask) when they run. The
library declares its own groups (code set, predict, assess); the training and service packages declare
theirs, so building the parser imports nothing of them but their argument declarations.
"""

from __future__ import annotations

import argparse
import logging
import sys

from suggest import plugins


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suggest",
        description="Computer-assisted ICD-10-CM coding: code set, suggestions, training, service.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in plugins.names(plugins.COMMANDS):  # names sort in --help order
        plugins.lookup(plugins.COMMANDS, name)(subparsers)
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
