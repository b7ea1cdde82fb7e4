"""icd10cm-suggest: computer-assisted ICD-10-CM coding.

Public API (imported lazily, so ``import suggest`` stays cheap)::

    suggest.load_model(ref)          # a model folder, "default" or "models:/name@alias"
    suggest.Suggester(...)           # the estimator: fit / suggest / suggest_batch / save / load
    suggest.assess(text, start, end) # ConText assertion flags of a span
    suggest.load_codeset()           # the ICD-10-CM release
"""

from __future__ import annotations

import os
from typing import Any

# OpenMP threads that spin while they wait for a core slow the ranker several-fold on a busy
# 2-core machine; passive waiting costs nothing when the cores are free. Read once, when the
# OpenMP runtime loads, so it is set before scikit-learn is imported (a user's setting wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_LAZY = {
    "Suggester": ("suggest.model.suggester", "Suggester"),
    "SuggesterConfig": ("suggest.model.config", "SuggesterConfig"),
    "load_model": ("suggest.model.loading", "load_model"),
    "assess": ("suggest.pipeline", "assess"),
    "Patient": ("suggest.encoder.patient", "Patient"),
    "load_codeset": ("suggest.codeset", "load_codeset"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'suggest' has no attribute {name!r}")
