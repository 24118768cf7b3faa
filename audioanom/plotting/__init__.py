"""Figure functions, the project style and the one writer of figure files.

Every plot function takes ``ax=None`` (draws into a new figure when None) and returns the
figure; :func:`save_figure` is the only place that writes image files, with stable names
under :func:`audioanom.paths.figures_dir`. :func:`use_style` applies one look to matplotlib
and seaborn: seaborn's theme, then ``audioanom.mplstyle`` on top. :data:`PALETTE` (the
style's colour cycle) is the one palette; :data:`LABEL_COLORS` fixes normal and anomaly.
Statistical plots (bars, heatmaps, distributions) are drawn with seaborn, images with
matplotlib ``imshow``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import cycle
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, to_hex
from matplotlib.figure import Figure

from .. import paths

STYLE_FILE = Path(__file__).with_name("audioanom.mplstyle")
#: seaborn theme that ``use_style`` sets before the mplstyle (which overrides what it sets)
SEABORN_THEME = {"context": "paper", "style": "ticks"}


def style_rc() -> dict:
    """The rcParams that ``audioanom.mplstyle`` sets (only those keys)."""
    return dict(matplotlib.rc_params_from_file(STYLE_FILE, use_default_template=False))


#: the project palette (Okabe-Ito, colour-blind safe): the style's colour cycle, as hex
PALETTE: tuple[str, ...] = tuple(
    to_hex(c).upper() for c in style_rc()["axes.prop_cycle"].by_key()["color"]
)
#: normal clips blue, anomalous clips vermilion, in every figure
LABEL_COLORS = {"normal": PALETTE[0], "anomaly": PALETTE[3]}


def use_style() -> None:
    """Apply the project style to matplotlib and seaborn (idempotent): seaborn's theme
    (:data:`SEABORN_THEME`, palette :data:`PALETTE`), then every value of ``audioanom.mplstyle``
    on top, so plain matplotlib and seaborn figures share fonts, grid, spines and colours."""
    sns.set_theme(**SEABORN_THEME, palette=list(PALETTE), rc=style_rc())


def palette(n: int) -> list[str]:
    """``n`` colours of :data:`PALETTE`, repeating it when ``n`` exceeds its length."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def label_colors(levels: Iterable[str]) -> dict[str, str]:
    """A colour per class label: ``normal`` (and the digits' ``none``) and ``anomaly`` as in
    :data:`LABEL_COLORS`, any other label (an anomaly kind) the next other palette colour."""
    fixed = {**LABEL_COLORS, "none": LABEL_COLORS["normal"]}
    free = (c for c in cycle(PALETTE) if c not in LABEL_COLORS.values())
    return {str(v): fixed.get(str(v)) or next(free) for v in levels}


def _axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _titled(ax: Axes, title: str | None, **kwargs) -> Figure:
    """The common ending of a plot function: ``title`` on ``ax`` when given; the figure."""
    if title:
        ax.set_title(title, **kwargs)
    return ax.figure


#: figure names start with their notebook's number: ``05_clip_counts`` is notebook 05's
_NOTEBOOK_PREFIX = re.compile(r"^(\d{2})_")


def save_figure(
    fig: Figure,
    name: str,
    *,
    dataset: str,
    caption: str = "",
    formats: Sequence[str] = ("png", "pdf"),
    folder: str | Path | None = None,
    dpi: int = 300,
) -> list[Path]:
    """Write ``fig`` as ``<figures>/<dataset>/<name>.<fmt>`` for each format (PNG at 300 dpi,
    PDF/SVG) and ``<name>.json`` beside them (name, notebook, data set, caption, files), from
    which :func:`write_figure_index` lists every figure. The data set in the path keeps the
    figures of runs on different data (synthetic, FSDD, AudioMNIST, DCASE) side by side.

    ``name`` is a stable slug such as ``"05_fan_stft_normal"`` (the notebook's number first);
    it may hold ``/`` for a sub-folder. Returns the written image paths. ValueError for an empty
    name, a name with an extension, or an empty data set name or one with ``/``.
    """
    if not name or Path(name).suffix in {f".{f}" for f in ("png", "pdf", "svg", "jpg")}:
        raise ValueError(f"figure name must be a non-empty slug without extension, got {name!r}")
    if not dataset or "/" in dataset or dataset.startswith("."):
        raise ValueError(f"dataset must be a plain data set name, got {dataset!r}")
    root = Path(folder) if folder is not None else paths.figures_dir()
    written = []
    for fmt in formats:
        target = root / dataset / f"{name}.{fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        # Fixed metadata keeps PDFs/SVGs byte-stable between runs.
        meta = {"Creator": "audioanom", "CreationDate": None} if fmt == "pdf" else None
        if fmt == "svg":
            meta = {"Creator": "audioanom", "Date": None}
        fig.savefig(target, format=fmt, dpi=dpi, metadata=meta)
        written.append(target)
    match = _NOTEBOOK_PREFIX.match(Path(name).name)
    record = {
        "name": name,
        "notebook": match.group(1) if match else "",
        "dataset": dataset,
        "caption": caption,
        "files": [p.name for p in written],
    }
    (root / dataset / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    return written


def figure_records(folder: str | Path | None = None) -> list[dict]:
    """The records :func:`save_figure` wrote under ``folder`` (default the figures folder),
    sorted by data set, notebook and name; a record whose image files are gone is left out."""
    root = Path(folder) if folder is not None else paths.figures_dir()
    records = []
    for side in sorted(root.glob("*/**/*.json")):
        try:
            rec = json.loads(side.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(rec, dict) or "dataset" not in rec or "files" not in rec:
            continue
        if all((side.parent / f).is_file() for f in rec["files"]):
            rec["folder"] = side.parent.relative_to(root).as_posix()
            records.append(rec)
    return sorted(records, key=lambda r: (r["dataset"], r["notebook"], r["name"]))


def write_figure_index(folder: str | Path | None = None) -> Path:
    """Write ``<figures>/index.md``: per data set, a table of every figure (notebook, a link to
    its PNG, caption), from the records of :func:`save_figure`. Returns its path."""
    root = Path(folder) if folder is not None else paths.figures_dir()
    lines = [
        "# Figures",
        "",
        "Written by the notebooks (`audioanom run`); PNG at 300 dpi, PDF beside it.",
        "",
    ]
    records = figure_records(root)
    if not records:
        lines.append("No figures yet: run the notebooks (`python3 tasks.py run`).")
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        lines += [f"## {dataset}", "", "| notebook | figure | caption |", "|---|---|---|"]
        for r in (r for r in records if r["dataset"] == dataset):
            png = next((f for f in r["files"] if f.endswith(".png")), r["files"][0])
            link = f"[{Path(r['name']).name}]({r['folder']}/{png})"
            caption = r["caption"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r['notebook']} | {link} | {caption} |")
        lines.append("")
    root.mkdir(parents=True, exist_ok=True)
    target = root / "index.md"
    target.write_text("\n".join(lines).rstrip() + "\n")
    return target


def plot_waveform(
    x: np.ndarray,
    sr: int,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    max_points: int = 4000,
    **kwargs,
) -> Figure:
    """Waveform of a mono signal against time in seconds.

    Signals longer than ``2 * max_points`` samples are drawn as their min/max envelope over
    ``max_points`` bins, which looks the same at print size and draws far faster.
    """
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {x.shape}")
    fig, ax = _axes(ax)
    duration = x.size / sr
    if x.size > 2 * max_points:
        # Long signal: draw its min/max envelope per pixel-sized bin (looks the same, draws fast).
        n_bins = max_points
        edges = np.linspace(0, x.size, n_bins + 1).astype(int)
        lo = np.minimum.reduceat(x, edges[:-1])
        hi = np.maximum.reduceat(x, edges[:-1])
        t = edges[:-1] / sr
        kwargs.setdefault("color", "C0")
        ax.fill_between(t, lo, hi, lw=0, step="post", **kwargs)
    else:
        ax.plot(np.arange(x.size) / sr, x, lw=0.6, **kwargs)
    ax.set(xlabel="time [s]", ylabel="amplitude", xlim=(0, max(duration, 1 / sr)))
    return _titled(ax, title)


def time_frequency_image(
    ax: Axes,
    values: np.ndarray,
    *,
    extent: Sequence[float],
    vmin: float,
    vmax: float,
    cmap: str | Colormap | None = None,
    colorbar_label: str | None = None,
    title: str | None = None,
    max_hz: float | None = None,
) -> Figure:
    """Draw a ``(F, T)`` array as a time-frequency picture on ``ax``: time on x, frequency on
    y (``extent`` = left, right, bottom, top in s and Hz), one colour bar when
    ``colorbar_label`` is given. imshow on the uniform grid: far cheaper to draw and save than
    pcolormesh. Returns the figure."""
    im = ax.imshow(
        values,
        origin="lower",
        aspect="auto",
        extent=tuple(extent),
        vmin=vmin,
        vmax=vmax,
        cmap=cmap,
        interpolation="nearest",
        rasterized=True,
    )
    ax.set(xlabel="time [s]", ylabel="frequency [Hz]")
    if max_hz is not None:
        ax.set_ylim(0, max_hz)
    ax.grid(False)
    if colorbar_label is not None:
        ax.figure.colorbar(im, ax=ax, label=colorbar_label)
    return _titled(ax, title)


def plot_spectrogram(
    x: np.ndarray,
    sr: int,
    *,
    n_fft: int = 1024,
    hop: int = 256,
    ax: Axes | None = None,
    title: str | None = None,
    max_hz: float | None = None,
    colorbar: bool = True,
) -> Figure:
    """Log-power spectrogram (dB re. max) of a mono signal (scipy STFT, Hann window)."""
    from scipy.signal import stft

    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {x.shape}")
    n_fft = min(n_fft, max(16, 2 ** int(np.log2(max(x.size, 16)))))
    f, t, z = stft(x, fs=sr, nperseg=n_fft, noverlap=n_fft - min(hop, n_fft // 2), boundary=None)
    power = np.abs(z) ** 2  # F, T
    db = 10 * np.log10(power / max(power.max(), 1e-20) + 1e-10)
    fig, ax = _axes(ax)
    dt = t[1] - t[0] if t.size > 1 else n_fft / sr
    extent = (t[0] - dt / 2, t[-1] + dt / 2, f[0], f[-1])
    return time_frequency_image(
        ax,
        db,
        extent=extent,
        vmin=-80,
        vmax=0,
        colorbar_label="dB" if colorbar else None,
        title=title,
        max_hz=max_hz or sr / 2,
    )


def grouped_bars(
    ax: Axes,
    table: pd.DataFrame,
    *,
    cat: str,
    value: str,
    hue: str | None = None,
    order: Sequence | None = None,
    hue_order: Sequence | None = None,
    horizontal: bool = False,
    aggfunc: str = "mean",
    legend_title: str | None = None,
    **legend_kw,
) -> pd.DataFrame:
    """Bars of ``value`` per category ``cat``, one bar per ``hue`` level side by side, drawn
    on ``ax`` with :func:`seaborn.barplot` in :data:`PALETTE` (``saturation=1``: exact colours).

    Rows of one (``cat``, ``hue``) pair are aggregated with ``aggfunc``; categories and levels
    come in ``order`` / ``hue_order`` (default: first appearance), as strings. Every pair gets a
    bar (height 0 where the table has no finite value), so ``ax.containers[k][i]`` is the bar of
    level ``k`` in category ``i``; the legend (title ``legend_title``; ``legend_kw`` go to
    ``ax.legend``) is built from those containers, so no legend proxies land in
    ``ax.patches``. The category axis is labelled ``cat``, the value axis ``value``. Returns the
    ``cat x hue`` table of the drawn values with NaN where a pair had none (one column,
    ``value``, without ``hue``).
    """
    keys = [cat] if hue is None else [cat, hue]
    missing = set(keys + [value]) - set(table.columns)
    if missing:
        raise ValueError(f"bar table lacks columns {sorted(missing)}")
    agg = table.astype({k: str for k in keys}).groupby(keys, sort=False)[value].agg(aggfunc)
    order = [str(v) for v in (order if order is not None else dict.fromkeys(table[cat]))]
    if hue is None:
        wide = agg.to_frame(value).reindex(order)
        levels = []
    else:
        levels = [
            str(v) for v in (hue_order if hue_order is not None else dict.fromkeys(table[hue]))
        ]
        wide = agg.unstack(hue).reindex(index=order, columns=levels)
    wide = wide.rename_axis(index=cat, columns=hue)
    long = wide.fillna(0.0).rename_axis(index="_cat", columns=None).reset_index()
    long = long.melt(id_vars="_cat", var_name="_hue", value_name="_value")
    before = len(ax.containers)
    sns.barplot(
        data=long,
        x="_value" if horizontal else "_cat",
        y="_cat" if horizontal else "_value",
        hue="_hue" if levels else None,
        order=order,
        hue_order=levels or None,
        orient="h" if horizontal else "v",
        palette=palette(len(levels)) if levels else None,
        color=None if levels else PALETTE[0],
        errorbar=None,
        saturation=1,
        width=0.8,
        legend=False,
        ax=ax,
    )
    (ax.set_ylabel if horizontal else ax.set_xlabel)(cat)
    (ax.set_xlabel if horizontal else ax.set_ylabel)(value)
    if levels:
        ax.legend(ax.containers[before:], levels, title=legend_title, **legend_kw)
    return wide


def annotated_heatmap(
    ax: Axes,
    values: np.ndarray,
    texts: Sequence[Sequence[str]],
    *,
    xticklabels: Sequence[str],
    yticklabels: Sequence[str],
    cmap: str | Colormap,
    vmin: float | None = None,
    vmax: float | None = None,
    fontsize: float = 8,
    xrotation: float = 0,
    cbar_kws: dict | None = None,
) -> Figure:
    """A matrix as a :func:`seaborn.heatmap` on ``ax`` with ``texts[i][j]`` written in cell
    ``(i, j)`` (row 0 at the top, cell centres at ``j + 0.5, i + 0.5``). seaborn leaves NaN
    cells blank and unannotated; their texts are added in grey after the others. Returns the
    figure."""
    values = np.asarray(values, dtype=float)
    texts = np.asarray(texts, dtype=object)
    if texts.shape != values.shape:
        raise ValueError(f"texts {texts.shape} and values {values.shape} must match")
    sns.heatmap(
        values,
        annot=texts,
        fmt="",
        annot_kws={"fontsize": fontsize},
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        xticklabels=list(xticklabels),
        yticklabels=list(yticklabels),
        cbar_kws=cbar_kws or {},
        ax=ax,
    )
    for r, c in np.argwhere(np.isnan(values)):
        ax.text(c + 0.5, r + 0.5, texts[r, c], ha="center", va="center", fontsize=fontsize)
    ax.tick_params(axis="x", labelrotation=xrotation)
    ax.tick_params(axis="y", labelrotation=0)
    ax.grid(False)
    return ax.figure


def plot_counts(
    table, *, x: str, hue: str | None = None, ax: Axes | None = None, title=None
) -> Figure:
    """Bar chart of a tidy count table (column ``n``): bars grouped by ``x``, split by ``hue``
    (summed per pair; categories and levels sorted)."""
    fig, ax = _axes(ax)
    grouped_bars(
        ax,
        table,
        cat=x,
        value="n",
        hue=hue,
        order=sorted(table[x].astype(str).unique()),
        hue_order=None if hue is None else sorted(table[hue].astype(str).unique()),
        aggfunc="sum",
        legend_title=hue,
    )
    ax.set_ylabel("clips")
    return _titled(ax, title)


def plot_clip_counts(
    clips: pd.DataFrame,
    *,
    bars: Sequence[str] = ("group", "id"),
    split_by: Sequence[str] = ("split", "label"),
    title: str | None = None,
) -> Figure:
    """How many clips a clip table holds: one bar group per ``bars`` combination (e.g. "fan
    id_00"), one bar per ``split_by`` combination (e.g. "train/normal"), the figure as wide as
    the groups need and the group names turned 60 degrees."""
    from ..datasets.table import counts

    table = counts(clips, [*bars, *split_by])
    table = table.assign(
        bar=table[list(bars)].astype(str).agg(" ".join, axis=1),
        split=table[list(split_by)].astype(str).agg("/".join, axis=1),
    )
    fig = plot_counts(table, x="bar", hue="split", title=title)
    fig.set_size_inches(max(6.0, 0.45 * table["bar"].nunique() + 2), 3.4)
    fig.axes[0].tick_params(axis="x", rotation=60)
    fig.axes[0].set_xlabel(" ".join(bars))
    return fig


def tight_grid(
    n: int, ncols: int = 3, size: tuple[float, float] = (3.4, 2.4)
) -> tuple[Figure, np.ndarray]:
    """A figure with ``n`` axes on a grid (extra axes hidden); returns ``(fig, axes_flat)``."""
    nrows = max(1, int(np.ceil(n / ncols)))
    ncols = min(ncols, max(n, 1))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    flat = axes.ravel()
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def panel_grid(
    items: Iterable,
    draw: Callable[[Axes, object], object],
    *,
    ncols: int = 3,
    size: tuple[float, float] = (3.4, 2.4),
) -> Figure:
    """One panel per item on a :func:`tight_grid` (``size`` per panel): ``draw(ax, item)``
    fills each, in order. Returns the figure."""
    items = list(items)
    fig, axes = tight_grid(len(items), ncols=ncols, size=size)
    for ax, item in zip(axes, items, strict=True):
        draw(ax, item)
    return fig


__all__ = [
    "LABEL_COLORS",
    "PALETTE",
    "SEABORN_THEME",
    "STYLE_FILE",
    "annotated_heatmap",
    "grouped_bars",
    "label_colors",
    "palette",
    "panel_grid",
    "plot_clip_examples",
    "plot_clip_counts",
    "plot_counts",
    "plot_kind_gallery",
    "plot_spectrogram",
    "plot_waveform",
    "figure_records",
    "save_figure",
    "write_figure_index",
    "style_rc",
    "tight_grid",
    "use_style",
    "time_frequency_image",
]


def plot_clip_examples(
    clips,
    *,
    sr: int | None = None,
    max_hz: float | None = None,
    title_columns: Sequence[str] = ("group", "id", "label"),
) -> Figure:
    """One row per clip: waveform (left) and spectrogram (right), titled by ``title_columns``.

    ``clips`` is a clip table (a few rows); audio is read with :func:`audioanom.audio.read_audio`
    (resampled to ``sr`` when given).
    """
    from ..audio import read_audio

    n = len(clips)
    if n == 0:
        raise ValueError("no clips to plot")
    fig, axes = plt.subplots(
        n, 2, figsize=(10, 2.1 * n), squeeze=False, gridspec_kw={"width_ratios": [1, 1.25]}
    )
    for row, (_, clip) in zip(axes, clips.iterrows(), strict=True):
        x, rate = read_audio(clip["path"], sr=sr)
        name = " / ".join(str(clip[c]) for c in title_columns if c in clip)
        plot_waveform(x, rate, ax=row[0], title=f"{name}: {Path(clip['path']).name}")
        plot_spectrogram(
            x,
            rate,
            ax=row[1],
            max_hz=max_hz,
            colorbar=False,
            n_fft=1024 if rate >= 16000 else 256,
            hop=256 if rate >= 16000 else 64,
        )
    return fig


def plot_kind_gallery(
    clips,
    *,
    row: str = "group",
    kind: str = "anomaly_kind",
    max_hz: float | None = None,
    seed: int = 0,
    seconds: float | None = None,
) -> Figure:
    """Spectrograms of one normal clip and one clip of each anomaly kind, side by side.

    One row per value of ``row`` (machine type), one column per kind (``none`` = normal first),
    so a reader sees what each kind of fault changes. ``clips`` needs ``path``, ``row`` and
    ``kind`` columns (the synthetic sets have them); ``seconds`` crops the display.
    """
    from ..audio import read_audio

    rows = sorted(clips[row].unique())
    if not rows:
        raise ValueError("no clips to plot")
    kinds_per_row = {
        r: ["none"] + sorted(set(clips.loc[clips[row] == r, kind]) - {"none"}) for r in rows
    }
    ncols = max(len(k) for k in kinds_per_row.values())
    fig, axes = plt.subplots(
        len(rows),
        ncols,
        figsize=(2.6 * ncols, 2.2 * len(rows)),
        squeeze=False,
        sharey="row",
    )
    for i, r in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            if j >= len(kinds_per_row[r]):
                ax.set_visible(False)
                continue
            k = kinds_per_row[r][j]
            part = clips[(clips[row] == r) & (clips[kind] == k)]
            if "split" in part and (part["split"] == "test").any():
                part = part[part["split"] == "test"]
            clip = part.sample(1, random_state=seed).iloc[0]
            x, sr = read_audio(clip["path"])
            if seconds is not None:
                x = x[: int(seconds * sr)]
            plot_spectrogram(
                x,
                sr,
                ax=ax,
                max_hz=max_hz,
                colorbar=False,
                n_fft=1024 if sr >= 16000 else 256,
                hop=256 if sr >= 16000 else 64,
            )
            ax.set_title(f"{r}: {'normal' if k == 'none' else k}", fontsize=9)
            if j:
                ax.set_ylabel("")
            if i < len(rows) - 1:
                ax.set_xlabel("")
    return fig
