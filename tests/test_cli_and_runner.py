import json
import os
import re

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
    for i in range(3):  # distinct tones: identical clips would be reported as duplicates
        write_wav(f"d/fan/test/normal_id_00_0000000{i}.wav", tone(freq=440.0 + 10 * i))
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


@pytest.mark.notebook
def test_a_dead_kernel_is_a_failed_row_and_the_summary_is_still_written(tmp_path, monkeypatch):
    """The kernel of 02 exits mid-cell (os._exit: no traceback, the kernel process is gone):
    the run goes on to 03 and the returned table and summary.txt hold all three rows."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _toy_notebook(nbs, "01_ok.ipynb", "a = n + 1")
    _toy_notebook(nbs, "02_crash.ipynb", "import os\nos._exit(1)")
    _toy_notebook(nbs, "03_after.ipynb", "b = n * 2")
    monkeypatch.setattr("audioanom.paths.notebooks_dir", lambda: nbs)
    out = tmp_path / "out"
    results = run_notebooks(parameters={"n": 2}, output_dir=out, stop_on_error=False)
    assert [(r.notebook, r.status) for r in results] == [
        ("01_ok", "ok"),
        ("02_crash", "failed"),
        ("03_after", "ok"),
    ]
    assert results[1].error.startswith("cell 1 ('import os'): kernel died: DeadKernelError")
    summary = (out / "summary.txt").read_text()
    assert summary == format_results(results) + "\n"
    assert "FAILED 02_crash, cell 1 ('import os'): kernel died" in summary
    assert "03_after" in summary


def test_runner_keeps_the_table_when_papermill_itself_raises(tmp_path, monkeypatch):
    """No kernel: papermill's executor is replaced by one raising nbclient's DeadKernelError for
    02 and KeyboardInterrupt for 03 (stop_on_error=False, so only Ctrl-C ends the run)."""
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name in ("01_ok", "02_dies", "03_ctrl_c", "04_never"):
        _toy_notebook(nbs, f"{name}.ipynb", "x = 1")
    monkeypatch.setattr("audioanom.paths.notebooks_dir", lambda: nbs)
    ran = []

    def fake_execute(source, output, **kwargs):
        name = source.rsplit("/", 1)[-1]
        ran.append(name)
        if name == "02_dies.ipynb":
            raise DeadKernelError("Kernel died")
        if name == "03_ctrl_c.ipynb":
            raise KeyboardInterrupt

    monkeypatch.setattr(pm, "execute_notebook", fake_execute)
    out = tmp_path / "out"
    results = run_notebooks(output_dir=out, stop_on_error=False)
    assert ran == ["01_ok.ipynb", "02_dies.ipynb", "03_ctrl_c.ipynb"]
    assert [r.status for r in results] == ["ok", "failed", "interrupted"]
    # no executed copy was written, so no cell can be named
    assert results[1].error == "before the first cell: kernel died: DeadKernelError: Kernel died"
    assert results[2].error == "before the first cell: interrupted (KeyboardInterrupt)"
    summary = (out / "summary.txt").read_text()
    assert "FAILED 02_dies, before the first cell: kernel died" in summary
    assert "INTERRUPTED 03_ctrl_c" in summary and "04_never" not in summary
    # stop_on_error=True: the run ends at the dead kernel, the table is still returned
    ran.clear()
    results = run_notebooks(output_dir=out)
    assert [r.status for r in results] == ["ok", "failed"] and ran[-1] == "02_dies.ipynb"
    assert "01_ok" in (out / "summary.txt").read_text()


@pytest.mark.notebook
def test_runner_reports_each_notebook_as_it_starts_and_ends_without_kernel_noise(
    tmp_path, monkeypatch, capfd
):
    """One line when a notebook starts, one when it ends (status and seconds), in order; the
    kernel's TCP notice (ipykernel's start-up warning) does not reach the terminal."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _toy_notebook(nbs, "01_first.ipynb", "a = n + 1")
    _toy_notebook(nbs, "02_second.ipynb", "raise ValueError('no')")
    monkeypatch.setattr("audioanom.paths.notebooks_dir", lambda: nbs)
    lines: list[str] = []
    run_notebooks(output_dir=tmp_path / "out", report=lines.append, cell_progress=False)
    assert lines[0] == "[1/2] 01_first ..."
    assert re.fullmatch(r"\[1/2\] 01_first \.\.\. ok \d+\.\d s", lines[1])
    assert lines[2] == "[2/2] 02_second ..."
    assert re.match(r"\[2/2\] 02_second \.\.\. failed \d+\.\d s -- cell 1 .*ValueError", lines[3])
    assert len(lines) == 4
    run_notebooks(["01"], output_dir=tmp_path / "out2", cell_progress=False)  # default: print
    out, err = capfd.readouterr()
    assert "[1/1] 01_first ..." in out and "without encryption" not in out + err


def test_progress_bars_are_text_when_asked(monkeypatch):
    import tqdm as tqdm_pkg

    from audioanom.progress import TEXT_ENV, text_bars, tqdm

    monkeypatch.setenv(TEXT_ENV, "1")
    assert text_bars()
    bar = tqdm(range(2), disable=True)
    assert type(bar) is tqdm_pkg.std.tqdm
    monkeypatch.setenv(TEXT_ENV, "0")
    assert not text_bars()


@pytest.mark.notebook
def test_executed_notebooks_keep_finished_text_bars(tmp_path, monkeypatch):
    """A bar drawn in a notebook run by the runner is stored as text ending at 5/5, not as a
    widget frozen at 0%; the variable does not leak out of the run."""
    from audioanom.progress import TEXT_ENV

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _toy_notebook(
        nbs, "01_bar.ipynb", "from audioanom.progress import tqdm\nfor _ in tqdm(range(5)): pass"
    )
    monkeypatch.setattr("audioanom.paths.notebooks_dir", lambda: nbs)
    monkeypatch.delenv(TEXT_ENV, raising=False)
    (result,) = run_notebooks(output_dir=tmp_path / "out", report=lambda line: None)
    assert result.status == "ok", result.error
    cells = nbformat.read(str(result.output), as_version=4).cells
    outputs = [o for c in cells for o in c.get("outputs", [])]
    assert not [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "5/5" in text.split("\r")[-1]
    assert TEXT_ENV not in os.environ
