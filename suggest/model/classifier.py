"""Supervised components: TF-IDF features, one-vs-rest ridge classifiers, nearest neighbours.

The one-vs-rest classifier is a ridge regression per code on 0/1 targets, every code solved at
once by one Cholesky factorisation, in whichever space is smaller (as scikit-learn's ``Ridge`` does):

- the **dual** (charts x charts kernel ``X X^T + 1 + alpha I``) while there are fewer charts than features;
- the **primal** (features x features Gram ``Z^T Z + alpha I``, ``Z = [X, 1]``) once there are more.

Both give the same solution; memory is ``8 d^2`` bytes for ``d = min(charts, features + 1)``, so it stops
growing with the charts once they outnumber the features. When both exceed ``max_dim``, the classifier
keeps the ``max_dim`` features that occur in the most training charts (said in ``notes_`` and the training
log). The per-code weights are stacked into one sparse matrix (each code's largest weights), so scoring
every code of a chart is one sparse product; scikit-learn's ``OneVsRestClassifier`` would loop in Python.

Neighbour votes search the training charts in blocks, so no charts x charts matrix is ever held.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2
from sklearn.utils.validation import check_is_fitted

log = logging.getLogger(__name__)

#: Kernel or Gram columns computed per sparse product (bounds the sparse intermediate's memory).
_KERNEL_BLOCK = 2048
#: Codes solved and whose dense weight columns are formed at once (bounds memory: dim x block x 8 bytes).
_WEIGHT_BLOCK = 256
#: Similarities held at once by the neighbour search (query charts x training charts): 50M floats, 200 MB.
_NEIGHBOUR_BLOCK_ELEMENTS = 50_000_000
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


class VocabularyArrays:
    """A fitted vectorizer's vocabulary (n-gram -> column) as sorted byte strings and their columns.

    The vectorizer's own ``vocabulary_`` is a dict of 27,000 strings and ints whose reference counts every
    transform writes, which copies their pages into every worker of a pre-forking server; these arrays are read
    without touching any object of the model. ``fitted`` is the vectorizer they were built from.
    """

    def __init__(self, vectorizer: TfidfVectorizer):
        self.fitted = vectorizer
        terms = sorted(vectorizer.vocabulary_)  # UTF-8 bytes sort in the order of the code points
        self.sorted_terms = np.array([t.encode("utf-8") for t in terms], dtype=bytes)
        self.sorted_columns = np.array([vectorizer.vocabulary_[t] for t in terms], dtype=np.int32)
        self.names = np.empty(len(terms), dtype=self.sorted_terms.dtype)
        self.names[self.sorted_columns] = self.sorted_terms

    def __len__(self) -> int:
        return len(self.names)

    def name(self, column: int) -> str:
        return self.names[column].decode("utf-8")

    def columns_of(self, terms: list[str]) -> np.ndarray:
        """The column of each n-gram, -1 for those not in the vocabulary."""
        encoded = [t.encode("utf-8") for t in terms]
        if not encoded or not len(self.sorted_terms):
            return np.full(len(encoded), -1, dtype=np.int32)
        fits = np.array([0 < len(e) <= self.sorted_terms.itemsize for e in encoded], dtype=bool)
        keys = np.array(encoded, dtype=self.sorted_terms.dtype)  # too long ones are cut: ``fits`` drops them
        at = np.minimum(np.searchsorted(self.sorted_terms, keys), len(self.sorted_terms) - 1)
        return np.where(fits & (self.sorted_terms[at] == keys), self.sorted_columns[at], -1).astype(np.int32)

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """``fitted.transform(texts)``: the same TF-IDF rows, counted through the arrays."""
        analyze = self.fitted.build_analyzer()
        indptr, columns, counts = [0], [], []
        for text in texts:
            found = self.columns_of(analyze(text))
            unique, n = np.unique(found[found >= 0], return_counts=True)
            columns.append(unique)
            counts.append(n)
            indptr.append(indptr[-1] + len(unique))
        X = sp.csr_matrix((np.concatenate(counts), np.concatenate(columns), np.asarray(indptr)),
                          shape=(len(texts), len(self)), dtype=self.fitted.dtype)
        if self.fitted.binary:
            X.data.fill(1)
        return self._weighted(X)

    def _weighted(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """``fitted._tfidf.transform(counts, copy=False)`` for the rows counted here (CSR, sorted, no duplicates):
        the same operations in the same order, without the input validation that cost a single chart half as
        much as the counting itself. Other normalisations than L2 or none go through scikit-learn."""
        tfidf = self.fitted._tfidf
        if tfidf.norm not in ("l2", None):
            return tfidf.transform(counts, copy=False)
        if tfidf.sublinear_tf:
            np.log(counts.data, counts.data)
            counts.data += 1.0
        if hasattr(tfidf, "idf_"):
            counts.data *= tfidf.idf_[counts.indices]
        if tfidf.norm == "l2":
            inplace_csr_row_normalize_l2(counts)
        return counts


def linear_kernel(X: sp.csr_matrix) -> np.ndarray:
    """``X X^T`` as a dense float64 array, built in row blocks."""
    X = sp.csr_matrix(X, dtype=np.float64)
    XT = sp.csr_matrix(X.T)
    K = np.empty((X.shape[0], X.shape[0]), dtype=np.float64)
    for lo in range(0, X.shape[0], _KERNEL_BLOCK):
        K[lo: lo + _KERNEL_BLOCK] = (X[lo: lo + _KERNEL_BLOCK] @ XT).toarray()
    return K


def gram_matrix(X: sp.csr_matrix) -> np.ndarray:
    """``Z^T Z`` for ``Z = [X, 1]`` (the features plus a constant intercept column), dense float64,
    built in column blocks from sparse products (the work grows with the charts, the memory does not)."""
    X = sp.csr_matrix(X, dtype=np.float64)
    n, f = X.shape
    XT = sp.csr_matrix(X.T)
    XC = sp.csc_matrix(X)
    G = np.empty((f + 1, f + 1), dtype=np.float64)
    for lo in range(0, f, _KERNEL_BLOCK):
        hi = min(lo + _KERNEL_BLOCK, f)
        G[:f, lo:hi] = (XT @ XC[:, lo:hi]).toarray()
    column_sums = np.asarray(X.sum(axis=0)).ravel()
    G[f, :f] = column_sums
    G[:f, f] = column_sums
    G[f, f] = n
    return G


class RidgeOneVsRest(BaseEstimator):
    """One ridge regression per code on 0/1 targets, solved jointly (dual or primal), scored with one sparse product.

    Parameters
    ----------
    alpha : float
        L2 regularisation strength (the intercept is regularised too, as a constant feature).
    keep_weights : int
        Largest-magnitude weights kept per code.
    min_examples : int
        Codes with fewer positive charts are skipped.
    max_dim : int
        Largest system solved: ``8 * max_dim**2`` bytes. With more charts and more features than this, only the
        ``max_dim - 1`` features in the most training charts are used (recorded in ``notes_``).

    Attributes
    ----------
    classes_ : list of str
        Codes with a model, shape (n_codes,).
    coef_ : scipy.sparse.csr_matrix of shape (n_features, n_codes)
    intercept_ : ndarray of shape (n_codes,)
    solver_ : str
        ``"dual"`` or ``"primal"``: the space the system was solved in.
    n_features_used_ : int
        Features the weights were fitted on (all of them unless capped by ``max_dim``).
    notes_ : list of str
        What was capped, for the training log and the model card (empty when nothing was).
    """

    def __init__(self, alpha: float = 1.0, keep_weights: int = 3000, min_examples: int = 1, max_dim: int = 16_384):
        self.alpha = alpha
        self.keep_weights = keep_weights
        self.min_examples = min_examples
        self.max_dim = max_dim

    def fit(self, X: sp.csr_matrix, Y: sp.csr_matrix, classes: list[str]) -> RidgeOneVsRest:
        """Fit on features ``X`` (n_charts, n_features) and binary labels ``Y`` (n_charts, n_codes)."""
        self.__dict__.pop("_coef_csc", None)
        X = sp.csr_matrix(X, dtype=np.float64)
        Y = sp.csc_matrix(Y, dtype=np.float64)
        n, n_features = X.shape
        counts = np.asarray((Y > 0).sum(axis=0)).ravel()
        todo = np.flatnonzero((counts >= self.min_examples) & (counts < n))
        self.classes_ = [classes[j] for j in todo]
        self.notes_ = []
        self.n_features_used_ = n_features
        self.solver_ = "dual" if n <= n_features + 1 else "primal"
        if todo.size == 0:
            self.coef_ = sp.csr_matrix((n_features, 0), dtype=np.float32)
            self.intercept_ = np.zeros(0, dtype=np.float32)
            return self
        Y = Y[:, todo]
        used = np.arange(n_features)
        if min(n, n_features + 1) > self.max_dim:
            used = np.sort(np.argsort(-np.diff(sp.csc_matrix(X).indptr), kind="stable")[: self.max_dim - 1])
            self.solver_, self.n_features_used_ = "primal", len(used)
            self.notes_.append(
                f"classifier: {n} training charts and {n_features} features both exceed max_dim={self.max_dim}: "
                f"the ridge weights use the {len(used)} features found in the most training charts"
            )
            log.warning("%s", self.notes_[-1])
            X = X[:, used]
        if self.solver_ == "dual":
            # The constant 1 is a regularised intercept feature; its weight is the sum of the dual coefficients.
            K = linear_kernel(X)
            K += 1.0
            A = self._solve(K, Y)
            self.intercept_ = A.sum(axis=0).astype(np.float32)
            XT = sp.csr_matrix(X.T, dtype=np.float32)
            weights = (np.asarray(XT @ A[:, lo: lo + _WEIGHT_BLOCK].astype(np.float32))
                       for lo in range(0, A.shape[1], _WEIGHT_BLOCK))
        else:
            Z_T = sp.vstack([sp.csr_matrix(X.T), sp.csr_matrix(np.ones((1, n)))]).tocsr()
            A = self._solve(gram_matrix(X), Z_T @ Y)
            self.intercept_ = A[-1].astype(np.float32)
            weights = (A[:-1, lo: lo + _WEIGHT_BLOCK].astype(np.float32) for lo in range(0, A.shape[1], _WEIGHT_BLOCK))
        self.coef_ = self._stack_top_weights(weights, used, n_features, A.shape[1])
        return self

    def _solve(self, G: np.ndarray, B: sp.spmatrix) -> np.ndarray:
        """``(G + alpha I)^-1 B`` for every column of ``B``, one factorisation, in blocks of codes (``G`` is consumed)."""
        G[np.diag_indices(G.shape[0])] += self.alpha
        # G is symmetric: its transpose is the same matrix in Fortran order, which LAPACK factorises in place
        # (a C-ordered array would be copied first: another 8 d^2 bytes).
        factor = sla.cho_factor(G.T, lower=True, overwrite_a=True, check_finite=False)
        B = sp.csc_matrix(B)
        out = np.empty(B.shape, dtype=np.float64)
        for lo in range(0, B.shape[1], _WEIGHT_BLOCK):
            out[:, lo: lo + _WEIGHT_BLOCK] = sla.cho_solve(
                factor, B[:, lo: lo + _WEIGHT_BLOCK].toarray(), overwrite_b=True, check_finite=False)
        return out

    def _stack_top_weights(self, blocks, rows: np.ndarray, n_features: int, n_codes: int) -> sp.csr_matrix:
        """Stack column blocks of weights over the features ``rows``, keeping each code's largest magnitudes."""
        keep = min(self.keep_weights, len(rows))
        out_rows, out_cols, out_vals = [], [], []
        lo = 0
        for W in blocks:
            if keep < W.shape[0]:
                idx = np.argpartition(-np.abs(W), keep - 1, axis=0)[:keep]
            else:
                idx = np.broadcast_to(np.arange(W.shape[0])[:, None], W.shape)
            w = np.take_along_axis(W, idx, axis=0)
            nonzero = np.abs(w) > 1e-7
            out_rows.append(rows[idx[nonzero]])
            out_cols.append((np.nonzero(nonzero)[1] + lo).astype(np.int32))
            out_vals.append(w[nonzero])
            lo += W.shape[1]
        return sp.csr_matrix(
            (np.concatenate(out_vals), (np.concatenate(out_rows), np.concatenate(out_cols))),
            shape=(n_features, n_codes),
            dtype=np.float32,
        )

    def top_features(self, x: sp.csr_matrix | np.ndarray, code: str, k: int = 2) -> list[int]:
        """Feature indices that add most to ``code``'s score for one chart ``x``.

        ``x`` is the chart's feature row, sparse (1, n_features) or dense (n_features,); callers that
        ask about several codes of one chart pass it dense once.
        """
        check_is_fitted(self, "coef_")
        if "_coef_csc" not in self.__dict__:
            self._index_features_by_code()
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

    def _index_features_by_code(self) -> None:
        """The weights by code (CSC) that ``top_features`` reads."""
        self._class_index = {c: j for j, c in enumerate(self.classes_)}
        self._coef_csc = self.coef_.tocsc()

    def __setstate__(self, state: dict) -> None:
        # Built when the model is loaded, not on a first request: under gunicorn the master loads the model and
        # every worker shares these arrays, where each would otherwise build its own copy (16 MB for the default).
        super().__setstate__(state)
        if "coef_" in self.__dict__:
            self._index_features_by_code()

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
        """Vote shares per code, shape (n_charts, n_codes); ``exclude[i]`` drops training chart i's own vote.

        Query charts are compared with every training chart in blocks of rows sized so that a block's
        similarities stay under ``_NEIGHBOUR_BLOCK_ELEMENTS`` floats, whatever the numbers of charts.
        """
        check_is_fitted(self, "X_")
        if "_support_t" not in self.__dict__:
            # X_.T is a CSC view; the product would convert it to CSR on every call (ms per chart). X_ then
            # becomes the transpose's own CSC view: the same values, one copy in memory instead of two (10 MB).
            self._support_t = sp.csr_matrix(self.X_.T)
            self.X_ = self._support_t.T
        X = sp.csr_matrix(X, dtype=np.float32)
        k = min(self.n_neighbors, self.X_.shape[0])
        if k == 0 or X.shape[0] == 0:
            return sp.csr_matrix((X.shape[0], self.Y_.shape[1]), dtype=np.float32)
        parts = []
        block = max(1, _NEIGHBOUR_BLOCK_ELEMENTS // self.X_.shape[0])
        for lo in range(0, X.shape[0], block):
            sims = (X[lo: lo + block] @ self._support_t).toarray()
            rows = np.arange(sims.shape[0])
            if exclude is not None:
                sims[rows, exclude[lo: lo + block]] = -1.0
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            weights = np.maximum(sims[np.repeat(rows, k), top.ravel()], 0.0)
            W = sp.csr_matrix((weights, (np.repeat(rows, k), top.ravel())), shape=sims.shape, dtype=np.float32)
            total = np.asarray(W.sum(axis=1)).ravel()
            total[total == 0] = 1.0
            parts.append(sp.csr_matrix(sp.diags(1.0 / total) @ (W @ self.Y_)))
        return sp.vstack(parts).tocsr() if len(parts) > 1 else parts[0]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_support_t", None)
        if "X_" in state and not sp.isspmatrix_csr(state["X_"]):
            state["X_"] = sp.csr_matrix(state["X_"])  # saved as fitted, whatever predictions did meanwhile
        return state
