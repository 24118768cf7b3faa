"""Figure functions and the one writer of figure files.

Every plot function takes ``ax=None`` (draws into a new figure when None) and returns the
figure; :func:`save_figure` is the only place that writes image files, with stable names
under :func:`audioanom.paths.figures_dir`. :func:`use_style` applies ``audioanom.mplstyle``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from .. import paths

STYLE_FILE = Path(__file__).with_name("audioanom.mplstyle")


def use_style() -> None:
    """Apply the project's matplotlib style (idempotent)."""
    plt.style.use(str(STYLE_FILE))


def _axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def save_figure(
    fig: Figure,
    name: str,
    *,
    formats: Sequence[str] = ("png", "pdf"),
    folder: str | Path | None = None,
    dpi: int = 300,
) -> list[Path]:
    """Write ``fig`` as ``<figures>/<name>.<fmt>`` for each format (PNG at 300 dpi, PDF/SVG).

    ``name`` is a stable slug such as ``"05_fan_id_00_stft"``; it may hold ``/`` for a
    sub-folder. Returns the written paths. Raises ValueError for an empty name or a name
    with an extension.
    """
    if not name or Path(name).suffix in {f".{f}" for f in ("png", "pdf", "svg", "jpg")}:
        raise ValueError(f"figure name must be a non-empty slug without extension, got {name!r}")
    folder = Path(folder) if folder is not None else paths.figures_dir()
    written = []
    for fmt in formats:
        target = folder / f"{name}.{fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        # Fixed metadata keeps PDFs/SVGs byte-stable between runs.
        meta = {"Creator": "audioanom", "CreationDate": None} if fmt == "pdf" else None
        if fmt == "svg":
            meta = {"Creator": "audioanom", "Date": None}
        fig.savefig(target, format=fmt, dpi=dpi, metadata=meta)
        written.append(target)
    return written


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
    if title:
        ax.set_title(title)
    return fig


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
    if title:
        ax.set_title(title)
    return ax.figure


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


def plot_counts(
    table, *, x: str, hue: str | None = None, ax: Axes | None = None, title=None
) -> Figure:
    """Bar chart of a tidy count table (column ``n``): bars grouped by ``x``, split by ``hue``."""
    fig, ax = _axes(ax)
    if hue is None:
        ax.bar(table[x].astype(str), table["n"])
    else:
        pivot = table.pivot_table(index=x, columns=hue, values="n", aggfunc="sum", fill_value=0)
        pivot.plot.bar(ax=ax, rot=0, width=0.8)
        ax.legend(title=hue)
    ax.set(xlabel=x, ylabel="clips")
    if title:
        ax.set_title(title)
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


__all__ = [
    "STYLE_FILE",
    "plot_clip_examples",
    "plot_counts",
    "plot_kind_gallery",
    "plot_spectrogram",
    "plot_waveform",
    "save_figure",
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
