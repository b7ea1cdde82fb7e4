"""The ranker's scorer gives predict_proba's numbers, and steps aside where it cannot."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from suggest.model.forest import tree_scorer


@pytest.fixture(scope="module")
def ranker_and_rows():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 12))
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values go down each node's learned side
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 3]) * 0.5 + rng.normal(scale=0.5, size=600)) > 0
    model = HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15, random_state=0).fit(X, y)
    rows = rng.normal(size=(200, 12)).astype(np.float32)  # the candidate rows are float32
    rows[::5, 2] = np.nan
    return model, rows


def test_the_scorer_gives_the_rankers_probabilities(ranker_and_rows):
    model, rows = ranker_and_rows
    scorer = tree_scorer(model)
    assert scorer is not None
    np.testing.assert_allclose(scorer.positive_proba(rows), model.predict_proba(rows)[:, 1], rtol=0, atol=1e-12)
    assert scorer.positive_proba(rows[:0]).shape == (0,)


def test_rows_of_another_width_are_refused(ranker_and_rows):
    model, rows = ranker_and_rows
    with pytest.raises(ValueError, match="12 features"):
        tree_scorer(model).positive_proba(rows[:, :5])


def test_a_ranker_it_cannot_score_falls_back_to_predict_proba():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    multiclass = HistGradientBoostingClassifier(max_iter=10).fit(X, rng.integers(0, 3, 300))
    assert tree_scorer(multiclass) is None
