"""Every numbered notebook: structure (one scalar `parameters` cell with `smoke`, outputs
stripped) and an end-to-end papermill run in smoke mode."""

from __future__ import annotations

import ast
import subprocess
import sys

import nbformat
import pytest

from audioanom import paths
from audioanom.runner import list_notebooks, run_notebooks

NOTEBOOKS = list_notebooks()
EXPECTED = [
    "00_setup_and_data",
    "01_audiomnist_fft",
    "02_audiomnist_isolation_forest_pca",
    "03_audiomnist_pacmap_maps",
    "04_audiomnist_sample_analysis",
    "05_mimii_data_and_features",
    "06_mimii_complex_network_training",
    "07_mimii_per_id_auc_analysis",
]


def test_numbered_notebooks_are_there():
    stems = [nb.stem for nb in NOTEBOOKS]
    assert stems[: len(EXPECTED)] == EXPECTED
    assert stems == sorted(stems) and len({s[:2] for s in stems}) == len(stems)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_scalar_parameters_cell_with_smoke(nb):
    cells = nbformat.read(str(nb), as_version=4).cells
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{nb.name}: {len(tagged)} cells tagged 'parameters'"
    names = {}
    for stmt in ast.parse(tagged[0].source).body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1, (
            f"{nb.name}: the parameters cell holds only NAME = scalar lines, "
            f"got {ast.unparse(stmt)!r}"
        )
        value = ast.literal_eval(stmt.value)
        assert value is None or isinstance(value, (bool, int, float, str)), (
            f"{nb.name}: parameter {ast.unparse(stmt.targets[0])} is not a scalar"
        )
        names[stmt.targets[0].id] = value
    assert names.get("smoke") is False, f"{nb.name}: needs `smoke = False` among its parameters"


def test_outputs_are_stripped():
    result = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--verify", *map(str, NOTEBOOKS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"run nbstripout on the notebooks: {result.stdout}{result.stderr}"
    )


MACHINE_RUN = ("06_mimii_complex_network_training", "07_mimii_per_id_auc_analysis")


@pytest.mark.notebook
@pytest.mark.parametrize(
    "nb", [nb for nb in NOTEBOOKS if nb.stem not in MACHINE_RUN], ids=lambda p: p.stem
)
def test_notebook_runs_in_smoke_mode(nb, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOANOM_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("AUDIOANOM_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    results = run_notebooks([nb.stem], smoke=True, output_dir=tmp_path / "executed")
    assert results[0].status == "ok", results[0].error
    assert list((tmp_path / "figures").glob("*/*.png")), f"{nb.name} saved no figure"
    assert paths.figures_dir() == tmp_path / "figures"


@pytest.mark.notebook
def test_machine_notebooks_train_then_report_numbers_that_the_csvs_confirm(tmp_path, monkeypatch):
    """06 then 07 in smoke mode, sharing one build folder as a user's run does. The numbers 07
    prints (``tables/headline.json``) are recomputed here from the per-clip score CSVs with
    scikit-learn; every table carries the log-mel Gaussian; in CI (real data required) the
    FSDD and real-sample sections must have run and written their numbers."""
    import json

    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from audioanom.machines.pipeline import run_dir
    from audioanom.machines.tables import method_slug

    monkeypatch.setenv("AUDIOANOM_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("AUDIOANOM_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    results = run_notebooks(list(MACHINE_RUN), smoke=True, output_dir=tmp_path / "executed")
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    out = run_dir("synthetic", smoke=True)
    summary = pd.read_csv(out / "training_summary.csv")
    assert {"complex net", "magnitude-only", "autoencoder"} <= set(summary["method"])
    headline = json.loads((out / "tables" / "headline.json").read_text())
    wanted = {
        "complex net (gauss)",
        "complex net (layers)",
        "magnitude-only (gauss)",
        "autoencoder",
        "log-mel Gaussian",
    }
    assert wanted <= set(headline)
    for method in wanted:
        csv = pd.read_csv(out / "scores" / f"{method_slug(method)}.csv")
        test = csv[csv["split"] == "test"]
        aucs = [
            roc_auc_score(g["label"] == "anomaly", g["score"])
            for _, g in test.groupby(["machine_type", "id"])
            if g["label"].nunique() == 2
        ]
        assert headline[method]["auc"] == pytest.approx(sum(aucs) / len(aucs), abs=1e-9), method
    intervals = pd.read_csv(out / "tables" / "auc_intervals.csv")
    overall = intervals[intervals["machine_type"] == "all IDs"].set_index("method")
    assert wanted <= set(overall.index)  # every headline method, the baseline among them
    for method in wanted:
        row = overall.loc[method]
        assert row["auc_mean"] == pytest.approx(headline[method]["auc"], abs=1e-9), method
        assert row["low"] <= row["auc_mean"] <= row["high"], method
    versus = pd.read_csv(out / "tables" / "baseline_differences.csv")
    assert set(versus["b"]) == {"log-mel Gaussian"}
    overall_diff = versus[versus["machine_type"] == "all IDs"].set_index("a")
    for method in wanted - {"log-mel Gaussian"}:
        want = 100 * (headline[method]["auc"] - headline["log-mel Gaussian"]["auc"])
        assert overall_diff.loc[method, "difference_points"] == pytest.approx(want, abs=1e-7)
    proxies = pd.read_csv(out / "tables" / "validation_proxies.csv", index_col="method")
    nets = [
        f"{n} ({b})" for n in ("complex net", "magnitude-only") for b in ("knn", "gauss", "layers")
    ]
    assert list(proxies.index) == ["log-mel Gaussian", *nets]  # ce has no per-ID fit
    assert list(proxies.columns) == ["other IDs", "added sound"]
    assert ((proxies >= 0) & (proxies <= 1)).all().all()
    figures = {p.stem for p in (tmp_path / "figures").glob("*/*.png")}
    assert {"06_training_curves", "07_auc_per_id", "07_pauc_per_id", "07_auc_intervals"} <= figures
    if paths.real_data_required() or (paths.shared_data() / "fsdd").is_dir():
        fsdd = json.loads((out / "tables" / "fsdd_mean_auc.json").read_text())
        assert {"complex net (gauss)", "log-mel Gaussian"} <= set(fsdd)
        assert all(0.0 <= v <= 1.0 for v in fsdd.values())
        diffs = pd.read_csv(out / "tables" / "fsdd_baseline_differences.csv")
        net = diffs[diffs["a"] == "complex net (gauss)"].iloc[-1]  # the "all IDs" row
        assert net["machine_type"] == "all IDs" and net["b"] == "log-mel Gaussian"
        want = 100 * (fsdd["complex net (gauss)"] - fsdd["log-mel Gaussian"])
        assert net["difference_points"] == pytest.approx(want, abs=1e-7)
        assert net["low"] <= net["difference_points"] <= net["high"]
        assert "07_fsdd_id_task" in figures
    if paths.real_data_required() or (paths.shared_data() / "mimii_dcase2020_samples").is_dir():
        real = pd.read_csv(out / "tables" / "real_samples.csv")
        assert set(real["method"]) == {"autoencoder", "log-mel Gaussian"}
        assert real[["n_normal", "n_anomaly"]].values.tolist() == [[5, 4], [5, 4]]
