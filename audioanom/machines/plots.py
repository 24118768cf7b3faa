"""Figures of the machine-sound part: ROC curves, score distributions, confusion matrices,
per-ID AUC bars, training curves (one run, or the grid of notebook 06), and the multi-panel
figures of notebook 07 (ROC, score, decision and ID-confusion grids). Pictures of the complex
STFT and mean spectra: :mod:`audioanom.machines.stft_plots`.

Same conventions as :mod:`audioanom.plotting`: every function takes ``ax=None`` (a new figure
when None; multi-panel functions take ``axes=None`` or make their own grid) and returns the
figure; write files with :func:`audioanom.plotting.save_figure`. Score tables are clip tables
with a score column (higher = more anomalous) and the columns ``group`` (machine type), ``id``,
``label`` and ``split``; only ``split == "test"`` rows are drawn where a column ``split``
exists. Score strips, heatmaps and bars are drawn with seaborn, STFT pictures with imshow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import auc as sk_auc

from ..metrics import ThresholdResult, binary_labels, roc_points
from ..plotting import (
    LABEL_COLORS,
    _axes,
    _titled,
    annotated_heatmap,
    grouped_bars,
    panel_grid,
    tight_grid,
)

__all__ = [
    "plot_auc_bars",
    "plot_auc_intervals",
    "plot_decision_confusion",
    "plot_decision_grid",
    "plot_id_confusion",
    "plot_id_confusion_grid",
    "plot_roc_curves",
    "plot_score_grid",
    "plot_score_distributions",
    "plot_scores_by_method",
    "plot_training_curves",
    "plot_training_grid",
]

NORMAL_COLOR = LABEL_COLORS["normal"]
ANOMALY_COLOR = LABEL_COLORS["anomaly"]
#: the class labels, in drawing order (normal left of anomaly in the score strips)
LABELS = ("normal", "anomaly")
#: where seaborn's dodge puts the two label strips around an ID (width 0.8 shared by 2 levels)
DODGE = (-0.2, 0.2)


def _test_rows(scores: pd.DataFrame, score_col: str, type_col: str) -> pd.DataFrame:
    missing = [c for c in (type_col, "id", "label", score_col) if c not in scores.columns]
    if missing:
        raise ValueError(f"score table lacks columns {missing}")
    df = scores[scores["split"] == "test"] if "split" in scores.columns else scores
    if df.empty:
        raise ValueError("no test rows to plot")
    return df


# --------------------------------------------------------------------------------------------
# scores


def plot_roc_curves(
    scores: pd.DataFrame,
    *,
    score_col: str = "score",
    type_col: str = "group",
    max_fpr: float | None = 0.1,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """ROC curve of every (machine type, ID) with both classes, labelled with its AUC; IDs
    with one class only are named in the legend as skipped. ``max_fpr`` marks the pAUC range."""
    df = _test_rows(scores, score_col, type_col)
    fig, ax = _axes(ax, (5.0, 4.6))
    if max_fpr is not None:
        ax.axvspan(0, max_fpr, color="0.9", zorder=0, label=f"pAUC range (FPR <= {max_fpr:g})")
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=0.8, label="chance")
    multi_type = df[type_col].nunique() > 1
    for (mtype, mid), g in df.groupby([type_col, "id"], sort=True):
        name = f"{mtype} {mid}" if multi_type else str(mid)
        y = binary_labels(g["label"])
        if y.min() == y.max():
            ax.plot([], [], " ", label=f"{name}: one class only, skipped")
            continue
        roc = roc_points(y, g[score_col].to_numpy())
        auc = float(sk_auc(roc["fpr"], roc["tpr"]))
        ax.plot(roc["fpr"], roc["tpr"], drawstyle="steps-post", label=f"{name} (AUC {auc:.3f})")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    return _titled(ax, title)


def plot_score_distributions(
    scores: pd.DataFrame,
    *,
    score_col: str = "score",
    type_col: str = "group",
    thresholds: Mapping[str, float] | None = None,
    seed: int = 0,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Strip plot of the test scores per ID (``seaborn.stripplot``, ``hue`` = label, dodged):
    normal (left, blue) and anomaly (right, vermilion) clips as jittered points (``seed`` fixes
    the jitter), each class's median as a short bar. IDs are sorted by (type, ID) and named
    ``"<type> <id>"`` when there are several types. ``thresholds`` maps an ID (or
    ``"<type> <id>"``) to a decision threshold, drawn as a dotted line across the ID."""
    df = _test_rows(scores, score_col, type_col)
    multi_type = df[type_col].nunique() > 1
    keys = [k for k, _ in df.groupby([type_col, "id"], sort=True)]
    names = [f"{t} {i}" if multi_type else str(i) for t, i in keys]
    name_of = dict(zip(keys, names, strict=True))
    df = df.assign(_id=[name_of[k] for k in zip(df[type_col], df["id"], strict=True)])
    fig, ax = _axes(ax, (max(4.0, 1.1 * len(names) + 1.5), 3.6))
    n_before = len(ax.collections)
    sns.stripplot(
        data=df,
        x="_id",
        y=score_col,
        hue="label",
        order=names,
        hue_order=LABELS,
        palette=LABEL_COLORS,
        dodge=True,
        jitter=False,  # seaborn's jitter uses numpy's global generator; a seeded one below
        size=3.8,
        alpha=0.8,
        legend=False,
        ax=ax,
    )
    rng = np.random.default_rng(seed)
    for points in ax.collections[n_before:]:
        xy = np.asarray(points.get_offsets(), dtype=float)
        xy[:, 0] += rng.uniform(-0.08, 0.08, len(xy))
        points.set_offsets(xy)
    medians = df.groupby(["_id", "label"])[score_col].median()
    thr_of = dict(thresholds or {})
    for i, ((mtype, mid), name) in enumerate(name_of.items()):
        for label, offset in zip(LABELS, DODGE, strict=True):
            if (name, label) in medians.index:
                x = i + offset
                color = LABEL_COLORS[label]
                ax.hlines(medians[(name, label)], x - 0.12, x + 0.12, color=color, lw=2)
        thr = thr_of.get(f"{mtype} {mid}", thr_of.get(str(mid)))
        if thr is not None and np.isfinite(thr):  # NaN: a rule that could not be fitted
            ax.hlines(thr, i - 0.4, i + 0.4, color="0.2", ls=":", lw=1.2)
    ax.tick_params(axis="x", labelrotation=30 if len(names) > 6 else 0)
    ax.set(xlabel="", ylabel=f"anomaly score ({score_col})")
    shown = [lab for lab in LABELS if (df["label"] == lab).any()]
    handles = [
        plt.Line2D([], [], marker="o", ls="", ms=4, color=LABEL_COLORS[lab]) for lab in shown
    ]
    if thresholds:
        handles.append(plt.Line2D([], [], color="0.2", ls=":"))
        shown.append("threshold")
    ax.legend(handles, shown)
    return _titled(ax, title)


def _draw_matrix(
    ax: Axes, cm: np.ndarray, labels: Sequence[str], normalize: bool, cmap: str
) -> None:
    """A confusion matrix as an annotated heatmap: counts, or (``normalize``) row fractions
    with the counts in brackets."""
    values = cm.astype(float)
    if normalize:
        rows = values.sum(axis=1, keepdims=True)
        values = np.divide(values, rows, out=np.zeros_like(values), where=rows > 0)
    texts = [
        [f"{v:.2f}\n({c})" if normalize else f"{c}" for v, c in zip(vr, cr, strict=True)]
        for vr, cr in zip(values, cm, strict=True)
    ]
    annotated_heatmap(
        ax,
        values,
        texts,
        xticklabels=labels,
        yticklabels=labels,
        cmap=cmap,
        vmin=0,
        vmax=1 if normalize else None,
        fontsize=8,
        xrotation=45 if len(labels) > 4 else 0,
        cbar_kws={"fraction": 0.046, "pad": 0.04},
    )
    ax.set(xlabel="predicted", ylabel="true")


def plot_id_confusion(
    true_ids: Sequence[object],
    pred_ids: Sequence[object],
    *,
    labels: Sequence[object] | None = None,
    normalize: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Confusion matrix of the machine-ID classification (rows: true ID, columns: predicted),
    row-normalised with counts in brackets when ``normalize``."""
    from sklearn.metrics import confusion_matrix

    true_ids, pred_ids = list(true_ids), list(pred_ids)
    if len(true_ids) != len(pred_ids) or not true_ids:
        raise ValueError(
            f"need equally long, non-empty ID lists ({len(true_ids)}, {len(pred_ids)})"
        )
    if labels is None:
        labels = sorted(set(true_ids) | set(pred_ids), key=str)
    cm = confusion_matrix(true_ids, pred_ids, labels=list(labels))
    fig, ax = _axes(ax, (1.0 * len(labels) + 2.5, 0.9 * len(labels) + 2.0))
    _draw_matrix(ax, cm, [str(x) for x in labels], normalize, "Blues")
    ax.set_title(title or "machine-ID classification")
    return fig


def plot_decision_confusion(
    result: ThresholdResult | np.ndarray,
    *,
    normalize: bool = False,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The 2 x 2 anomaly-decision confusion matrix ``[[TN, FP], [FN, TP]]`` of a
    :class:`~audioanom.metrics.ThresholdResult` (titled with its rule, threshold, P/R/F1 and,
    for the Youden rule, "optimistic: fitted on test labels") or of a bare 2 x 2 array."""
    cm = result.confusion if isinstance(result, ThresholdResult) else np.asarray(result)
    if cm.shape != (2, 2):
        raise ValueError(f"expected a 2 x 2 confusion matrix, got shape {cm.shape}")
    fig, ax = _axes(ax, (3.8, 3.4))
    _draw_matrix(ax, cm, list(LABELS), normalize, "Oranges")
    if title is None and isinstance(result, ThresholdResult):
        title = (
            f"{result.rule}: thr {result.threshold:.4g}\n"
            f"P {result.precision:.2f}  R {result.recall:.2f}  F1 {result.f1:.2f}"
        )
        if result.optimistic:
            title += "\n(optimistic: fitted on test labels)"
    return _titled(ax, title, fontsize=9)


def plot_auc_bars(
    per_id: pd.DataFrame,
    *,
    metric: str = "auc",
    id_col: str = "id",
    methods: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    reference: float | None = 0.5,
) -> Figure:
    """Grouped bars of ``metric`` (``auc`` or ``pauc``) per (machine type, ID), one bar per
    method (concatenated :func:`audioanom.metrics.per_id_metrics` tables), drawn with
    :func:`audioanom.plotting.grouped_bars`. ``id_col`` names the ID column (``speaker`` for
    the FSDD task); ``methods`` keeps only those methods (bars in the table's order). IDs
    without a value (one class only) are marked "n/a"; ``reference`` draws the chance level."""
    for col in ("method", "machine_type", id_col, metric):
        if col not in per_id.columns:
            raise ValueError(f"per-ID table lacks column {col!r}")
    df = per_id if methods is None else per_id[per_id["method"].isin(list(methods))]
    if df.empty:
        raise ValueError(f"no rows of the methods {list(methods or [])} to plot")
    df = df.assign(name=df["machine_type"].astype(str) + "\n" + df[id_col].astype(str))
    names = list(dict.fromkeys(df.sort_values(["machine_type", id_col])["name"]))
    drawn = list(dict.fromkeys(df["method"]))
    fig, ax = _axes(ax, (max(5.0, 0.5 * len(names) * len(drawn) + 2), 3.6))
    wide = grouped_bars(
        ax, df, cat="name", value=metric, hue="method", order=names, ncols=min(len(drawn), 3)
    )
    for container, m in zip(ax.containers[-len(drawn) :], drawn, strict=True):
        for bar, v in zip(container, wide[m], strict=True):
            if not np.isfinite(v):
                x = bar.get_x() + bar.get_width() / 2
                ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    if reference is not None:
        ax.axhline(reference, color="0.4", ls="--", lw=0.8)
    ax.tick_params(axis="x", labelsize=8)
    ax.set(xlabel="", ylabel={"auc": "AUC", "pauc": "pAUC"}.get(metric, metric), ylim=(0, 1.05))
    return _titled(ax, title)


def plot_auc_intervals(
    intervals: pd.DataFrame,
    *,
    scope: str = "all IDs",
    methods: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    target: float | None = None,
) -> Figure:
    """Mean AUC of each method (a dot) with its bootstrap interval (a line), one row per method,
    for one ``scope`` (a machine type or ``"all IDs"``) of
    :meth:`audioanom.confidence.BootstrapAUC.intervals`. ``methods`` picks and orders the rows
    (top first); ``target`` draws a dotted vertical line (e.g. a required mean AUC)."""
    for col in ("method", "machine_type", "auc_mean", "low", "high"):
        if col not in intervals.columns:
            raise ValueError(f"interval table lacks column {col!r}")
    df = intervals[intervals["machine_type"] == scope].set_index("method")
    names = list(df.index) if methods is None else list(methods)
    missing = [m for m in names if m not in df.index]
    if missing or not names:
        raise ValueError(f"no {scope!r} intervals for methods {missing or names}")
    df = df.loc[names]
    fig, ax = _axes(ax, (6.0, 0.45 * len(names) + 1.2))
    y = np.arange(len(names))[::-1]  # the first method on top
    ax.hlines(y, df["low"], df["high"], color="0.35", lw=2)
    ax.plot(df["auc_mean"], y, "o", color="C0", ms=6)
    for yi, v in zip(y, df["auc_mean"], strict=True):
        ax.annotate(
            f"{100 * v:.1f}",
            (v, yi),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    if target is not None:
        ax.axvline(target, color="0.4", ls=":", lw=1)
    ax.set_yticks(y, names)
    ax.set(xlabel=f"mean AUC over the IDs ({scope})", ylim=(-0.7, len(names) - 0.3))
    return _titled(ax, title)


# --------------------------------------------------------------------------------------------
# training curves


def plot_training_curves(
    metrics: pd.DataFrame | str | Path,
    *,
    columns: Sequence[str] | None = None,
    log_y: bool = False,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Training curves from a metrics table or CSV with an ``epoch`` column.

    ``columns=None`` draws every numeric column whose name holds "loss" on the left axis and
    any holding "acc" or "auc" on a right-hand axis (e.g. ``epoch, train_loss, val_loss,
    val_accuracy``).
    """
    df = pd.read_csv(metrics) if isinstance(metrics, str | Path) else metrics
    if "epoch" not in df.columns:
        raise ValueError(f"metrics table has no 'epoch' column (columns: {list(df.columns)})")
    numeric = [c for c in df.columns if c != "epoch" and pd.api.types.is_numeric_dtype(df[c])]
    if columns is None:
        left = [c for c in numeric if "loss" in c]
        right = [c for c in numeric if ("acc" in c or "auc" in c) and c not in left]
    else:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"metrics table lacks columns {missing}")
        left, right = list(columns), []
    if not left and not right:
        raise ValueError(f"nothing to plot among columns {list(df.columns)}")
    fig, ax = _axes(ax)
    for c in left:
        ax.plot(df["epoch"], df[c], marker="o" if len(df) < 30 else None, ms=3, label=c)
    losses_only = all("loss" in c for c in left)
    ax.set(xlabel="epoch", ylabel="loss" if columns is None or losses_only else ", ".join(left))
    if log_y:
        ax.set_yscale("log")
    handles, labels = ax.get_legend_handles_labels()
    if right:
        ax2 = ax.twinx()
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, c in enumerate(right):
            color = colors[(len(left) + k) % len(colors)]
            ax2.plot(df["epoch"], df[c], ls="--", color=color, label=c)
        ax2.set_ylabel("accuracy" if all("acc" in c for c in right) else ", ".join(right))
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    # Losses fall and accuracies rise: the middle of the right-hand side is usually free.
    ax.legend(handles, labels, loc="center right", fontsize=7)
    return _titled(ax, title)


def plot_training_grid(
    histories: Mapping[tuple[str, str], pd.DataFrame],
    *,
    names: Mapping[str, str] | None = None,
    networks: Sequence[str] = ("complex", "magnitude"),
    ncols: int = 3,
) -> Figure:
    """One panel of :func:`plot_training_curves` per trained model: ``histories`` maps
    ``(method, scope or type)`` to its per-epoch table (as :class:`audioanom.machines.pipeline.
    TrainingRun` ``.histories``). Networks (``networks``) show every loss and the validation
    accuracy; the autoencoders their train/val loss on a log axis. ``names`` turns a method key
    into a panel title (default: the key). The column ``best`` (a marker) is not drawn."""
    if not histories:
        raise ValueError("no training histories to draw")
    fig, axes = tight_grid(len(histories), ncols=ncols, size=(5.2, 3.4))
    for ax, ((method, name), h) in zip(axes, histories.items(), strict=False):
        is_network = method in networks
        plot_training_curves(
            h[[c for c in h.columns if c != "best"]],
            columns=None if is_network else ["train_loss", "val_loss"],
            log_y=not is_network,
            ax=ax,
            title=f"{(names or {}).get(method, method)}: {name}",
        )
    return fig


# --------------------------------------------------------------------------------------------
# multi-panel figures (notebook 07)


def plot_score_grid(
    scores: pd.DataFrame,
    *,
    method: str | None = None,
    score_col: str = "score",
    type_col: str = "group",
    ncols: int = 3,
    panel_size: tuple[float, float] = (4.0, 3.8),
) -> Figure:
    """One ROC panel per machine type (:func:`plot_roc_curves`, types sorted), on a grid of
    ``ncols`` columns, ``panel_size`` inches each. ``method``: only the rows of that method
    (column ``method``), named in every panel title (``"<type>: <method>"``)."""
    if method is not None:
        scores = scores[scores["method"] == method]
    df = _test_rows(scores, score_col, type_col)
    types = sorted(df[type_col].unique().tolist(), key=str)

    def draw(ax: Axes, t: object) -> None:
        plot_roc_curves(
            df[df[type_col] == t],
            score_col=score_col,
            type_col=type_col,
            ax=ax,
            title=f"{t}: {method}" if method is not None else str(t),
        )

    return panel_grid(types, draw, ncols=ncols, size=panel_size)


def plot_scores_by_method(
    scores: pd.DataFrame,
    *,
    label: str | None = None,
    thresholds: pd.DataFrame | None = None,
    methods: Sequence[str] | None = None,
    ncols: int = 4,
    panel_size: tuple[float, float] = (4.4, 3.4),
    score_col: str = "score",
    type_col: str = "machine_type",
) -> Figure:
    """One :func:`plot_score_distributions` panel per method (column ``method``, in the
    table's order; ``methods`` keeps only those), titled ``"<label>: <method>"``.

    ``thresholds``: rows ``method, id, threshold`` (and ``type_col``), e.g. one rule of the
    evaluation's threshold table; each panel draws the thresholds of its method."""
    if methods is not None:
        scores = scores[scores["method"].isin(list(methods))]

    def draw(ax: Axes, m: str) -> None:
        thr = None
        if thresholds is not None:
            rows = thresholds[thresholds["method"] == m]
            ids = rows["id"].astype(str)
            keys = rows[type_col].astype(str) + " " + ids if type_col in rows.columns else ids
            thr = dict(zip(keys, rows["threshold"], strict=True))
        plot_score_distributions(
            scores[scores["method"] == m],
            score_col=score_col,
            type_col=type_col,
            thresholds=thr,
            ax=ax,
            title=f"{label}: {m}" if label else str(m),
        )

    return panel_grid(dict.fromkeys(scores["method"]), draw, ncols=ncols, size=panel_size)


def plot_decision_grid(
    decisions: pd.DataFrame, *, ncols: int = 4, panel_size: tuple[float, float] = (3.6, 3.4)
) -> Figure:
    """One :func:`plot_decision_confusion` panel per row of a
    :func:`audioanom.machines.tables.threshold_summary` table (columns ``machine_type, rule,
    precision, recall, f1, optimistic, tn, fp, fn, tp``), titled with the type, the rule and
    P/R/F1, "(optimistic)" for a rule fitted on the test labels."""

    def draw(ax: Axes, r) -> None:
        title = f"{r.machine_type} {r.rule}\nP {r.precision:.2f} R {r.recall:.2f} F1 {r.f1:.2f}"
        if r.optimistic:
            title += " (optimistic)"
        plot_decision_confusion(np.array([[r.tn, r.fp], [r.fn, r.tp]]), ax=ax, title=title)

    return panel_grid(decisions.itertuples(), draw, ncols=ncols, size=panel_size)


def plot_id_confusion_grid(
    scores: pd.DataFrame,
    *,
    machine_types: Sequence[str] | None = None,
    type_col: str = "machine_type",
    pred_col: str = "pred_id",
    title: str | None = None,
    ncols: int = 4,
    panel_size: tuple[float, float] = (4.0, 3.6),
) -> Figure:
    """Two :func:`plot_id_confusion` panels per machine type (``machine_types``, default all,
    sorted): its normal, then its anomalous test clips; rows the true ID, columns ``pred_col``,
    over the IDs of that type. ``title`` goes above the whole figure."""
    df = scores[scores["split"] == "test"] if "split" in scores.columns else scores
    if machine_types is None:
        machine_types = sorted(df[type_col].unique().tolist(), key=str)

    def draw(ax: Axes, panel: tuple[str, str]) -> None:
        t, label = panel
        g = df[(df[type_col] == t) & (df["label"] == label)]
        plot_id_confusion(
            g["id"],
            g[pred_col],
            labels=sorted(df.loc[df[type_col] == t, "id"].unique()),
            ax=ax,
            title=f"{t}: {label} test clips",
        )

    panels = [(t, label) for t in machine_types for label in LABELS]
    fig = panel_grid(panels, draw, ncols=ncols, size=panel_size)
    if title:
        fig.suptitle(title)
    return fig
