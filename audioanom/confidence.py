"""How sure is a mean AUC? Stratified, paired bootstrap over the test clips of every ID.

A mean AUC over 16 IDs of 15 normal and 15 anomalous test clips each moves by a point or two
when other clips of the same machines are drawn. Before saying that one method "beats" another
by 0.7 points, the tables say how much of that the test set alone can explain:

* **Resampling**: in every replicate, each (machine type, ID) draws its normal test clips with
  replacement (as many as it has) and, independently, its anomalous ones. The class counts stay
  those of the test set, so every replicate AUC is defined, and the mean over replicates of an
  ID's AUC is its observed AUC (the two classes are drawn independently: ``E[w_i v_j] = 1``).
  IDs are not resampled: the 16 machines are the fixed population asked about.
* **Paired**: every method is scored on the same drawn clips in a replicate (the clips are
  matched by ``path``), so a difference between two methods keeps the correlation between
  them; a method on other clips is refused.
* **AUC only**: a replicate's AUC is the weighted Mann-Whitney statistic (ties count one half,
  the same as :func:`sklearn.metrics.roc_auc_score`), computed for all replicates at once from
  the (anomaly x normal) comparison matrix. The McClish pAUC has no such form; it is not
  bootstrapped here.
* **Intervals**: percentile intervals of the replicates (``level`` 0.95: the 2.5th and 97.5th
  percentiles). ``share_higher`` of a difference is the share of replicates in which ``a`` beats
  ``b``: near 1 (or 0) a clear difference, near 0.5 none the test set can show. It is not a
  p-value for a new test set (the networks' training randomness is not in it: seeds are another
  spread, measured by training again).

Input is a score table (one row per clip and method; columns ``method``, ``machine_type``,
``id``, ``label``, ``split``, ``path``, ``score``), as :mod:`audioanom.machines.tables` makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .metrics import binary_labels

__all__ = ["BootstrapAUC", "bootstrap_auc", "comparison_matrix", "weighted_auc"]

ALL_IDS = "all IDs"


def comparison_matrix(anomaly_scores: np.ndarray, normal_scores: np.ndarray) -> np.ndarray:
    """``H[i, j]`` = 1 if anomaly ``i`` scores above normal ``j``, 0.5 on a tie, else 0
    (shape ``(n_anomaly, n_normal)``): the Mann-Whitney kernel whose mean is the AUC."""
    a = np.asarray(anomaly_scores, dtype=np.float64)
    n = np.asarray(normal_scores, dtype=np.float64)
    if a.ndim != 1 or n.ndim != 1 or not a.size or not n.size:
        raise ValueError(f"need two non-empty 1-D score arrays, got shapes {a.shape}, {n.shape}")
    diff = a[:, None] - n[None, :]  # n_anomaly, n_normal
    return (diff > 0) + 0.5 * (diff == 0)


def weighted_auc(
    kernel: np.ndarray, anomaly_weights: np.ndarray, normal_weights: np.ndarray
) -> np.ndarray:
    """AUC of clips counted ``anomaly_weights[b, i]`` / ``normal_weights[b, j]`` times, for every
    row ``b`` at once: ``sum_ij wa_bi H_ij wn_bj / (sum_i wa_bi * sum_j wn_bj)``.

    ``kernel`` is :func:`comparison_matrix` ``(n_anomaly, n_normal)``; weights are ``(B,
    n_anomaly)`` and ``(B, n_normal)`` (1-D: one replicate). Returns shape ``(B,)``."""
    h = np.asarray(kernel, dtype=np.float64)
    wa = np.atleast_2d(np.asarray(anomaly_weights, dtype=np.float64))
    wn = np.atleast_2d(np.asarray(normal_weights, dtype=np.float64))
    if h.ndim != 2 or wa.shape[1] != h.shape[0] or wn.shape[1] != h.shape[1]:
        raise ValueError(
            f"kernel {h.shape} does not match weights {wa.shape} (anomaly) and {wn.shape} (normal)"
        )
    if wa.shape[0] != wn.shape[0]:
        raise ValueError(f"{wa.shape[0]} anomaly weight rows but {wn.shape[0]} normal ones")
    total = wa.sum(axis=1) * wn.sum(axis=1)
    if np.any(total <= 0):
        raise ValueError("every replicate needs a positive weight in both classes")
    return np.einsum("bi,ij,bj->b", wa, h, wn) / total


@dataclass(frozen=True)
class BootstrapAUC:
    """Replicate mean AUCs of several methods on the same resampled test clips.

    ``methods``: their names; ``scopes``: the machine types and ``"all IDs"``; ``observed``:
    ``(methods, scopes)`` mean AUC over the IDs on the test set itself; ``replicates``:
    ``(n_boot, methods, scopes)`` the same means in every replicate; ``excluded``: the IDs with
    one class only, left out of every mean (as in :func:`audioanom.metrics.summarize`)."""

    methods: tuple[str, ...]
    scopes: tuple[str, ...]
    observed: np.ndarray = field(repr=False)
    replicates: np.ndarray = field(repr=False)
    level: float = 0.95
    excluded: tuple[str, ...] = ()

    def _index(self, method: str) -> int:
        if method not in self.methods:
            raise ValueError(f"no method {method!r} (have {list(self.methods)})")
        return self.methods.index(method)

    def _bounds(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tail = 100 * (1 - self.level) / 2
        return np.percentile(values, tail, axis=0), np.percentile(values, 100 - tail, axis=0)

    def intervals(self) -> pd.DataFrame:
        """``method, machine_type, auc_mean, low, high`` (AUC in [0, 1]; ``low``/``high``: the
        percentile interval at ``level``), one row per method and scope."""
        low, high = self._bounds(self.replicates)  # methods, scopes
        rows = [
            {
                "method": m,
                "machine_type": s,
                "auc_mean": float(self.observed[i, k]),
                "low": float(low[i, k]),
                "high": float(high[i, k]),
            }
            for i, m in enumerate(self.methods)
            for k, s in enumerate(self.scopes)
        ]
        return pd.DataFrame(rows)

    def difference(self, a: str, b: str) -> pd.DataFrame:
        """Per scope: ``a`` minus ``b`` in mean AUC points (x100) on the test set, its
        percentile interval (``low``, ``high``, points) and ``share_higher``, the share of
        replicates in which ``a`` is higher."""
        d = 100 * (self.replicates[:, self._index(a)] - self.replicates[:, self._index(b)])
        low, high = self._bounds(d)
        obs = 100 * (self.observed[self._index(a)] - self.observed[self._index(b)])
        return pd.DataFrame(
            {
                "machine_type": list(self.scopes),
                "a": a,
                "b": b,
                "difference_points": obs,
                "low": low,
                "high": high,
                "share_higher": (d > 0).mean(axis=0),
            }
        )

    def versus_lines(self, baseline: str, scope: str = ALL_IDS) -> list[str]:
        """One line per method: its mean AUC (%) with the interval, and for every method but
        ``baseline`` the paired difference from it, e.g. ``"complex net (gauss): mean AUC 90.3
        [87.4, 93.0]; minus log-mel Gaussian +0.7 [-2.4, +3.9] points, higher in 67 % of 2000
        replicates"``."""
        if scope not in self.scopes:
            raise ValueError(f"no scope {scope!r} (have {list(self.scopes)})")
        k = self.scopes.index(scope)
        cis = self.intervals()
        ci = cis[cis["machine_type"] == scope].set_index("method")
        pct = round(100 * self.level)
        lines = []
        for m in self.methods:
            r = ci.loc[m]
            line = f"{m}: mean AUC {100 * r.auc_mean:.1f} [{100 * r.low:.1f}, {100 * r.high:.1f}]"
            if m != baseline:
                d = self.difference(m, baseline).iloc[k]
                line += (
                    f"; minus {baseline} {d.difference_points:+.1f} [{d.low:+.1f}, {d.high:+.1f}]"
                    f" points, higher in {100 * d.share_higher:.0f} % of "
                    f"{len(self.replicates)} replicates"
                )
            lines.append(line)
        return [f"{scope}, {pct} % bootstrap intervals of the test clips:", *lines]


def _kernels(
    g: pd.DataFrame, methods: Sequence[str], where: str
) -> tuple[list[np.ndarray], int, int]:
    """The comparison matrix of every method on one ID's clips, matched by path."""
    if g.duplicated(["path", "method"]).any():
        raise ValueError(f"{where}: a clip is scored more than once by one method")
    bad = g.loc[~np.isfinite(g["score"].to_numpy(dtype=float)), ["method", "path"]]
    if len(bad):
        first = bad.iloc[0]
        raise ValueError(
            f"{where}: {len(bad)} non-finite scores (first: {first['method']!r} on {first['path']})"
        )
    table = g.pivot(index="path", columns="method", values="score").reindex(columns=list(methods))
    missing = [m for m in methods if table[m].isna().any()]
    if missing:
        raise ValueError(f"{where}: methods {missing} did not score every clip of the others")
    y = binary_labels(g.drop_duplicates("path").set_index("path").loc[table.index, "label"])
    if y.all() or not y.any():
        return [], int(y.sum()), int((y == 0).sum())
    kernels = [
        comparison_matrix(table[m].to_numpy()[y == 1], table[m].to_numpy()[y == 0]) for m in methods
    ]
    return kernels, int(y.sum()), int((y == 0).sum())


def bootstrap_auc(
    scores: pd.DataFrame,
    *,
    methods: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    split: str | None = "test",
) -> BootstrapAUC:
    """Stratified, paired bootstrap of the mean AUC over IDs (module docstring) of ``methods``
    (default: every method of ``scores``, in order of appearance), per machine type and over all
    IDs. ``split`` selects the rows (None: all). An ID with one class only is left out and
    named in ``excluded``. ValueError when no ID has both classes, on clips that not every
    method scored (or one scored twice), on a non-finite score, or on missing columns."""
    need = ["method", "machine_type", "id", "label", "path", "score"]
    need += ["split"] if split is not None else []
    lacking = [c for c in need if c not in scores.columns]
    if lacking:
        raise ValueError(f"score table lacks columns {lacking}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100 for a percentile interval, got {n_boot}")
    if not 0.5 <= level < 1:
        raise ValueError(f"level must be within [0.5, 1), got {level}")
    df = scores if split is None else scores[scores["split"] == split]
    names = tuple(pd.unique(df["method"])) if methods is None else tuple(methods)
    unknown = [m for m in names if m not in set(df["method"])]
    if unknown or not names:
        raise ValueError(f"methods {unknown or names} not in the score table")
    df = df[df["method"].isin(names)]
    rng = np.random.default_rng(seed)
    types = sorted(df["machine_type"].unique().tolist(), key=str)
    per_type_obs: dict[str, list[np.ndarray]] = {t: [] for t in types}
    per_type_rep: dict[str, list[np.ndarray]] = {t: [] for t in types}
    excluded = []
    for (mtype, mid), g in df.groupby(["machine_type", "id"], sort=True):
        kernels, n_a, n_n = _kernels(g, names, f"{mtype} {mid}")
        if not kernels:  # one class only: no AUC, left out of every mean (as in the tables)
            excluded.append(f"{mtype} {mid} (one class only: {n_n} normal, {n_a} anomaly)")
            continue
        wa = rng.multinomial(n_a, np.full(n_a, 1 / n_a), size=n_boot)  # B, n_anomaly
        wn = rng.multinomial(n_n, np.full(n_n, 1 / n_n), size=n_boot)  # B, n_normal
        per_type_obs[mtype].append(np.array([h.mean() for h in kernels]))  # methods
        per_type_rep[mtype].append(np.stack([weighted_auc(h, wa, wn) for h in kernels], 1))
    types = [t for t in types if per_type_obs[t]]
    if not types:
        raise ValueError(f"no ID has both normal and anomalous test clips: {'; '.join(excluded)}")
    obs = [np.mean(per_type_obs[t], axis=0) for t in types]
    rep = [np.mean(per_type_rep[t], axis=0) for t in types]  # each B, methods
    all_obs = np.mean([v for t in types for v in per_type_obs[t]], axis=0)
    all_rep = np.mean([v for t in types for v in per_type_rep[t]], axis=0)
    return BootstrapAUC(
        methods=names,
        scopes=(*types, ALL_IDS),
        observed=np.stack([*obs, all_obs], axis=1),  # methods, scopes
        replicates=np.stack([*rep, all_rep], axis=2),  # B, methods, scopes
        level=level,
        excluded=tuple(excluded),
    )
