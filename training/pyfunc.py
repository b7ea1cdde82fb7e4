"""The suggester as an MLflow pyfunc model.

The saved joblib model folder travels inside the MLflow model as the artifact
``model``; the pyfunc loads it with ``suggest.load_model`` and answers a
DataFrame of charts with one JSON string of suggestions per row::

    m = mlflow.pyfunc.load_model("models:/icd10cm-suggester@champion")
    m.predict(pd.DataFrame({"text": ["Type 2 diabetes with nephropathy."]}), params={"top_k": 5})

Input columns: ``text`` (string, required), ``specialty`` (string, optional).
Output columns: ``suggestions`` (JSON list of suggestion objects, the API's shape) and
``warnings`` (JSON list of strings). Params: ``top_k`` (default 10), ``min_confidence`` (default 0).
"""

from __future__ import annotations

import json
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

#: Name of the artifact that holds the joblib model folder.
MODEL_ARTIFACT = "model"

#: Distributions the model needs at load time, pinned to the versions it was trained with.
_REQUIREMENTS = (
    "icd10cm-suggest",
    "mlflow",
    "scikit-learn",
    "spacy",
    "joblib",
    "numpy",
    "scipy",
    "pandas",
    "pydantic",
    "simple-icd-10-cm",
)


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # MLflow's import-time advice about type hints
    import mlflow.pyfunc


class SuggesterPyfunc(mlflow.pyfunc.PythonModel):
    """``mlflow.pyfunc.PythonModel`` around a saved ``suggest.Suggester`` folder."""

    # The explicit signature (see ``signature()``) validates inputs; MLflow's type-hint
    # based wrapping of ``predict`` (and its warning) is not wanted here.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        import suggest

        self.model = suggest.load_model(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context, model_input, params: dict[str, Any] | None = None):
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if "text" not in frame.columns:
            raise ValueError("input must have a string column 'text'")
        params = params or {}
        top_k = int(params.get("top_k", 10))
        min_confidence = float(params.get("min_confidence", 0.0))
        texts = ["" if t is None else str(t) for t in frame["text"].tolist()]
        specialties = None
        if "specialty" in frame.columns:
            specialties = [s if isinstance(s, str) and s else None for s in frame["specialty"].tolist()]
        results = self.model.suggest_batch(texts, top_k=top_k, specialties=specialties)
        suggestions, notes = [], []
        for result in results:
            kept = [s.to_dict() for s in result.suggestions if s.confidence >= min_confidence]
            suggestions.append(json.dumps(kept))
            notes.append(json.dumps(list(result.warnings)))
        return pd.DataFrame({"suggestions": suggestions, "warnings": notes})


def signature():
    """The explicit model signature: chart text (+ optional specialty) in, JSON suggestions out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "text"), ColSpec("string", "specialty", required=False)]),
        outputs=Schema([ColSpec("string", "suggestions"), ColSpec("string", "warnings")]),
        params=ParamSchema([ParamSpec("top_k", "long", 10), ParamSpec("min_confidence", "double", 0.0)]),
    )


def pip_requirements() -> list[str]:
    """Pinned requirements of the installed environment (so MLflow need not infer them)."""
    out = []
    for name in _REQUIREMENTS:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def log_pyfunc_model(model_folder: Path, *, registered_name: str | None, name: str = "model"):
    """Log ``model_folder`` as a pyfunc model in the active run, optionally registering it.

    Returns MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version``).
    """
    from training.tracking import quiet_logging

    with quiet_logging():
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=SuggesterPyfunc(),
            artifacts={MODEL_ARTIFACT: str(model_folder)},
            signature=signature(),
            pip_requirements=pip_requirements(),
            registered_model_name=registered_name,
        )
