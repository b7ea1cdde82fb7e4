"""The suggestion engine as a scikit-learn style estimator.

``Suggester.fit(texts, codes)`` learns, from coded charts and the whole code set:
a dictionary over every code's terms, a TF-IDF one-vs-rest classifier and a
nearest-neighbour vote for codes with training examples, and a gradient-boosted
ranker over features of each (chart, candidate) pair, whose output is mapped to a
calibrated probability (isotonic, fitted on out-of-fold predictions) with a
decision threshold chosen by cross-validation on the training data.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import inspect
import io
import json
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils.validation import check_is_fitted

from suggest.encoder.patient import Patient, read_patient
from suggest.encoder.rules import SETTINGS, ChartFacts, RuledCode, default_rules
from suggest.errors import ModelFormatError
from suggest.model import integrity
from suggest.model.analysis import ChartAnalysis, analyse_docs
from suggest.model.card import DataFingerprint, ModelCard, TrainingSizes
from suggest.model.classifier import (
    NeighbourVotes,
    RidgeOneVsRest,
    VocabularyArrays,
    make_vectorizer,
)
from suggest.model.config import SuggesterConfig
from suggest.model.dictionary import TermIndex
from suggest.model.features import (
    FEATURES, CandidateRows, CodeFeatures, CodeStats, build_candidates, label_form, labels_keep_seventh,
)
from suggest.model.forest import TreeScorer, tree_scorer
from suggest.model.phrases import PhraseMiner
from suggest.types import Evidence, Suggestion, SuggestResult

log = logging.getLogger(__name__)

MODEL_FILE = integrity.MODEL_FILE
CARD_FILE = "model_card.json"
#: Bumped when a saved model of an older format can no longer be read (2: ridge classifier; 3: flat
#: hyper-parameters, typed model card, classes_ over the code set; 4: the matcher's fitted state holds
#: 7th-character stems, ruled-out phrases, required numbers and "other" terms; 5: the care setting and the
#: "uncertain" assertion, which the ranker's features read; 6: contextual abbreviations and hyphenated prefixes
#: in the normaliser, and the ranker's matched-stem features; 7: the matcher's fitted state in arrays, which a
#: release reading only format 6 cannot use).
FORMAT_VERSION = 7
#: Formats this release loads: a format-6 model's matcher is converted to arrays when it is loaded.
READABLE_FORMATS = frozenset({6, 7})
#: Charts run through the pipeline at once while collecting the ranker's training rows.
_RANKER_CHUNK = 256
#: ``suggest_batch`` codes a larger batch in chunks of this many charts, so that its memory does not grow with it.
BATCH_CHUNK = 32
EMPTY_TEXT_WARNING = "empty text: nothing to code"
NO_WORDS_WARNING = "no words in the text (only digits, punctuation or symbols): nothing to code"
#: A letter of any script: text without one holds no clinical statement to code.
_LETTER = re.compile(r"[^\W\d_]")


def fingerprint(texts: Sequence[str], codes: Sequence[Sequence[str]]) -> dict[str, Any]:
    """sha256, size and label count of a training set (for the model card)."""
    h = hashlib.sha256()
    labels: set[str] = set()
    for text, chart_codes in zip(texts, codes, strict=True):
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
        h.update(";".join(chart_codes).encode())
        h.update(b"\x01")
        labels.update(chart_codes)
    return {"sha256": h.hexdigest(), "n_charts": len(texts), "n_labels": len(labels)}


def _normalise_codes(codeset, codes: Sequence[Sequence[str]]) -> list[list[str]]:
    return [list(dict.fromkeys(codeset.normalize(c) for c in chart if c and c.strip())) for chart in codes]


class Suggester(BaseEstimator):
    """Ranked ICD-10-CM suggestions with calibrated confidence and evidence.

    A scikit-learn estimator: ``__init__`` stores the flat hyper-parameters below (so ``get_params``,
    ``set_params``, ``clone`` and ``GridSearchCV`` work), ``fit`` learns and returns ``self``, and the
    learned state ends in ``_``. Each hyper-parameter is documented, with its default and its allowed
    range, in :class:`~suggest.model.config.SuggesterConfig`, which ``fit`` validates them against.

    Parameters
    ----------
    min_coverage, max_window_factor : float
        Dictionary matching.
    ngram_max, min_df, max_features : int
        TF-IDF features.
    classifier_alpha, classifier_min_examples, classifier_max_dim, classifier_keep_weights, classifier_candidates
        The one-vs-rest ridge classifier.
    knn_neighbors, knn_candidates : int
        Nearest-neighbour votes.
    cv_folds : int
        Folds of cross-fitting (ranker features, calibration, threshold).
    cv_holdout_codes : float
        Share of the training codes each fold also holds out, so that the ranker learns how codes never seen
        in training look.
    phrase_min_charts, phrase_min_precision
        Phrases learned from the training charts (:mod:`suggest.model.phrases`); 0 charts learns none.
    ranker_max_iter, ranker_learning_rate, ranker_max_leaf_nodes, ranker_max_rows, ranker_exclude_features
        The gradient-boosted ranker.
    max_candidates : int
        Candidates ranked per chart.
    prefer_billable : bool
        Suggest non-billable codes only when they occur as training labels.
    threshold_rule : {"best_f1", "half_best_f1"}
        How the selection threshold is read off the out-of-fold confidences: where micro-F1 peaks, or half that
        peak F1 (the F1-optimal threshold of calibrated confidences, steadier where the curve is flat).
    random_state : int
        Seed of folds and subsampling.
    setting : {"outpatient", "inpatient", "mentions"}
        The care setting whose coding rules select the codes (:mod:`suggest.encoder.rules`); each call to
        :meth:`suggest`, :meth:`predict_proba` or :meth:`predict` can override it.
    name : str
        Model name recorded in the model card and in every API response.

    Attributes
    ----------
    classes_ : ndarray of str, shape (n_classes,)
        The codes the model can rank: every billable code of the code set (every code when
        ``prefer_billable`` is off) plus the non-billable codes seen as training labels. The
        columns of :meth:`predict_proba` and :meth:`predict`.
    training_labels_ : list of str
        Codes seen as training labels (the classifier's and the neighbour votes' columns).
    threshold_ : float
        Calibrated confidence at or above which a suggestion is ``selected``.
    card_ : ModelCard
        The model card: config, code-set release, training data fingerprints, sizes, metrics.
    """

    def __init__(
        self,
        *,
        min_coverage: float = 0.6,
        max_window_factor: float = 2.5,
        ngram_max: int = 2,
        min_df: int = 2,
        max_features: int = 200_000,
        classifier_alpha: float = 1.0,
        classifier_min_examples: int = 2,
        classifier_max_dim: int = 16_384,
        classifier_keep_weights: int = 3000,
        classifier_candidates: int = 60,
        knn_neighbors: int = 20,
        knn_candidates: int = 40,
        cv_folds: int = 3,
        cv_holdout_codes: float = 0.0,
        phrase_min_charts: int = 3,
        phrase_min_precision: float = 0.6,
        ranker_max_iter: int = 300,
        ranker_learning_rate: float = 0.08,
        ranker_max_leaf_nodes: int = 31,
        ranker_max_rows: int = 250_000,
        ranker_exclude_features: tuple[str, ...] = (),
        max_candidates: int = 300,
        prefer_billable: bool = True,
        threshold_rule: str = "best_f1",
        random_state: int = 7,
        setting: str = "outpatient",
        name: str = "icd10cm-suggester",
    ):
        self.min_coverage = min_coverage
        self.max_window_factor = max_window_factor
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.classifier_alpha = classifier_alpha
        self.classifier_min_examples = classifier_min_examples
        self.classifier_max_dim = classifier_max_dim
        self.classifier_keep_weights = classifier_keep_weights
        self.classifier_candidates = classifier_candidates
        self.knn_neighbors = knn_neighbors
        self.knn_candidates = knn_candidates
        self.cv_folds = cv_folds
        self.cv_holdout_codes = cv_holdout_codes
        self.phrase_min_charts = phrase_min_charts
        self.phrase_min_precision = phrase_min_precision
        self.ranker_max_iter = ranker_max_iter
        self.ranker_learning_rate = ranker_learning_rate
        self.ranker_max_leaf_nodes = ranker_max_leaf_nodes
        self.ranker_max_rows = ranker_max_rows
        self.ranker_exclude_features = ranker_exclude_features
        self.max_candidates = max_candidates
        self.prefer_billable = prefer_billable
        self.threshold_rule = threshold_rule
        self.random_state = random_state
        self.setting = setting
        self.name = name

    # ------------------------------------------------------------------ fitting
    def _config(self) -> SuggesterConfig:
        """The hyper-parameters, validated (pydantic names the parameter and what it expected)."""
        params = self.get_params(deep=False)
        params.pop("name")
        return SuggesterConfig(**params)

    def fit(
        self,
        X: Sequence[str],
        Y: Sequence[Sequence[str]],
        specialties: Sequence[str | None] | None = None,
        *,
        data_name: str = "training",
        progress: bool = False,
    ) -> Suggester:
        """Learn from coded charts.

        Training memory grows linearly with the charts: the classifier's system is bounded by
        ``classifier_max_dim``, the neighbour search works in blocks, and only the charts the ranker
        is fitted on (``ranker_max_rows``) are run through the clinical pipeline.

        Parameters
        ----------
        X : sequence of str, shape (n_charts,)
            Chart texts.
        Y : sequence of sequences of str, shape (n_charts,)
            Gold codes per chart (any case, with or without the dot), as ``MultiLabelBinarizer`` takes them.
        specialties : sequence of str or None, shape (n_charts,), optional
            Specialty of each chart, used for specialty priors.

        Returns
        -------
        self : Suggester
        """
        from suggest.codeset import load_codeset
        from suggest.pipeline import get_nlp
        from suggest.pipeline.normalize import default_normalizer

        started = time.perf_counter()
        cfg = self._config()
        texts = [t if isinstance(t, str) else str(t) for t in X]
        codes = Y
        if len(texts) != len(codes):
            raise ValueError(f"X and Y differ in length ({len(texts)} != {len(codes)})")
        if len(texts) < 2 * cfg.cv_folds:
            raise ValueError(f"need at least {2 * cfg.cv_folds} training charts, got {len(texts)}")
        n = len(texts)
        specialties = list(specialties) if specialties is not None else [None] * n
        codeset = load_codeset()
        codes = _normalise_codes(codeset, codes)
        notes: list[str] = []

        self.term_index_ = TermIndex(cfg.min_coverage, cfg.max_window_factor).fit(codeset, default_normalizer())
        self.binarizer_ = MultiLabelBinarizer(sparse_output=True)
        Y_bin = sp.csr_matrix(self.binarizer_.fit_transform(codes), dtype=np.float32)
        self.training_labels_ = list(self.binarizer_.classes_)
        self.seventh_in_labels_ = labels_keep_seventh(codeset, self.training_labels_)
        if not self.seventh_in_labels_:
            notes.append("the training labels leave out the 7th character (S42.402, T81.4XX): codes that take one "
                         "are suggested in that form")
        self.vectorizer_ = make_vectorizer(cfg.ngram_max, cfg.min_df, cfg.max_features)
        X_tfidf = self.vectorizer_.fit_transform(texts)
        log.info("vectorised %d training charts: %d features", n, X_tfidf.shape[1])

        # Cross-fitted classifier scores and priors: the ranker must see scores like those of unseen charts.
        folds = list(KFold(cfg.cv_folds, shuffle=True, random_state=cfg.random_state).split(np.arange(n)))
        fold_of = np.empty(n, dtype=np.int32)
        fold_models: list[RidgeOneVsRest] = []
        fold_stats: list[CodeStats] = []
        fold_labels: list[frozenset[str]] = []
        # Codes held out of each fold's classifier, priors and neighbour votes as well as charts: the ranker sees
        # gold codes the way it will meet codes never seen in training, and learns to trust their other evidence.
        held_out = self._held_out_codes(cfg)
        fold_learned: list[TermIndex | None] = []
        miner = PhraseMiner(cfg.phrase_min_charts, cfg.phrase_min_precision)
        runs = miner.chart_runs(texts) if cfg.phrase_min_charts > 0 else []
        for k, (tr, te) in enumerate(folds):
            fold_of[te] = k
            fold_learned.append(self._learned_index(cfg, miner, [runs[i] for i in tr] if runs else [],
                                                    [codes[i] for i in tr], codeset))
            keep = np.array([c not in held_out[k] for c in self.training_labels_], dtype=np.float32)
            Y_fold = sp.csr_matrix(Y_bin[tr] @ sp.diags(keep), dtype=np.float32)
            Y_fold.eliminate_zeros()
            fold_models.append(self._make_classifier(cfg).fit(X_tfidf[tr], Y_fold, self.training_labels_))
            fold_codes = [[c for c in codes[i] if c not in held_out[k]] for i in tr]
            fold_stats.append(CodeStats.from_labels(fold_codes, [specialties[i] for i in tr], codeset))
            fold_labels.append(frozenset(c for chart in fold_codes for c in chart))
            log.info("fold %d/%d classifier fitted (%s solver)", k + 1, cfg.cv_folds, fold_models[-1].solver_)
        knn = NeighbourVotes(cfg.knn_neighbors).fit(X_tfidf, Y_bin)
        self.codeset_release_ = codeset.release

        rows = self._ranker_candidates(texts, X_tfidf, specialties, fold_of, fold_models, fold_stats, fold_labels,
                                       held_out, knn, codeset, get_nlp(), cfg, progress, fold_learned)
        del fold_learned
        self.learned_index_ = self._learned_index(cfg, miner, runs, codes, codeset)
        del runs
        ranker_charts = sorted(rows)
        del fold_models
        if len(ranker_charts) < n:
            notes.append(
                f"ranker: fitted on the {sum(len(rows[i].codes) for i in ranker_charts)} candidate rows of "
                f"{len(ranker_charts)} randomly drawn charts of {n} (ranker_max_rows={cfg.ranker_max_rows}); "
                "the classifier, the neighbour votes and the priors use every chart"
            )
            log.warning("%s", notes[-1])
        feats, y, groups = [], [], []
        for i in ranker_charts:
            gold = set(codes[i])
            cand = rows[i]
            feats.append(cand.X)
            y.append(np.fromiter((c in gold for c in cand.codes), dtype=np.int8, count=len(cand.codes)))
            groups.append(np.full(len(cand.codes), i, dtype=np.int32))
        del rows
        F = np.vstack(feats) if feats else np.zeros((0, len(FEATURES)), np.float32)
        self._mask_features(F, cfg)
        y_all = np.concatenate(y)
        g_all = np.concatenate(groups)
        if y_all.sum() == 0 or y_all.sum() == len(y_all):
            raise ValueError("training charts give no positive (or no negative) candidates: check the codes")

        # Out-of-fold ranker scores choose the calibration map and the threshold.
        oof = np.zeros(len(F), dtype=np.float64)
        for k, (tr, te) in enumerate(GroupKFold(cfg.cv_folds).split(F, y_all, g_all)):
            oof[te] = self._make_ranker(cfg).fit(F[tr], y_all[tr]).predict_proba(F[te])[:, 1]
            log.info("ranker fold %d/%d fitted on %d rows", k + 1, cfg.cv_folds, len(tr))
        self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(oof, y_all)
        calibrated = self.calibrator_.predict(oof)
        n_gold = sum(len(set(codes[i])) for i in ranker_charts)
        self.threshold_ = _best_threshold(calibrated, y_all, n_gold, cfg.threshold_rule)
        self.ranker_ = self._make_ranker(cfg).fit(F, y_all)

        self.classifier_ = self._make_classifier(cfg).fit(X_tfidf, Y_bin, self.training_labels_)
        notes.extend(self.classifier_.notes_)
        self.knn_ = knn
        self.stats_ = CodeStats.from_labels(codes, specialties, codeset)
        self.label_set_ = frozenset(self.training_labels_)
        rankable = codeset.billable_codes() if cfg.prefer_billable else list(codeset.codes())
        if not self.seventh_in_labels_:
            rankable = [label_form(codeset, code) for code in rankable]
        self.classes_ = np.array(sorted(set(rankable) | self.label_set_), dtype=object)
        cv_f1 = _f1_at(calibrated, y_all, n_gold, self.threshold_)
        self.card_ = ModelCard(
            name=self.name,
            format_version=FORMAT_VERSION,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            config=cfg.model_dump(mode="json"),
            codeset_release=codeset.release,
            training_data=[DataFingerprint(name=data_name, **fingerprint(texts, codes))],
            threshold=self.threshold_,
            features=list(FEATURES),
            metrics={"cv_micro_f1_at_threshold": cv_f1, "cv_candidate_recall": float(y_all.sum() / max(n_gold, 1))},
            training_seconds=round(time.perf_counter() - started, 1),
            training_sizes=TrainingSizes(
                charts=n, ranker_charts=len(ranker_charts), ranker_rows=len(F),
                classifier_codes=len(self.classifier_.classes_), classifier_solver=self.classifier_.solver_,
                classifier_features=self.classifier_.n_features_used_, vocabulary=X_tfidf.shape[1],
            ),
            training_notes=notes,
        )
        return self

    @staticmethod
    def _learned_index(cfg: SuggesterConfig, miner: PhraseMiner, runs: list, codes: list[list[str]],
                       codeset) -> TermIndex | None:
        """The phrases ``miner`` learns from charts (their ``runs``; None when off or none found), indexed."""
        if cfg.phrase_min_charts <= 0:
            return None
        phrases = miner.fit_runs(runs, codes).phrases_
        if not phrases:
            return None
        from suggest.pipeline.normalize import default_normalizer

        return TermIndex(cfg.min_coverage, cfg.max_window_factor).fit(
            codeset, default_normalizer(), [(code, phrase, "learned") for code, phrase in phrases],
            lexicon=False, codeset_terms=False)

    def _held_out_codes(self, cfg: SuggesterConfig) -> list[frozenset[str]]:
        """For each fold, a seeded random share ``cv_holdout_codes`` of the training labels."""
        rng = np.random.RandomState(cfg.random_state + 1)
        return [frozenset(c for c, u in zip(self.training_labels_, rng.random_sample(len(self.training_labels_)))
                          if u < cfg.cv_holdout_codes) for _ in range(cfg.cv_folds)]

    def _ranker_candidates(self, texts, X_tfidf, specialties, fold_of, fold_models, fold_stats, fold_labels,
                           held_out, knn, codeset, nlp, cfg: SuggesterConfig, progress: bool,
                           fold_learned: list[TermIndex | None]) -> dict[int, CandidateRows]:
        """Candidate rows of the charts the ranker learns from: charts in a seeded random order, in chunks,
        until ``ranker_max_rows`` rows are reached (all charts when they give fewer). Only these charts are
        run through the clinical pipeline, with out-of-fold classifier scores, priors and neighbour votes."""
        n = len(texts)
        order = np.random.RandomState(cfg.random_state).permutation(n)
        rows: dict[int, CandidateRows] = {}
        total = 0
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n, desc="ranker candidates", unit="chart")
        for lo in range(0, n, _RANKER_CHUNK):
            chunk = order[lo: lo + _RANKER_CHUNK]
            analyses = analyse_docs(nlp, self.term_index_, [texts[i] for i in chunk],
                                    learned=[fold_learned[fold_of[i]] for i in chunk])
            knn_scores = knn.predict_scores(X_tfidf[chunk], exclude=chunk)
            clf_scores: list[dict[str, float]] = [dict() for _ in chunk]
            for k, model in enumerate(fold_models):
                in_fold = np.flatnonzero(fold_of[chunk] == k)
                if in_fold.size:
                    self._scores_into(model, X_tfidf[chunk[in_fold]], in_fold, clf_scores)
            for r, i in enumerate(chunk):
                if total >= cfg.ranker_max_rows:
                    break
                k = fold_of[i]
                votes = {c: v for c, v in _row_dict(knn_scores, r, self.training_labels_).items() if c not in held_out[k]}
                cand = self._candidates(analyses[r], clf_scores[r], votes, fold_stats[k], codeset, fold_labels[k],
                                        specialties[i], cfg)
                rows[int(i)] = cand
                total += len(cand.codes)
            if bar is not None:
                bar.update(len(chunk))
            if total >= cfg.ranker_max_rows:
                break
        if bar is not None:
            bar.close()
        log.info("built candidate features for %d charts (%d rows)", len(rows), total)
        return rows

    def _rank(self, F: np.ndarray) -> np.ndarray:
        """Ranker scores of candidate rows, on one thread: a chart's few hundred rows finish faster alone than
        with threads that spin while waiting for the other core."""
        scorer = self._tree_scorer()
        if scorer is not None:
            return scorer.positive_proba(F)
        with _single_openmp_thread():
            return self.ranker_.predict_proba(F)[:, 1]

    def _tree_scorer(self) -> TreeScorer | None:
        """The ranker's :class:`TreeScorer`, built once per fitted ranker (``None``: use ``predict_proba``)."""
        cached = self.__dict__.get("_tree_scorer_cache")
        if cached is None or cached[0] is not self.ranker_:
            cached = self.__dict__["_tree_scorer_cache"] = (self.ranker_, tree_scorer(self.ranker_))
        return cached[1]

    @staticmethod
    def _mask_features(F: np.ndarray, cfg: SuggesterConfig) -> None:
        """Blank the features the config tells the ranker to ignore (in place)."""
        for name in cfg.ranker_exclude_features:
            F[:, FEATURES.index(name)] = 0.0

    @staticmethod
    def _make_classifier(cfg: SuggesterConfig) -> RidgeOneVsRest:
        return RidgeOneVsRest(cfg.classifier_alpha, cfg.classifier_keep_weights, cfg.classifier_min_examples,
                              cfg.classifier_max_dim)

    @staticmethod
    def _make_ranker(cfg: SuggesterConfig) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=cfg.ranker_max_iter, learning_rate=cfg.ranker_learning_rate,
            max_leaf_nodes=cfg.ranker_max_leaf_nodes, l2_regularization=1.0,
            early_stopping=False, random_state=cfg.random_state,
        )

    @staticmethod
    def _scores_into(clf: RidgeOneVsRest, X, rows, out: list[dict[str, float]], keep: int = 60) -> None:
        proba = clf.predict_scores(X)
        if proba.shape[1] == 0:
            return
        k = min(keep, proba.shape[1])
        top = np.argpartition(-proba, k - 1, axis=1)[:, :k]
        for r, i in enumerate(rows):
            out[i] = {clf.classes_[j]: float(proba[r, j]) for j in top[r]}

    def _candidates(self, analysis: ChartAnalysis, clf: dict[str, float], knn: dict[str, float], stats: CodeStats,
                    codeset, labels: frozenset[str], specialty: str | None, cfg: SuggesterConfig) -> CandidateRows:
        code_features = self.__dict__.get("_code_features_cache")
        if code_features is None or not code_features.holds(stats, codeset):
            code_features = self.__dict__["_code_features_cache"] = CodeFeatures(stats, codeset)
        return build_candidates(
            analysis, clf, knn, stats, codeset, label_set=labels, specialty=specialty,
            classifier_candidates=cfg.classifier_candidates, knn_candidates=cfg.knn_candidates,
            max_candidates=cfg.max_candidates, prefer_billable=cfg.prefer_billable, code_features=code_features,
            seventh_in_labels=self.__dict__.get("seventh_in_labels_", True),
        )

    # --------------------------------------------------------------- prediction
    def suggest(self, text: str, top_k: int = 10, specialty: str | None = None, min_confidence: float = 0.0,
                setting: str | None = None, patient: Patient | None = None) -> SuggestResult:
        """Ranked suggestions for one chart, best first.

        ``setting`` overrides the model's care setting (``"outpatient"``, ``"inpatient"``, ``"mentions"``);
        ``patient`` gives the sex and age for the age and sex edits when the caller knows them (else they
        are read from the text)."""
        return self.suggest_batch([text], top_k=top_k, specialties=[specialty], min_confidence=min_confidence,
                                  setting=setting, patients=[patient])[0]

    def suggest_batch(
        self,
        texts: Sequence[str],
        top_k: int = 10,
        specialties: Sequence[str | None] | None = None,
        min_confidence: float = 0.0,
        n_jobs: int = 1,
        setting: str | None = None,
        patients: Sequence[Patient | None] | None = None,
    ) -> list[SuggestResult]:
        """Ranked suggestions for several charts (one pass of each component over the batch).

        ``setting`` overrides the model's care setting for the batch and ``patients`` gives each chart's
        patient (``None``: read from the text). ``n_jobs > 1`` splits a large batch over forked worker
        processes that share the loaded model (POSIX only; falls back to one process elsewhere).
        """
        setting = self._setting(setting)
        if n_jobs > 1 and len(texts) >= 8 * n_jobs and "fork" in _mp_methods():
            return _parallel_suggest(self, list(texts), top_k, specialties, min_confidence, n_jobs, setting, patients)
        if len(texts) > BATCH_CHUNK:  # bounded memory: a chunk's parses and features are freed before the next
            out: list[SuggestResult] = []
            for start in range(0, len(texts), BATCH_CHUNK):
                end = start + BATCH_CHUNK
                out += self.suggest_batch(texts[start:end], top_k, specialties[start:end] if specialties is not None else None,
                                          min_confidence, 1, setting, patients[start:end] if patients is not None else None)
            return out
        from suggest.codeset import load_codeset

        check_is_fitted(self, "ranker_")
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        specialties = list(specialties) if specialties is not None else [None] * len(texts)
        patients = list(patients) if patients is not None else [None] * len(texts)
        results: list[SuggestResult | None] = [None] * len(texts)
        todo = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} must be a str, not {type(text).__name__}")
            if not text.strip():
                results[i] = SuggestResult([], [EMPTY_TEXT_WARNING], self.codeset_release_, setting)
            elif not _LETTER.search(text):
                results[i] = SuggestResult([], [NO_WORDS_WARNING], self.codeset_release_, setting)
            else:
                todo.append(i)
        if not todo:
            return results  # type: ignore[return-value]
        codeset = load_codeset()
        batch = [texts[i] for i in todo]
        scored = self._score_batch(batch, [specialties[i] for i in todo])
        ruled = self._apply_rules(batch, scored, setting, [patients[i] for i in todo])
        analyses, X = scored.analyses, scored.features
        for r, i in enumerate(todo):
            suggestions = []
            x_dense = None
            for coded in ruled[r][:top_k]:
                if coded.confidence < min_confidence:
                    break
                suggestion = self._suggestion(scored.candidates[r], coded, codeset, texts[i], analyses[r])
                if not suggestion.evidence and "classifier" in suggestion.sources:
                    if x_dense is None:
                        x_dense = np.asarray(X[r].todense()).ravel()
                    suggestion.evidence = self._classifier_evidence(texts[i], x_dense, suggestion.code, analyses[r])
                suggestions.append(suggestion)
            warnings = [] if suggestions else ["no code reached the requested confidence"]
            results[i] = SuggestResult(suggestions, warnings, self.codeset_release_, setting)
        return results  # type: ignore[return-value]

    def _setting(self, setting: str | None) -> str:
        """The care setting of a call: ``setting`` when given, else the model's (checked)."""
        chosen = self.__dict__.get("setting", "outpatient") if setting is None else setting
        if chosen not in SETTINGS:
            raise ValueError(f"setting must be one of {', '.join(SETTINGS)}, not {chosen!r}")
        return chosen

    def _apply_rules(self, texts: list[str], scored: _Scored, setting: str,
                     patients: Sequence[Patient | None]) -> list[list[RuledCode]]:
        """Each chart's candidates after the coding rules of ``setting``, best first."""
        from suggest.codeset import load_codeset
        from suggest.model.analysis import assert_char_span
        from suggest.pipeline.normalize import default_normalizer

        codeset = load_codeset()
        rules = default_rules()
        threshold = float(self.threshold_)
        # The rules read the chart's words as the shipped normaliser does: the analysis' words serve where the
        # model's normaliser reads words alike (a model trained with other abbreviation data may not).
        shared_words = self.term_index_.normalizer_.reads_words_like(default_normalizer())
        out = []
        for r, text in enumerate(texts):
            cand, probs, doc = scored.candidates[r], scored.probabilities[r].tolist(), scored.analyses[r].doc
            coded = []
            for code, p in zip(cand.codes, probs):
                mentions = cand.mentions.get(code)
                if not mentions:  # most candidates: proposed by the classifier or the hierarchy only
                    coded.append(RuledCode(code, p, p >= threshold))
                    continue
                coded.append(RuledCode(code, p, p >= threshold,
                                       [(am.mention.start, am.mention.end) for am in mentions],
                                       [am.flags for am in mentions],
                                       sections=[am.section for am in mentions],
                                       coverages=[am.mention.coverage for am in mentions],
                                       matched=[am.mention.n_matched for am in mentions]))
            given = patients[r]
            patient = read_patient(text, given.sex, given.age_years) if given is not None else read_patient(text)
            span_reader = None if doc is None else functools.partial(assert_char_span, doc)
            words = scored.analyses[r].words if shared_words else None
            out.append(rules.apply(coded, ChartFacts(text, patient, span_reader, words), setting, self.threshold_,
                                   codeset))
        return out

    def _score_batch(self, texts: list[str], specialties: Sequence[str | None]) -> _Scored:
        """Candidates of every chart (texts with words) and their calibrated confidences, one ranker call
        (the processed documents are kept: the rules and the evidence read them)."""
        from suggest.codeset import load_codeset
        from suggest.pipeline import get_nlp

        cfg = self._config()
        codeset = load_codeset()
        analyses = analyse_docs(get_nlp(), self.term_index_, texts, keep_docs=True,
                                learned=getattr(self, "learned_index_", None))
        X = self._vocabulary().transform(texts)
        clf_scores: list[dict[str, float]] = [dict() for _ in texts]
        self._scores_into(self.classifier_, X, range(len(texts)), clf_scores)
        knn = self.knn_.predict_scores(X)
        cands = [
            self._candidates(analyses[r], clf_scores[r], _row_dict(knn, r, self.training_labels_), self.stats_,
                             codeset, self.label_set_, specialties[r], cfg)
            for r in range(len(texts))
        ]
        sizes = np.cumsum([0] + [len(c.codes) for c in cands])
        F = np.vstack([c.X for c in cands]) if sizes[-1] else np.zeros((0, len(FEATURES)), np.float32)
        self._mask_features(F, cfg)
        probs = self.calibrator_.predict(self._rank(F)) if len(F) else np.zeros(0)
        return _Scored(cands, [probs[sizes[r]: sizes[r + 1]] for r in range(len(texts))], analyses, X)

    def predict_proba(self, X: Sequence[str], specialties: Sequence[str | None] | None = None,
                      setting: str | None = None) -> sp.csr_matrix:
        """Calibrated confidence of every code of ``classes_`` for each chart, after the coding rules of
        ``setting`` (default: the model's).

        Parameters
        ----------
        X : sequence of str, shape (n_charts,)

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n_charts, n_classes)
            The probability that each code is correct for the chart; codes that were not candidates
            (and charts without words) have 0, stored implicitly.
        """
        check_is_fitted(self, "ranker_")
        setting = self._setting(setting)
        texts = [t if isinstance(t, str) else str(t) for t in X]
        specialties = list(specialties) if specialties is not None else [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip() and _LETTER.search(t)]
        column = self._class_index()
        rows, cols, vals = [], [], []
        if todo:
            batch = [texts[i] for i in todo]
            scored = self._score_batch(batch, [specialties[i] for i in todo])
            ruled = self._apply_rules(batch, scored, setting, [None] * len(batch))
            for r, i in enumerate(todo):
                for coded in ruled[r]:
                    j, p = column.get(coded.code), coded.confidence
                    if j is not None and p > 0:
                        rows.append(i)
                        cols.append(j)
                        vals.append(p)
        return sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(len(texts), len(self.classes_)))

    def predict(self, X: Sequence[str], specialties: Sequence[str | None] | None = None,
                setting: str | None = None) -> sp.csr_matrix:
        """The selected codes as a sparse 0/1 indicator matrix, shape (n_charts, n_classes)."""
        proba = self.predict_proba(X, specialties, setting)
        proba.data = (proba.data >= self.threshold_).astype(np.float64)
        proba.eliminate_zeros()
        return proba.astype(np.int8)

    def score(self, X: Sequence[str], Y: Sequence[Sequence[str]]) -> float:
        """Mean average precision of the ranked codes against the gold codes ``Y`` (the project's main metric)."""
        from suggest.codeset import load_codeset
        from suggest.metrics import mean_average_precision

        proba = self.predict_proba(X)
        rankings = []
        for i in range(proba.shape[0]):
            start, end = proba.indptr[i], proba.indptr[i + 1]
            order = np.argsort(-proba.data[start:end], kind="stable")
            rankings.append([self.classes_[j] for j in proba.indices[start:end][order]])
        golds = [set(chart) for chart in _normalise_codes(load_codeset(), Y)]
        return mean_average_precision(golds, rankings)

    def _class_index(self) -> dict[str, int]:
        index = self.__dict__.get("_class_index_cache")
        if index is None:
            index = self.__dict__["_class_index_cache"] = {code: j for j, code in enumerate(self.classes_)}
        return index

    def _vocabulary(self) -> VocabularyArrays:
        """The TF-IDF vocabulary in arrays (:class:`VocabularyArrays`), built when the model is loaded or fitted."""
        found = self.__dict__.get("_vocabulary_cache")
        if found is None or found.fitted is not self.vectorizer_:
            found = self.__dict__["_vocabulary_cache"] = VocabularyArrays(self.vectorizer_)
        return found

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_class_index_cache", None)
        state.pop("_vocabulary_cache", None)
        state.pop("_tree_scorer_cache", None)
        state.pop("_code_features_cache", None)
        return state

    def __setstate__(self, state: dict) -> None:
        # A model saved before a parameter existed takes the parameter's default (``get_params`` needs them all).
        for name, parameter in inspect.signature(type(self).__init__).parameters.items():
            if parameter.default is not inspect.Parameter.empty:
                state.setdefault(name, parameter.default)
        # Built in the process that loads the model (the server's master), so that its workers share it.
        super().__setstate__(state)
        if "vectorizer_" in self.__dict__:
            self._vocabulary()
        if "ranker_" in self.__dict__:
            self._tree_scorer()

    def _suggestion(self, cand: CandidateRows, coded: RuledCode, codeset, text: str, analysis: ChartAnalysis) -> Suggestion:
        from suggest.model.analysis import assert_char_span

        code = coded.code
        info = codeset.get(code)
        mentions = sorted(
            cand.mentions.get(code, []),
            key=lambda am: (not am.affirmed, -am.mention.coverage, am.mention.start),
        )
        evidence = []
        seen = set()
        for am in mentions:
            key = (am.mention.start, am.mention.end)
            if key in seen:
                continue
            seen.add(key)
            evidence.append(Evidence(am.mention.start, am.mention.end, text[am.mention.start:am.mention.end], am.section, dict(am.flags)))
            if len(evidence) == 3:
                break
        if not evidence and analysis.doc is not None:  # a code the rules added: the spans it was built from
            for start, end in coded.spans[:3]:
                section, flags = assert_char_span(analysis.doc, start, end)
                evidence.append(Evidence(start, end, text[start:end], section, flags))
        billable = bool(info and info.billable)
        sources = list(cand.sources.get(code, []))
        if coded.added:
            sources.append("rules")
        return Suggestion(
            code=code,
            description=info.description if info else "",
            confidence=_shown_confidence(coded.confidence, coded.selected, float(self.threshold_)),
            selected=coded.selected,
            billable=billable,
            sources=sources,
            evidence=evidence,
            billable_children=[] if billable or info is None else codeset.billable_descendants(code, limit=10),
            rules=[note.to_dict() for note in coded.rules],
        )

    def _classifier_evidence(self, text: str, x: np.ndarray, code: str, analysis: ChartAnalysis) -> list[Evidence]:
        """Where the words that weigh most for ``code`` in the classifier occur in the text (``x``: the dense feature row)."""
        from suggest.model.analysis import assert_char_span
        from suggest.pipeline import no_assertion
        from suggest.pipeline.sections import PREAMBLE

        vocabulary = self._vocabulary()
        evidence: list[Evidence] = []
        for f in self.classifier_.top_features(x, code, k=2):
            m = _phrase_pattern(vocabulary.name(f)).search(text)
            if m is None:
                continue
            section, flags = PREAMBLE, no_assertion()
            if analysis.doc is not None:
                section, flags = assert_char_span(analysis.doc, m.start(), m.end())
            evidence.append(Evidence(m.start(), m.end(), text[m.start():m.end()], section, flags))
        return evidence

    # ------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        """Write ``folder/model.joblib``, its signature under this installation's key (:mod:`suggest.model.integrity`)
        and ``folder/model_card.json``; returns the folder."""
        check_is_fitted(self, "ranker_")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (MODEL_FILE + ".tmp")
        joblib.dump(self, tmp, compress=3)
        tmp.replace(folder / MODEL_FILE)
        integrity.sign(folder, integrity.model_signing_key())
        self.card_.save(folder / CARD_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | Path, expected_sha256: str | None = None) -> Suggester:
        """Load a model saved by :meth:`save`: its card's format is checked, then the model file's signature (and
        ``expected_sha256``, a registry's record of it) against the bytes that are then unpickled.

        Raises
        ------
        ModelFormatError
            The model was saved in a format this release cannot read.
        ModelIntegrityError
            The model file is unsigned, signed under another key, or not the file that was signed.
        """
        folder = Path(folder)
        cls._check_format(folder)
        data = integrity.read_verified(folder, integrity.model_signing_key(create=False), expected_sha256)
        return cls._unpickled(folder, data)

    @classmethod
    def load_pinned(cls, folder: str | Path, sha256: str) -> Suggester:
        """Load a copy of a model whose file :meth:`check_loadable` verified elsewhere and whose sha256 it returned
        (a Spark executor loading the model its driver verified); any other file is refused.

        Raises
        ------
        ModelFormatError
            The model was saved in a format this release cannot read.
        ModelIntegrityError
            The model file is not the one ``sha256`` names.
        """
        folder = Path(folder)
        cls._check_format(folder)
        return cls._unpickled(folder, integrity.read_pinned(folder, sha256))

    @classmethod
    def _unpickled(cls, folder: Path, data: bytes) -> Suggester:
        card = ModelCard.read(folder / CARD_FILE)
        model = joblib.load(io.BytesIO(data))
        if not isinstance(model, cls):
            raise TypeError(f"{folder / MODEL_FILE} does not hold a Suggester")
        model.card_ = card
        settle_runtime()
        return model

    @classmethod
    def check_loadable(cls, folder: str | Path, expected_sha256: str | None = None) -> str:
        """Raise what :meth:`load` would raise for ``folder`` (ModelFormatError, ModelIntegrityError), unpickling
        nothing; returns the verified model file's sha256."""
        folder = Path(folder)
        cls._check_format(folder)
        return integrity.verify(folder, integrity.model_signing_key(create=False), expected_sha256)

    @classmethod
    def _check_format(cls, folder: Path) -> None:
        found = cls.saved_format(folder)
        if found not in READABLE_FORMATS:
            raise ModelFormatError(
                f"{folder}: the model was saved in format {found}, this release reads formats "
                f"{sorted(READABLE_FORMATS)}: train it again (the default model is rebuilt by 'suggest train --default')"
            )

    @staticmethod
    def saved_format(folder: str | Path) -> int | None:
        """The format version recorded in a saved model's card (None without a card)."""
        card_path = Path(folder) / CARD_FILE
        if not card_path.exists():
            return None
        return json.loads(card_path.read_text(encoding="utf-8")).get("format_version")


@dataclass
class _Scored:
    """A scored batch: per chart its candidates and their calibrated confidences."""

    candidates: list[CandidateRows]
    probabilities: list[np.ndarray]
    analyses: list[ChartAnalysis]
    features: sp.csr_matrix


_OPENMP_CONTROLLER = None
#: The work of a parallel batch, set before forking so that the workers inherit it (nothing is pickled to them).
_SHARED_BATCH: _Batch | None = None


@dataclass
class _Batch:
    model: Suggester
    chunks: list[tuple[list[str], list[str | None], list[Patient | None]]]
    top_k: int
    min_confidence: float
    setting: str
    next_chunk: Any  # a multiprocessing.Value: the index of the next unclaimed chunk


def _mp_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def _claim_chunks() -> list[tuple[int, list[SuggestResult]]]:
    """Suggest for chunks of the shared batch, claiming one at a time until none is left."""
    batch = _SHARED_BATCH
    assert batch is not None
    done = []
    while True:
        with batch.next_chunk.get_lock():
            i = batch.next_chunk.value
            batch.next_chunk.value += 1
        if i >= len(batch.chunks):
            return done
        texts, specialties, patients = batch.chunks[i]
        done.append((i, batch.model.suggest_batch(texts, top_k=batch.top_k, specialties=specialties,
                                                  min_confidence=batch.min_confidence, setting=batch.setting,
                                                  patients=patients)))


def _parallel_suggest(model: Suggester, texts: list[str], top_k: int, specialties, min_confidence: float,
                      n_jobs: int, setting: str, patients) -> list[SuggestResult]:
    """Split the batch into chunks that this process and ``n_jobs - 1`` forked workers (which inherit
    the model and the texts) claim one at a time, so that a slow chunk does not hold the others up."""
    import multiprocessing

    global _SHARED_BATCH
    context = multiprocessing.get_context("fork")
    specialties = list(specialties) if specialties is not None else [None] * len(texts)
    patients = list(patients) if patients is not None else [None] * len(texts)
    size = max(4, -(-len(texts) // (n_jobs * 8)))
    chunks = [(texts[i: i + size], specialties[i: i + size], patients[i: i + size]) for i in range(0, len(texts), size)]
    _SHARED_BATCH = _Batch(model, chunks, top_k, min_confidence, setting, context.Value("i", 0))
    # Frozen objects are not traversed by the workers' garbage collector, which would otherwise
    # touch (and so copy) every page of the inherited model. A freeze of the application's own is kept.
    application_froze = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        with context.Pool(n_jobs - 1) as pool:
            pending = [pool.apply_async(_claim_chunks) for _ in range(n_jobs - 1)]
            parts = _claim_chunks()
            for result in pending:
                parts.extend(result.get())
    finally:
        if not application_froze:
            gc.unfreeze()
        _SHARED_BATCH = None
    parts.sort(key=lambda part: part[0])
    return [result for _, part in parts for result in part]


#: Python's default first threshold of the garbage collector, and the one :func:`settle_runtime` sets instead.
_PYTHON_GC_THRESHOLD = 700
_GC_THRESHOLD = 10_000


def settle_runtime() -> None:
    """Load what every call needs (the code set, the pipeline) and take the process's long-lived objects out of the
    garbage collector's reach.

    After the imports and a model there are about 190,000 tracked objects, nearly all of them the libraries'
    functions and types; a full collection walks them all, which cost a quarter of a batch's time. They live as
    long as the process, so they are frozen (``gc.freeze``) after a collection of what is not frozen yet. What an
    earlier freeze holds stays frozen: unfreezing it in a forked server worker (a model reload) would have the
    collector touch, and so copy, every page the worker shares with its master. (A model dropped after it was
    frozen is still freed by reference counting; only reference cycles in it stay.)

    The collector's first threshold is raised from Python's default of 700 to 10,000 allocations (when it is still
    the default: an application's own setting stays). A chart's work allocates and frees tens of thousands of objects,
    nearly all freed by reference counting, yet at 700 they set off a collection every half chart, and every 70
    charts a full one that walks the look-up caches (about 45 ms each; 1.1 ms a chart in all, measured with
    ``gc.callbacks`` on 200 CodiEsp charts). At 10,000 none ran over those charts."""
    from suggest.codeset import load_codeset
    from suggest.pipeline import get_nlp

    load_codeset()
    get_nlp()
    gc.collect()
    gc.freeze()
    first, *older = gc.get_threshold()
    if first == _PYTHON_GC_THRESHOLD:
        gc.set_threshold(_GC_THRESHOLD, *older)


def _row_dict(scores: sp.csr_matrix, i: int, columns: list[str]) -> dict[str, float]:
    """Row ``i`` of a sparse (charts x codes) score matrix as {code: score}, positive scores only."""
    start, end = scores.indptr[i], scores.indptr[i + 1]
    return {columns[j]: float(v) for j, v in zip(scores.indices[start:end], scores.data[start:end]) if v > 0}


@functools.lru_cache(maxsize=8192)
def _phrase_pattern(phrase: str) -> re.Pattern:
    """The words of a TF-IDF feature as they may appear in text: whole words, any separators, any case."""
    return re.compile(r"\b" + r"\W+".join(re.escape(w) for w in phrase.split()) + r"\b", re.IGNORECASE)


def _single_openmp_thread():
    """A context that limits OpenMP to one thread (the controller is built once: it inspects the loaded libraries)."""
    global _OPENMP_CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _OPENMP_CONTROLLER is None:
        _OPENMP_CONTROLLER = ThreadpoolController()
    return _OPENMP_CONTROLLER.limit(limits=1, user_api="openmp")


def _f1_at(probs: np.ndarray, y: np.ndarray, n_gold: int, threshold: float) -> float:
    sel = probs >= threshold
    tp = float(y[sel].sum())
    precision = tp / max(sel.sum(), 1)
    recall = tp / max(n_gold, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _best_threshold(probs: np.ndarray, y: np.ndarray, n_gold: int, rule: str = "best_f1") -> float:
    """The selection threshold from out-of-fold calibrated confidences ``probs`` and their 0/1 labels ``y``
    (``n_gold`` gold codes in all): ``"best_f1"`` the confidence at which micro-F1 peaks; ``"half_best_f1"`` half
    that peak F1, the threshold that maximises expected F1 for calibrated confidences (Lipton, Elkan and
    Naryanaswamy 2014), which does not wander along a flat curve as the peak's position does."""
    if not len(probs):
        return 0.5
    order = np.argsort(-probs, kind="stable")
    tp = np.cumsum(y[order])
    k = np.arange(1, len(order) + 1)
    f1 = 2 * tp / (k + max(n_gold, 1))
    best = int(np.argmax(f1))
    if rule == "half_best_f1":
        return float(f1[best]) / 2
    return float(probs[order][best])


def _shown_confidence(confidence: float, selected: bool, threshold: float) -> float:
    """The confidence to 4 decimals, rounded the way that keeps "selected" and "confidence >= threshold" in step
    (a code selected at the threshold itself must not show a confidence just below it)."""
    shown = round(confidence, 4)
    if selected and shown < threshold:
        return math.ceil(confidence * 1e4) / 1e4
    if not selected and shown >= threshold:
        return (math.ceil(threshold * 1e4) - 1) / 1e4
    return shown
