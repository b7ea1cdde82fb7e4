"""The model card: what a model is, what it was trained on and how it scored, saved as JSON beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DataFingerprint(BaseModel):
    """The identity of a data set a model saw."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="File or corpus name.")
    sha256: str = Field(description="sha256 of the file's bytes (or, for the engine's own hash, of texts and codes).")
    n_charts: int = Field(ge=0, description="Charts used.")
    n_labels: int = Field(ge=0, description="Distinct codes among them.")
    path: str | None = Field(None, description="Where the file was read from.")
    n_code_assignments: int | None = Field(None, ge=0, description="Codes over all charts.")


class TrainingSizes(BaseModel):
    """How much of the training data each learned part used (so no subsampling goes unsaid)."""

    model_config = ConfigDict(extra="forbid")

    charts: int = Field(ge=0, description="Training charts (all of them feed the classifier, neighbours and priors).")
    ranker_charts: int = Field(ge=0, description="Charts whose candidate rows fitted the ranker (ranker_max_rows).")
    ranker_rows: int = Field(ge=0, description="(chart, candidate) rows the ranker was fitted on.")
    classifier_codes: int = Field(ge=0, description="Codes with a ridge classifier.")
    classifier_solver: str = Field(description="'dual' (charts space) or 'primal' (features space).")
    classifier_features: int = Field(ge=0, description="TF-IDF features the classifier's weights use.")
    vocabulary: int = Field(ge=0, description="TF-IDF features of the vectoriser.")


class ModelCard(BaseModel):
    """A saved model's card (``model_card.json``), logged to MLflow with every run."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Model name, reported in every API response.")
    version: str = Field("local", description="Registry version once registered; 'local' before.")
    format_version: int = Field(description="Saved-model format; a release reads the formats in suggest.model.suggester.READABLE_FORMATS.")
    created: str = Field(description="UTC time the fit finished (ISO 8601).")
    config: dict[str, Any] = Field(description="The estimator's hyper-parameters (SuggesterConfig).")
    codeset_release: str = Field(description="The ICD-10-CM release the model codes against.")
    training_data: list[DataFingerprint] = Field(description="The training files (or the fitted texts' hash).")
    training_data_content: list[DataFingerprint] = Field(
        default_factory=list, description="The engine's hash of the fitted texts and codes, beside the files'.")
    dev_data: DataFingerprint | None = Field(None, description="The data the dev metrics were measured on.")
    seed: int | None = Field(None, description="Seed of the run.")
    threshold: float = Field(description="Confidence at or above which a suggestion is selected.")
    features: list[str] = Field(description="The ranker's feature names.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Cross-validated and dev metrics.")
    training_seconds: float = Field(ge=0, description="Wall time of fit.")
    training_sizes: TrainingSizes | None = Field(None, description="How much data each learned part used.")
    training_notes: list[str] = Field(
        default_factory=list, description="Anything capped or left out while training, as the training log said it.")
    registry_uri: str | None = Field(None, description="The registry reference the model was loaded from.")

    def with_registry(self, version: str, uri: str) -> ModelCard:
        """A copy that names the registry version and URI the model was loaded from."""
        return self.model_copy(update={"version": str(version), "registry_uri": uri})

    def save(self, path: str | Path) -> None:
        """Write the card as JSON."""
        Path(path).write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> ModelCard:
        """Read a card written by :meth:`save`."""
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
