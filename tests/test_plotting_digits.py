"""Figure functions of the digit exploration draw into given axes, return the figure and
reject inputs of the wrong shape."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from audioanom.detectors import fit_pca  # noqa: E402
from audioanom.embedding import cluster_profiles  # noqa: E402
from audioanom.exploration import SampleReconstruction  # noqa: E402
from audioanom.plotting_digits import (  # noqa: E402
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

RNG = np.random.default_rng(0)
FREQS = np.linspace(0, 4000, 65)
X = RNG.uniform(0.01, 1.0, (30, 65))
GROUPS = np.repeat(["a", "b", "c"], 10)


def test_single_axes_plots_draw_into_the_given_axes():
    fig, axes = plt.subplots(3, 4)
    a = axes.ravel()
    Y = RNG.standard_normal((30, 2))
    assert plot_mean_spectrum(FREQS, X, ax=a[0]) is fig
    assert plot_spectra_image(FREQS, X, groups=GROUPS, ax=a[1]) is fig
    assert plot_group_spectra(FREQS, X, GROUPS, ax=a[2]) is fig
    assert plot_explained_variance(fit_pca(X, 0.9), target=0.9, ax=a[3]) is fig
    cats = np.where(np.arange(30) < 25, "none", "odd")
    assert plot_score_scatter(X[:, 0], X[:, 1], categories=cats, annotate={0: "x"}, ax=a[4]) is fig
    assert plot_error_by_frequency(FREQS, X, top=np.arange(30) < 3, ax=a[5]) is fig
    assert plot_embedding_scores(Y, X[:, 0], X[:, 1], ax=a[6]) is fig
    assert plot_embedding_labels(Y, GROUPS, ax=a[7]) is fig
    table = pd.DataFrame({"k": [2, 3, 4], "silhouette": [0.3, 0.5, 0.4]})
    assert plot_silhouette_by_k(table, chosen=3, ax=a[8]) is fig
    assert plot_silhouette_samples(RNG.uniform(-0.2, 1, 30), GROUPS, ax=a[9]) is fig
    kinds = pd.DataFrame(
        {
            "detector": ["IF", "IF", "PCA", "PCA"],
            "kind": ["x", "all"] * 2,
            "auc": [0.9, 0.8, 0.7, 0.6],
        }
    )
    assert plot_auc_by_kind(kinds, ax=a[10]) is fig
    wide = pd.DataFrame({"all": [0.8, 0.9], "ann": [0.7, np.nan]}, index=["IF", "PCA"])
    assert plot_auc_table(wide, ax=a[11]) is fig
    plt.close("all")


def test_multi_panel_figures_and_shape_errors():
    fig = plot_cluster_profiles(FREQS, cluster_profiles(X, GROUPS), smooth=3)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3
    fig = plot_score_histograms({"a": X[:, 0], "b": X[:, 1]})
    assert len(fig.axes) == 2
    sample = SampleReconstruction(
        "6_01_0.wav",
        8000,
        FREQS,
        X[0],
        X[1],
        (X[0] - X[1]) ** 2,
        np.sin(np.arange(128.0)),
        np.cos(np.arange(128.0)),
    )
    assert len(plot_sample_reconstruction(sample).axes) == 4
    with pytest.raises(ValueError, match="match the frequencies"):
        plot_mean_spectrum(FREQS[:10], X)
    with pytest.raises(ValueError, match="Y"):
        plot_embedding_scores(X[:, :3], X[:, 0], X[:, 1])
    with pytest.raises(ValueError, match="labels"):
        plot_embedding_labels(X[:, :2], GROUPS[:5])
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
    with pytest.raises(ValueError, match="metric"):
        plot_cluster_recovery(table, metric="nmi")
    with pytest.raises(ValueError, match="lacks"):
        plot_cluster_recovery(table.drop(columns="pattern"))
    plt.close("all")
