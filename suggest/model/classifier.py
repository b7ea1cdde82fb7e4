"""Supervised components: TF-IDF features, one-vs-rest ridge classifiers, nearest neighbours.

The one-vs-rest classifier is a ridge regression per code, all solved at once in the
dual: with n training charts, one Cholesky factorisation of the n x n kernel matrix
``X X^T + 1 + alpha I`` serves every code, where one-vs-rest logistic regression
runs one iterative solver per code (minutes instead of seconds on 10k charts, for the
same accuracy on CodiEsp). The per-code weight vectors ``X^T a`` are stacked into one
sparse matrix (keeping each code's largest weights), so scoring every code of a chart
is one sparse product; scikit-learn's ``OneVsRestClassifier`` would loop in Python.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

#: Kernel rows computed per sparse product (bounds the sparse intermediate's memory).
_KERNEL_BLOCK = 2048
#: Codes whose dense weight columns are formed at once (bounds memory: features x block x 4 bytes).
_WEIGHT_BLOCK = 128
#: Scores are floored here so that -1 stays free to mean "no classifier for this code".
SCORE_FLOOR = -0.99


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


def linear_kernel(X: sp.csr_matrix) -> np.ndarray:
    """``X X^T`` as a dense float64 array, built in row blocks."""
    X = sp.csr_matrix(X, dtype=np.float64)
    XT = sp.csr_matrix(X.T)
    K = np.empty((X.shape[0], X.shape[0]), dtype=np.float64)
    for lo in range(0, X.shape[0], _KERNEL_BLOCK):
        K[lo: lo + _KERNEL_BLOCK] = (X[lo: lo + _KERNEL_BLOCK] @ XT).toarray()
    return K


class RidgeOneVsRest(BaseEstimator):
    """One ridge regression per code on 0/1 targets, solved jointly in the dual, scored with one sparse product.

    Parameters
    ----------
    alpha : float
        L2 regularisation strength.
    keep_weights : int
        Largest-magnitude weights kept per code.
    min_examples : int
        Codes with fewer positive charts are skipped.
    max_charts : int
        The kernel matrix takes 8 x n^2 bytes: with more training charts, a random subset of this many is used.
    random_state : int
        Seed of that subset.

    Attributes
    ----------
    classes_ : list of str
        Codes with a model, shape (n_codes,).
    coef_ : scipy.sparse.csr_matrix of shape (n_features, n_codes)
    intercept_ : ndarray of shape (n_codes,)
    """

    def __init__(self, alpha: float = 1.0, keep_weights: int = 3000, min_examples: int = 1, max_charts: int = 25_000,
                 random_state: int = 0):
        self.alpha = alpha
        self.keep_weights = keep_weights
        self.min_examples = min_examples
        self.max_charts = max_charts
        self.random_state = random_state

    def fit(self, X: sp.csr_matrix, Y: sp.csr_matrix, classes: list[str]) -> RidgeOneVsRest:
        """Fit on features ``X`` (n_charts, n_features) and binary labels ``Y`` (n_charts, n_codes)."""
        self.__dict__.pop("_coef_csc", None)
        X = sp.csr_matrix(X)
        Y = sp.csr_matrix(Y)
        if X.shape[0] > self.max_charts:
            rows = np.sort(np.random.RandomState(self.random_state).choice(X.shape[0], self.max_charts, replace=False))
            X, Y = X[rows], Y[rows]
        n = X.shape[0]
        counts = np.asarray((Y > 0).sum(axis=0)).ravel()
        todo = np.flatnonzero((counts >= self.min_examples) & (counts < n))
        self.classes_ = [classes[j] for j in todo]
        if todo.size == 0:
            self.coef_ = sp.csr_matrix((X.shape[1], 0), dtype=np.float32)
            self.intercept_ = np.zeros(0, dtype=np.float32)
            return self
        # The constant 1 is a regularised intercept feature; its weight is the sum of the dual coefficients.
        G = linear_kernel(X)
        G += 1.0
        G[np.diag_indices(n)] += self.alpha
        factor = sla.cho_factor(G, lower=True, overwrite_a=True, check_finite=False)
        A = sla.cho_solve(factor, Y[:, todo].toarray().astype(np.float64), overwrite_b=True, check_finite=False)
        del G, factor
        self.intercept_ = A.sum(axis=0).astype(np.float32)
        self.coef_ = self._sparse_weights(sp.csr_matrix(X.T, dtype=np.float32), A)
        return self

    def _sparse_weights(self, XT: sp.csr_matrix, A: np.ndarray) -> sp.csr_matrix:
        """The primal weights ``X^T A``, keeping each code's ``keep_weights`` largest magnitudes."""
        n_features = XT.shape[0]
        keep = min(self.keep_weights, n_features)
        rows, cols, vals = [], [], []
        for lo in range(0, A.shape[1], _WEIGHT_BLOCK):
            W = np.asarray(XT @ A[:, lo: lo + _WEIGHT_BLOCK].astype(np.float32))
            if keep < n_features:
                idx = np.argpartition(-np.abs(W), keep - 1, axis=0)[:keep]
            else:
                idx = np.broadcast_to(np.arange(n_features)[:, None], W.shape)
            w = np.take_along_axis(W, idx, axis=0)
            nonzero = np.abs(w) > 1e-7
            rows.append(idx[nonzero])
            cols.append((np.nonzero(nonzero)[1] + lo).astype(np.int32))
            vals.append(w[nonzero])
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_features, A.shape[1]),
            dtype=np.float32,
        )

    def top_features(self, x: sp.csr_matrix | np.ndarray, code: str, k: int = 2) -> list[int]:
        """Feature indices that add most to ``code``'s score for one chart ``x``.

        ``x`` is the chart's feature row, sparse (1, n_features) or dense (n_features,); callers that
        ask about several codes of one chart pass it dense once.
        """
        check_is_fitted(self, "coef_")
        if "_coef_csc" not in self.__dict__:
            self._class_index = {c: j for j, c in enumerate(self.classes_)}
            self._coef_csc = self.coef_.tocsc()
        j = self._class_index.get(code)
        if j is None:
            return []
        start, end = self._coef_csc.indptr[j], self._coef_csc.indptr[j + 1]
        col_idx, col_w = self._coef_csc.indices[start:end], self._coef_csc.data[start:end]
        dense = x if isinstance(x, np.ndarray) else np.asarray(sp.csr_matrix(x).todense()).ravel()
        contributions = dense[col_idx] * col_w
        positive = np.flatnonzero(contributions > 0)
        best = positive[np.argsort(-contributions[positive], kind="stable")[:k]]
        return [int(col_idx[i]) for i in best]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_class_index", None)
        state.pop("_coef_csc", None)
        return state

    def predict_scores(self, X: sp.csr_matrix) -> np.ndarray:
        """Per-code ridge scores, shape (n_charts, n_codes): estimates of P(code) on the 0-1 scale,
        not calibrated (the ranker and its calibration turn them into confidences)."""
        check_is_fitted(self, "coef_")
        z = np.asarray((X @ self.coef_).todense()) + self.intercept_[None, :]
        return np.maximum(z, SCORE_FLOOR)


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
        self.__dict__.pop("_support_t", None)
        self.X_ = sp.csr_matrix(X, dtype=np.float32)
        self.Y_ = sp.csr_matrix(Y, dtype=np.float32)
        return self

    def predict_scores(self, X: sp.csr_matrix, exclude: np.ndarray | None = None) -> sp.csr_matrix:
        """Vote shares per code, shape (n_charts, n_codes); ``exclude[i]`` drops training chart i's own vote."""
        check_is_fitted(self, "X_")
        if "_support_t" not in self.__dict__:
            # X_.T is a CSC view; the product would convert it to CSR on every call (ms per chart).
            self._support_t = sp.csr_matrix(self.X_.T)
        sims = (sp.csr_matrix(X, dtype=np.float32) @ self._support_t).toarray()
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

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_support_t", None)
        return state
