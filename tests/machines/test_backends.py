"""Back-ends on known embeddings: values computed by hand, per-ID fitting, loud errors."""

from __future__ import annotations

import numpy as np
import pytest

from audioanom.machines.backends import (
    CrossEntropyBackend,
    GaussianBackend,
    KnnBackend,
    fit_score,
    make_backend,
)


def test_knn_is_the_cosine_distance_to_the_kth_nearest_training_embedding():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    ids = ["a", "a", "a"]
    test = np.array([[1.0, 1.0], [1.0, 0.1], [0.0, 3.0]])
    d1 = KnnBackend(k=1).fit(train, ids).score(test, ["a"] * 3)
    # [1, 1] is 45 degrees from both [1, 0] and [0, 1]; [1, 0.1] is nearest [1, 0] (and [2, 0],
    # the same direction); [0, 3] points along [0, 1].
    np.testing.assert_allclose(d1, [1 - 1 / np.sqrt(2), 1 - 1 / np.sqrt(1.01), 0.0], atol=1e-12)
    d3 = KnnBackend(k=3).fit(train, ids).score(test, ["a"] * 3)
    # the third nearest of [1, 0.1] is [0, 1]: cosine 0.1 / sqrt(1.01)
    np.testing.assert_allclose(d3[1], 1 - 0.1 / np.sqrt(1.01), atol=1e-12)


def test_knn_compares_with_the_same_id_only():
    train = np.array([[1.0, 0.0], [1.0, 0.05], [0.0, 1.0], [0.05, 1.0]])
    ids = ["a", "a", "b", "b"]
    b = KnnBackend().fit(train, ids)
    x = np.array([[1.0, 0.0]])
    assert b.score(x, ["a"])[0] < 1e-12  # at home
    assert b.score(x, ["b"])[0] > 0.9  # the same point is far from b's clips


def test_gaussian_is_the_squared_mahalanobis_distance_of_a_known_gaussian():
    rng = np.random.default_rng(0)
    mu, sd = np.array([1.0, -2.0, 0.5]), np.array([0.5, 2.0, 1.0])
    train = mu + sd * rng.standard_normal((20_000, 3))
    test = np.array([mu, mu + [0.5, 0.0, 0.0], mu + [0.0, 4.0, 1.0]])
    s = GaussianBackend().fit(train, ["m"] * len(train)).score(test, ["m"] * 3)
    by_hand = (((test - mu) / sd) ** 2).sum(axis=1)  # 0, 1, 4 + 1 = 5
    # 20,000 samples estimate each variance to sqrt(2 / 20000) = 1 %: 3 % is 3 sigma.
    np.testing.assert_allclose(s, by_hand, rtol=0.03, atol=0.01)


def test_gaussian_fits_each_id_on_its_own_clips():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, (500, 4))
    b = rng.normal(10.0, 1.0, (500, 4))
    g = GaussianBackend().fit(np.r_[a, b], ["a"] * 500 + ["b"] * 500)
    x = np.full((1, 4), 10.0)
    assert g.score(x, ["b"])[0] < 2.0 < 100.0 < g.score(x, ["a"])[0]
    assert g.ids == ("a", "b")


def test_fit_score_gives_training_clips_the_distance_to_the_other_clips_only():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 3))
    ids = np.array(["a"] * 6 + ["b"] * 6)
    train = np.array([True] * 5 + [False] + [True] * 5 + [False])
    s = fit_score(KnnBackend(), x, ids, train, folds=5)  # 5 training clips per ID: leave-one-out
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    for i in range(12):
        same = (ids == ids[i]) & train
        others = same & (np.arange(12) != i)  # a training clip never meets itself
        expect = 1.0 - (u[others] @ u[i]).max()
        assert s[i] == pytest.approx(expect, abs=1e-12)
    assert (s[train] > 1e-6).all()  # in-sample 1-NN distances would all be 0


def test_fit_score_threshold_on_training_clips_holds_on_new_normal_clips():
    # 50 normal training clips in 288 dims, as an ID of the synthetic set under the small net:
    # the 90th percentile of in-sample Mahalanobis distances flags most new normal clips (93 % for
    # this seed); of cross-fitted ones, about 10 % (6 %).
    rng = np.random.default_rng(3)
    train_x, new = rng.standard_normal((50, 288)), rng.standard_normal((4000, 288))
    x = np.r_[train_x, new]
    ids, train = ["m"] * len(x), np.r_[np.ones(50, bool), np.zeros(4000, bool)]
    crossed = fit_score(GaussianBackend(), x, ids, train, folds=5)
    in_sample = GaussianBackend().fit(train_x, ids[:50]).score(x, ids)
    np.testing.assert_array_equal(crossed[~train], in_sample[~train])  # new clips: the full fit
    flagged = lambda s: float((s[~train] >= np.percentile(s[train], 90)).mean())  # noqa: E731
    assert flagged(in_sample) > 0.5
    assert 0.02 < flagged(crossed) < 0.25


def test_fit_score_leaves_cross_entropy_scores_alone_and_checks_its_mask():
    lp = np.log(np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]]))
    s = fit_score(CrossEntropyBackend(["a", "b"]), lp, ["a", "b", "a"], np.array([1, 1, 0], bool))
    np.testing.assert_allclose(s, -np.log([0.7, 0.6, 0.9]))
    with pytest.raises(ValueError, match="train mask"):
        fit_score(GaussianBackend(), lp, ["a", "b", "a"], np.array([True, False]))


def test_cross_entropy_reads_the_true_class_column():
    log_probs = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    ce = CrossEntropyBackend(["fan/id_00", "fan/id_02", "fan/id_04"]).fit(
        log_probs, ["fan/id_00", "fan/id_04"]
    )
    s = ce.score(log_probs, ["fan/id_00", "fan/id_00"])
    np.testing.assert_allclose(s, [-np.log(0.7), -np.log(0.1)])


@pytest.mark.parametrize("name", ["knn", "gauss"])
def test_bad_input_is_named(name):
    b = make_backend(name)
    with pytest.raises(ValueError, match="before fit"):
        b.score(np.zeros((1, 2)), ["a"])
    with pytest.raises(ValueError, match="1 of 3 feature rows hold NaN or Inf"):
        b.fit(np.array([[0.0, 1.0], [np.nan, 1.0], [1.0, 0.0]]), ["a"] * 3)
    b.fit(np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]), ["a"] * 3)
    with pytest.raises(ValueError, match=r"IDs \['z'\] have no normal training clips"):
        b.score(np.zeros((1, 2)), ["z"])
    with pytest.raises(ValueError, match="3 dims, fit had 2"):
        b.score(np.zeros((1, 3)), ["a"])
    with pytest.raises(ValueError, match="2 feature rows but 1 IDs"):
        b.score(np.zeros((2, 2)), ["a"])
    with pytest.raises(ValueError, match="unknown back-end"):
        make_backend("svm")


def test_layers_backend_sums_the_log_distances_of_one_gaussian_per_block():
    from sklearn.covariance import LedoitWolf

    from audioanom.machines.backends import LayerGaussianBackend

    rng = np.random.default_rng(3)
    train = rng.normal(size=(40, 7)) * np.arange(1, 8)
    test = rng.normal(size=(5, 7)) * 2
    b = make_backend("layers", blocks=(3, 4)).fit(train, ["a"] * 40)
    expected = np.log(LedoitWolf().fit(train[:, :3]).mahalanobis(test[:, :3])) + np.log(
        LedoitWolf().fit(train[:, 3:]).mahalanobis(test[:, 3:])
    )
    np.testing.assert_allclose(b.score(test, ["a"] * 5), expected, rtol=1e-10)
    # one block: the gauss back-end's ranking (the log of its distance)
    one = LayerGaussianBackend((7,)).fit(train, ["a"] * 40).score(test, ["a"] * 5)
    g = GaussianBackend().fit(train, ["a"] * 40).score(test, ["a"] * 5)
    np.testing.assert_allclose(one, np.log(g), rtol=1e-10)
    with pytest.raises(ValueError, match=r"blocks \(3, 3\) sum to 6"):
        make_backend("layers", blocks=(3, 3)).fit(train, ["a"] * 40)
    with pytest.raises(ValueError, match="block lengths must be >= 1"):
        make_backend("layers", blocks=())
