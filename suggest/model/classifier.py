"""Supervised components: TF-IDF features, one-vs-rest logistic regression, nearest neighbours.

scikit-learn's ``OneVsRestClassifier.predict_proba`` loops over its estimators in
Python; here the per-code coefficient vectors are stacked into one sparse matrix
(keeping each code's largest weights) so that scoring all codes is one sparse product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted


def make_vectorizer(ngram_max: int, min_df: int, max_features: int) -> TfidfVectorizer:
    """The TF-IDF featuriser shared by the classifier and the neighbour search."""
    return TfidfVectorizer(
        lowercase=True,
        ngram_range=(1, ngram_max),
        min_df=min_df,
        max_features=max_features,
        sublinear_tf=True,
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9]+\b|\b\d+[a-zA-Z]\b",
        dtype=np.float32,
    )


def _fit_one(X, y: np.ndarray, C: float, keep: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    clf = LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=300, random_state=seed)
    clf.fit(X, y)
    w = clf.coef_.ravel().astype(np.float32)
    if w.size > keep:
        idx = np.argpartition(-np.abs(w), keep)[:keep]
    else:
        idx = np.arange(w.size)
    idx = idx[np.abs(w[idx]) > 1e-6]
    return idx.astype(np.int32), w[idx], float(clf.intercept_[0])


class StackedOneVsRest(BaseEstimator):
    """One binary logistic regression per code, scored with one sparse product.

    Parameters
    ----------
    C : float
        Inverse L2 regularisation strength.
    keep_weights : int
        Largest-magnitude weights kept per code.
    min_examples : int
        Codes with fewer positive charts are skipped.
    n_jobs : int
        Parallel fits.
    random_state : int
        Seed for the solver.

    Attributes
    ----------
    classes_ : list of str
        Codes with a model, shape (n_codes,).
    coef_ : scipy.sparse.csr_matrix of shape (n_features, n_codes)
    intercept_ : ndarray of shape (n_codes,)
    """

    def __init__(self, C: float = 10.0, keep_weights: int = 3000, min_examples: int = 1, n_jobs: int = 1, random_state: int = 0):
        self.C = C
        self.keep_weights = keep_weights
        self.min_examples = min_examples
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: sp.csr_matrix, Y: sp.csr_matrix, classes: list[str]) -> StackedOneVsRest:
        """Fit on features ``X`` (n_charts, n_features) and binary labels ``Y`` (n_charts, n_codes)."""
        Y = sp.csc_matrix(Y)
        counts = np.diff(Y.indptr)
        n = X.shape[0]
        todo = [j for j in range(Y.shape[1]) if self.min_examples <= counts[j] < n]
        X = sp.csr_matrix(X, copy=True)
        # Canonical once here: the solvers would otherwise fix it in place, racing each other.
        X.sum_duplicates()
        X.sort_indices()
        results = Parallel(n_jobs=self.n_jobs, backend="threading")(
            delayed(_fit_one)(X, Y[:, j].toarray().ravel(), self.C, self.keep_weights, self.random_state) for j in todo
        )
        rows, cols, vals, intercepts = [], [], [], []
        for col, (idx, w, b) in enumerate(results):
            rows.append(idx)
            cols.append(np.full(idx.size, col, dtype=np.int32))
            vals.append(w)
            intercepts.append(b)
        n_features = X.shape[1]
        if todo:
            self.coef_ = sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(n_features, len(todo)),
                dtype=np.float32,
            )
        else:
            self.coef_ = sp.csr_matrix((n_features, 0), dtype=np.float32)
        self.intercept_ = np.asarray(intercepts, dtype=np.float32)
        self.classes_ = [classes[j] for j in todo]
        return self

    def top_features(self, x: sp.csr_matrix, code: str, k: int = 2) -> list[int]:
        """Feature indices that add most to ``code``'s score for one chart ``x`` (1, n_features)."""
        check_is_fitted(self, "coef_")
        if not hasattr(self, "_class_index"):
            self._class_index = {c: j for j, c in enumerate(self.classes_)}
            self._coef_csc = self.coef_.tocsc()
            self._coef_csc.sort_indices()
        j = self._class_index.get(code)
        if j is None:
            return []
        start, end = self._coef_csc.indptr[j], self._coef_csc.indptr[j + 1]
        col_idx, col_w = self._coef_csc.indices[start:end], self._coef_csc.data[start:end]
        x = sp.csr_matrix(x)
        x.sort_indices()
        common, in_x, in_col = np.intersect1d(x.indices, col_idx, assume_unique=True, return_indices=True)
        if common.size == 0:
            return []
        contributions = x.data[in_x] * col_w[in_col]
        order = np.argsort(-contributions)[:k]
        return [int(common[i]) for i in order if contributions[i] > 0]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_class_index", None)
        state.pop("_coef_csc", None)
        return state

    def predict_proba(self, X: sp.csr_matrix) -> np.ndarray:
        """Per-code probabilities, shape (n_charts, n_codes)."""
        check_is_fitted(self, "coef_")
        z = np.asarray((X @ self.coef_).todense()) + self.intercept_[None, :]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class NeighbourVotes(BaseEstimator):
    """Codes of the most similar training charts (cosine over TF-IDF), similarity-weighted.

    Parameters
    ----------
    n_neighbors : int
        Training charts that vote.
    """

    def __init__(self, n_neighbors: int = 20):
        self.n_neighbors = n_neighbors

    def fit(self, X: sp.csr_matrix, Y: sp.csr_matrix) -> NeighbourVotes:
        """Remember the training features ``X`` and label matrix ``Y``."""
        self.X_ = sp.csr_matrix(X, dtype=np.float32)
        self.Y_ = sp.csr_matrix(Y, dtype=np.float32)
        return self

    def predict_scores(self, X: sp.csr_matrix, exclude: np.ndarray | None = None) -> sp.csr_matrix:
        """Vote shares per code, shape (n_charts, n_codes); ``exclude[i]`` drops training chart i's own vote."""
        check_is_fitted(self, "X_")
        sims = (sp.csr_matrix(X, dtype=np.float32) @ self.X_.T).toarray()
        if exclude is not None:
            sims[np.arange(sims.shape[0]), exclude] = -1.0
        k = min(self.n_neighbors, sims.shape[1])
        if k == 0:
            return sp.csr_matrix((X.shape[0], self.Y_.shape[1]), dtype=np.float32)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        rows = np.repeat(np.arange(sims.shape[0]), k)
        weights = np.maximum(sims[rows, top.ravel()], 0.0)
        W = sp.csr_matrix((weights, (rows, top.ravel())), shape=sims.shape, dtype=np.float32)
        votes = W @ self.Y_
        total = np.asarray(W.sum(axis=1)).ravel()
        total[total == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / total) @ votes)
