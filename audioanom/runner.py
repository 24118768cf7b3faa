"""Run the numbered notebooks with papermill: in order, with parameters, with a summary table.

Every notebook has one cell tagged ``parameters`` holding scalars only (including ``smoke``).
The runner injects only the parameters a notebook declares, executes it with the ``python3``
kernel in the ``notebooks/`` folder (the folder JupyterLab uses), and writes the executed copy
to :func:`audioanom.paths.executed_dir` (``smoke/`` below it for smoke runs).

Whatever happens to a notebook -- an exception in a cell, a kernel that dies (segfault, out of
memory, ``os._exit``), any other error of papermill or the kernel machinery, or Ctrl-C -- it
gets a row in the results (status ``failed`` or ``interrupted``, with the cell and the error)
and the run goes on to the summary: :func:`run_notebooks` always returns the table, and writes
it (:func:`format_results`) to ``summary.txt`` in the output folder after every notebook, so
the status of the notebooks run so far survives even a crash of the runner itself.

Progress: one line as each notebook starts and one as it ends (``[3/8]
02_audiomnist_isolation_forest_pca ... ok 8.4 s``), through ``report`` (default ``print``,
flushed), and papermill's bar over the cells when standard error is a terminal. The kernel's
own start-up warnings (ipykernel's "running over TCP without encryption" notice) are silenced
(``--IPKernelApp.log_level=ERROR``); warnings and errors of the notebook's cells still go into
the executed notebook. The kernels draw the library's progress bars as text
(:data:`audioanom.progress.TEXT_ENV`), so the executed copies show finished bars.
"""

from __future__ import annotations

import ast
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .progress import TEXT_ENV


@dataclass(frozen=True)
class NotebookResult:
    """What happened to one notebook."""

    notebook: str
    status: str  # "ok" | "failed" | "interrupted"
    seconds: float
    output: Path
    error: str = ""


def list_notebooks(folder: Path | None = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in order."""
    folder = folder or paths.notebooks_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())


def select_notebooks(names: Sequence[str], folder: Path | None = None) -> list[Path]:
    """Resolve ``names`` (paths, file names, stems or number prefixes like ``"05"``) in order.

    An empty ``names`` selects every numbered notebook. Unknown names raise ValueError.
    """
    available = list_notebooks(folder)
    if not names:
        return available
    chosen: list[Path] = []
    for name in names:
        p = Path(name)
        if p.suffix == ".ipynb" and p.is_file():
            chosen.append(p.resolve())
            continue
        hits = [nb for nb in available if nb.stem == p.stem or nb.name.startswith(f"{name}_")]
        if len(hits) != 1:
            known = ", ".join(nb.stem for nb in available)
            raise ValueError(
                f"notebook {name!r} {'is ambiguous' if hits else 'not found'}; known: {known}"
            )
        chosen.append(hits[0])
    return sorted(dict.fromkeys(chosen), key=lambda p: p.name)


def parse_value(text: str) -> object:
    """A command-line parameter value: a Python literal if it parses (``3``, ``0.5``, ``True``,
    ``None``, ``'x'``), else the text itself."""
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def declared_parameters(notebook: Path) -> dict[str, object]:
    """Names and defaults of the ``parameters`` cell; ValueError if the notebook has none."""
    import papermill as pm

    params = pm.inspect_notebook(str(notebook))
    if not params:
        raise ValueError(f"{notebook.name}: no cell tagged 'parameters'")
    return {k: v.get("default") for k, v in params.items()}


def run_notebooks(
    names: Sequence[str] = (),
    *,
    parameters: dict[str, object] | None = None,
    smoke: bool = False,
    output_dir: Path | None = None,
    stop_on_error: bool = True,
    log_output: bool = False,
    report: Callable[[str], None] | None = None,
    cell_progress: bool | None = None,
) -> list[NotebookResult]:
    """Execute notebooks in order; return one :class:`NotebookResult` each.

    ``parameters`` go to every notebook that declares them (a name no selected notebook declares
    is a ValueError, so a typo does not go unnoticed); ``smoke=True`` sets ``smoke``.

    A notebook that fails in any way (an error in a cell, a dead kernel, an error of papermill
    itself) is a ``failed`` row naming the cell and the error; Ctrl-C makes the current notebook
    ``interrupted`` and ends the run. Either way the results so far are returned and
    ``summary.txt`` in the output folder holds :func:`format_results` of them.

    ``report`` receives the start and end line of every notebook (default: print them at once;
    pass ``lambda line: None`` for silence); ``cell_progress`` shows papermill's per-cell bar
    (default: when standard error is a terminal).
    """
    import papermill as pm

    say = report if report is not None else _print_now
    bar = sys.stderr.isatty() if cell_progress is None else cell_progress

    notebooks = select_notebooks(names)
    if not notebooks:
        raise ValueError(f"no numbered notebooks in {paths.notebooks_dir()}")
    parameters = dict(parameters or {})
    if smoke:
        parameters["smoke"] = True
    declared = {nb: declared_parameters(nb) for nb in notebooks}
    unknown = set(parameters) - set().union(*declared.values())
    if unknown:
        raise ValueError(f"parameter(s) {sorted(unknown)} declared by none of the notebooks run")
    out_dir = paths.ensure(output_dir or (paths.executed_dir() / ("smoke" if smoke else "")))
    results: list[NotebookResult] = []
    summary = out_dir / "summary.txt"
    with _environment(TEXT_ENV, "1"):  # the kernels draw text bars (audioanom.progress)
        for i, nb in enumerate(notebooks, start=1):
            own = {k: v for k, v in parameters.items() if k in declared[nb]}
            output = (out_dir / nb.name).resolve()
            tag = f"[{i}/{len(notebooks)}] {nb.stem}"
            say(f"{tag} ...")
            t0 = time.perf_counter()
            status, message = "ok", ""
            try:
                pm.execute_notebook(
                    str(nb),
                    str(output),
                    parameters=own,
                    kernel_name="python3",
                    cwd=str(nb.parent),
                    progress_bar=bar,
                    log_output=log_output,
                    extra_arguments=list(KERNEL_ARGUMENTS),
                )
            except pm.PapermillExecutionError as err:
                status = "failed"
                message = (
                    f"{_describe_cell(nb, err.cell_index, bool(own))}: {err.ename}: {err.evalue}"
                )
            except KeyboardInterrupt:
                status = "interrupted"
                message = f"{_running_cell(nb, output, bool(own))}: interrupted (KeyboardInterrupt)"
            except Exception as err:  # a dead kernel (nbclient DeadKernelError) or anything else
                status = "failed"
                kind = "kernel died" if type(err).__name__ == "DeadKernelError" else "error"
                message = (
                    f"{_running_cell(nb, output, bool(own))}: {kind}: {type(err).__name__}: {err}"
                )
            seconds = time.perf_counter() - t0
            results.append(NotebookResult(nb.stem, status, seconds, output, message))
            say(f"{tag} ... {status} {seconds:.1f} s" + (f" -- {message}" if message else ""))
            _write_summary(summary, results)
            if status == "interrupted" or (status == "failed" and stop_on_error):
                break
    return results


#: extra arguments of every kernel the runner starts: its start-up log (the TCP notice) off
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set an environment variable (inherited by the kernels started meanwhile), then restore."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _print_now(line: str) -> None:
    print(line, flush=True)


def _write_summary(path: Path, results: Sequence[NotebookResult]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(format_results(results) + "\n")
    tmp.replace(path)


def _running_cell(notebook: Path, output: Path, injected: bool) -> str:
    """The cell that was running when execution stopped: the last cell with a start time in the
    executed copy papermill saves at every cell start and end (after a dead kernel papermill
    marks that cell "completed", so its status cannot tell)."""
    import nbformat

    try:
        cells = nbformat.read(str(output), as_version=4).cells
    except Exception:  # no copy written yet, or a partial one
        return "before the first cell"
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    if not started:
        return "before the first cell"
    return _describe_cell(notebook, started[-1], injected)


def _describe_cell(notebook: Path, index: int, injected: bool) -> str:
    """Name a failing cell as the user sees it: its index in the notebook as written (papermill
    adds an injected-parameters cell after the ``parameters`` cell) and its first line of code."""
    import nbformat

    cells = nbformat.read(str(notebook), as_version=4).cells
    params_at = next(
        (i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])), -1
    )
    if injected and index > params_at:
        index -= 1
    first = (
        next((ln for ln in cells[index].source.splitlines() if ln.strip()), "")
        if index < len(cells)
        else ""
    )
    return f"cell {index} ({first.strip()[:60]!r})"


def format_results(results: Sequence[NotebookResult]) -> str:
    """A plain-text table: notebook, status, duration; failures with their cell and error."""
    width = max([len(r.notebook) for r in results] + [8])
    sw = max([len(r.status) for r in results] + [6])
    lines = [
        f"{'notebook':<{width}}  {'status':<{sw}}  duration",
        f"{'-' * width}  {'-' * sw}  --------",
    ]
    for r in results:
        lines.append(f"{r.notebook:<{width}}  {r.status:<{sw}}  {r.seconds:7.1f}s")
    total = sum(r.seconds for r in results)
    lines.append(f"{'total':<{width}}  {'':<{sw}}  {total:7.1f}s")
    for r in results:
        if r.error:
            head = "FAILED" if r.status == "failed" else r.status.upper()
            lines.append(f"\n{head} {r.notebook}, {r.error}\n  executed copy: {r.output}")
    return "\n".join(lines)
