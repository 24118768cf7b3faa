"""Measured quality: AUC overall / per group / per anomaly kind, and cluster-recovery scores.

The digit evaluation (:func:`digit_benchmark`) follows FSDD's official split and is never tuned
on test labels: the detectors are fitted on the training takes (5-49) of the normal digit and
score the test takes (0-4) of every digit; the normal digit is "normal", every other digit an
anomaly. Its settings (feature variants, number of components) are fixed before any test label
is looked at.

Groups where one class is missing (a speaker without anomalies, say) get AUC NaN and their
counts, rather than an error, so a table over many groups still shows them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..datasets.table import filter_clips
from ..metrics import binary_labels, roc_auc
from .detectors import fit_pca, score_with_both
from .features import AUDIOMNIST_FFT, FeatureConfig, FFTConfig, MelConfig, extract_features


def auc_table(
    scores: Mapping[str, np.ndarray],
    is_anomaly: Sequence[bool] | np.ndarray,
    groups: Sequence[str] | np.ndarray | None = None,
    *,
    overall: str = "all",
) -> pd.DataFrame:
    """AUC of each named score overall and per group, in long form.

    Returns columns ``detector, group, n_normal, n_anomaly, auc``; the overall row of each
    detector has group ``overall`` and comes first, then the groups in sorted order.
    """
    y = binary_labels(is_anomaly).astype(bool)
    groups_arr = None if groups is None else np.asarray(groups, dtype=object).astype(str)
    if groups_arr is not None and groups_arr.shape != y.shape:
        raise ValueError(f"groups {groups_arr.shape} and is_anomaly {y.shape} differ in length")
    rows = []
    for name, s in scores.items():
        s = np.asarray(s)
        parts = [(overall, np.ones_like(y))]
        if groups_arr is not None:
            parts += [(g, groups_arr == g) for g in sorted(set(groups_arr))]
        for g, mask in parts:
            rows.append(
                {
                    "detector": name,
                    "group": g,
                    "n_normal": int((~y[mask]).sum()),
                    "n_anomaly": int(y[mask].sum()),
                    "auc": roc_auc(y[mask], s[mask], one_class="nan"),
                }
            )
    return pd.DataFrame(rows)


def auc_by_kind(
    scores: np.ndarray | Mapping[str, np.ndarray],
    kinds: Sequence[str] | np.ndarray,
    *,
    normal: str = "none",
) -> pd.DataFrame:
    """AUC of the normal rows against each anomaly kind alone (and all kinds together).

    ``kinds`` names each row's kind; rows of kind ``normal`` are the normal class. ``scores`` is
    one array or a mapping of named arrays. Returns columns ``kind, n, auc`` (``n``: rows of that
    kind) with a final row ``all``, and a leading ``detector`` column for a mapping.
    """
    if isinstance(scores, Mapping):
        parts = [auc_by_kind(s, kinds, normal=normal) for s in scores.values()]
        for name, part in zip(scores, parts, strict=True):
            part.insert(0, "detector", name)
        return pd.concat(parts, ignore_index=True)
    scores = np.asarray(scores)
    kinds = np.asarray(kinds, dtype=object).astype(str)
    if kinds.shape != scores.shape:
        raise ValueError(f"kinds {kinds.shape} and scores {scores.shape} differ in shape")
    is_normal = kinds == normal
    if not is_normal.any():
        raise ValueError(f"no row of the normal kind {normal!r}")
    rows = []
    for kind in sorted(set(kinds) - {normal}):
        mask = is_normal | (kinds == kind)
        auc = roc_auc(~is_normal[mask], scores[mask], one_class="nan")
        rows.append({"kind": kind, "n": int((kinds == kind).sum()), "auc": auc})
    rows.append(
        {
            "kind": "all",
            "n": int((~is_normal).sum()),
            "auc": roc_auc(~is_normal, scores, one_class="nan"),
        }
    )
    return pd.DataFrame(rows)


def purity(true_labels: Sequence, cluster_labels: Sequence) -> float:
    """Cluster purity: the fraction of rows whose cluster's most common true label is theirs."""
    t = np.asarray(true_labels, dtype=object)
    c = np.asarray(cluster_labels, dtype=object)
    if t.shape != c.shape or t.ndim != 1 or t.size == 0:
        raise ValueError(f"need two equal non-empty 1-D label arrays, got {t.shape}, {c.shape}")
    table = pd.crosstab(pd.Series(c, name="cluster"), pd.Series(t, name="true"))
    return float(table.max(axis=1).sum() / t.size)


def cluster_recovery(true_labels: Sequence, cluster_labels: Sequence) -> dict[str, float]:
    """How well clusters recover known labels: adjusted Rand index (sklearn; 1 = identical
    partitions, about 0 = chance), purity, and the numbers of clusters and labels."""
    from sklearn.metrics import adjusted_rand_score

    t = np.asarray(true_labels, dtype=object).astype(str)
    c = np.asarray(cluster_labels, dtype=object).astype(str)
    return {
        "ari": float(adjusted_rand_score(t, c)),
        "purity": purity(t, c),
        "n_clusters": int(len(set(c))),
        "n_labels": int(len(set(t))),
    }


def cluster_recovery_table(
    kinds: Sequence[str], cluster_labels: Sequence, *, normal: str = "none"
) -> pd.DataFrame:
    """:func:`cluster_recovery` over all rows and over the anomalous rows only (kind !=
    ``normal``): with many normal rows the first is dominated by how the normal ones split."""
    k = np.asarray(kinds, dtype=object).astype(str)
    c = np.asarray(cluster_labels)
    if k.shape != c.shape:
        raise ValueError(f"kinds {k.shape} and cluster labels {c.shape} differ in shape")
    rows = {"all clips": cluster_recovery(k, c)}
    anomalous = k != normal
    if anomalous.any():
        rows["anomalies only"] = cluster_recovery(k[anomalous], c[anomalous])
    return pd.DataFrame.from_dict(rows, orient="index")


def contingency(true_labels: Sequence, cluster_labels: Sequence) -> pd.DataFrame:
    """Counts of rows per (cluster, true label): clusters as rows, labels as columns."""
    return pd.crosstab(
        pd.Series(np.asarray(cluster_labels), name="cluster"),
        pd.Series(np.asarray(true_labels), name="label"),
    )


# --------------------------------------------------------------------------- the digit benchmark

#: The feature variants of :func:`digit_benchmark`, fixed in advance: the plain AudioMNIST
#: recipe, its log-magnitude version, and two log-mel summaries.
DIGIT_VARIANTS: dict[str, FeatureConfig] = {
    "fft (AudioMNIST)": AUDIOMNIST_FFT,
    "fft log-magnitude": FFTConfig(log=True),
    "log-mel stats": MelConfig(summary="stats"),
    "log-mel time-aligned": MelConfig(summary="aligned"),
}


def one_class_split(
    clips: pd.DataFrame, *, normal_digit: int = 6
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FSDD's official protocol on a digit clip table: (train, test).

    train: split ``train`` (takes 5-49) of ``normal_digit``; test: split ``test`` (takes 0-4) of
    every digit, with a boolean column ``is_anomaly`` (digit != normal_digit).
    """
    for column in ("digit", "split"):
        if column not in clips.columns:
            raise KeyError(f"the clip table has no {column!r} column (not a digit data set?)")
    train = filter_clips(clips, split="train", digit=normal_digit)
    test = filter_clips(clips, split="test")
    if train.empty or test.empty:
        raise ValueError(
            f"empty split: {len(train)} training clips of digit {normal_digit}, "
            f"{len(test)} test clips"
        )
    test = test.assign(is_anomaly=test["digit"] != normal_digit)
    return train, test


def labelled_split(clips: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same protocol for a set with ground-truth labels (the synthetic digits): (train,
    test). train: split ``train`` rows labelled ``normal``; test: every split ``test`` row, with
    ``is_anomaly`` (label == anomaly)."""
    for column in ("label", "split"):
        if column not in clips.columns:
            raise KeyError(f"the clip table has no {column!r} column")
    train = filter_clips(clips, split="train", label="normal")
    test = filter_clips(clips, split="test")
    if train.empty or test.empty:
        raise ValueError(f"empty split: {len(train)} normal training clips, {len(test)} test clips")
    return train, test.assign(is_anomaly=test["label"] == "anomaly")


def _variant_scores(
    train: pd.DataFrame,
    test: pd.DataFrame,
    variants: Mapping[str, FeatureConfig],
    *,
    n_components: Sequence[int | float],
    n_estimators: int,
    seed: int,
    n_jobs: int,
) -> Iterator[tuple[str, str, str, np.ndarray]]:
    """``(features, detector, n_components, test scores)`` for each variant and detector; the
    forest (independent of n_components) once per variant."""
    for name, config in variants.items():
        X_train = extract_features(train, config, n_jobs=n_jobs)
        X_test = extract_features(test, config, n_jobs=n_jobs)
        for i, k in enumerate(n_components):
            k_eff = min(k, X_train.shape[0] - 1, X_train.shape[1]) if isinstance(k, int) else k
            res = score_with_both(
                X_train, X_test, n_components=k_eff, n_estimators=n_estimators, seed=seed
            )
            if i == 0:
                yield name, "Isolation Forest", "", res.isolation_forest
            yield name, f"PCA ({res.pca.n_components} comp.)", str(k), res.pca_error


def digit_benchmark(
    clips: pd.DataFrame,
    variants: Mapping[str, FeatureConfig] | None = None,
    *,
    normal_digit: int = 6,
    n_components: Sequence[int | float] = (20,),
    n_estimators: int = 100,
    seed: int = 0,
    n_jobs: int = 2,
    group_column: str = "speaker",
) -> pd.DataFrame:
    """AUC of Isolation Forest and PCA error for each feature variant, overall and per speaker.

    Follows :func:`one_class_split`. Returns the long table of :func:`auc_table` with extra
    columns ``features`` and ``n_components`` (the PCA's; blank for the forest). The forest
    does not depend on ``n_components`` and is listed once per variant.
    """
    variants = dict(DIGIT_VARIANTS if variants is None else variants)
    train, test = one_class_split(clips, normal_digit=normal_digit)
    tables = []
    opts = {"n_components": n_components, "n_estimators": n_estimators, "seed": seed}
    for name, detector, k, scores in _variant_scores(train, test, variants, **opts, n_jobs=n_jobs):
        table = auc_table({detector: scores}, test["is_anomaly"], test[group_column])
        table.insert(0, "features", name)
        table["n_components"] = k
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def kind_benchmark(
    clips: pd.DataFrame,
    variants: Mapping[str, FeatureConfig] | None = None,
    *,
    n_components: Sequence[int | float] = (20,),
    n_estimators: int = 100,
    seed: int = 0,
    n_jobs: int = 2,
    kind_column: str = "anomaly_kind",
    normal_kind: str = "none",
) -> pd.DataFrame:
    """AUC per anomaly kind of each feature variant and detector on a labelled set.

    Follows :func:`labelled_split` (fit on normal training takes, score the test takes).
    Returns columns ``features, detector, n_components, kind, n, auc`` (kind ``all`` last per
    detector); a kind absent from the test takes is simply not listed.
    """
    variants = dict(DIGIT_VARIANTS if variants is None else variants)
    train, test = labelled_split(clips)
    tables = []
    opts = {"n_components": n_components, "n_estimators": n_estimators, "seed": seed}
    for name, detector, k, scores in _variant_scores(train, test, variants, **opts, n_jobs=n_jobs):
        table = auc_by_kind(scores, test[kind_column], normal=normal_kind)
        table.insert(0, "n_components", k)
        table.insert(0, "detector", detector)
        table.insert(0, "features", name)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def wide_auc(table: pd.DataFrame, overall: str = "all", column: str = "group") -> pd.DataFrame:
    """A long AUC table (``features, detector, <column>, auc``) as one row per
    features/detector and one column per group (or kind: ``column="kind"``), overall first."""
    index = [c for c in ("features", "detector") if c in table.columns]
    wide = table.pivot_table(index=index, columns=column, values="auc", sort=False, dropna=False)
    columns = [overall] + sorted(c for c in wide.columns if c != overall)
    wide = wide[[c for c in columns if c in wide.columns]]
    wide.columns.name = None
    return wide


# --------------------------------------------------------------------------- anomaly-kind clusters

#: The error-pattern forms of :func:`kind_cluster_benchmark`: keyword arguments of
#: :func:`audioanom.digits.embedding.error_patterns`.
PATTERN_FORMS: dict[str, dict[str, bool]] = {
    "share": {"normalize": True, "log": False},
    "log error": {"normalize": False, "log": True},
}


def kind_cluster_benchmark(
    clips: pd.DataFrame,
    variants: Mapping[str, FeatureConfig] | None = None,
    *,
    n_components: int = 20,
    n_clusters: int | None = None,
    forms: Mapping[str, Mapping[str, bool]] | None = None,
    seed: int = 0,
    n_jobs: int = 2,
    kind_column: str = "anomaly_kind",
    normal_kind: str = "none",
) -> pd.DataFrame:
    """Do PCA error patterns carry the anomaly *kind*? For each feature variant and pattern
    form: PCA (``n_components``) fitted on the normal training takes (:func:`labelled_split`),
    the error patterns of every anomalous clip, k-means with ``k = n_clusters`` (default: the
    number of kinds) directly on the patterns and on their PaCMAP map, scored against the
    known kinds by adjusted Rand index and purity.

    The grid is fixed in advance and reported whole (nothing is picked by its ARI). Columns:
    ``features, pattern, clustering, ari, purity, n_clusters, n_labels``.
    """
    from .embedding import error_patterns, kmeans_labels, pacmap_embedding

    variants = dict(DIGIT_VARIANTS if variants is None else variants)
    forms = dict(PATTERN_FORMS if forms is None else forms)
    if kind_column not in clips:
        raise ValueError(f"the clip table has no {kind_column!r} column: no known kinds")
    train, _ = labelled_split(clips)
    anomalous = (clips[kind_column].astype(str) != normal_kind).to_numpy()
    kinds = clips[kind_column].astype(str).to_numpy()[anomalous]
    if anomalous.sum() < 8:
        raise ValueError(f"need at least 8 anomalous clips, got {int(anomalous.sum())}")
    k = n_clusters if n_clusters is not None else len(set(kinds))
    rows = []
    for name, config in variants.items():
        pca = fit_pca(extract_features(train, config, n_jobs=n_jobs), n_components, seed=seed)
        bins = pca.bin_errors(extract_features(clips[anomalous], config, n_jobs=n_jobs))
        for form, kwargs in forms.items():
            P = error_patterns(bins, **kwargs)  # A, D
            labels = {
                "k-means": kmeans_labels(P, k, seed=seed),
                "PaCMAP + k-means": kmeans_labels(pacmap_embedding(P, seed=seed), k, seed=seed),
            }
            for how, lab in labels.items():
                rows.append(
                    {"features": name, "pattern": form, "clustering": how}
                    | cluster_recovery(kinds, lab)
                )
    return pd.DataFrame(rows)


__all__ = [
    "DIGIT_VARIANTS",
    "PATTERN_FORMS",
    "auc_by_kind",
    "auc_table",
    "cluster_recovery",
    "cluster_recovery_table",
    "contingency",
    "digit_benchmark",
    "kind_benchmark",
    "kind_cluster_benchmark",
    "labelled_split",
    "one_class_split",
    "purity",
    "wide_auc",
]
