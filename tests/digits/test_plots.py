"""Figure functions of the digit exploration draw into given axes, return the figure and
reject inputs of the wrong shape."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from audioanom.digits.detectors import fit_pca  # noqa: E402
from audioanom.digits.embedding import cluster_profiles  # noqa: E402
from audioanom.digits.exploration import SampleReconstruction  # noqa: E402
from audioanom.digits.plots import (  # noqa: E402
    plot_auc_by_kind,
    plot_auc_table,
    plot_cluster_profiles,
    plot_cluster_recovery,
    plot_embedding_labels,
    plot_embedding_scores,
    plot_error_by_frequency,
    plot_explained_variance,
    plot_group_spectra,
    plot_mean_spectrum,
    plot_sample_reconstruction,
    plot_score_histograms,
    plot_score_scatter,
    plot_silhouette_by_k,
    plot_silhouette_samples,
    plot_spectra_image,
)
from audioanom.plotting import LABEL_COLORS, PALETTE  # noqa: E402

RNG = np.random.default_rng(0)
FREQS = np.linspace(0, 4000, 65)
X = RNG.uniform(0.01, 1.0, (30, 65))
GROUPS = np.repeat(["a", "b", "c"], 10)


def _colorbar_label(mappable) -> str:
    assert mappable.colorbar is not None, "no colour bar"
    return mappable.colorbar.ax.get_ylabel()


def _offsets(collection) -> np.ndarray:
    return np.asarray(collection.get_offsets())


def test_single_axes_plots_draw_into_the_given_axes_the_given_data():
    fig, axes = plt.subplots(3, 4, figsize=(16, 10))  # room for the heatmap's layout draw
    a = axes.ravel()
    Y = RNG.standard_normal((30, 2))

    assert plot_mean_spectrum(FREQS, X, ax=a[0]) is fig
    (line,) = a[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), FREQS)
    np.testing.assert_allclose(line.get_ydata(), X.sum(axis=0) / 30)
    assert (a[0].get_xlabel(), a[0].get_ylabel()) == ("frequency [Hz]", "magnitude / clip max")
    assert a[0].get_yscale() == "log" and a[0].get_xlim() == (0.0, 4000.0)

    assert plot_spectra_image(FREQS, X, groups=GROUPS, ax=a[1]) is fig
    (image,) = a[1].get_images()
    np.testing.assert_allclose(image.get_array(), 20 * np.log10(X))  # X >= 0.01: above -60 dB
    assert image.get_extent() == [0.0, 4000.0, 0.0, 30.0]
    assert _colorbar_label(image) == "dB re. clip max"
    assert sorted(ln.get_ydata()[0] for ln in a[1].get_lines()) == [10, 20]  # group edges

    assert plot_group_spectra(FREQS, X, GROUPS, ax=a[2]) is fig
    lines = a[2].get_lines()
    assert [ln.get_label() for ln in lines] == ["a", "b", "c"]
    for ln, rows in zip(lines, (slice(0, 10), slice(10, 20), slice(20, 30)), strict=True):
        np.testing.assert_allclose(ln.get_ydata(), X[rows].sum(axis=0) / 10)
        np.testing.assert_array_equal(ln.get_xdata(), FREQS)
    # one palette: the groups take the project colours in order, and the legend says so
    assert [to_hex(ln.get_color()) for ln in lines] == [c.lower() for c in PALETTE[:3]]
    assert [t.get_text() for t in a[2].get_legend().get_texts()] == ["a", "b", "c"]

    pca = fit_pca(X, 0.9)
    assert plot_explained_variance(pca, target=0.9, ax=a[3]) is fig
    curve = a[3].get_lines()[0]
    ratio = np.asarray(pca.explained_variance_ratio)
    np.testing.assert_array_equal(curve.get_xdata(), np.arange(1, ratio.size + 1))
    np.testing.assert_allclose(curve.get_ydata(), np.cumsum(ratio))
    assert f"PCA: {pca.n_components} components" in a[3].get_title()
    assert a[3].get_lines()[1].get_ydata()[0] == 0.9  # target line

    cats = np.where(np.arange(30) < 25, "none", "odd")
    assert plot_score_scatter(X[:, 0], X[:, 1], categories=cats, annotate={0: "x"}, ax=a[4]) is fig
    none, odd = a[4].collections
    np.testing.assert_array_equal(_offsets(none), X[:25, :2])
    np.testing.assert_array_equal(_offsets(odd), X[25:, :2])
    assert [t.get_text() for t in a[4].get_legend().get_texts()] == ["none", "odd"]
    assert [t.get_text() for t in a[4].texts] == ["x"] and a[4].texts[0].xy == (X[0, 0], X[0, 1])
    assert a[4].get_yscale() == "log"

    assert plot_error_by_frequency(FREQS, X, top=np.arange(30) < 3, ax=a[5]) is fig
    mean_all, mean_top = a[5].get_lines()
    np.testing.assert_allclose(mean_all.get_ydata(), X.sum(axis=0) / 30)
    np.testing.assert_allclose(mean_top.get_ydata(), (X[0] + X[1] + X[2]) / 3)
    assert mean_top.get_label() == "mean, 3 highest-error clips"

    assert plot_embedding_scores(Y, X[:, 0], X[:, 1], ax=a[6]) is fig
    points = a[6].collections[0]
    order = np.argsort(X[:, 0])
    np.testing.assert_array_equal(_offsets(points), Y[order])
    np.testing.assert_array_equal(points.get_array(), X[order, 1])
    sizes = points.get_sizes()  # linear from 2 (smallest error) to 60 (largest)
    assert sizes[0] == pytest.approx(2.0) and sizes[-1] == pytest.approx(60.0)
    assert _colorbar_label(points) == "Isolation Forest score"
    assert a[6].get_legend().get_title().get_text() == "PCA reconstruction error"

    assert plot_embedding_labels(Y, GROUPS, ax=a[7]) is fig
    for coll, rows in zip(
        a[7].collections, (slice(0, 10), slice(10, 20), slice(20, 30)), strict=True
    ):
        np.testing.assert_array_equal(_offsets(coll), Y[rows])
    assert [t.get_text() for t in a[7].get_legend().get_texts()] == ["a (10)", "b (10)", "c (10)"]

    table = pd.DataFrame({"k": [2, 3, 4], "silhouette": [0.3, 0.5, 0.4]})
    assert plot_silhouette_by_k(table, chosen=3, ax=a[8]) is fig
    curve, chosen = a[8].get_lines()
    assert list(curve.get_xdata()) == [2, 3, 4] and list(curve.get_ydata()) == [0.3, 0.5, 0.4]
    assert list(chosen.get_xdata()) == [3, 3] and chosen.get_label() == "k = 3"

    sil = RNG.uniform(-0.2, 1, 30)
    assert plot_silhouette_samples(sil, GROUPS, ax=a[9]) is fig
    assert len(a[9].collections) == 3  # one stacked band per cluster
    assert [t.get_text() for t in a[9].texts] == ["a", "b", "c"]
    (mean_line,) = a[9].get_lines()
    assert mean_line.get_xdata()[0] == pytest.approx(sil.sum() / 30)

    kinds = pd.DataFrame(
        {
            "detector": ["IF", "IF", "PCA", "PCA"],
            "kind": ["x", "all"] * 2,
            "auc": [0.9, 0.8, 0.7, 0.6],
        }
    )
    assert plot_auc_by_kind(kinds, ax=a[10]) is fig
    widths = [round(p.get_width(), 6) for p in a[10].patches]
    assert widths == [0.9, 0.8, 0.7, 0.6]  # IF (x, all), then PCA (x, all)
    assert [t.get_text() for t in a[10].get_yticklabels()] == ["x", "all"]
    assert a[10].get_xlim() == (0.0, 1.0)
    ys = {round(p.get_y() + p.get_height() / 2) for p in a[10].patches[::2]}
    assert ys == {0}  # kind x: both detectors' bars side by side in the first group
    legend = a[10].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["IF", "PCA"]
    assert legend.get_title().get_text() == "detector"

    wide = pd.DataFrame({"all": [0.8, 0.9], "ann": [0.7, np.nan]}, index=["IF", "PCA"])
    assert plot_auc_table(wide, ax=a[11]) is fig
    (grid,) = a[11].collections  # seaborn heatmap: a QuadMesh (was an imshow image)
    np.testing.assert_array_equal(
        np.ma.filled(grid.get_array(), np.nan), [[0.8, 0.7], [0.9, np.nan]]
    )
    assert [t.get_text() for t in a[11].texts] == ["0.80", "0.70", "0.90", "-"]
    cells = {
        (t.get_position()[1] - 0.5, t.get_position()[0] - 0.5): t.get_text() for t in a[11].texts
    }
    values = wide.to_numpy()
    assert cells == {  # each text sits in its own cell: row r at y = r + 0.5, column c at c + 0.5
        (r, c): "-" if np.isnan(values[r, c]) else f"{values[r, c]:.2f}"
        for r in range(2)
        for c in range(2)
    }
    assert grid.get_clim() == (0.5, 1.0)
    assert [t.get_text() for t in a[11].get_yticklabels()] == ["IF", "PCA"]
    assert [t.get_text() for t in a[11].get_xticklabels()] == ["all", "ann"]
    assert _colorbar_label(grid) == "ROC AUC"
    plt.close("all")


def test_multi_panel_figures_plot_their_data_and_shape_errors():
    profiles = cluster_profiles(X, GROUPS)
    fig = plot_cluster_profiles(FREQS, profiles, smooth=3)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [f"cluster {c} (10 clips)" for c in "abc"]
    for ax, rows in zip(panels, (slice(0, 10), slice(10, 20), slice(20, 30)), strict=True):
        m = X[rows].mean(axis=0)
        padded = np.r_[m[0], m, m[-1]]  # moving average over 3 bins, edges repeated
        smoothed = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
        np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), smoothed, rtol=1e-12)
    fig = plot_score_histograms({"a": X[:, 0], "b": X[:, 1]})
    assert [ax.get_xlabel() for ax in fig.axes] == ["a", "b"]
    for ax, col in zip(fig.axes, (0, 1), strict=True):
        heights = [p.get_height() for p in ax.patches]
        assert heights == np.histogram(X[:, col], bins=40)[0].tolist()
        assert ax.get_ylabel() == "clips"
    wave, wave_rec = np.sin(np.arange(128.0)), np.cos(np.arange(128.0))
    sample = SampleReconstruction(
        "6_01_0.wav", 8000, FREQS, X[0], X[1], (X[0] - X[1]) ** 2, wave, wave_rec
    )
    fig = plot_sample_reconstruction(sample)
    spec, err, waves, diff = fig.axes
    assert len(fig.axes) == 4
    np.testing.assert_array_equal(spec.get_lines()[0].get_ydata(), X[0])
    np.testing.assert_array_equal(spec.get_lines()[1].get_ydata(), X[1])
    error = sum((X[0, i] - X[1, i]) ** 2 for i in range(65))
    assert spec.get_title() == f"6_01_0.wav: reconstruction error {error:.3g}"
    np.testing.assert_allclose(err.get_lines()[0].get_ydata(), (X[0] - X[1]) ** 2)
    np.testing.assert_array_equal(waves.get_lines()[0].get_xdata(), np.arange(128) / 8000)
    np.testing.assert_array_equal(waves.get_lines()[0].get_ydata(), wave)
    np.testing.assert_array_equal(waves.get_lines()[1].get_ydata(), wave_rec)
    np.testing.assert_allclose(diff.get_lines()[0].get_ydata(), wave - wave_rec)
    assert diff.get_xlabel() == "time [s]" and diff.get_ylim()[1] == np.abs(wave).max()
    with pytest.raises(ValueError, match="match the frequencies"):
        plot_mean_spectrum(FREQS[:10], X)
    with pytest.raises(ValueError, match="Y"):
        plot_embedding_scores(X[:, :3], X[:, 0], X[:, 1])
    with pytest.raises(ValueError, match="labels"):
        plot_embedding_labels(X[:, :2], GROUPS[:5])
    plt.close("all")


def test_score_histograms_split_by_label_count_each_class_on_common_bins():
    scores = {"IF": X[:, 0], "PCA": X[:, 1]}
    labels = np.where(np.arange(30) % 3 == 0, "anomaly", "normal")  # 10 anomalies, 20 normal
    fig = plot_score_histograms(scores, bins=8, labels=labels)
    assert [ax.get_xlabel() for ax in fig.axes] == ["IF", "PCA"]
    for ax, col in zip(fig.axes, (0, 1), strict=True):
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["normal", "anomaly"]
        edges = np.histogram_bin_edges(X[:, col], bins=8)  # common bins over both classes
        by_colour = {}
        for container in ax.containers:
            colour = to_hex(container[0].get_facecolor(), keep_alpha=False)
            by_colour[colour] = [p.get_height() for p in container]
            lefts = [p.get_x() for p in container]
            np.testing.assert_allclose(lefts, edges[:-1])
        for label in ("normal", "anomaly"):
            counts = np.histogram(X[labels == label, col], bins=edges)[0]
            heights = by_colour[LABEL_COLORS[label].lower()]
            assert heights == counts.tolist() and sum(heights) == (labels == label).sum()
    with pytest.raises(ValueError, match="must match"):
        plot_score_histograms(scores, labels=labels[:5])
    plt.close("all")


def test_cluster_recovery_bars():
    table = pd.DataFrame(
        {
            "features": ["fft", "fft", "mel", "mel"],
            "pattern": ["share", "log error"] * 2,
            "clustering": ["k-means"] * 4,
            "ari": [0.1, 0.2, 0.4, 0.5],
            "purity": [0.3, 0.4, 0.6, 0.7],
        }
    )
    fig, ax = plt.subplots()
    assert plot_cluster_recovery(table, ax=ax) is fig
    assert len(ax.patches) == 4 and [t.get_text() for t in ax.get_yticklabels()] == ["fft", "mel"]
    # bars per column of the pivot ("log error, k-means", "share, k-means"), rows fft, mel
    assert sorted(round(p.get_width(), 6) for p in ax.patches) == [0.1, 0.2, 0.4, 0.5]
    # one container per (pattern, clustering), in table order; bars top to bottom fft, mel
    hows = [t.get_text() for t in ax.get_legend().get_texts()]
    assert hows == ["share, k-means", "log error, k-means"]
    for container, how in zip(ax.containers, hows, strict=True):
        pattern = how.split(", ")[0]
        expected = table.loc[table["pattern"] == pattern, "ari"].tolist()
        assert [round(p.get_width(), 6) for p in container] == expected
        assert container[0].get_y() < container[1].get_y()  # fft above mel (y grows down)
    assert ax.yaxis_inverted()
    assert ax.get_xlabel() == "adjusted Rand index of the clusters against the known kinds"
    with pytest.raises(ValueError, match="metric"):
        plot_cluster_recovery(table, metric="nmi")
    with pytest.raises(ValueError, match="lacks"):
        plot_cluster_recovery(table.drop(columns="pattern"))
    plt.close("all")
