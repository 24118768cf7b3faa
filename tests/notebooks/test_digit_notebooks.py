"""The spoken-digit notebooks (01-04) on every data set they take, in smoke mode: the real
AudioMNIST sixes and FSDD (need the shared data), and the synthetic "six" set (the default,
also run by test_notebooks.py) with checks of its labelled-data sections."""

from __future__ import annotations

import pytest

from audioanom.runner import run_notebooks
from tests.conftest import shared

DIGIT_NOTEBOOKS = [
    "01_audiomnist_fft",
    "02_audiomnist_isolation_forest_pca",
    "03_audiomnist_pacmap_maps",
    "04_audiomnist_sample_analysis",
]
RUNS = [(nb, real) for real in ("audiomnist", "fsdd") for nb in DIGIT_NOTEBOOKS] + [
    (DIGIT_NOTEBOOKS[1], "synthetic"),  # AUC per anomaly kind
    (DIGIT_NOTEBOOKS[2], "synthetic"),  # clusters against the known anomaly kinds
]


@pytest.mark.notebook
@pytest.mark.parametrize(("nb", "dataset"), RUNS, ids=[f"{n[:2]}-{d}" for n, d in RUNS])
def test_digit_notebook_runs_on_other_data(nb, dataset, tmp_path, monkeypatch):
    if dataset == "fsdd":
        shared("fsdd")  # skips with the reason when the real data is absent
    if dataset == "audiomnist":
        shared("audiomnist_six")
    monkeypatch.setenv("AUDIOANOM_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("AUDIOANOM_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    results = run_notebooks(
        [nb], parameters={"dataset": dataset}, smoke=True, output_dir=tmp_path / "executed"
    )
    assert results[0].status == "ok", results[0].error
    figures = sorted(p.stem for p in (tmp_path / "figures").glob("*/*.png"))
    assert figures and all(f.startswith(nb[:2] + "_") for f in figures), figures
    if nb.startswith("02") or nb.startswith("03"):
        assert list((tmp_path / "build" / "results").glob("*.csv"))
    if dataset == "synthetic" and nb.startswith("03"):
        assert {"03_error_map_kinds", "03_kind_clusters_by_features"} <= set(figures)
    if dataset == "synthetic" and nb.startswith("02"):
        assert "02_auc_by_kind" in figures
