"""The supervised components: the one-vs-rest ridge classifier and the neighbour votes."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Ridge

from suggest.model.classifier import SCORE_FLOOR, NeighbourVotes, RidgeOneVsRest, linear_kernel


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = sp.random(60, 40, density=0.2, random_state=rng, format="csr", dtype=np.float64)
    Y = sp.csr_matrix((rng.rand(60, 5) < 0.3).astype(np.float32))
    return X, Y, ["A00", "B00", "C00", "D00", "E00"]


def test_ridge_scores_equal_a_primal_ridge_with_an_intercept_feature(data):
    X, Y, classes = data
    clf = RidgeOneVsRest(alpha=0.7, keep_weights=10_000).fit(X, Y, classes)
    # The dual solution is ridge regression over [X, 1] with the intercept regularised like any weight.
    X1 = np.hstack([X.toarray(), np.ones((X.shape[0], 1))])
    primal = Ridge(alpha=0.7, fit_intercept=False).fit(X1, Y.toarray())
    expected = np.maximum(X1 @ primal.coef_.T, SCORE_FLOOR)
    np.testing.assert_allclose(clf.predict_scores(X), expected, atol=1e-4)
    assert clf.classes_ == classes and clf.coef_.shape == (40, 5)


def test_ridge_keeps_the_largest_weights_and_skips_rare_codes(data):
    X, Y, classes = data
    Y = Y.tolil()
    Y[:, 0] = 0
    Y[3, 0] = 1  # one chart only
    clf = RidgeOneVsRest(keep_weights=7, min_examples=2).fit(X, Y.tocsr(), classes)
    assert "A00" not in clf.classes_ and len(clf.classes_) == 4
    assert (np.diff(sp.csc_matrix(clf.coef_).indptr) <= 7).all()


def test_ridge_solves_in_the_smaller_space_with_the_same_solution(data):
    X, Y, classes = data  # 60 charts x 40 features: the primal is smaller
    primal = RidgeOneVsRest(alpha=0.7, keep_weights=10_000).fit(X, Y, classes)
    assert primal.solver_ == "primal" and primal.notes_ == []
    wide = sp.hstack([X, sp.csr_matrix((60, 100))]).tocsr()  # 60 charts x 140 features: the dual is smaller
    dual = RidgeOneVsRest(alpha=0.7, keep_weights=10_000).fit(wide, Y, classes)
    assert dual.solver_ == "dual"
    np.testing.assert_allclose(dual.predict_scores(wide), primal.predict_scores(X), atol=1e-5)


def test_ridge_beyond_max_dim_keeps_the_most_frequent_features_and_says_so(data):
    X, Y, classes = data
    clf = RidgeOneVsRest(max_dim=21, keep_weights=10_000).fit(X, Y, classes)
    assert clf.solver_ == "primal" and clf.n_features_used_ == 20
    assert clf.notes_ and "max_dim=21" in clf.notes_[0]
    chart_counts = np.diff(sp.csc_matrix(X).indptr)
    used = np.unique(sp.csc_matrix(clf.coef_).nonzero()[0])
    assert chart_counts[used].min() >= np.sort(chart_counts)[-20]
    assert clf.predict_scores(X[:4]).shape == (4, 5)


def test_top_features_are_the_words_that_add_most(data):
    X, Y, classes = data
    clf = RidgeOneVsRest(keep_weights=10_000).fit(X, Y, classes)
    x = X[0]
    j = 1
    contributions = x.toarray().ravel() * clf.coef_[:, j].toarray().ravel()
    best = [int(i) for i in np.argsort(-contributions)[:2] if contributions[i] > 0]
    assert clf.top_features(x, classes[j], k=2) == best
    assert clf.top_features(x.toarray().ravel(), classes[j], k=2) == best
    assert clf.top_features(x, "Z99.9") == []


def test_an_unpickled_classifier_has_its_weights_by_code_ready(data):
    """Built when loaded (in the server's master, shared by the workers), not on a worker's first request."""
    import pickle

    X, Y, classes = data
    clf = RidgeOneVsRest(keep_weights=10_000).fit(X, Y, classes)
    expected = clf.top_features(X[0], classes[1], k=2)
    loaded = pickle.loads(pickle.dumps(clf))
    assert "_coef_csc" in loaded.__dict__ and (loaded._coef_csc != clf.coef_.tocsc()).nnz == 0
    assert loaded.top_features(X[0], classes[1], k=2) == expected


def test_neighbour_votes_in_blocks_equal_one_block(data, monkeypatch):
    import suggest.model.classifier as classifier

    X, Y, _ = data
    knn = NeighbourVotes(n_neighbors=3).fit(X, Y)
    whole = knn.predict_scores(X, exclude=np.arange(60)).toarray()
    monkeypatch.setattr(classifier, "_NEIGHBOUR_BLOCK_ELEMENTS", 7 * 60)  # blocks of 7 query charts
    np.testing.assert_allclose(knn.predict_scores(X, exclude=np.arange(60)).toarray(), whole, atol=1e-6)


def test_neighbour_votes_keep_one_copy_of_the_training_charts_and_save_them_as_fitted(data):
    import pickle

    import scipy.sparse as sp

    X, Y, _ = data
    knn = NeighbourVotes(n_neighbors=3).fit(X, Y)
    fitted = knn.X_.copy()
    before = knn.predict_scores(X[:5]).toarray()
    assert np.shares_memory(knn.X_.data, knn._support_t.data)  # X_ is now a view of the transpose the products use
    assert (knn.X_ != fitted).nnz == 0
    loaded = pickle.loads(pickle.dumps(knn))
    assert sp.isspmatrix_csr(loaded.X_) and (loaded.X_ != fitted).nnz == 0
    np.testing.assert_array_equal(loaded.predict_scores(X[:5]).toarray(), before)


def test_linear_kernel_matches_the_sparse_product(data):
    X, _, _ = data
    np.testing.assert_allclose(linear_kernel(X), (X @ X.T).toarray())


def test_neighbour_votes_exclude_the_chart_itself(data):
    X, Y, _ = data
    knn = NeighbourVotes(n_neighbors=3).fit(X, Y)
    with_self = knn.predict_scores(X[:5])
    without = knn.predict_scores(X[:5], exclude=np.arange(5))
    assert with_self.shape == without.shape == (5, 5)
    np.testing.assert_allclose(np.asarray(with_self.sum(axis=1)).ravel() > 0, True)
    assert not np.allclose(with_self.toarray(), without.toarray())


def test_vocabulary_arrays_transform_as_the_vectorizer():
    from suggest.model.classifier import VocabularyArrays, make_vectorizer

    train = ["Type 2 diabetes mellitus with hyperglycemia", "Essential hypertension, stable on lisinopril 10mg",
             "Chronic kidney disease stage 3a", "Café-au-lait spots; diabetes follow-up"]
    vectorizer = make_vectorizer(2, 1, 1000).fit(train)
    arrays = VocabularyArrays(vectorizer)
    texts = ["Diabetes mellitus type 2, hypertension stable.", "", "words the vocabulary never saw",
             "kidney " * 50 + "supercalifragilisticexpialidocious-disease-mellitus", "CAFÉ au lait; stage 3a 10mg"]
    expected, found = vectorizer.transform(texts), arrays.transform(texts)
    assert found.dtype == expected.dtype and found.shape == expected.shape
    assert (found != expected).nnz == 0 and found.nnz == expected.nnz > 0
    assert [arrays.name(j) for j in range(len(arrays))] == list(vectorizer.get_feature_names_out())


@pytest.mark.parametrize("options", [dict(norm=None), dict(norm="l1"), dict(norm="l2", sublinear_tf=False),
                                     dict(norm="l2", use_idf=False)])
def test_vocabulary_arrays_weigh_as_the_vectorizer_whatever_its_weighting(options):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from suggest.model.classifier import VocabularyArrays

    train = ["Type 2 diabetes mellitus with hyperglycemia", "Essential hypertension, stable on lisinopril 10mg",
             "Chronic kidney disease stage 3a", "diabetes diabetes follow-up"]
    vectorizer = TfidfVectorizer(dtype=np.float32, **options).fit(train)
    texts = ["Diabetes mellitus type 2, diabetes, hypertension stable.", "", "kidney " * 7 + "stage"]
    expected, found = vectorizer.transform(texts), VocabularyArrays(vectorizer).transform(texts)
    assert found.dtype == expected.dtype
    assert np.array_equal(found.toarray(), expected.toarray())
