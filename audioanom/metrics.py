"""Evaluation of anomaly scores per machine type and machine ID (higher score = more anomalous).

AUC and pAUC
------------
``auc`` is :func:`sklearn.metrics.roc_auc_score`; ``pauc`` is
``roc_auc_score(y, s, max_fpr=0.1)``: scikit-learn's *standardized* partial AUC over
FPR in [0, 0.1] with the McClish correction, ``0.5 * (1 + (A_p - A_min) / (A_max - A_min))``
where ``A_p`` is the raw area up to FPR 0.1, ``A_max = 0.1`` and ``A_min = 0.1**2 / 2``.
This is exactly what the official DCASE 2020 Task 2 evaluator computes
(github.com/y-kawagu/dcase2020_task2_evaluator, ``evaluator.py``: the same scikit-learn call,
and the arithmetic mean over IDs per machine type), so a chance-level detector gets pAUC 0.5
and a perfect one 1.0. It is not the raw partial area divided by 0.1 (chance level 0.05) that
the task description's formula reads as; the two agree only at 1.0.

Per-ID rows and means
---------------------
:func:`per_id_metrics` makes one row per (machine type, ID). An ID whose test clips hold one
class only (e.g. pump id_02 in the shared samples: no anomaly clip) is REPORTED, with NaN AUC
and pAUC and a ``note`` such as ``"one class only: 2 normal, 0 anomaly"``; it is left out of
every mean. :func:`summarize` gives, per method and machine type, the arithmetic and the
harmonic mean (:func:`scipy.stats.hmean`) over the scored IDs, and which IDs were left out.

The harmonic mean is defined for positive values only. An ID with AUC (or pAUC) <= 0 (a
detector that ranks every anomaly below every normal clip gives AUC 0) would drag it to 0.0
without a word, so it is never averaged in silently: :func:`harmonic_mean` raises ValueError
naming the ID and its value, and :func:`summarize` either raises the same error
(``strict=True``) or, by default, sets that harmonic mean to NaN, names the offending IDs in the
column ``hmean_note`` and emits a :class:`RuntimeWarning` with the same text. The arithmetic
means are unaffected.

Decision thresholds
-------------------
Two rules, each reported with precision, recall, F1 and the confusion matrix
(``score >= threshold`` means "anomaly"):

* :func:`youden_threshold`: the threshold maximising Youden's ``J = TPR - FPR`` on the TEST
  scores and labels. It is fitted on the test labels, so its P/R/F1 are optimistic (an upper
  bound); it is always labelled ``optimistic=True``, ``fitted_on="test labels"``.
* :func:`train_threshold`: fitted on the scores of NORMAL TRAINING clips only, default the
  90th percentile (about 10 % of normal clips flagged, as in the DCASE 2021+ baselines, which
  take the 90th percentile of a gamma fit to training scores). ``rule="mean_std"`` takes
  ``mean + k * std`` instead. This is the honest, deployable rule. The back-ends give training
  clips cross-fitted scores (:func:`audioanom.machines.backends.fit_score`: each scored by a
  back-end fitted without it), so the threshold is not set by in-sample distances; the network (or
  autoencoder) itself has still seen most of those clips, so expect somewhat more false alarms
  on test than the nominal 10 %.

Comparison with the paper
-------------------------
:data:`PAPER_KIM2021_AUC` holds the per-type mean AUC (%) of Kim, Ho and Kang (EUSIPCO 2021);
the paper reports no pAUC, so none is given. :func:`comparison_table` puts methods side by side.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import hmean
from sklearn.metrics import (
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "DCASE2020_BASELINE_README",
    "MAX_FPR",
    "PAPER_CITATION",
    "PAPER_KIM2021_AUC",
    "ThresholdResult",
    "auc_pauc",
    "binary_labels",
    "comparison_table",
    "decision_metrics",
    "evaluate_thresholds",
    "harmonic_mean",
    "per_id_metrics",
    "roc_auc",
    "roc_points",
    "summarize",
    "train_threshold",
    "youden_threshold",
]

MAX_FPR = 0.1

PAPER_CITATION = (
    "M. Kim, M. T. Ho and H.-G. Kang, 'Self-supervised Complex Network for Machine Sound "
    "Anomaly Detection', Proc. EUSIPCO 2021, pp. 586-590, doi:10.23919/EUSIPCO54536.2021.9615923"
)

#: Mean AUC (%) over machine IDs per machine type, MIMII, from the paper (:data:`PAPER_CITATION`).
#: The paper reports no pAUC.
PAPER_KIM2021_AUC: dict[str, float] = {
    "fan": 96.40,
    "pump": 98.75,
    "slider": 96.87,
    "valve": 96.87,
    "mean": 97.22,
}

#: (AUC, pAUC) of the DCASE 2020 Task 2 autoencoder baseline per (machine type, ID) on the
#: development set, as printed in the "Check results" example of the baseline's README
#: (github.com/y-kawagu/dcase2020_task2_baseline, README.md at commit ebfcc2a). One training
#: run of the official Keras code; a re-run differs by a few points.
DCASE2020_BASELINE_README: dict[tuple[str, str], tuple[float, float]] = {
    ("ToyCar", "id_01"): (0.828474, 0.678514),
    ("ToyCar", "id_02"): (0.866307, 0.762236),
    ("ToyCar", "id_03"): (0.639396, 0.546659),
    ("ToyCar", "id_04"): (0.869477, 0.701461),
    ("ToyConveyor", "id_01"): (0.793497, 0.650428),
    ("ToyConveyor", "id_02"): (0.64243, 0.564437),
    ("ToyConveyor", "id_03"): (0.744579, 0.60488),
    ("fan", "id_00"): (0.539607, 0.492435),
    ("fan", "id_02"): (0.721866, 0.554171),
    ("fan", "id_04"): (0.622098, 0.527072),
    ("fan", "id_06"): (0.72277, 0.529961),
    ("pump", "id_00"): (0.670769, 0.57269),
    ("pump", "id_02"): (0.609369, 0.58037),
    ("pump", "id_04"): (0.8886, 0.676842),
    ("pump", "id_06"): (0.734902, 0.570175),
    ("slider", "id_00"): (0.963315, 0.818451),
    ("slider", "id_02"): (0.78809, 0.628819),
    ("slider", "id_04"): (0.946011, 0.739503),
    ("slider", "id_06"): (0.702247, 0.490242),
    ("valve", "id_00"): (0.687311, 0.51349),
    ("valve", "id_02"): (0.674083, 0.512281),
    ("valve", "id_04"): (0.744, 0.515351),
    ("valve", "id_06"): (0.552833, 0.482895),
}

PER_ID_COLUMNS = ("method", "machine_type", "id", "n_normal", "n_anomaly", "auc", "pauc", "note")


# --------------------------------------------------------------------------------------------
# inputs


def binary_labels(labels: Iterable[object]) -> np.ndarray:
    """``'anomaly'``/``'normal'`` (or 1/0, True/False) -> int array, 1 = anomaly.

    Raises ValueError naming any other value.
    """
    arr = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels)
    if arr.dtype.kind in "biu":
        bad = set(np.unique(arr).tolist()) - {0, 1}
        if bad:
            raise ValueError(f"numeric labels must be 0 (normal) or 1 (anomaly), got {bad}")
        return arr.astype(np.int64)
    mapping = {"normal": 0, "anomaly": 1}
    bad = {str(v) for v in arr.tolist()} - set(mapping)
    if bad:
        raise ValueError(f"labels must be 'normal' or 'anomaly', got {sorted(bad)}")
    return np.array([mapping[str(v)] for v in arr.tolist()], dtype=np.int64)


def _check_scores(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.shape != y.shape:
        raise ValueError(f"scores {scores.shape} and labels {y.shape} must be 1-D, same length")
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or Inf")
    return scores


def _one_class_note(y: np.ndarray) -> str | None:
    n_anom = int(y.sum())
    n_norm = int(y.size - n_anom)
    if n_anom == 0 or n_norm == 0:
        return f"one class only: {n_norm} normal, {n_anom} anomaly"
    return None


# --------------------------------------------------------------------------------------------
# AUC, pAUC, ROC


def _both_classes(labels: Iterable[object], scores: np.ndarray, what: str):
    """``(y, s)`` checked; ValueError naming ``what`` when only one class is present."""
    y = binary_labels(labels)
    s = _check_scores(y, scores)
    note = _one_class_note(y)
    if note:
        raise ValueError(f"{what} needs both classes: {note}")
    return y, s


def auc_pauc(
    labels: Iterable[object],
    scores: np.ndarray,
    max_fpr: float = MAX_FPR,
    *,
    one_class: Literal["raise", "nan"] = "raise",
) -> tuple[float, float]:
    """``(auc, pauc)`` of one set of clips (higher score = more anomalous); pAUC is
    scikit-learn's McClish-standardized partial AUC up to ``max_fpr`` (what the DCASE evaluator
    uses, module docstring). THE AUC helper of the project (digits and machines alike).

    One-class policy: a set with one class only has no AUC. ``one_class="raise"`` (default)
    raises ValueError saying how many clips of each class there are; ``"nan"`` returns
    ``(nan, nan)`` -- what the tables use, which report such a group with a note and leave it
    out of every mean. Non-finite scores always raise."""
    if one_class not in ("raise", "nan"):
        raise ValueError(f"one_class must be 'raise' or 'nan', got {one_class!r}")
    y = binary_labels(labels)
    s = _check_scores(y, scores)
    note = _one_class_note(y)
    if note:
        if one_class == "nan":
            return float("nan"), float("nan")
        raise ValueError(f"AUC needs both classes: {note}")
    return float(roc_auc_score(y, s)), float(roc_auc_score(y, s, max_fpr=max_fpr))


def roc_auc(
    labels: Iterable[object], scores: np.ndarray, *, one_class: Literal["raise", "nan"] = "raise"
) -> float:
    """The AUC of :func:`auc_pauc` alone (same checks and one-class policy)."""
    return auc_pauc(labels, scores, one_class=one_class)[0]


def roc_points(labels: Iterable[object], scores: np.ndarray) -> pd.DataFrame:
    """ROC curve points: DataFrame ``fpr, tpr, threshold`` (``score >= threshold`` = anomaly;
    the first row has threshold +inf: nothing flagged)."""
    y, s = _both_classes(labels, scores, "a ROC curve")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})


def _require(df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"score table lacks columns {missing} (has {list(df.columns)})")


def per_id_metrics(
    scores: pd.DataFrame,
    *,
    method: str,
    score_col: str = "score",
    type_col: str = "group",
    split: str | None = "test",
    max_fpr: float = MAX_FPR,
) -> pd.DataFrame:
    """One row per (machine type, ID): ``method, machine_type, id, n_normal, n_anomaly, auc,
    pauc, note``.

    ``scores`` is a clip table with a score column (``type_col``, ``id``, ``label`` and, when
    ``split`` is not None, ``split``: only those rows are used). An ID with one class only gets
    NaN AUC/pAUC and a note, never an error.
    """
    cols = [type_col, "id", "label", score_col] + (["split"] if split is not None else [])
    _require(scores, cols)
    df = scores if split is None else scores[scores["split"] == split]
    if df.empty:
        raise ValueError(f"no rows to evaluate (split={split!r})")
    rows = []
    for (mtype, mid), g in df.groupby([type_col, "id"], sort=True):
        y = binary_labels(g["label"])
        note = _one_class_note(y)
        auc, pauc = auc_pauc(y, g[score_col].to_numpy(), max_fpr, one_class="nan")
        rows.append(
            {
                "method": method,
                "machine_type": mtype,
                "id": mid,
                "n_normal": int((y == 0).sum()),
                "n_anomaly": int(y.sum()),
                "auc": auc,
                "pauc": pauc,
                "note": note or "",
            }
        )
    return pd.DataFrame(rows, columns=list(PER_ID_COLUMNS))


def harmonic_mean(values: Sequence[float], names: Sequence[str], what: str = "AUC") -> float:
    """Harmonic mean (:func:`scipy.stats.hmean`) of the finite ``values``; NaN when none is.

    ``names[i]`` names ``values[i]`` (e.g. ``"fan id_02"``). The harmonic mean is defined for
    positive values only: a value <= 0 raises ValueError naming every such entry and its value
    (never a silent 0.0).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(names) != v.size:
        raise ValueError(f"{v.size} values but {len(names)} names")
    ok = np.isfinite(v)
    bad = [f"{n} ({what} {x:.4g})" for n, x, k in zip(names, v, ok, strict=True) if k and x <= 0]
    if bad:
        raise ValueError(
            f"harmonic mean of {what} undefined: {what} <= 0 for {', '.join(bad)} "
            "(the harmonic mean needs positive values)"
        )
    return float(hmean(v[ok])) if ok.any() else np.nan


def summarize(per_id: pd.DataFrame, *, strict: bool = False) -> pd.DataFrame:
    """Per method and machine type (plus ``machine_type="all IDs"`` per method): ``n_ids``,
    ``n_scored``, ``auc_mean``, ``pauc_mean`` (arithmetic), ``auc_hmean``, ``pauc_hmean``
    (harmonic, scipy.stats.hmean) over the IDs with both classes, ``excluded`` (the IDs left
    out, with their note) and ``hmean_note``.

    An ID with AUC or pAUC <= 0 makes that harmonic mean undefined (module docstring): with
    ``strict=True`` the ValueError of :func:`harmonic_mean` (naming method, machine type, ID and
    value) is raised; otherwise the harmonic mean is NaN, ``hmean_note`` holds that message and
    a RuntimeWarning repeats it. ``hmean_note`` is empty when both harmonic means are defined.
    """
    _require(per_id, ["method", "machine_type", "id", "auc", "pauc", "note"])
    rows = []
    messages: list[str] = []

    def hm(method: str, ok: pd.DataFrame, col: str, notes: list[str]) -> float:
        names = [f"{method!r} {r.machine_type} {r.id}" for r in ok.itertuples()]
        try:
            what = "AUC" if col == "auc" else "pAUC"
            return harmonic_mean(ok[col].to_numpy(dtype=float), names, what)
        except ValueError as err:
            if strict:
                raise
            notes.append(str(err))
            return np.nan

    def one(method: str, mtype: str, g: pd.DataFrame) -> dict:
        ok = g[np.isfinite(g["auc"].to_numpy(dtype=float))]
        bad = g[~np.isfinite(g["auc"].to_numpy(dtype=float))]
        notes: list[str] = []
        row = {
            "method": method,
            "machine_type": mtype,
            "n_ids": len(g),
            "n_scored": len(ok),
            "auc_mean": float(ok["auc"].mean()) if len(ok) else np.nan,
            "pauc_mean": float(ok["pauc"].mean()) if len(ok) else np.nan,
            "auc_hmean": hm(method, ok, "auc", notes),
            "pauc_hmean": hm(method, ok, "pauc", notes),
            "excluded": "; ".join(
                f"{r.machine_type} {r.id} ({r.note})"
                if mtype == "all IDs"
                else f"{r.id} ({r.note})"
                for r in bad.itertuples()
            ),
            "hmean_note": "; ".join(notes),
        }
        if mtype != "all IDs":  # the "all IDs" row repeats the per-type faults
            messages.extend(notes)
        return row

    for method, gm in per_id.groupby("method", sort=False):
        for mtype, g in gm.groupby("machine_type", sort=True):
            rows.append(one(method, mtype, g))
        rows.append(one(method, "all IDs", gm))
    if messages:
        warnings.warn(
            "summarize: harmonic mean set to NaN: " + "; ".join(messages),
            RuntimeWarning,
            stacklevel=2,
        )
    return pd.DataFrame(rows)


def comparison_table(
    per_id: pd.DataFrame,
    *,
    metrics: Sequence[str] = ("auc", "pauc"),
    references: Mapping[str, Mapping[str, float]] | None = None,
    percent: bool = True,
) -> pd.DataFrame:
    """Methods side by side: one row per machine type plus ``mean``, one column per
    (method, metric) holding the arithmetic mean over the scored IDs of that type.

    ``per_id`` is the concatenation of :func:`per_id_metrics` tables of several methods (e.g.
    complex net, magnitude-only, autoencoder). ``references`` adds literature columns:
    ``{column name: {machine type: value in %}}``; by default the paper's AUC
    (:data:`PAPER_KIM2021_AUC`) as ``"Kim et al. 2021 AUC (paper)"``, shown for the machine
    types of ``per_id``. The ``mean`` row is the mean over the rows above it of each column
    (the paper's own mean, 97.22, is the mean over its four types). Values are in % when
    ``percent``.
    """
    _require(per_id, ["method", "machine_type", "id", *metrics])
    if references is None:
        references = {"Kim et al. 2021 AUC (paper)": PAPER_KIM2021_AUC}
    scale = 100.0 if percent else 1.0
    names = {"auc": "AUC", "pauc": "pAUC"}
    types = sorted(per_id["machine_type"].unique().tolist(), key=str)
    table = pd.DataFrame(index=pd.Index(types, name="machine_type"))
    for method, gm in per_id.groupby("method", sort=False):
        for m in metrics:
            means = gm.groupby("machine_type")[m].mean()  # NaN (one-class) IDs skipped
            table[f"{method} {names.get(m, m)}"] = means.reindex(types) * scale
    for col, ref in references.items():
        vals = [ref.get(t, np.nan) for t in types]
        table[col] = np.asarray(vals, dtype=float) * (1.0 if percent else 0.01)
    table.loc["mean"] = table.mean(axis=0, skipna=True)
    return table


# --------------------------------------------------------------------------------------------
# decision thresholds


@dataclass(frozen=True)
class ThresholdResult:
    """A decision threshold and its outcome on labelled clips (``score >= threshold``
    = anomaly). ``confusion`` is ``[[TN, FP], [FN, TP]]`` (rows: true normal, anomaly)."""

    rule: str
    threshold: float
    optimistic: bool
    fitted_on: str
    precision: float
    recall: float
    f1: float
    confusion: np.ndarray = field(repr=False)

    def as_row(self) -> dict:
        """A flat dict for a DataFrame row (the confusion matrix as tn, fp, fn, tp)."""
        (tn, fp), (fn, tp) = self.confusion.tolist()
        return {
            "rule": self.rule,
            "threshold": self.threshold,
            "optimistic": self.optimistic,
            "fitted_on": self.fitted_on,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tn": tn,
            "fp": fp,
            "fn": fn,
            "tp": tp,
        }


def decision_metrics(
    labels: Iterable[object], scores: np.ndarray, threshold: float
) -> tuple[float, float, float, np.ndarray]:
    """``(precision, recall, f1, confusion)`` of the decision ``score >= threshold`` (anomaly =
    positive class; precision is 0 when nothing is flagged). ``confusion`` is 2 x 2
    ``[[TN, FP], [FN, TP]]``."""
    y = binary_labels(labels)
    s = _check_scores(y, scores)
    pred = (s >= threshold).astype(np.int64)
    p, r, f, _ = precision_recall_fscore_support(
        y, pred, average="binary", pos_label=1, zero_division=0
    )
    cm = confusion_matrix(y, pred, labels=[0, 1])
    return float(p), float(r), float(f), cm


def youden_threshold(labels: Iterable[object], scores: np.ndarray) -> ThresholdResult:
    """Threshold maximising Youden's J = TPR - FPR on these (test) labels and scores; the
    result is labelled ``optimistic=True``, ``fitted_on="test labels"`` (module docstring).
    Ties go to the highest threshold (fewest alarms)."""
    y, s = _both_classes(labels, scores, "Youden's J")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    j = (tpr - fpr)[1:]  # skip the +inf threshold (nothing flagged)
    best = float(thr[1:][int(np.argmax(j))])
    p, r, f, cm = decision_metrics(y, s, best)
    return ThresholdResult("youden", best, True, "test labels", p, r, f, cm)


def train_threshold(
    train_normal_scores: np.ndarray,
    *,
    rule: Literal["percentile", "mean_std"] = "percentile",
    q: float = 90.0,
    k: float = 2.0,
) -> float:
    """Threshold from the scores of NORMAL TRAINING clips only: their ``q``-th percentile
    (default 90, linear interpolation) or ``mean + k * std`` (``rule="mean_std"``)."""
    s = np.asarray(train_normal_scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"need a non-empty 1-D array of training scores, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("training scores hold NaN or Inf")
    if rule == "percentile":
        if not 0 <= q <= 100:
            raise ValueError(f"percentile q must be in [0, 100], got {q}")
        return float(np.percentile(s, q))
    if rule == "mean_std":
        return float(s.mean() + k * s.std())
    raise ValueError(f"rule must be 'percentile' or 'mean_std', got {rule!r}")


def _rule_name(rule: str, q: float, k: float) -> str:
    return f"train_p{q:g}" if rule == "percentile" else f"train_mean+{k:g}std"


def evaluate_thresholds(
    scores: pd.DataFrame,
    *,
    method: str,
    score_col: str = "score",
    type_col: str = "group",
    rule: Literal["percentile", "mean_std"] = "percentile",
    q: float = 90.0,
    k: float = 2.0,
) -> pd.DataFrame:
    """Both thresholds per (machine type, ID), evaluated on that ID's test clips.

    ``scores`` holds train and test clips (columns ``type_col, id, label, split, score_col``).
    For each ID: the Youden threshold fitted on its test clips (``optimistic=True``) and the
    training threshold (:func:`train_threshold`) fitted on its ``split == "train"`` normal clips
    only. Rows: ``method, machine_type, id, rule, threshold, optimistic, fitted_on, precision,
    recall, f1, tn, fp, fn, tp, note``; a rule that cannot be fitted (one test class only, no
    training clips) gives a row with NaN and the reason in ``note``.
    """
    _require(scores, [type_col, "id", "label", "split", score_col])
    rows = []
    train_name = _rule_name(rule, q, k)
    for (mtype, mid), g in scores.groupby([type_col, "id"], sort=True):
        test = g[g["split"] == "test"]
        train = g[(g["split"] == "train") & (g["label"] == "normal")]
        base = {"method": method, "machine_type": mtype, "id": mid}
        nan_row = {
            "threshold": np.nan,
            "precision": np.nan,
            "recall": np.nan,
            "f1": np.nan,
            "tn": np.nan,
            "fp": np.nan,
            "fn": np.nan,
            "tp": np.nan,
        }
        if test.empty:
            continue
        y = binary_labels(test["label"])
        s = test[score_col].to_numpy(dtype=float)
        note = _one_class_note(y)
        if note:
            rows.append(
                {**base, **nan_row, "rule": "youden", "optimistic": True}
                | {"fitted_on": "test labels", "note": note}
            )
        else:
            rows.append({**base, **youden_threshold(y, s).as_row(), "note": ""})
        if train.empty:
            rows.append(
                {**base, **nan_row, "rule": train_name, "optimistic": False}
                | {"fitted_on": "normal training scores", "note": "no training clips"}
            )
            continue
        thr = train_threshold(train[score_col].to_numpy(dtype=float), rule=rule, q=q, k=k)
        p, r, f, cm = decision_metrics(y, s, thr)
        res = ThresholdResult(
            train_name, thr, False, f"normal training scores (n={len(train)})", p, r, f, cm
        )
        rows.append({**base, **res.as_row(), "note": note or ""})
    columns = [
        "method",
        "machine_type",
        "id",
        "rule",
        "threshold",
        "optimistic",
        "fitted_on",
        "precision",
        "recall",
        "f1",
        "tn",
        "fp",
        "fn",
        "tp",
        "note",
    ]
    return pd.DataFrame(rows, columns=columns)
