"""The ranker's scores for a chart's few hundred candidates, without scikit-learn's per-call overhead.

``HistGradientBoostingClassifier.predict_proba`` validates its input and calls each of its 300 trees through a
Python wrapper that allocates a fresh output array: for one chart's ~180 candidate rows that overhead is about
as large as the work itself. :class:`TreeScorer` keeps the trees' node arrays and calls scikit-learn's own compiled
routine on them once per tree into one buffer, on one thread, giving the same numbers.

That routine is private to scikit-learn. The scorer checks itself against ``predict_proba`` when it is built and
:func:`tree_scorer` falls back to ``predict_proba`` when the routine is missing or disagrees, so an upgrade of
scikit-learn can cost speed, never correctness.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier

log = logging.getLogger(__name__)

#: Largest difference from ``predict_proba`` the self-check accepts (the sums run in the same order).
_TOLERANCE = 1e-12


class TreeScorer:
    """Positive-class probabilities of a fitted binary :class:`HistGradientBoostingClassifier` without categorical
    features. Use :func:`tree_scorer`, which checks that this build of scikit-learn supports it."""

    def __init__(self, model: HistGradientBoostingClassifier):
        from sklearn.ensemble._hist_gradient_boosting._predictor import _predict_from_raw_data

        if model.n_trees_per_iteration_ != 1 or model.is_categorical_ is not None:
            raise ValueError("only a binary ranker without categorical features")
        self._predict_tree = _predict_from_raw_data
        self._known_categories, self._feature_map = model._bin_mapper.make_known_categories_bitsets()
        self._trees = [(p.nodes, p.raw_left_cat_bitsets) for (p,) in model._predictors]
        self._baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
        self.n_features = int(model.n_features_in_)

    def positive_proba(self, F: np.ndarray) -> np.ndarray:
        """``predict_proba(F)[:, 1]`` of the model, for rows ``F`` of shape (n, n_features)."""
        X = np.ascontiguousarray(F, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {X.shape}")
        raw = np.full(len(X), self._baseline)
        out = np.empty(len(X))
        predict, known, feature_map = self._predict_tree, self._known_categories, self._feature_map
        for nodes, left_categories in self._trees:
            predict(nodes, X, left_categories, known, feature_map, 1, out)
            raw += out
        return expit(raw)


def tree_scorer(model: HistGradientBoostingClassifier) -> TreeScorer | None:
    """A :class:`TreeScorer` for ``model`` that agrees with its ``predict_proba`` on a probe of rows; ``None`` (use
    ``predict_proba``) when this scikit-learn cannot give one."""
    try:
        scorer = TreeScorer(model)
        probe = np.random.default_rng(0).normal(size=(64, scorer.n_features))
        probe[::7, ::3] = np.nan  # missing values take each node's learned direction
        expected = model.predict_proba(probe)[:, 1]
        if not np.allclose(scorer.positive_proba(probe), expected, rtol=0, atol=_TOLERANCE):
            raise ValueError("its scores differ from predict_proba")
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        log.warning("ranker: scikit-learn's predict_proba is used (%s)", exc)
        return None
    return scorer
