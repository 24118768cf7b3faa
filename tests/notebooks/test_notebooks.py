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


@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(nb, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOANOM_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("AUDIOANOM_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    results = run_notebooks([nb.stem], smoke=True, output_dir=tmp_path / "executed")
    assert results[0].status == "ok", results[0].error
    assert list((tmp_path / "figures").glob("*.png")), f"{nb.name} saved no figure"
    assert paths.figures_dir() == tmp_path / "figures"
