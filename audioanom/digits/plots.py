"""Figures of the spoken-digit exploration (notebooks 01-04).

Same conventions as :mod:`audioanom.plotting`: each function takes ``ax=None`` (a new figure
when None) unless it draws several panels, returns the figure, and never writes a file --
:func:`audioanom.plotting.save_figure` does that. Colours come from the project palette;
histograms, heatmaps, grouped bars and per-group lines are drawn with seaborn. Mean spectra
with a quantile band stay numpy + matplotlib: seaborn's ``lineplot(errorbar=...)`` would
aggregate a long table of clips x bins (3,000 x 4,001 rows for AudioMNIST: about 20 s a
figure) for the same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..plotting import (
    _axes,
    _titled,
    annotated_heatmap,
    grouped_bars,
    label_colors,
    palette,
    panel_grid,
    tight_grid,
)
from .detectors import PCAModel
from .embedding import ClusterProfiles
from .exploration import SampleReconstruction


def _check_rows(X: np.ndarray, n_cols: int, name: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_cols:
        raise ValueError(f"{name} must be (N, {n_cols}) to match the frequencies, got {X.shape}")
    return X


# --------------------------------------------------------------------------- 01: spectra


def plot_mean_spectrum(
    freqs: np.ndarray,
    X: np.ndarray,
    *,
    band: tuple[float, float] = (0.25, 0.75),
    ax: Axes | None = None,
    label: str | None = None,
    log_y: bool = True,
    title: str | None = None,
) -> Figure:
    """Mean feature row (N, F) over frequency with a quantile band (interquartile by default)."""
    X = _check_rows(X, len(freqs))
    fig, ax = _axes(ax)
    lo, hi = np.quantile(X, band, axis=0)
    line = ax.plot(freqs, X.mean(axis=0), label=label or "mean")[0]
    ax.fill_between(
        freqs,
        lo,
        hi,
        color=line.get_color(),
        alpha=0.25,
        lw=0,
        label=f"{band[0]:.0%}-{band[1]:.0%} of clips",
    )
    ax.set(xlabel="frequency [Hz]", ylabel="magnitude / clip max", xlim=(freqs[0], freqs[-1]))
    if log_y:
        ax.set_yscale("log")
    ax.legend(loc="upper right")
    return _titled(ax, title)


def plot_spectra_image(
    freqs: np.ndarray,
    X: np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    ax: Axes | None = None,
    floor_db: float = -60.0,
    title: str | None = None,
) -> Figure:
    """Every feature row as one line of an image (dB re. 1), rows in the given order; the
    boundaries between consecutive ``groups`` (e.g. speakers) are marked on the right."""
    X = _check_rows(X, len(freqs))
    fig, ax = _axes(ax)
    db = 20 * np.log10(np.maximum(X, 10 ** (floor_db / 20))) if X.min() >= 0 else X
    mesh = ax.imshow(
        db,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        extent=(freqs[0], freqs[-1], 0, X.shape[0]),
        vmin=floor_db if X.min() >= 0 else None,
    )
    ax.grid(False)
    ax.set(xlabel="frequency [Hz]", ylabel="clip")
    fig.colorbar(mesh, ax=ax, label="dB re. clip max")
    if groups is not None:
        g = np.asarray(groups)
        edges = np.flatnonzero(g[1:] != g[:-1]) + 1
        for e in edges:
            ax.axhline(e, color="white", lw=0.3, alpha=0.6)
    return _titled(ax, title)


def plot_group_spectra(
    freqs: np.ndarray,
    X: np.ndarray,
    groups: Sequence[str],
    *,
    ax: Axes | None = None,
    log_y: bool = True,
    title: str | None = None,
    max_legend: int = 12,
) -> Figure:
    """Mean spectrum of each group (e.g. each speaker) as one thin line: the group means
    (numpy) drawn by ``seaborn.lineplot`` with ``hue`` = group, groups sorted, each line
    labelled with its group; a legend when there are at most ``max_legend`` groups."""
    X = _check_rows(X, len(freqs))
    g = np.asarray(groups)
    if g.shape != (X.shape[0],):
        raise ValueError(f"groups must have shape ({X.shape[0]},), got {g.shape}")
    fig, ax = _axes(ax)
    names = [str(n) for n in sorted(set(g))]
    means = pd.DataFrame({n: X[g.astype(str) == n].mean(axis=0) for n in names}, index=freqs)
    long = means.rename_axis(index="frequency", columns=None).reset_index()
    n_before = len(ax.get_lines())
    sns.lineplot(
        data=long.melt(id_vars="frequency", var_name="group", value_name="mean"),
        x="frequency",
        y="mean",
        hue="group",
        hue_order=names,
        palette=palette(len(names)),
        estimator=None,
        lw=0.7,
        alpha=0.8,
        legend=False,
        ax=ax,
    )
    for line, name in zip(ax.get_lines()[n_before:], names, strict=True):
        line.set_label(name)  # seaborn draws the levels in hue_order
    ax.set(xlabel="frequency [Hz]", ylabel="mean magnitude / clip max", xlim=(freqs[0], freqs[-1]))
    if log_y:
        ax.set_yscale("log")
    if len(names) <= max_legend:
        ax.legend(ncols=2, fontsize=7, title="speaker")
    return _titled(ax, title)


# --------------------------------------------------------------------------- 02: scores


def plot_explained_variance(
    pca: PCAModel, *, target: float | None = None, ax: Axes | None = None
) -> Figure:
    """Cumulative explained variance of the kept components, with the target fraction marked."""
    fig, ax = _axes(ax)
    cum = np.cumsum(pca.explained_variance_ratio)
    ax.plot(np.arange(1, cum.size + 1), cum)
    if target is not None:
        ax.axhline(target, color="0.4", ls="--", lw=0.8, label=f"target {target:g}")
        ax.legend(loc="lower right")
    ax.axvline(pca.n_components, color="0.6", lw=0.8)
    ax.set(
        xlabel="components",
        ylabel="cumulative explained variance",
        title=f"PCA: {pca.n_components} components, {cum[-1]:.3f} of the variance",
    )
    return fig


def plot_score_scatter(
    if_scores: np.ndarray,
    pca_errors: np.ndarray,
    *,
    categories: Sequence[str] | None = None,
    annotate: Mapping[int, str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Isolation Forest score against PCA error, one point per clip (log error axis), coloured
    by ``categories`` (e.g. anomaly kind) when given; ``annotate`` labels chosen points."""
    x, y = np.asarray(if_scores), np.asarray(pca_errors)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"need two equal 1-D score arrays, got {x.shape}, {y.shape}")
    fig, ax = _axes(ax)
    if categories is None:
        ax.scatter(x, y, s=8, alpha=0.6, lw=0)
    else:
        cats = np.asarray(categories).astype(str)
        names = sorted(set(cats), key=lambda c: (c != "none", c))
        colors = palette(len(names))
        for i, c in enumerate(names):
            m = cats == c
            ax.scatter(x[m], y[m], s=10, alpha=0.75, lw=0, color=colors[i], label=c)
        ax.legend(fontsize=7, markerscale=1.5)
    for i, text in (annotate or {}).items():
        ax.annotate(text, (x[i], y[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel="Isolation Forest score", ylabel="PCA reconstruction error")
    ax.set_yscale("log")
    return fig


def plot_score_histograms(
    scores: Mapping[str, np.ndarray], *, bins: int = 40, labels: Sequence[str] | None = None
) -> Figure:
    """One histogram per named score (e.g. Isolation Forest, PCA error), side by side
    (``seaborn.histplot``, ``bins`` bins over each score's range).

    ``labels`` (one per clip: ``normal``/``anomaly``, or ``none`` and anomaly kinds) splits
    every histogram by label (``hue``): layered histograms on common bins, normal first, in
    :func:`audioanom.plotting.label_colors`. Without labels one grey histogram of all clips.
    """
    hue = None if labels is None else np.asarray(labels).astype(str)
    levels = None
    if hue is not None:
        levels = sorted(set(hue), key=lambda v: (v not in ("normal", "none"), v != "anomaly", v))

    def draw(ax: Axes, item: tuple[str, np.ndarray]) -> None:
        name, values = item
        s = np.asarray(values, dtype=float)
        if hue is not None and hue.shape != s.shape:
            raise ValueError(f"labels {hue.shape} and scores {name!r} {s.shape} must match")
        sns.histplot(
            x=s,
            hue=hue,
            hue_order=levels,
            bins=bins,
            palette=label_colors(levels) if levels else None,
            color=None if levels else "0.35",
            alpha=0.55 if levels else 1.0,
            ax=ax,
        )
        ax.set(xlabel=name, ylabel="clips")

    return panel_grid(scores.items(), draw, ncols=len(scores), size=(3.6, 2.6))


def plot_error_by_frequency(
    freqs: np.ndarray,
    bin_errors: np.ndarray,
    *,
    band: tuple[float, float] = (0.25, 0.75),
    top: np.ndarray | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Where in frequency the PCA misses: mean squared error per bin over all clips with a
    quantile band, and (``top``: a boolean row mask) the mean over the highest-scored clips."""
    E = _check_rows(bin_errors, len(freqs), "bin_errors")
    fig, ax = _axes(ax)
    lo, hi = np.quantile(E, band, axis=0)
    ax.plot(freqs, E.mean(axis=0), label="mean, all clips")
    ax.fill_between(
        freqs,
        np.maximum(lo, 1e-12),
        np.maximum(hi, 1e-12),
        alpha=0.25,
        lw=0,
        label=f"{band[0]:.0%}-{band[1]:.0%}",
    )
    if top is not None and np.any(top):
        ax.plot(
            freqs,
            E[np.asarray(top)].mean(axis=0),
            lw=0.8,
            label=f"mean, {int(np.sum(top))} highest-error clips",
        )
    ax.set(xlabel="frequency [Hz]", ylabel="squared error per bin", xlim=(freqs[0], freqs[-1]))
    ax.set_yscale("log")
    ax.legend(loc="upper right")
    return fig


def plot_auc_table(
    wide: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """A wide AUC table (rows: features/detector, columns: overall and groups) as an annotated
    heatmap (:func:`audioanom.plotting.annotated_heatmap`; 0.5 = chance, 1 = perfect): each
    cell shows its AUC to two decimals, a missing one (NaN, blank) shows "-"."""
    values = wide.to_numpy(dtype=float)
    fig, ax = _axes(ax, figsize=(1.0 + 0.85 * values.shape[1], 0.8 + 0.36 * values.shape[0]))
    annotated_heatmap(
        ax,
        values,
        [["-" if np.isnan(v) else f"{v:.2f}" for v in row] for row in values],
        xticklabels=[str(c) for c in wide.columns],
        yticklabels=[
            " / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in wide.index
        ],
        cmap="viridis",
        vmin=0.5,
        vmax=1.0,
        fontsize=7,
        xrotation=30,
        cbar_kws={"label": "ROC AUC"},
    )
    ax.tick_params(labelsize=8)
    return _titled(ax, title)


def plot_auc_by_kind(table: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """AUC per anomaly kind (columns ``detector, kind, auc``) as grouped horizontal bars
    (:func:`audioanom.plotting.grouped_bars`: one group per kind, top to bottom in table order,
    one bar per detector)."""
    fig, ax = _axes(ax)
    grouped_bars(
        ax,
        table,
        cat="kind",
        value="auc",
        hue="detector",
        horizontal=True,
        legend_title="detector",
        loc="lower right",
        fontsize=8,
    )
    ax.axvline(0.5, color="0.4", ls="--", lw=0.8)
    ax.set(xlabel="ROC AUC (normal vs. this kind)", ylabel="", xlim=(0, 1))
    return fig


# --------------------------------------------------------------------------- 03: maps


def _map_finish(ax: Axes, title: str | None) -> Figure:
    """PaCMAP axes: named, no ticks (the coordinates mean nothing), titled."""
    ax.set(xlabel="PaCMAP 1", ylabel="PaCMAP 2", xticks=[], yticks=[])
    return _titled(ax, title)


def plot_embedding_scores(
    Y: np.ndarray,
    size_values: np.ndarray,
    color_values: np.ndarray,
    *,
    size_label: str = "PCA reconstruction error",
    color_label: str = "Isolation Forest score",
    ax: Axes | None = None,
    title: str | None = None,
    sizes: tuple[float, float] = (2.0, 60.0),
) -> Figure:
    """A 2-D map, point size = ``size_values`` (scaled linearly between its min and max), colour
    = ``color_values``, with a colour bar and a size legend."""
    Y = np.asarray(Y)
    s_val, c_val = np.asarray(size_values, float), np.asarray(color_values, float)
    if Y.ndim != 2 or Y.shape[1] != 2 or s_val.shape != (Y.shape[0],) or c_val.shape != s_val.shape:
        raise ValueError(
            f"need Y (N, 2) and two (N,) arrays, got {Y.shape}, {s_val.shape}, {c_val.shape}"
        )
    fig, ax = _axes(ax, figsize=(7.0, 5.6))
    lo, hi = float(s_val.min()), float(s_val.max())

    def to_size(v):
        return sizes[0] + (sizes[1] - sizes[0]) * (np.asarray(v) - lo) / max(hi - lo, 1e-12)

    order = np.argsort(s_val)  # big points last, on top
    pts = ax.scatter(
        Y[order, 0],
        Y[order, 1],
        s=to_size(s_val[order]),
        c=c_val[order],
        cmap="viridis",
        alpha=0.8,
        lw=0,
    )
    fig.colorbar(pts, ax=ax, label=color_label)
    marks = np.quantile(s_val, [0.5, 0.9, 1.0])
    handles = [ax.scatter([], [], s=to_size(v), color="0.4", lw=0) for v in marks]
    ax.legend(
        handles,
        [f"{v:.3g}" for v in marks],
        title=size_label,
        loc="best",
        fontsize=7,
        title_fontsize=8,
    )
    return _map_finish(ax, title)


def plot_embedding_labels(
    Y: np.ndarray,
    labels: Sequence,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    legend_title: str | None = None,
) -> Figure:
    """A 2-D map coloured by a categorical label (cluster, anomaly kind, speaker)."""
    Y = np.asarray(Y)
    lab = np.asarray(labels).astype(str)
    if Y.ndim != 2 or Y.shape[1] != 2 or lab.shape != (Y.shape[0],):
        raise ValueError(f"need Y (N, 2) and labels (N,), got {Y.shape}, {lab.shape}")
    fig, ax = _axes(ax, figsize=(6.4, 5.2))
    names = sorted(set(lab), key=lambda v: (v != "none", len(v), v))
    for name, color in zip(names, palette(len(names)), strict=True):
        m = lab == name
        ax.scatter(
            Y[m, 0],
            Y[m, 1],
            s=9,
            alpha=0.8,
            lw=0,
            color=color,
            label=f"{name} ({int(m.sum())})",
        )
    ax.legend(title=legend_title, fontsize=7, markerscale=1.6, loc="best")
    return _map_finish(ax, title)


def plot_silhouette_by_k(
    table: pd.DataFrame, *, chosen: int | None = None, ax: Axes | None = None
) -> Figure:
    """Mean silhouette against k (columns ``k``, ``silhouette``), the chosen k marked."""
    fig, ax = _axes(ax, figsize=(5.0, 3.4))
    ax.plot(table["k"], table["silhouette"], marker="o")
    if chosen is not None:
        ax.axvline(chosen, color="0.4", ls="--", lw=0.8, label=f"k = {chosen}")
        ax.legend()
    ax.set(xlabel="k (k-means clusters)", ylabel="mean silhouette", xticks=list(table["k"]))
    return fig


def plot_silhouette_samples(
    silhouettes: np.ndarray, labels: np.ndarray, *, ax: Axes | None = None
) -> Figure:
    """The classic silhouette plot: each cluster's per-sample silhouettes sorted, stacked."""
    sil, lab = np.asarray(silhouettes), np.asarray(labels)
    if sil.shape != lab.shape or sil.ndim != 1:
        raise ValueError(f"silhouettes {sil.shape} and labels {lab.shape} must be equal 1-D")
    fig, ax = _axes(ax, figsize=(5.0, 4.2))
    y0 = 0
    clusters = np.unique(lab)
    for c, color in zip(clusters, palette(len(clusters)), strict=True):
        vals = np.sort(sil[lab == c])
        ax.fill_betweenx(np.arange(y0, y0 + vals.size), 0, vals, color=color, alpha=0.8, lw=0)
        ax.text(-0.05, y0 + vals.size / 2, str(c), ha="right", va="center", fontsize=8)
        y0 += vals.size + 5
    ax.axvline(sil.mean(), color="0.3", ls="--", lw=0.8, label=f"mean {sil.mean():.2f}")
    ax.set(
        xlabel="silhouette", ylabel="clips, by cluster", yticks=[], xlim=(min(-0.1, sil.min()), 1)
    )
    ax.legend(loc="lower right")
    return fig


def plot_cluster_profiles(
    freqs: np.ndarray,
    profiles: ClusterProfiles,
    *,
    log_y: bool = True,
    ylabel: str = "share of the clip's error",
    smooth: int = 1,
) -> Figure:
    """Each cluster's mean error profile over frequency with its interquartile band, one panel
    per cluster (shared axes) so the bands do not hide each other. ``smooth`` > 1 draws moving
    averages over that many bins (display only), which makes spiky per-bin profiles readable."""
    from scipy.ndimage import uniform_filter1d

    k = len(profiles.clusters)
    if profiles.mean.shape[1] != len(freqs):
        raise ValueError(f"profiles have {profiles.mean.shape[1]} bins, freqs {len(freqs)}")

    def show(v: np.ndarray) -> np.ndarray:
        return uniform_filter1d(v, smooth, axis=-1, mode="nearest") if smooth > 1 else v

    mean, lower, upper = show(profiles.mean), show(profiles.lower), show(profiles.upper)
    fig, axes = tight_grid(k, ncols=min(k, 3), size=(3.6, 2.5))
    floor = max(float(mean[mean > 0].min(initial=1e-12)), 1e-12)
    for i, (ax, color) in enumerate(zip(axes, palette(k), strict=True)):
        ax.fill_between(
            freqs,
            np.maximum(lower[i], floor),
            np.maximum(upper[i], floor),
            color=color,
            alpha=0.3,
            lw=0,
            label="25-75 %",
        )
        ax.plot(freqs, np.maximum(mean[i], floor), color=color, lw=0.8, label="mean")
        ax.set_title(f"cluster {profiles.clusters[i]} ({profiles.counts[i]} clips)", fontsize=9)
        ax.set(xlabel="frequency [Hz]", ylabel=ylabel, xlim=(freqs[0], freqs[-1]))
        if log_y:
            ax.set_yscale("log")
    for ax in axes[1:]:
        ax.sharey(axes[0])
    axes[0].legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------- 04: samples


def plot_cluster_recovery(
    table: pd.DataFrame, *, metric: str = "ari", ax: Axes | None = None
) -> Figure:
    """A :func:`audioanom.digits.evaluation.kind_cluster_benchmark` table as grouped
    horizontal bars (:func:`audioanom.plotting.grouped_bars`): one group per feature variant,
    top to bottom in table order, one bar per pattern form and clustering."""
    if metric not in ("ari", "purity"):
        raise ValueError(f"metric must be 'ari' or 'purity', got {metric!r}")
    missing = {"features", "pattern", "clustering", metric} - set(table.columns)
    if missing:
        raise ValueError(f"the table lacks columns {sorted(missing)}")
    fig, ax = _axes(ax, figsize=(7.0, 0.9 + 0.75 * table["features"].nunique()))
    grouped_bars(
        ax,
        table.assign(how=table["pattern"] + ", " + table["clustering"]),
        cat="features",
        value=metric,
        hue="how",
        horizontal=True,
        legend_title="error pattern, clustering",
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title_fontsize=7,
    )
    label = "adjusted Rand index" if metric == "ari" else "purity"
    ax.set(xlabel=f"{label} of the clusters against the known kinds", ylabel="")
    ax.axvline(0.0, color="0.4", lw=0.8)
    return fig


def plot_sample_reconstruction(sample: SampleReconstruction, *, log_y: bool = False) -> Figure:
    """One clip in four stacked panels: original vs reconstructed spectrum; the squared error
    per frequency bin (the error highlighted); original vs reconstructed waveform (inverse FFT
    of the reconstructed magnitude with the original phase); and their difference over time."""
    fig, (a, e, b, r) = plt.subplots(
        4, 1, figsize=(8.0, 8.0), gridspec_kw={"height_ratios": [2.2, 1, 2.2, 1]}
    )
    f = sample.frequencies
    a.plot(f, sample.features, lw=0.7, label="original")
    a.plot(f, sample.reconstruction, lw=0.7, alpha=0.85, label="PCA reconstruction")
    a.set(
        ylabel="magnitude / clip max",
        xlim=(f[0], f[-1]),
        title=f"{sample.file}: reconstruction error {sample.error:.3g}",
    )
    if log_y:
        a.set_yscale("symlog", linthresh=1e-3)
    a.legend(loc="upper right", fontsize=8)
    e.fill_between(f, 0, sample.bin_errors, color="C3", alpha=0.6, lw=0)
    e.plot(f, sample.bin_errors, color="C3", lw=0.4)
    e.set(xlabel="frequency [Hz]", ylabel="squared error", xlim=(f[0], f[-1]), ylim=(0, None))
    t = np.arange(sample.waveform.size) / sample.sr
    b.plot(t, sample.waveform, lw=0.6, label="original")
    b.plot(t, sample.waveform_rec, lw=0.6, alpha=0.8, label="reconstructed (original phase)")
    b.set(ylabel="amplitude", xlim=(0, t[-1]))
    b.legend(loc="upper right", fontsize=8)
    diff = sample.waveform - sample.waveform_rec
    r.fill_between(t, -np.abs(diff), np.abs(diff), color="C3", alpha=0.4, lw=0)
    r.plot(t, diff, color="C3", lw=0.4)
    lim = max(float(np.abs(sample.waveform).max()), 1e-12)
    r.set(xlabel="time [s]", ylabel="difference", xlim=(0, t[-1]), ylim=(-lim, lim))
    return fig


__all__ = [
    "plot_auc_by_kind",
    "plot_auc_table",
    "plot_cluster_profiles",
    "plot_cluster_recovery",
    "plot_embedding_labels",
    "plot_embedding_scores",
    "plot_error_by_frequency",
    "plot_explained_variance",
    "plot_group_spectra",
    "plot_mean_spectrum",
    "plot_sample_reconstruction",
    "plot_score_histograms",
    "plot_score_scatter",
    "plot_silhouette_by_k",
    "plot_silhouette_samples",
    "plot_spectra_image",
]
