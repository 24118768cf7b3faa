"""A browsable report of a run: every executed notebook as HTML, an index page, a figure gallery.

:func:`build_report` reads the executed notebooks that :func:`audioanom.runner.run_notebooks`
wrote (``build/executed/``: each carries papermill's record of its parameters, duration and
whether it failed), renders each to HTML with nbconvert (consecutive stream outputs merged and
carriage returns applied, so a text progress bar shows its final state), copies every figure
PNG that :func:`audioanom.plotting.save_figure` recorded, and writes ``index.html``: one row
per notebook (status, duration, data set, parameters, link), then the figures per data set with
their captions. The folder (default ``build/report/``) holds everything it links to, so it
can be zipped and sent. ``audioanom report`` runs it; ``audioanom run`` ends with it.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from . import paths

__all__ = ["NotebookEntry", "build_report", "notebook_entry"]


@dataclass(frozen=True)
class NotebookEntry:
    """One executed notebook as the index lists it."""

    name: str
    status: str  # "ok" | "failed"
    seconds: float | None
    dataset: str
    parameters: dict
    page: str  # the HTML file, relative to the report folder


def notebook_entry(path: Path) -> NotebookEntry:
    """What the index says of one executed notebook: papermill's metadata (``exception``,
    ``duration``, the injected ``parameters``) and, for parameters not injected, the values
    of the notebook's own ``parameters`` cell (as written). ValueError naming the file when it
    is not a readable notebook."""
    import nbformat

    from .runner import parse_value

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as err:  # noqa: BLE001 (any read error names the file)
        raise ValueError(f"{path}: not a readable notebook ({type(err).__name__}: {err})") from err
    meta = nb.metadata.get("papermill", {})
    own: dict[str, object] = {}
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            own = _cell_values(cell.source, parse_value)
            break
    parameters = {**own, **meta.get("parameters", {})}
    failed = bool(meta.get("exception")) or any(
        o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])
    )
    dataset = parameters.get("dataset", parameters.get("datasets", ""))
    return NotebookEntry(
        name=path.stem,
        status="failed" if failed else "ok",
        seconds=float(meta["duration"]) if meta.get("duration") is not None else None,
        dataset=str(dataset),
        parameters=parameters,
        page=f"{path.stem}.html",
    )


def _cell_values(source: str, parse) -> dict[str, object]:
    import ast

    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                values[target.id] = parse(ast.get_source_segment(source, node.value) or "")
    return values


def build_report(
    executed: str | Path | None = None,
    out: str | Path | None = None,
    *,
    figures: str | Path | None = None,
) -> Path:
    """Render the executed notebooks of ``executed`` (default :func:`audioanom.paths.
    executed_dir`) and the figures of ``figures`` (default the figures folder) into ``out``
    (default ``build/report``); returns the index page. FileNotFoundError when there is no
    executed notebook (run the notebooks first)."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    from .plotting import figure_records

    src = Path(executed) if executed is not None else paths.executed_dir()
    dest = paths.ensure(Path(out) if out is not None else paths.build_dir() / "report")
    fig_root = Path(figures) if figures is not None else paths.figures_dir()
    notebooks = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed notebooks in {src}: run `audioanom run` first")
    exporter = HTMLExporter()
    # a text progress bar is a run of "\r"-separated states: keep only the last (finished) one
    exporter.register_preprocessor(CoalesceStreamsPreprocessor, enabled=True)
    entries = []
    for path in notebooks:
        entry = notebook_entry(path)
        body, _ = exporter.from_filename(str(path))
        (dest / entry.page).write_text(body, encoding="utf-8")
        entries.append(entry)
    records = figure_records(fig_root)
    entries = [_with_folder_name(e, records) for e in entries]
    shown = []
    for rec in records:
        png = next((f for f in rec["files"] if f.endswith(".png")), None)
        if png is None:
            continue
        rel = Path("figures") / rec["folder"] / png
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(fig_root / rec["folder"] / png, dest / rel)
        shown.append((rec, rel.as_posix()))
    index = dest / "index.html"
    index.write_text(_index_html(entries, shown, src), encoding="utf-8")
    return index


def _with_folder_name(entry: NotebookEntry, records: list[dict]) -> NotebookEntry:
    """``dataset="synthetic"`` names two data sets (digits, machines): show the figure folder
    this notebook wrote into (``synthetic-digits``...), when exactly one such folder exists."""
    if entry.dataset != "synthetic":
        return entry
    names = {
        r["dataset"]
        for r in records
        if r["notebook"] == entry.name[:2] and str(r["dataset"]).startswith("synthetic-")
    }
    return replace(entry, dataset=names.pop()) if len(names) == 1 else entry


def _index_html(entries: list[NotebookEntry], shown: list[tuple[dict, str]], src: Path) -> str:
    esc = html.escape
    rows = []
    for e in entries:
        params = ", ".join(f"{k}={v!r}" for k, v in e.parameters.items())
        secs = f"{e.seconds:.1f} s" if e.seconds is not None else "-"
        rows.append(
            f'<tr class="{e.status}"><td><a href="{esc(e.page)}">{esc(e.name)}</a></td>'
            f"<td>{esc(e.status)}</td><td>{secs}</td><td>{esc(e.dataset)}</td>"
            f"<td><code>{esc(params)}</code></td></tr>"
        )
    gallery = []
    for dataset in dict.fromkeys(rec["dataset"] for rec, _ in shown):
        gallery.append(f'<h3>{esc(dataset)}</h3>\n<div class="gallery">')
        for rec, rel in ((r, p) for r, p in shown if r["dataset"] == dataset):
            gallery.append(
                f'<figure><a href="{esc(rel)}"><img src="{esc(rel)}" alt="{esc(rec["name"])}">'
                f"</a><figcaption><b>{esc(rec['notebook'])}</b> {esc(rec['name'])}: "
                f"{esc(rec['caption'])}</figcaption></figure>"
            )
        gallery.append("</div>")
    n_ok = sum(e.status == "ok" for e in entries)
    total = sum(e.seconds or 0.0 for e in entries)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>audioanom report</title>
<style>
body {{ font-family: DejaVu Sans, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
tr.failed td {{ background: #fde2e1; }} code {{ font-size: 85%; }}
.gallery {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ width: 300px; margin: 0; }} img {{ width: 300px; border: 1px solid #ddd; }}
figcaption {{ font-size: 80%; }}
</style></head><body>
<h1>audioanom report</h1>
<p>{n_ok} of {len(entries)} notebooks ok, {total:.0f} s in all; executed copies from
<code>{esc(str(src))}</code>.</p>
<h2>Notebooks</h2>
<table><tr><th>notebook</th><th>status</th><th>duration</th><th>data set</th>
<th>parameters</th></tr>
{chr(10).join(rows)}
</table>
<h2>Figures</h2>
{chr(10).join(gallery) if gallery else "<p>No figures recorded.</p>"}
</body></html>
"""
