"""Score tables of the machine-sound methods and the evaluation tables made from them.

One score table row per (clip, method): :data:`SCORE_COLUMNS`. ``method`` is the name shown in
every table (:func:`method_name`: ``"complex net (gauss)"``, ``"magnitude-only (ce)"``,
``"autoencoder"``, ``"log-mel Gaussian"``), ``network`` and ``backend`` its parts (empty for
the baselines). Scores are "higher = more anomalous". :func:`evaluate_scores` turns a score
table into the per-ID AUC/pAUC, the means per type, the comparison with the paper and the
decision thresholds (:mod:`audioanom.metrics`); :func:`per_kind_metrics` gives the AUC per
anomaly kind where the data know it (synthetic sets).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..metrics import (
    PAPER_KIM2021_AUC,
    comparison_table,
    evaluate_thresholds,
    per_id_metrics,
    roc_auc,
    summarize,
)
from .backends import BACKENDS
from .baselines import BASELINE_NAME

__all__ = [
    "AE_NAME",
    "NETWORK_NAMES",
    "SCORE_COLUMNS",
    "Evaluation",
    "baseline_verdicts",
    "evaluate_scores",
    "headline",
    "paired_difference",
    "method_name",
    "method_slug",
    "per_kind_metrics",
    "score_frame",
    "threshold_summary",
    "write_scores",
]

NETWORK_NAMES = {"complex": "complex net", "magnitude": "magnitude-only"}
AE_NAME = "autoencoder"

#: Columns of every score table (``anomaly_kind`` too when the clip table has it).
SCORE_COLUMNS = (
    "path",
    "machine_type",
    "id",
    "label",
    "split",
    "score",
    "pred_id",
    "method",
    "network",
    "backend",
)


def method_name(variant: str, backend: str | None = None) -> str:
    """``"complex net (gauss)"``, ``"magnitude-only (knn)"``, or a baseline's own name."""
    if variant in NETWORK_NAMES:
        if backend not in BACKENDS:
            raise ValueError(f"back-end must be one of {sorted(BACKENDS)}, got {backend!r}")
        return f"{NETWORK_NAMES[variant]} ({backend})"
    if variant in (AE_NAME, BASELINE_NAME):
        return variant
    raise ValueError(f"unknown method {variant!r}")


def method_slug(method: str) -> str:
    """File-name form of a method name: ``"complex net (gauss)"`` -> ``"complex_net_gauss"``."""
    return re.sub(r"[^a-z0-9]+", "_", method.lower()).strip("_")


def score_frame(
    clips: pd.DataFrame,
    scores: np.ndarray,
    pred: Sequence[str],
    method: str,
    network: str = "",
    backend: str = "",
) -> pd.DataFrame:
    """Score table rows (:data:`SCORE_COLUMNS`) for the clips of a clip table, in row order."""
    out = pd.DataFrame(
        {
            "path": clips["path"].to_numpy(),
            "machine_type": clips["group"].to_numpy(),
            "id": clips["id"].astype(str).to_numpy(),
            "label": clips["label"].to_numpy(),
            "split": clips["split"].to_numpy(),
            "score": np.asarray(scores, dtype=np.float64),
            "pred_id": list(pred),
            "method": method,
            "network": network,
            "backend": backend,
        }
    )
    if "anomaly_kind" in clips.columns:
        out["anomaly_kind"] = clips["anomaly_kind"].to_numpy()
    return out


@dataclass(frozen=True)
class Evaluation:
    """Scores and tables of every method.

    ``scores``: score tables of all methods (:data:`SCORE_COLUMNS`); ``per_id``:
    :func:`audioanom.metrics.per_id_metrics` rows; ``summary``: arithmetic and harmonic means
    per type; ``comparison``: methods and the paper side by side (%); ``thresholds``: Youden
    (optimistic) and train-percentile decisions per ID; ``notes``.
    """

    scores: pd.DataFrame = field(repr=False)
    per_id: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    comparison: pd.DataFrame = field(repr=False)
    thresholds: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()

    def write(self, folder: str | Path) -> Path:
        """Write every table as CSV (and the notes) into ``folder``; returns it."""
        folder = paths.ensure(Path(folder))
        self.scores.to_csv(folder / "scores.csv", index=False)
        self.per_id.to_csv(folder / "per_id.csv", index=False)
        self.summary.to_csv(folder / "summary.csv", index=False)
        self.comparison.to_csv(folder / "comparison.csv")
        self.thresholds.to_csv(folder / "thresholds.csv", index=False)
        (folder / "notes.txt").write_text("\n".join(self.notes) + "\n")
        return folder


def evaluate_scores(scores: pd.DataFrame, notes: Sequence[str] = ()) -> Evaluation:
    """Tables from a score table with a ``method`` column: per-ID AUC/pAUC, means, the
    comparison with the paper, and both threshold rules."""
    if "method" not in scores.columns:
        raise ValueError("score table needs a 'method' column")
    per_id, thresholds = [], []
    for method, g in scores.groupby("method", sort=False):
        per_id.append(per_id_metrics(g, method=str(method), type_col="machine_type"))
        thresholds.append(evaluate_thresholds(g, method=str(method), type_col="machine_type"))
    per_id_df = pd.concat(per_id, ignore_index=True)
    comparison = comparison_table(
        per_id_df, references={"Kim et al. 2021 AUC (paper)": PAPER_KIM2021_AUC}
    )
    return Evaluation(
        scores.reset_index(drop=True),
        per_id_df,
        summarize(per_id_df),
        comparison,
        pd.concat(thresholds, ignore_index=True),
        tuple(notes),
    )


def write_scores(scores: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Write one CSV per method (``<folder>/<method slug>.csv``); returns the paths."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"score table lacks columns {missing}")
    folder = paths.ensure(Path(folder))
    out = []
    for method, g in scores.groupby("method", sort=False):
        path = folder / f"{method_slug(str(method))}.csv"
        g.to_csv(path, index=False)
        out.append(path)
    return out


def per_kind_metrics(scores: pd.DataFrame) -> pd.DataFrame:
    """AUC per anomaly kind (synthetic data, column ``anomaly_kind``): for every method,
    machine type, ID and kind, the AUC of that ID's normal test clips against its anomalies
    of that kind; then the mean over IDs. Rows ``method, machine_type, anomaly_kind, n_ids,
    auc``. Empty when there is no ``anomaly_kind`` column."""
    if "anomaly_kind" not in scores.columns:
        return pd.DataFrame(columns=["method", "machine_type", "anomaly_kind", "n_ids", "auc"])
    test = scores[scores["split"] == "test"]
    rows = []
    for (method, mtype, mid), g in test.groupby(["method", "machine_type", "id"], sort=True):
        normal = g.loc[g["label"] == "normal", "score"].to_numpy()
        for kind, a in g[g["label"] == "anomaly"].groupby("anomaly_kind", sort=True):
            if len(normal) == 0 or len(a) == 0:
                continue
            y = np.r_[np.zeros(len(normal)), np.ones(len(a))]
            auc = roc_auc(y.astype(int), np.r_[normal, a["score"].to_numpy()])
            rows.append(
                {
                    "method": method,
                    "machine_type": mtype,
                    "id": mid,
                    "anomaly_kind": kind,
                    "auc": auc,
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["method", "machine_type", "anomaly_kind", "n_ids", "auc"])
    return (
        df.groupby(["method", "machine_type", "anomaly_kind"], sort=False)
        .agg(n_ids=("id", "nunique"), auc=("auc", "mean"))
        .reset_index()
    )


def threshold_summary(thresholds: pd.DataFrame) -> pd.DataFrame:
    """Decisions per (method, machine type, rule) over its IDs: summed ``tn, fp, fn, tp`` and
    the precision, recall and F1 of those sums (rows of rules that could not be fitted are
    left out)."""
    ok = thresholds.dropna(subset=["tp"])
    sums = (
        ok.groupby(["method", "machine_type", "rule"], sort=False)[["tn", "fp", "fn", "tp"]]
        .sum()
        .astype(int)
        .reset_index()
    )
    tp, fp, fn = sums["tp"], sums["fp"], sums["fn"]
    sums["precision"] = np.where(tp + fp > 0, tp / (tp + fp).clip(lower=1), 0.0)
    sums["recall"] = np.where(tp + fn > 0, tp / (tp + fn).clip(lower=1), 0.0)
    pr = sums["precision"] + sums["recall"]
    sums["f1"] = np.where(pr > 0, 2 * sums["precision"] * sums["recall"] / pr.where(pr > 0, 1), 0.0)
    sums["optimistic"] = sums["rule"] == "youden"
    return sums


def paired_difference(per_id: pd.DataFrame, a: str, b: str, metric: str = "auc") -> pd.DataFrame:
    """Per machine type: the mean ``metric`` of methods ``a`` and ``b`` over the IDs both
    scored, their difference ``a - b`` (in points, x100) and on how many IDs ``a`` is higher;
    plus an ``all IDs`` row. E.g. the value of phase: ``a`` the complex net, ``b`` the
    magnitude-only ablation with the same back-end."""
    wide = per_id[per_id["method"].isin([a, b])].pivot_table(
        index=["machine_type", "id"], columns="method", values=metric
    )
    if a not in wide.columns or b not in wide.columns:
        raise ValueError(f"per-ID table lacks {a!r} or {b!r}")
    wide = wide.dropna()
    rows = []
    for name, g in [*wide.groupby(level="machine_type"), ("all IDs", wide)]:
        rows.append(
            {
                "machine_type": name,
                a: float(g[a].mean()),
                b: float(g[b].mean()),
                "difference_points": float(100 * (g[a] - g[b]).mean()),
                "ids_higher": f"{int((g[a] > g[b]).sum())} of {len(g)}",
            }
        )
    return pd.DataFrame(rows)


def headline(evaluation: Evaluation) -> dict[str, dict[str, float]]:
    """``{method: {"auc": mean AUC, "pauc": mean pAUC, <type>: mean AUC per type}}`` over the
    scored IDs (arithmetic means, :func:`audioanom.metrics.summarize`): the numbers the README
    and the closing notes quote, written by notebook 07 as ``tables/headline.json``."""
    out: dict[str, dict[str, float]] = {}
    for r in evaluation.summary.itertuples():
        entry = out.setdefault(str(r.method), {})
        if r.machine_type == "all IDs":
            entry["auc"], entry["pauc"] = float(r.auc_mean), float(r.pauc_mean)
        else:
            entry[str(r.machine_type)] = float(r.auc_mean)
    return out


def baseline_verdicts(
    auc: Mapping[str, float],
    methods: Sequence[str],
    *,
    pauc: Mapping[str, float] | None = None,
    baseline: str = BASELINE_NAME,
) -> list[str]:
    """One line per method of ``methods`` present in ``auc`` (mean AUCs in [0, 1], the
    baseline's among them): its mean AUC (and pAUC) in %, and whether it beats the baseline,
    said plainly: ``"complex net (gauss): mean AUC 90.2, pAUC 83.1 -- beats the log-mel
    Gaussian (89.6)"``, or ``"does NOT beat"``. KeyError when the baseline is missing."""
    if baseline not in auc:
        raise KeyError(f"no {baseline!r} among the methods {sorted(auc)}: nothing to compare to")
    base = float(auc[baseline])
    lines = []
    for m in methods:
        if m == baseline or m not in auc:
            continue
        verdict = "beats" if float(auc[m]) > base else "does NOT beat"
        extra = f", pAUC {100 * float(pauc[m]):.1f}" if pauc is not None and m in pauc else ""
        lines.append(
            f"{m:>28}: mean AUC {100 * float(auc[m]):.1f}{extra} -- {verdict} the "
            f"{baseline} ({100 * base:.1f})"
        )
    return lines
