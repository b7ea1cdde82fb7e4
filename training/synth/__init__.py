"""Synthetic coded outpatient charts: the project's own training and test material.

>>> from training.synth import generate_charts
>>> charts = generate_charts(100, seed=7)

The clinical content (conditions, codes, phrasings, templates) is data in the JSON files
of this package; :mod:`training.synth.generator` turns it into notes.
"""

from training.synth.generator import GENERATOR_VERSION, generate_chart, generate_charts
from training.synth.inventory import load_inventory, reachable_codes

__all__ = ["GENERATOR_VERSION", "generate_chart", "generate_charts", "load_inventory", "reachable_codes"]
