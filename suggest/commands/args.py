"""Argument helpers shared by the command groups of the ``suggest`` CLI."""

from __future__ import annotations

import argparse
import sys


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def print_usage(parser: argparse.ArgumentParser) -> int:
    """A command group called without a subcommand: its help on stderr, exit status 2."""
    parser.print_help(sys.stderr)
    return 2
