import json

import nbformat
import numpy as np
import pytest

from audioanom.cli import main
from audioanom.runner import (
    declared_parameters,
    format_results,
    parse_value,
    run_notebooks,
    select_notebooks,
)
from tests.conftest import shared, tone


def test_check_reports_exactly_the_three_bad_files(tmp_path, write_wav, capsys):
    for i in range(3):
        write_wav(f"d/fan/test/normal_id_00_0000000{i}.wav", tone())
    cut = write_wav("d/fan/test/anomaly_id_00_00000000.wav", tone())
    cut.write_bytes(cut.read_bytes()[:3000])
    (tmp_path / "d/fan/test/anomaly_id_00_00000001.wav").write_bytes(b"")
    x = tone()
    x[100] = np.nan
    write_wav("d/fan/test/anomaly_id_00_00000002.wav", x, subtype="FLOAT")
    assert main(["check", str(tmp_path / "d"), "-q"]) == 1
    out = capsys.readouterr().out
    assert "6 audio files, 3 bad" in out
    bad = [line for line in out.splitlines() if line.strip().startswith("BAD")]
    assert len(bad) == 3
    assert any("00000000.wav: truncated" in line for line in bad)
    assert any("00000001.wav: empty file" in line for line in bad)
    assert any("00000002.wav: NaN samples" in line for line in bad)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name,n,rate",
    [
        ("mimii_dcase2020_samples", 203, 16000),
        ("fsdd", 3000, 8000),
        ("audiomnist_six", 3000, 48000),
    ],
)
def test_check_real_data_sets_has_no_bad_file(name, n, rate, capsys):
    assert main(["check", str(shared(name)), "-q"]) == 0
    out = capsys.readouterr().out
    assert f"{n} audio files, 0 bad; {n} at {rate} Hz" in out
    assert f"{n} clips in the clip table" in out and "UNPARSED" not in out


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5
    assert parse_value("true") is True and parse_value("None") is None
    assert parse_value("fan,pump") == "fan,pump" and parse_value("'x'") == "x"


def _toy_notebook(folder, name, body, params="smoke = False\nn = 1"):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / name
    nbformat.write(nb, path)
    return path


@pytest.mark.notebook
def test_runner_runs_in_order_injects_parameters_and_names_failing_cell(tmp_path, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _toy_notebook(
        nbs,
        "01_b.ipynb",
        "import json, pathlib\npathlib.Path('out.json').write_text(json.dumps([n, smoke]))",
    )
    _toy_notebook(nbs, "02_fail.ipynb", "x = 1\nraise RuntimeError(f'boom {n}')")
    monkeypatch.setattr("audioanom.paths.notebooks_dir", lambda: nbs)
    assert [p.name for p in select_notebooks([])] == ["01_b.ipynb", "02_fail.ipynb"]
    assert [p.name for p in select_notebooks(["02", "01_b"])] == ["01_b.ipynb", "02_fail.ipynb"]
    with pytest.raises(ValueError, match="notebook '7' not found"):
        select_notebooks(["7"])
    assert declared_parameters(nbs / "01_b.ipynb") == {"smoke": "False", "n": "1"}
    with pytest.raises(ValueError, match=r"\['typo'\] declared by none"):
        run_notebooks(parameters={"typo": 1})
    results = run_notebooks(parameters={"n": 7}, smoke=True, output_dir=tmp_path / "out")
    assert [r.status for r in results] == ["ok", "failed"]
    assert json.loads((nbs / "out.json").read_text()) == [7, True]  # cwd = the notebooks folder
    assert "cell 1 ('x = 1')" in results[1].error and "RuntimeError: boom 7" in results[1].error
    assert (tmp_path / "out" / "02_fail.ipynb").is_file()
    table = format_results(results)
    assert "01_b" in table and "FAILED 02_fail, cell 1 ('x = 1')" in table
