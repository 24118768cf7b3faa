"""Pictures of the complex STFT of machine clips and their mean spectra (notebook 05).

* :func:`plot_log_magnitude`, :func:`plot_phase`, :func:`plot_instantaneous_frequency` and
  :func:`plot_stft_views` (all three side by side) take a ``(2, F, T)`` real/imag STFT
  (:func:`audioanom.machines.features.complex_stft`) or a complex ``(F, T)`` array;
* :func:`plot_id_mean_spectra`: the mean spectrum of each machine ID of a type
  (:func:`audioanom.machines.features.id_mean_spectra`), one line per ID on a log-frequency axis.

Same conventions as :mod:`audioanom.plotting`: ``ax=None`` makes a new figure; every function
returns the figure; :func:`audioanom.plotting.save_figure` writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from ..plotting import _axes, _titled, tight_grid, time_frequency_image

__all__ = [
    "instantaneous_frequency_deviation",
    "plot_id_mean_spectra",
    "plot_instantaneous_frequency",
    "plot_log_magnitude",
    "plot_phase",
    "plot_stft_views",
    "plot_type_mean_spectra",
]


def _complex(spec: np.ndarray) -> np.ndarray:
    """``(2, F, T)`` real/imag or complex ``(F, T)`` -> complex ``(F, T)``."""
    spec = np.asarray(spec)
    if np.iscomplexobj(spec) and spec.ndim == 2:
        return spec
    if spec.ndim == 3 and spec.shape[0] == 2:
        return spec[0] + 1j * spec[1]
    raise ValueError(f"expected a (2, F, T) real/imag STFT or complex (F, T), got {spec.shape}")


def _extent(z: np.ndarray, sr: int, hop: int) -> list[float]:
    n_bins, n_frames = z.shape
    return [0.0, n_frames * hop / sr, 0.0, sr / 2 * n_bins / (n_bins - 0.5)]


def _stft_image(
    ax: Axes | None,
    values: np.ndarray,
    extent: Sequence[float],
    limits: tuple[float, float],
    cmap: str | Colormap,
    colorbar_label: str | None,
    title: str | None,
) -> Figure:
    """One STFT picture (:func:`audioanom.plotting.time_frequency_image`) on ``ax``, a new
    figure when None, colour range ``limits``."""
    _, ax = _axes(ax)
    vmin, vmax = limits
    return time_frequency_image(
        ax,
        values,
        extent=extent,
        vmin=vmin,
        vmax=vmax,
        cmap=cmap,
        colorbar_label=colorbar_label,
        title=title,
    )


def plot_log_magnitude(
    spec: np.ndarray,
    *,
    sr: int = 16000,
    hop: int = 512,
    dynamic_range_db: float = 80.0,
    ax: Axes | None = None,
    title: str | None = "log magnitude",
    colorbar: bool = True,
) -> Figure:
    """``20 log10 |X|`` in dB relative to the maximum of a ``(2, F, T)`` STFT."""
    z = _complex(spec)
    mag = np.abs(z)
    db = 20 * np.log10(mag / max(float(mag.max()), 1e-20) + 1e-12)
    return _stft_image(
        ax,
        db,
        _extent(z, sr, hop),
        (-dynamic_range_db, 0),
        "magma",
        "dB" if colorbar else None,
        title,
    )


def plot_phase(
    spec: np.ndarray,
    *,
    sr: int = 16000,
    hop: int = 512,
    title: str | None = "phase",
    colorbar: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Phase ``angle(X)`` in radians (cyclic colour map) of a ``(2, F, T)`` STFT."""
    z = _complex(spec)
    limits = (-np.pi, np.pi)
    return _stft_image(
        ax, np.angle(z), _extent(z, sr, hop), limits, "twilight", "rad" if colorbar else None, title
    )


def instantaneous_frequency_deviation(
    spec: np.ndarray, *, n_fft: int = 1024, hop: int = 512, sr: int = 16000
) -> np.ndarray:
    """Phase derivative along time minus each bin's expected advance, in Hz, ``(F, T - 1)``.

    ``dphi = angle(X[:, t] conj(X[:, t-1]))``; a stationary sinusoid at bin frequency
    ``f_k`` advances by ``2 pi f_k hop / sr``; the wrapped difference divided by
    ``2 pi hop / sr`` is the offset of the instantaneous frequency from ``f_k`` (aliased to
    +- sr / (2 hop) = +- 15.6 Hz with hop 512).
    """
    z = _complex(spec)
    dphi = np.angle(z[:, 1:] * np.conj(z[:, :-1]))  # F, T-1
    expected = 2 * np.pi * np.arange(z.shape[0])[:, None] * hop / n_fft  # F, 1
    dev = np.angle(np.exp(1j * (dphi - expected)))  # wrapped to (-pi, pi]
    return dev * sr / (2 * np.pi * hop)


def plot_instantaneous_frequency(
    spec: np.ndarray,
    *,
    sr: int = 16000,
    hop: int = 512,
    n_fft: int = 1024,
    mask_below_db: float | None = -60.0,
    ax: Axes | None = None,
    title: str | None = "instantaneous-frequency deviation",
    colorbar: bool = True,
) -> Figure:
    """:func:`instantaneous_frequency_deviation` as a picture; bins more than
    ``mask_below_db`` under the maximum magnitude (noise, random phase) are greyed out."""
    z = _complex(spec)
    dev = instantaneous_frequency_deviation(z, n_fft=n_fft, hop=hop, sr=sr)  # F, T-1
    if mask_below_db is not None:
        mag = np.abs(z[:, 1:])
        dev = np.ma.masked_where(mag < mag.max() * 10 ** (mask_below_db / 20), dev)
    lim = sr / (2 * hop)
    ext = _extent(z, sr, hop)
    ext[0] = hop / sr
    cmap = plt.get_cmap("coolwarm").with_extremes(bad="0.85")
    return _stft_image(ax, dev, ext, (-lim, lim), cmap, "Hz" if colorbar else None, title)


def plot_stft_views(
    spec: np.ndarray,
    *,
    max_hz: float | None = None,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
    sr: int = 16000,
    hop: int = 512,
    n_fft: int = 1024,
) -> Figure:
    """Three panels of one clip's complex STFT ``(2, F, T)``: log magnitude, phase, and
    instantaneous-frequency deviation (the phase derivative the complex network can see and a
    magnitude spectrogram cannot)."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    else:
        if len(axes) != 3:
            raise ValueError(f"need 3 axes, got {len(axes)}")
        fig = axes[0].figure
    plot_log_magnitude(spec, sr=sr, hop=hop, ax=axes[0])
    plot_phase(spec, sr=sr, hop=hop, ax=axes[1])
    plot_instantaneous_frequency(spec, sr=sr, hop=hop, n_fft=n_fft, ax=axes[2])
    if max_hz is not None:
        for a in axes:
            a.set_ylim(0, max_hz)
    if title:
        fig.suptitle(title)
    return fig


def plot_id_mean_spectra(
    spectra: pd.DataFrame,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    ylim: tuple[float, float] = (-90.0, 3.0),
) -> Figure:
    """One line per machine ID: ``db`` against ``freq_hz`` of a table with columns ``id,
    freq_hz, db`` (:func:`audioanom.machines.features.id_mean_spectra`), log frequency axis;
    the 0 Hz bin is left out (no place on a log axis)."""
    missing = [c for c in ("id", "freq_hz", "db") if c not in spectra.columns]
    if missing:
        raise ValueError(f"spectra table lacks columns {missing}")
    fig, ax = _axes(ax)
    for mid, g in spectra.groupby("id", sort=True):
        keep = g["freq_hz"].to_numpy() > 0
        ax.plot(g["freq_hz"].to_numpy()[keep], g["db"].to_numpy()[keep], lw=0.8, label=str(mid))
    ax.set(xscale="log", xlabel="frequency [Hz]", ylabel="dB (type max = 0)", ylim=ylim)
    ax.legend(fontsize=7)
    return _titled(ax, title)


def plot_type_mean_spectra(
    spectra: dict[str, pd.DataFrame], *, ncols: int = 2, size: tuple[float, float] = (6.0, 3.2)
) -> Figure:
    """:func:`plot_id_mean_spectra` for several machine types (``{type: spectra table}``), one
    panel each, titled by type."""
    if not spectra:
        raise ValueError("no spectra to draw")
    fig, axes = tight_grid(len(spectra), ncols=ncols, size=size)
    for ax, (t, table) in zip(axes, spectra.items(), strict=False):
        plot_id_mean_spectra(table, ax=ax, title=t)
    return fig
