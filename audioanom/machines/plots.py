"""Figures of the machine-sound part: ROC curves, score distributions, confusion matrices,
per-ID AUC bars, STFT magnitude/phase pictures and training curves.

Same conventions as :mod:`audioanom.plotting`: every function takes ``ax=None`` (a new figure
when None; multi-panel functions take ``axes=None``) and returns the figure; write files with
:func:`audioanom.plotting.save_figure`. Score tables are clip tables with a score column
(higher = more anomalous) and the columns ``group`` (machine type), ``id``, ``label`` and
``split``; only ``split == "test"`` rows are drawn where a column ``split`` exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import auc as sk_auc

from ..metrics import ThresholdResult, binary_labels, roc_points
from ..plotting import _axes, tight_grid, time_frequency_image

__all__ = [
    "instantaneous_frequency_deviation",
    "plot_auc_bars",
    "plot_decision_confusion",
    "plot_id_confusion",
    "plot_instantaneous_frequency",
    "plot_log_magnitude",
    "plot_phase",
    "plot_roc_curves",
    "plot_score_grid",
    "plot_score_distributions",
    "plot_stft_views",
    "plot_training_curves",
]

NORMAL_COLOR = "#0072B2"
ANOMALY_COLOR = "#D55E00"


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
    if title:
        ax.set_title(title)
    return fig


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
    """Strip plot of the test scores per ID: normal (left, blue) and anomaly (right, orange)
    clips as jittered points with their medians. ``thresholds`` maps an ID (or
    ``"<type> <id>"``) to a decision threshold drawn as a short line."""
    df = _test_rows(scores, score_col, type_col)
    fig, ax = _axes(ax, (max(4.0, 1.1 * df.groupby([type_col, "id"]).ngroups + 1.5), 3.6))
    rng = np.random.default_rng(seed)
    multi_type = df[type_col].nunique() > 1
    names = []
    for i, ((mtype, mid), g) in enumerate(df.groupby([type_col, "id"], sort=True)):
        name = f"{mtype} {mid}" if multi_type else str(mid)
        names.append(name)
        for offset, label, color in (
            (-0.18, "normal", NORMAL_COLOR),
            (0.18, "anomaly", ANOMALY_COLOR),
        ):
            s = g.loc[g["label"] == label, score_col].to_numpy(dtype=float)
            if s.size == 0:
                continue
            x = i + offset + rng.uniform(-0.08, 0.08, s.size)
            ax.scatter(x, s, s=14, color=color, alpha=0.8, label=label if i == 0 else None)
            ax.hlines(np.median(s), i + offset - 0.12, i + offset + 0.12, color=color, lw=2)
        if thresholds:
            thr = thresholds.get(name, thresholds.get(str(mid)))
            if thr is not None:
                ax.hlines(thr, i - 0.4, i + 0.4, color="0.2", ls=":", lw=1.2)
    ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 6 else 0)
    ax.set(ylabel=f"anomaly score ({score_col})")
    handles, labels = ax.get_legend_handles_labels()
    if thresholds:
        handles.append(plt.Line2D([], [], color="0.2", ls=":"))
        labels.append("threshold")
    ax.legend(handles, labels)
    if title:
        ax.set_title(title)
    return fig


def _draw_matrix(
    ax: Axes, cm: np.ndarray, labels: Sequence[str], normalize: bool, cmap: str
) -> None:
    values = cm.astype(float)
    if normalize:
        rows = values.sum(axis=1, keepdims=True)
        values = np.divide(values, rows, out=np.zeros_like(values), where=rows > 0)
    im = ax.imshow(values, cmap=cmap, vmin=0, vmax=1 if normalize else None)
    n = len(labels)
    for i in range(n):
        for j in range(n):
            text = f"{values[i, j]:.2f}\n({cm[i, j]})" if normalize else f"{cm[i, j]}"
            dark = values[i, j] > (0.6 if normalize else 0.6 * values.max())
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black"
            )
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0)
    ax.set_yticks(range(n), labels)
    ax.set(xlabel="predicted", ylabel="true")
    ax.grid(False)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


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
    _draw_matrix(ax, cm, ["normal", "anomaly"], normalize, "Oranges")
    if title is None and isinstance(result, ThresholdResult):
        title = (
            f"{result.rule}: thr {result.threshold:.4g}\n"
            f"P {result.precision:.2f}  R {result.recall:.2f}  F1 {result.f1:.2f}"
        )
        if result.optimistic:
            title += "\n(optimistic: fitted on test labels)"
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_auc_bars(
    per_id: pd.DataFrame,
    *,
    metric: str = "auc",
    ax: Axes | None = None,
    title: str | None = None,
    reference: float | None = 0.5,
) -> Figure:
    """Grouped bars of ``metric`` (``auc`` or ``pauc``) per (machine type, ID), one bar per
    method (concatenated :func:`audioanom.metrics.per_id_metrics` tables). IDs without a value
    (one class only) are marked "n/a"; ``reference`` draws the chance level."""
    for col in ("method", "machine_type", "id", metric):
        if col not in per_id.columns:
            raise ValueError(f"per-ID table lacks column {col!r}")
    df = per_id.assign(name=per_id["machine_type"].astype(str) + "\n" + per_id["id"].astype(str))
    names = list(dict.fromkeys(df.sort_values(["machine_type", "id"])["name"]))
    methods = list(dict.fromkeys(df["method"]))
    fig, ax = _axes(ax, (max(5.0, 0.5 * len(names) * max(len(methods), 1) + 2), 3.6))
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(names))
    for k, m in enumerate(methods):
        vals = df[df["method"] == m].set_index("name")[metric].reindex(names).to_numpy(float)
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, np.nan_to_num(vals, nan=0.0), width, label=m)
        for p, v in zip(pos, vals, strict=True):
            if not np.isfinite(v):
                ax.text(p, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    if reference is not None:
        ax.axhline(reference, color="0.4", ls="--", lw=0.8)
    ax.set_xticks(x, names, fontsize=8)
    ax.set(ylabel={"auc": "AUC", "pauc": "pAUC"}.get(metric, metric), ylim=(0, 1.05))
    ax.legend(ncols=min(len(methods), 3))
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------------------------
# STFT pictures


def _complex(spec: np.ndarray) -> np.ndarray:
    """``(2, F, T)`` real/imag or complex ``(F, T)`` -> complex ``(F, T)``."""
    spec = np.asarray(spec)
    if np.iscomplexobj(spec) and spec.ndim == 2:
        return spec
    if spec.ndim == 3 and spec.shape[0] == 2:
        return spec[0] + 1j * spec[1]
    raise ValueError(f"expected a (2, F, T) real/imag STFT or complex (F, T), got {spec.shape}")


def _extent(z: np.ndarray, sr: int, hop: int) -> list[float]:
    n_bins, n_frames = z.shape
    return [0.0, n_frames * hop / sr, 0.0, sr / 2 * n_bins / (n_bins - 0.5)]


def plot_log_magnitude(
    spec: np.ndarray,
    *,
    sr: int = 16000,
    hop: int = 512,
    dynamic_range_db: float = 80.0,
    ax: Axes | None = None,
    title: str | None = "log magnitude",
    colorbar: bool = True,
) -> Figure:
    """``20 log10 |X|`` in dB relative to the maximum of a ``(2, F, T)`` STFT."""
    z = _complex(spec)
    mag = np.abs(z)
    db = 20 * np.log10(mag / max(float(mag.max()), 1e-20) + 1e-12)
    _, ax = _axes(ax)
    return time_frequency_image(
        ax,
        db,
        extent=_extent(z, sr, hop),
        vmin=-dynamic_range_db,
        vmax=0,
        cmap="magma",
        colorbar_label="dB" if colorbar else None,
        title=title,
    )


def plot_phase(
    spec: np.ndarray,
    *,
    sr: int = 16000,
    hop: int = 512,
    ax: Axes | None = None,
    title: str | None = "phase",
    colorbar: bool = True,
) -> Figure:
    """Phase ``angle(X)`` in radians (cyclic colour map) of a ``(2, F, T)`` STFT."""
    z = _complex(spec)
    _, ax = _axes(ax)
    return time_frequency_image(
        ax,
        np.angle(z),
        extent=_extent(z, sr, hop),
        vmin=-np.pi,
        vmax=np.pi,
        cmap="twilight",
        colorbar_label="rad" if colorbar else None,
        title=title,
    )


def instantaneous_frequency_deviation(
    spec: np.ndarray, *, n_fft: int = 1024, hop: int = 512, sr: int = 16000
) -> np.ndarray:
    """Phase derivative along time minus each bin's expected advance, in Hz, ``(F, T - 1)``.

    ``dphi = angle(X[:, t] conj(X[:, t-1]))``; a stationary sinusoid at bin frequency
    ``f_k`` advances by ``2 pi f_k hop / sr``; the wrapped difference divided by
    ``2 pi hop / sr`` is the offset of the instantaneous frequency from ``f_k`` (aliased to
    +- sr / (2 hop) = +- 15.6 Hz with hop 512).
    """
    z = _complex(spec)
    dphi = np.angle(z[:, 1:] * np.conj(z[:, :-1]))  # F, T-1
    expected = 2 * np.pi * np.arange(z.shape[0])[:, None] * hop / n_fft  # F, 1
    dev = np.angle(np.exp(1j * (dphi - expected)))  # wrapped to (-pi, pi]
    return dev * sr / (2 * np.pi * hop)


def plot_instantaneous_frequency(
    spec: np.ndarray,
    *,
    sr: int = 16000,
    hop: int = 512,
    n_fft: int = 1024,
    mask_below_db: float | None = -60.0,
    ax: Axes | None = None,
    title: str | None = "instantaneous-frequency deviation",
    colorbar: bool = True,
) -> Figure:
    """:func:`instantaneous_frequency_deviation` as a picture; bins more than
    ``mask_below_db`` under the maximum magnitude (noise, random phase) are greyed out."""
    z = _complex(spec)
    dev = instantaneous_frequency_deviation(z, n_fft=n_fft, hop=hop, sr=sr)  # F, T-1
    if mask_below_db is not None:
        mag = np.abs(z[:, 1:])
        dev = np.ma.masked_where(mag < mag.max() * 10 ** (mask_below_db / 20), dev)
    _, ax = _axes(ax)
    lim = sr / (2 * hop)
    ext = _extent(z, sr, hop)
    ext[0] = hop / sr
    cmap = plt.get_cmap("coolwarm").with_extremes(bad="0.85")
    return time_frequency_image(
        ax,
        dev,
        extent=ext,
        vmin=-lim,
        vmax=lim,
        cmap=cmap,
        colorbar_label="Hz" if colorbar else None,
        title=title,
    )


def plot_stft_views(
    spec: np.ndarray,
    *,
    sr: int = 16000,
    hop: int = 512,
    n_fft: int = 1024,
    max_hz: float | None = None,
    axes: Sequence[Axes] | None = None,
    title: str | None = None,
) -> Figure:
    """Three panels of one clip's complex STFT ``(2, F, T)``: log magnitude, phase, and
    instantaneous-frequency deviation (the phase derivative the complex network can see and a
    magnitude spectrogram cannot)."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    else:
        if len(axes) != 3:
            raise ValueError(f"need 3 axes, got {len(axes)}")
        fig = axes[0].figure
    plot_log_magnitude(spec, sr=sr, hop=hop, ax=axes[0])
    plot_phase(spec, sr=sr, hop=hop, ax=axes[1])
    plot_instantaneous_frequency(spec, sr=sr, hop=hop, n_fft=n_fft, ax=axes[2])
    if max_hz is not None:
        for a in axes:
            a.set_ylim(0, max_hz)
    if title:
        fig.suptitle(title)
    return fig


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
    if title:
        ax.set_title(title)
    return fig


def plot_score_grid(
    scores: pd.DataFrame,
    *,
    score_col: str = "score",
    type_col: str = "group",
    ncols: int = 3,
) -> Figure:
    """One ROC panel per machine type (:func:`plot_roc_curves`), on a grid."""
    df = _test_rows(scores, score_col, type_col)
    types = sorted(df[type_col].unique().tolist(), key=str)
    fig, axes = tight_grid(len(types), ncols=ncols, size=(4.0, 3.8))
    for a, t in zip(axes, types, strict=True):
        plot_roc_curves(
            df[df[type_col] == t], score_col=score_col, type_col=type_col, ax=a, title=str(t)
        )
    return fig
