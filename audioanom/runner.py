"""Run the numbered notebooks with papermill: in order, with parameters, with a summary table.

Every notebook has one cell tagged ``parameters`` holding scalars only (including ``smoke``).
The runner injects only the parameters a notebook declares, executes it with the ``python3``
kernel in the ``notebooks/`` folder (the folder JupyterLab uses), and writes the executed copy
to :func:`audioanom.paths.executed_dir` (``smoke/`` below it for smoke runs).
"""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import paths


@dataclass(frozen=True)
class NotebookResult:
    """What happened to one notebook."""

    notebook: str
    status: str  # "ok" | "failed"
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
) -> list[NotebookResult]:
    """Execute notebooks in order; return one :class:`NotebookResult` each.

    ``parameters`` go to every notebook that declares them (a name no selected notebook declares
    is a ValueError, so a typo does not go unnoticed); ``smoke=True`` sets ``smoke``.
    """
    import papermill as pm

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
    for nb in notebooks:
        own = {k: v for k, v in parameters.items() if k in declared[nb]}
        output = (out_dir / nb.name).resolve()
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb),
                str(output),
                parameters=own,
                kernel_name="python3",
                cwd=str(nb.parent),
                progress_bar=False,
                log_output=log_output,
            )
        except pm.PapermillExecutionError as err:
            message = f"{_describe_cell(nb, err.cell_index, bool(own))}: {err.ename}: {err.evalue}"
            results.append(
                NotebookResult(nb.stem, "failed", time.perf_counter() - t0, output, message)
            )
            if stop_on_error:
                break
            continue
        results.append(NotebookResult(nb.stem, "ok", time.perf_counter() - t0, output))
    return results


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
    lines = [f"{'notebook':<{width}}  status  duration", f"{'-' * width}  ------  --------"]
    for r in results:
        lines.append(f"{r.notebook:<{width}}  {r.status:<6}  {r.seconds:7.1f}s")
    total = sum(r.seconds for r in results)
    lines.append(f"{'total':<{width}}  {'':<6}  {total:7.1f}s")
    for r in results:
        if r.error:
            lines.append(f"\nFAILED {r.notebook}, {r.error}\n  executed copy: {r.output}")
    return "\n".join(lines)
