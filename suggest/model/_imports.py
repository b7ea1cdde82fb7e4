"""scikit-learn imported without pandas.

``sklearn.utils.fixes`` imports pandas when it is installed (MLflow installs it), and pandas imports pyarrow: about
75 MB of every process that suggests, none of which the engine uses (scikit-learn imports pandas again where it
needs it, which the engine never asks for). So when neither is imported yet, scikit-learn is imported with pandas
hidden; pandas can be imported as usual afterwards, by the training code or the caller.
"""

from __future__ import annotations

import importlib
import sys


def import_sklearn_without_pandas() -> None:
    """Import scikit-learn with pandas hidden, unless one of them is imported already."""
    if "sklearn" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # "import pandas" raises ImportError meanwhile
    try:
        importlib.import_module("sklearn.utils.fixes")
    finally:
        if sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]
