"""Two-dimensional maps of feature rows (PaCMAP) and clusters on them (k-means, silhouette).

* :func:`pacmap_embedding` -- a seeded PaCMAP map. Wide inputs are first projected onto their
  leading principal components (:func:`audioanom.digits.detectors.fit_pca`, 100 by default, exactly
  what PaCMAP does internally with a slower truncated SVD), so a map of 3,000 x 4,001 spectra
  costs about as much as one of 3,000 x 100.
* :func:`kmeans_labels`, :func:`silhouette_by_k`, :func:`silhouette_per_sample` -- k-means on
  a map and the silhouette scores that help choose k.
* :func:`error_patterns` and :func:`cluster_profiles` -- the per-frequency error patterns the
  second map is drawn from, and each cluster's typical pattern with its spread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .detectors import PCAModel, fit_pca

MIN_POINTS = 8  # PaCMAP needs neighbours, mid-near and further pairs for every point


@contextlib.contextmanager
def _pacmap_context(threads: int | None) -> Iterator[None]:
    """Silence PaCMAP's advisory log messages (it warns on every call with a random state or
    apply_pca=False) and run its numba loops on ``threads`` threads (None: numba's setting)."""
    import numba

    log = logging.getLogger("pacmap.pacmap")
    level = log.level
    before = numba.get_num_threads()
    log.setLevel(logging.ERROR)
    if threads is not None:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        log.setLevel(level)
        numba.set_num_threads(before)


def _check_2d(X: np.ndarray, name: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, features), got shape {X.shape}")
    return X


def warm_up_pacmap() -> None:
    """Run PaCMAP once on a tiny input so that its numba functions are compiled (and cached)."""
    rng = np.random.default_rng(0)
    pacmap_embedding(rng.standard_normal((40, 5)).astype(np.float32), seed=0)


def pacmap_embedding(
    X: np.ndarray,
    *,
    seed: int = 0,
    n_neighbors: int = 10,
    pca_dims: int | None = 100,
    num_iters: int = 450,
    threads: int | None = 1,
    pca: PCAModel | None = None,
) -> np.ndarray:
    """A seeded 2-D PaCMAP map of the rows of ``X`` (N, D): (N, 2) float32.

    Args:
        seed: PaCMAP's ``random_state``; the same input and seed give the same map.
        n_neighbors: PaCMAP's neighbour count (reduced for very small N).
        pca_dims: rows wider than this are projected onto this many principal components first
            (None: never).
        num_iters: optimisation steps (PaCMAP's default schedule has 450).
        threads: numba threads for PaCMAP's loops. One by default: its parallel loops are tiny
            per step, and on a shared machine two threads made a 3,000-point map four times
            slower (13 s instead of 3 s); the map is the same either way.
        pca: a PCA already fitted on these rows (e.g. the detector's, fitted on all of them)
            with at least ``pca_dims`` components: its leading coordinates are used instead of
            fitting a new one.

    Raises:
        ValueError: fewer than :data:`MIN_POINTS` rows, or a non-2-D input.
    """
    import pacmap

    X = _check_2d(X)
    n = X.shape[0]
    if n < MIN_POINTS:
        raise ValueError(f"a PaCMAP map needs at least {MIN_POINTS} rows, got {n}")
    if pca_dims is not None and X.shape[1] > pca_dims:
        dims = min(pca_dims, n - 1)
        if pca is not None and pca.n_components >= dims:
            X = (X - pca.mean) @ pca.components[:dims].T  # N, dims
        else:
            X = fit_pca(X, dims, seed=seed).transform(X)  # N, dims
    X = np.ascontiguousarray(X, dtype=np.float32)
    n_neighbors = max(2, min(n_neighbors, (n - 1) // 4))
    with _pacmap_context(threads):
        reducer = pacmap.PaCMAP(
            n_components=2,
            n_neighbors=n_neighbors,
            random_state=seed,
            apply_pca=False,
            num_iters=(100, 100, max(1, num_iters - 200)),
        )
        Y = reducer.fit_transform(X, init="pca")
    return np.asarray(Y, dtype=np.float32)  # N, 2


def kmeans_labels(Y: np.ndarray, n_clusters: int, *, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """k-means cluster labels 0..k-1 of the rows of ``Y`` (N, d), seeded: (N,) int."""
    from sklearn.cluster import KMeans

    Y = _check_2d(Y, "Y")
    if not 2 <= n_clusters <= Y.shape[0]:
        raise ValueError(f"n_clusters must be between 2 and {Y.shape[0]}, got {n_clusters}")
    return KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(Y)


def silhouette_by_k(Y: np.ndarray, ks: Iterable[int], *, seed: int = 0) -> pd.DataFrame:
    """Mean silhouette of k-means on ``Y`` for each k: columns ``k``, ``silhouette`` (-1..1)."""
    from sklearn.metrics import silhouette_score

    Y = _check_2d(Y, "Y")
    rows = []
    for k in ks:
        labels = kmeans_labels(Y, int(k), seed=seed)
        rows.append({"k": int(k), "silhouette": float(silhouette_score(Y, labels))})
    if not rows:
        raise ValueError("no k given")
    return pd.DataFrame(rows)


def best_k(table: pd.DataFrame) -> int:
    """The k with the highest mean silhouette in a :func:`silhouette_by_k` table."""
    return int(table.loc[table["silhouette"].idxmax(), "k"])


def silhouette_per_sample(Y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Silhouette of each row of ``Y`` (N, d) under ``labels`` (N,): (N,) in [-1, 1]."""
    from sklearn.metrics import silhouette_samples

    Y = _check_2d(Y, "Y")
    labels = np.asarray(labels)
    if labels.shape != (Y.shape[0],):
        raise ValueError(f"labels must have shape ({Y.shape[0]},), got {labels.shape}")
    return silhouette_samples(Y, labels)


def error_patterns(
    bin_errors: np.ndarray, *, normalize: bool = True, log: bool = False, floor: float = 1e-8
) -> np.ndarray:
    """The rows to map and cluster, from per-bin errors (N, D): (N, D) float32.

    Args:
        normalize: divide each row by its sum, so a pattern says *where* in frequency a clip's
            error lies, not how large it is (the "share" pattern).
        log: take log10 of the (shares or raw) errors, floored at ``floor``: small errors in
            quiet bins then count as much as large ones in loud bins (the "log" pattern).
    """
    E = _check_2d(bin_errors, "bin_errors").astype(np.float32)
    if normalize:
        total = E.sum(axis=1, keepdims=True)
        if np.any(total <= 0):
            raise ValueError("a row of bin errors sums to zero: nothing to normalise")
        E = E / total
    if log:
        if floor <= 0:
            raise ValueError(f"floor must be > 0, got {floor}")
        E = np.log10(np.maximum(E, floor)).astype(np.float32)
    return E


@dataclass(frozen=True)
class ClusterProfiles:
    """Each cluster's mean pattern and spread over the features (frequency bins).

    Attributes:
        clusters: the cluster labels, (K,); ``counts``: rows per cluster, (K,).
        mean, median, lower, upper: per cluster and feature, (K, D); ``lower``/``upper`` are the
            quantiles given to :func:`cluster_profiles` (by default the interquartile band).
    """

    clusters: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def cluster_profiles(
    values: np.ndarray, labels: np.ndarray, *, band: tuple[float, float] = (0.25, 0.75)
) -> ClusterProfiles:
    """Mean, median and a quantile band of ``values`` (N, D) within each cluster of ``labels``."""
    values = _check_2d(values, "values")
    labels = np.asarray(labels)
    if labels.shape != (values.shape[0],):
        raise ValueError(f"labels must have shape ({values.shape[0]},), got {labels.shape}")
    if not 0.0 <= band[0] < band[1] <= 1.0:
        raise ValueError(f"band must be two quantiles 0 <= lo < hi <= 1, got {band}")
    clusters = np.unique(labels)
    stats = {"mean": [], "median": [], "lower": [], "upper": []}
    counts = []
    for c in clusters:
        part = values[labels == c]  # n_c, D
        counts.append(part.shape[0])
        stats["mean"].append(part.mean(axis=0))
        lo, med, hi = np.quantile(part, [band[0], 0.5, band[1]], axis=0)
        stats["median"].append(med)
        stats["lower"].append(lo)
        stats["upper"].append(hi)
    return ClusterProfiles(
        clusters=clusters,
        counts=np.asarray(counts),
        **{k: np.stack(v) for k, v in stats.items()},
    )


__all__ = [
    "ClusterProfiles",
    "best_k",
    "cluster_profiles",
    "error_patterns",
    "kmeans_labels",
    "pacmap_embedding",
    "silhouette_by_k",
    "silhouette_per_sample",
    "warm_up_pacmap",
]
