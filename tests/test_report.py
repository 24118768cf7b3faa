"""audioanom.report: executed notebooks as HTML, an index with status and parameters, figures."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from audioanom.plotting import save_figure  # noqa: E402
from audioanom.report import build_report, notebook_entry  # noqa: E402


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key])
        if tag == "tr":
            self.rows.append([])
        if tag == "td":
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None


def _executed(folder: Path, name: str, params: dict, *, duration: float, failed: bool) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('dataset = "synthetic"\nsmoke = False')
    cell.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(f"print('hello from {name}')")
    body.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"hello from {name}\n"),
        nbformat.v4.new_output("stream", name="stderr", text="bar:   0%| 0/4\r"),
        nbformat.v4.new_output("stream", name="stderr", text="bar:  50%| 2/4\r"),
        nbformat.v4.new_output("stream", name="stderr", text="bar: 100%| 4/4\n"),
    ]
    nb.cells = [cell, body]
    nb.metadata["papermill"] = {"parameters": params, "duration": duration, "exception": failed}
    nbformat.write(nb, str(folder / f"{name}.ipynb"))


def test_report_links_every_page_and_figure_and_states_each_notebook(tmp_path, monkeypatch):
    executed, figures = tmp_path / "executed", tmp_path / "figures"
    executed.mkdir()
    monkeypatch.setenv("AUDIOANOM_FIGURES", str(figures))
    _executed(executed, "01_first", {"dataset": "fsdd"}, duration=12.34, failed=False)
    _executed(executed, "02_second", {}, duration=3.0, failed=True)
    _executed(executed, "03_third", {}, duration=1.0, failed=False)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, "01_line", dataset="fsdd", caption="a falling line", formats=("png",))
    save_figure(fig, "02_line", dataset="synthetic-digits", caption="a line", formats=("png",))
    plt.close(fig)

    index = build_report(executed, tmp_path / "report")
    assert index == tmp_path / "report" / "index.html"
    parser = _Links()
    parser.feed(index.read_text())
    for link in parser.links:
        assert (index.parent / link).is_file(), link
    assert {"01_first.html", "02_second.html", "figures/fsdd/01_line.png"} <= set(parser.links)
    rows = [r for r in parser.rows if r]
    assert rows[0][:4] == ["01_first", "ok", "12.3 s", "fsdd"]  # injected parameter wins
    # the cell's default "synthetic", shown as the folder its figures went to
    assert rows[1][:4] == ["02_second", "failed", "3.0 s", "synthetic-digits"]
    assert "smoke=False" in rows[1][4]
    assert rows[2][:4] == ["03_third", "ok", "1.0 s", "synthetic"]  # no figure to tell which
    text = index.read_text()
    assert "2 of 3 notebooks ok" in text and "a falling line" in text
    page = (index.parent / "01_first.html").read_text()
    assert "hello from 01_first" in page and re.search(r"<html", page)
    assert "100%| 4/4" in page and "50%| 2/4" not in page  # a finished bar, not its history


def test_report_without_executed_notebooks_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="audioanom run"):
        build_report(tmp_path, tmp_path / "report")
    bad = tmp_path / "03_bad.ipynb"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="03_bad.ipynb: not a readable notebook"):
        notebook_entry(bad)
