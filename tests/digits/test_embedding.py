"""PaCMAP maps, k-means, silhouettes, error patterns and cluster profiles."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from audioanom.digits.embedding import (
    best_k,
    cluster_profiles,
    error_patterns,
    kmeans_labels,
    pacmap_embedding,
    silhouette_by_k,
    silhouette_per_sample,
)


def _blobs(n_per=30, d=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = 12 * np.eye(3, d)  # three blobs at equal distances
    X = np.vstack([c + rng.standard_normal((n_per, d)) for c in centres])
    return X.astype(np.float32), np.repeat(np.arange(3), n_per)


def test_pacmap_shapes_determinism_and_structure():
    X, truth = _blobs()
    Y = pacmap_embedding(X, seed=3)
    assert Y.shape == (90, 2) and Y.dtype == np.float32
    np.testing.assert_array_equal(pacmap_embedding(X, seed=3), Y)
    assert adjusted_rand_score(truth, kmeans_labels(Y, 3, seed=0)) == 1.0
    wide = np.hstack([X, np.zeros((90, 150), np.float32)])  # > pca_dims: projected first
    assert pacmap_embedding(wide, seed=0, pca_dims=10).shape == (90, 2)
    with pytest.raises(ValueError, match="at least"):
        pacmap_embedding(X[:5])
    with pytest.raises(ValueError, match="2-D"):
        pacmap_embedding(X[0])


def test_kmeans_and_silhouettes_pick_the_true_number_of_blobs():
    X, truth = _blobs(d=2, seed=1)
    labels = kmeans_labels(X, 3, seed=0)
    assert labels.shape == (90,) and set(labels) == {0, 1, 2}
    assert adjusted_rand_score(truth, labels) == 1.0
    table = silhouette_by_k(X, range(2, 6), seed=0)
    assert list(table["k"]) == [2, 3, 4, 5]
    assert table["silhouette"].between(-1, 1).all()
    assert best_k(table) == 3
    s = silhouette_per_sample(X, labels)
    assert s.shape == (90,) and s.min() >= -1 and s.max() <= 1 and s.mean() > 0.7
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_labels(X, 1)
    with pytest.raises(ValueError, match="labels must have shape"):
        silhouette_per_sample(X, labels[:10])


def test_error_patterns_are_shares_of_each_rows_error():
    E = np.array([[1.0, 3.0], [2.0, 2.0]])
    np.testing.assert_allclose(error_patterns(E), [[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_array_equal(error_patterns(E, normalize=False), E)
    np.testing.assert_allclose(error_patterns(E, log=True), np.log10([[0.25, 0.75], [0.5, 0.5]]))
    floored = error_patterns(np.array([[0.0, 100.0]]), normalize=False, log=True, floor=1e-6)
    np.testing.assert_allclose(floored, [[-6.0, 2.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="sums to zero"):
        error_patterns(np.array([[0.0, 0.0], [1.0, 1.0]]))


def test_cluster_profiles_on_known_values():
    values = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0], [100.0, 0.0], [200.0, 0.0]])
    labels = np.array([1, 1, 1, 7, 7])
    p = cluster_profiles(values, labels)
    np.testing.assert_array_equal(p.clusters, [1, 7])
    np.testing.assert_array_equal(p.counts, [3, 2])
    np.testing.assert_allclose(p.mean, [[2.0, 10.0], [150.0, 0.0]])
    np.testing.assert_allclose(p.median, [[2.0, 10.0], [150.0, 0.0]])
    np.testing.assert_allclose(p.lower, [[1.0, 10.0], [125.0, 0.0]])
    np.testing.assert_allclose(p.upper, [[3.0, 10.0], [175.0, 0.0]])
    with pytest.raises(ValueError, match="labels must have shape"):
        cluster_profiles(values, labels[:3])
    with pytest.raises(ValueError, match="band"):
        cluster_profiles(values, labels, band=(0.8, 0.2))
