"""Configuration of the suggestion engine (every field documented; saved in the model card)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SuggesterConfig(BaseModel):
    """Hyper-parameters of :class:`suggest.Suggester`, validated in one declared place.

    The estimator takes each of them as a flat keyword argument (scikit-learn's contract); ``fit``
    validates them here, with errors that name the parameter and what was expected.

    Defaults were chosen by cross-validation on CodiEsp train and on the project's
    synthetic charts, never on the data the README reports.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_coverage: float = Field(0.6, ge=0.1, le=1.0, description="Smallest IDF-weighted share of a code term's words that must occur in one sentence for a dictionary match.")
    max_window_factor: float = Field(2.5, gt=0, description="A dictionary match spread over more than factor * term length + 3 words is dropped.")
    ngram_max: int = Field(2, ge=1, le=3, description="Longest word n-gram of the classifier's TF-IDF features.")
    min_df: int = Field(2, ge=1, description="Minimum number of training charts an n-gram must occur in.")
    max_features: int = Field(200_000, ge=1000, description="Cap on the classifier's vocabulary size.")
    classifier_alpha: float = Field(1.0, gt=0, description="L2 strength of the one-vs-rest ridge classifiers.")
    classifier_min_examples: int = Field(2, ge=1, description="Codes with fewer training charts get no classifier.")
    classifier_max_dim: int = Field(16_384, ge=64, description="Largest ridge system solved, in the smaller of the chart space and the feature space: 8 x max_dim^2 bytes. With more training charts and more features than this, the classifier uses the max_dim - 1 features found in the most charts (the training log and the model card say so); every chart is still used.")
    classifier_keep_weights: int = Field(3000, ge=100, description="Largest-magnitude weights kept per code in the stacked coefficient matrix (memory bound).")
    classifier_candidates: int = Field(60, ge=0, description="Top classifier codes added to each chart's candidates.")
    knn_neighbors: int = Field(20, ge=1, description="Nearest training charts voting for codes.")
    knn_candidates: int = Field(40, ge=0, description="Top nearest-neighbour codes added to each chart's candidates.")
    cv_folds: int = Field(3, ge=2, le=10, description="Folds for cross-fitted ranker features and for choosing the calibration map and threshold.")
    cv_holdout_codes: float = Field(0.0, ge=0.0, lt=1.0, description="Share of the training codes each cross-fitting fold also holds out (from its classifier, priors and neighbour votes), so that the ranker learns from gold codes that look as codes never seen in training do. Off by default: 3-fold CV on CodiEsp train gave MAP 0.527 / 0.522 / 0.515 and unseen-code R@15 0.210 / 0.219 / 0.217 at 0 / 0.1 / 0.2, and the default model on ACI-BENCH train MAP 0.618 at 0 against 0.606 at 0.2.")
    phrase_min_charts: int = Field(3, ge=0, description="Phrases are learned from the training charts (suggest.model.phrases, cross-fitted for the ranker) for codes with at least this many charts, from wording found in at least this many of them; 0 learns none.")
    phrase_min_precision: float = Field(0.6, gt=0.0, le=1.0, description="The share of the training charts holding a learned phrase that carry its code must be above this.")
    ranker_max_iter: int = Field(300, ge=10, description="Boosting iterations of the ranker.")
    ranker_learning_rate: float = Field(0.08, gt=0, le=1, description="Learning rate of the ranker.")
    ranker_max_leaf_nodes: int = Field(31, ge=4, description="Leaves per boosting tree.")
    ranker_max_rows: int = Field(250_000, ge=1000, description="The ranker is fitted on the (chart, candidate) rows of randomly drawn training charts until this many rows are reached (bounds its time and memory; the training log and the model card say how many charts it used). The classifier, the neighbour votes and the priors use every chart.")
    ranker_exclude_features: tuple[str, ...] = Field((), description="Features the ranker ignores (names from suggest.model.features.FEATURES); e.g. the classifier scores when the training charts are synthetic and too easy for the classifier to transfer.")
    max_candidates: int = Field(300, ge=10, description="Most candidates ranked per chart (best dictionary matches first).")
    prefer_billable: bool = Field(True, description="Only suggest non-billable codes that occur as training labels (CodiEsp labels some categories).")
    threshold_rule: Literal["best_f1", "half_best_f1"] = Field("best_f1", description="How the selection threshold is read off the out-of-fold confidences: 'best_f1' where micro-F1 peaks; 'half_best_f1' half that peak F1, the F1-optimal threshold of calibrated confidences, steadier where the F1 curve is flat (the default model's synthetic charts).")
    setting: Literal["outpatient", "inpatient", "mentions"] = Field("outpatient", description="Care setting whose coding rules select the codes: 'outpatient' (Section IV: uncertain diagnoses not coded, integral symptoms dropped, status and encounter Z codes), 'inpatient' (uncertain diagnoses kept), 'mentions' (every coded mention, as CodiEsp is annotated; only the age and sex edits). Overridable per request.")
    random_state: int = Field(7, description="Seed for folds and subsampling: same data + config + seed give the same model.")
