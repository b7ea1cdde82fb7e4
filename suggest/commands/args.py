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


#: The care settings a model can code in (as in ``suggest.encoder.rules.SETTINGS``; kept here so that building
#: the parser imports nothing heavy).
SETTING_CHOICES = ("outpatient", "inpatient", "mentions")


def add_setting_argument(parser: argparse.ArgumentParser) -> None:
    """``--setting``: the care setting whose coding rules select the codes (default: the model's)."""
    parser.add_argument(
        "--setting", choices=SETTING_CHOICES, default=None,
        help="care setting whose coding rules select the codes: outpatient (Section IV), inpatient (uncertain "
             "diagnoses kept) or mentions (every coded mention, as CodiEsp); default: the model's")
