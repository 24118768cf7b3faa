"""Scoring back-ends: clip features of normal training clips in, anomaly scores out.

A trained ID network is a *front-end* (:func:`audioanom.machines.scoring.clip_embeddings`):
for every clip it gives an embedding ``(D,)`` (the mean over the clip's windows of the network's
penultimate layer) and the mean log-softmax of its ID logits ``(K,)``. A *back-end* is fitted
on the NORMAL TRAINING clips of every machine ID and then scores clips of the same IDs; scores
are "higher = more anomalous" everywhere. The log-mel-statistics baseline
(:mod:`audioanom.machines.baselines`) is the Gaussian back-end on hand-made features.

==========  ==================================================================================
name        score of a clip of ID ``i``
==========  ==================================================================================
``ce``      the paper's score: cross-entropy of the true ID, ``-mean_w log p_w(i)`` (input:
            the mean log-softmax over windows, so the mean of the windows' cross-entropies)
``knn``     cosine distance to the ``k``-th nearest normal training embedding of ID ``i``
            (:class:`sklearn.neighbors.NearestNeighbors`, ``metric="cosine"``; ``k = 1`` by
            default, as the DCASE 2023-2024 baselines of Wilkinghoff and ASDKit)
``gauss``   squared Mahalanobis distance to a Gaussian fitted on ID ``i``'s normal training
            embeddings, with the Ledoit-Wolf shrunk covariance
            (:class:`sklearn.covariance.LedoitWolf`: well conditioned with fewer clips than
            dimensions)
``layers``  ``gauss`` on each block of the clip features -- the embedding, then the band
            statistics of the first trunk layers
            (:mod:`audioanom.machines.nn.layer_stats`) -- and the sum over the blocks of the
            log distances: the product of the blocks' distances, so no block's scale weighs
            more than another's (Rippel et al. 2020 sum the layers of a network likewise)
==========  ==================================================================================

``ce`` compares an ID with the other IDs the network knows ("more like this machine than like
the other ones"); ``knn`` and ``gauss`` compare a clip with the normal clips of its own ID
("like the normal sounds of this machine"), which is what an anomaly detector is asked.

Every back-end raises ValueError for an ID it was not fitted on, for features with NaN or Inf
(naming how many rows), and for a wrong shape.

Scores of the training clips themselves (:func:`fit_score`): a back-end scoring the clips it
was fitted on gives in-sample values (the 1-NN cosine distance of a training clip is 0, its
Mahalanobis distance is shrunk by its own weight in the covariance), far below any new clip's,
so a threshold taken from them flags almost every normal test clip. :func:`fit_score` scores
each training clip with a back-end fitted on the OTHER folds of its ID (``folds``-fold
cross-fitting, folds drawn by a seeded permutation), and every other clip with the back-end
fitted on all training clips. Test scores, and so every AUC, are those of the full fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.neighbors import NearestNeighbors

__all__ = [
    "BACKENDS",
    "Backend",
    "CrossEntropyBackend",
    "GaussianBackend",
    "KnnBackend",
    "LayerGaussianBackend",
    "fit_score",
    "make_backend",
]


def _check(features: np.ndarray, ids: Iterable[object], what: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    ids = np.asarray([str(i) for i in ids])
    if x.ndim != 2:
        raise ValueError(f"{what}: features must be (N, D), got shape {x.shape}")
    if x.shape[0] != ids.size:
        raise ValueError(f"{what}: {x.shape[0]} feature rows but {ids.size} IDs")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} of {x.shape[0]} feature rows hold NaN or Inf")
    return x, ids


class Backend:
    """Base of the back-ends: ``fit(features, ids)`` on normal training clips, then
    ``score(features, ids)``. ``input`` names the front-end output a back-end reads:
    ``"embedding"`` or ``"log_probs"``."""

    name = ""
    input = "embedding"

    def __init__(self) -> None:
        self._dims: int | None = None
        self._ids: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """The IDs the back-end was fitted on."""
        return self._ids

    def fit(self, features: np.ndarray, ids: Sequence[object]) -> Backend:
        """Fit per ID on normal training features ``(N, D)``; returns self."""
        x, ids = _check(features, ids, f"{self.name}.fit")
        if x.shape[0] == 0:
            raise ValueError(f"{self.name}.fit: no training clips")
        self._dims = x.shape[1]
        self._ids = tuple(str(i) for i in np.unique(ids))
        for i in self._ids:
            self._fit_id(x[ids == i], i)
        return self

    def score(self, features: np.ndarray, ids: Sequence[object]) -> np.ndarray:
        """Anomaly scores ``(N,)`` (higher = more anomalous) of features ``(N, D)``."""
        if self._dims is None:
            raise ValueError(f"{self.name}: score called before fit")
        x, ids = _check(features, ids, f"{self.name}.score")
        if x.shape[1] != self._dims:
            raise ValueError(
                f"{self.name}.score: features have {x.shape[1]} dims, fit had {self._dims}"
            )
        unknown = sorted(set(ids.tolist()) - set(self._ids))
        if unknown:
            raise ValueError(
                f"{self.name}: IDs {unknown} have no normal training clips "
                f"(fitted: {list(self._ids)})"
            )
        out = np.empty(x.shape[0])
        for i in np.unique(ids):
            rows = ids == i
            out[rows] = self._score_id(x[rows], str(i))
        return out

    def fresh(self) -> Backend:
        """An unfitted back-end of the same kind and settings."""
        raise NotImplementedError

    def _fit_id(self, x: np.ndarray, machine_id: str) -> None:
        raise NotImplementedError

    def _score_id(self, x: np.ndarray, machine_id: str) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ids={list(self._ids)})"


class CrossEntropyBackend(Backend):
    """Cross-entropy of the true ID from mean log-softmax rows ``(N, K)``: column ``k`` is
    class ``classes[k]`` (the network's ID list). Fitting only checks the shape; the IDs it
    scores are the network's classes."""

    name, input = "ce", "log_probs"

    def __init__(self, classes: Sequence[str]) -> None:
        super().__init__()
        self.classes = tuple(str(c) for c in classes)
        if len(self.classes) < 2:
            raise ValueError(f"ce: needs the network's classes (2 or more), got {self.classes}")

    def fresh(self) -> CrossEntropyBackend:
        return CrossEntropyBackend(self.classes)

    def fit(self, features: np.ndarray, ids: Sequence[object]) -> Backend:
        super().fit(features, ids)
        if self._dims != len(self.classes):
            raise ValueError(f"ce: {self._dims} log-prob columns for {len(self.classes)} classes")
        self._ids = self.classes
        return self

    def _fit_id(self, x: np.ndarray, machine_id: str) -> None:
        if machine_id not in self.classes:
            raise ValueError(f"ce: ID {machine_id} is not one of the classes {list(self.classes)}")

    def _score_id(self, x: np.ndarray, machine_id: str) -> np.ndarray:
        return -x[:, self.classes.index(machine_id)]


class KnnBackend(Backend):
    """Cosine distance to the ``k``-th nearest normal training embedding of the same ID."""

    name = "knn"

    def __init__(self, k: int = 1) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"knn: k must be >= 1, got {k}")
        self.k = k
        self._nn: dict[str, NearestNeighbors] = {}

    def fresh(self) -> KnnBackend:
        return KnnBackend(k=self.k)

    def _fit_id(self, x: np.ndarray, machine_id: str) -> None:
        if x.shape[0] < self.k:
            raise ValueError(
                f"knn: ID {machine_id} has {x.shape[0]} training clips, fewer than k={self.k}"
            )
        self._nn[machine_id] = NearestNeighbors(n_neighbors=self.k, metric="cosine").fit(x)

    def _score_id(self, x: np.ndarray, machine_id: str) -> np.ndarray:
        dist, _ = self._nn[machine_id].kneighbors(x)  # N, k
        return dist[:, -1]


def _ledoit_wolf(x: np.ndarray, name: str, machine_id: str) -> LedoitWolf:
    """A Ledoit-Wolf Gaussian fitted on one ID's training rows; ValueError under 2 rows."""
    if x.shape[0] < 2:
        raise ValueError(f"{name}: ID {machine_id} has {x.shape[0]} training clip; need 2 or more")
    return LedoitWolf().fit(x)


class GaussianBackend(Backend):
    """Squared Mahalanobis distance under a per-ID Gaussian with Ledoit-Wolf covariance."""

    name = "gauss"

    def __init__(self) -> None:
        super().__init__()
        self._models: dict[str, LedoitWolf] = {}

    def fresh(self) -> GaussianBackend:
        return GaussianBackend()

    def _fit_id(self, x: np.ndarray, machine_id: str) -> None:
        self._models[machine_id] = _ledoit_wolf(x, self.name, machine_id)

    def _score_id(self, x: np.ndarray, machine_id: str) -> np.ndarray:
        return self._models[machine_id].mahalanobis(x)


class LayerGaussianBackend(Backend):
    """Per-ID Gaussians (Ledoit-Wolf) on each block of the features, ``blocks`` giving their
    lengths in order; the score is the sum over the blocks of the log squared Mahalanobis
    distance."""

    name, input = "layers", "layers"

    def __init__(self, blocks: Sequence[int]) -> None:
        super().__init__()
        self.blocks = tuple(int(b) for b in blocks)
        if not self.blocks or min(self.blocks) < 1:
            raise ValueError(f"layers: block lengths must be >= 1, got {self.blocks}")
        edges = np.cumsum((0, *self.blocks))
        self._slices = [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        self._models: dict[str, list[LedoitWolf]] = {}

    def fresh(self) -> LayerGaussianBackend:
        return LayerGaussianBackend(self.blocks)

    def fit(self, features: np.ndarray, ids: Sequence[object]) -> Backend:
        x = np.asarray(features)
        if x.ndim == 2 and x.shape[1] != sum(self.blocks):
            raise ValueError(
                f"layers: features have {x.shape[1]} dims, the blocks {self.blocks} sum to "
                f"{sum(self.blocks)}"
            )
        return super().fit(features, ids)

    def _fit_id(self, x: np.ndarray, machine_id: str) -> None:
        self._models[machine_id] = [
            _ledoit_wolf(x[:, sl], self.name, machine_id) for sl in self._slices
        ]

    def _score_id(self, x: np.ndarray, machine_id: str) -> np.ndarray:
        parts = [
            m.mahalanobis(x[:, sl])
            for m, sl in zip(self._models[machine_id], self._slices, strict=True)
        ]
        return np.sum([np.log(np.maximum(p, 1e-12)) for p in parts], axis=0)


#: Back-end names and what they are (see the module docstring).
BACKENDS: dict[str, str] = {
    "ce": "cross-entropy of the true ID (the paper's score)",
    "knn": "k-NN cosine distance to the ID's normal training embeddings",
    "gauss": "per-ID Gaussian (Ledoit-Wolf) Mahalanobis distance on embeddings",
    "layers": "per-ID Gaussians on the embedding and on trunk-layer band statistics, "
    "log distances summed",
}


def make_backend(
    name: str, *, classes: Sequence[str] = (), k: int = 1, blocks: Sequence[int] = ()
) -> Backend:
    """A fresh back-end by name (:data:`BACKENDS`); ``classes`` for ``ce``, ``k`` for ``knn``,
    ``blocks`` (the feature blocks' lengths) for ``layers``."""
    if name == "ce":
        return CrossEntropyBackend(classes)
    if name == "knn":
        return KnnBackend(k=k)
    if name == "gauss":
        return GaussianBackend()
    if name == "layers":
        return LayerGaussianBackend(blocks)
    raise ValueError(f"unknown back-end {name!r}; known: {sorted(BACKENDS)}")


def fit_score(
    backend: Backend,
    features: np.ndarray,
    ids: Sequence[object],
    train: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Fit ``backend`` on the rows ``train`` (boolean ``(N,)``: normal training clips) and
    score all ``N`` rows; training rows get cross-fitted scores (module docstring): each is
    scored by a fresh back-end of the same kind fitted on the other ``folds - 1`` folds of its
    ID (``min(folds, n)`` folds for an ID with ``n`` training clips; an ID with fewer than 3
    keeps its in-sample scores, since a fold would leave too few to fit). Returns ``(N,)``."""
    x, ids = _check(features, ids, f"{backend.name}.fit_score")
    train = np.asarray(train, dtype=bool)
    if train.shape != (x.shape[0],):
        raise ValueError(f"fit_score: train mask of shape {train.shape} for {x.shape[0]} rows")
    if folds < 2:
        raise ValueError(f"fit_score: folds must be >= 2, got {folds}")
    backend.fit(x[train], ids[train])
    out = backend.score(x, ids)
    if isinstance(backend, CrossEntropyBackend):
        return out  # its fit learns nothing from the clips: in-sample is out-of-sample
    rng = np.random.default_rng(seed)
    for i in np.unique(ids[train]):
        rows = np.flatnonzero(train & (ids == i))
        if rows.size < 3:
            continue
        fold = np.empty(rows.size, dtype=np.int64)
        fold[rng.permutation(rows.size)] = np.arange(rows.size) % min(folds, rows.size)
        for f in np.unique(fold):
            held, kept = rows[fold == f], rows[fold != f]
            part = backend.fresh()
            part._fit_id(x[kept], str(i))
            out[held] = part._score_id(x[held], str(i))
    return out
