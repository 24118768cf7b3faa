"""The one place for short-time spectra outside the network: STFT, mel filterbank, dB, trimming.

Every function is a thin, checked wrapper of librosa (the library the DCASE baselines and most
audio-ML code use), so that what the project computes is librosa's definition rather than a
claim of matching it:

* :func:`stft` -- :func:`librosa.stft` (periodic Hann window, no scaling), complex64 ``(F, T)``;
* :func:`power_spectrogram` -- ``|stft| ** power``;
* :func:`mel_filterbank` -- :func:`librosa.filters.mel`, float32 ``(n_mels, F)``, read-only and
  cached; Slaney scale and area normalisation by default (librosa's default), or the HTK scale
  with unit-peak filters (``htk=True, norm=None``); a filter that falls between FFT bins is a
  ValueError here (librosa only warns);
* :func:`power_to_db` -- :func:`librosa.power_to_db` (``10 log10(max(amin, S) / ref)``);
* :func:`trim` -- :func:`librosa.effects.trim`: leading and trailing frames whose RMS is more
  than ``top_db`` below the loudest frame are cut;
* :func:`speed_change` -- :func:`librosa.resample` (soxr, high quality) from ``factor * sr`` to
  ``sr``: the signal played ``factor`` times as fast (pitch and tempo together).

The complex network computes its STFT with ``torch.stft`` so that it runs on a GPU
(:func:`audioanom.machines.features.complex_stft`, :func:`audioanom.machines.nn.stft_input`);
a test checks it against :func:`stft` here once.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import numpy as np

__all__ = [
    "check_signal",
    "mel_filterbank",
    "power_spectrogram",
    "power_to_db",
    "speed_change",
    "stft",
    "trim",
]

PadMode = Literal["constant", "reflect"]


def check_signal(x: np.ndarray, n_fft: int, center: bool) -> np.ndarray:
    """``x`` as a contiguous float32 1-D signal long enough for one frame; ValueError for a
    non-1-D, too short or non-finite signal (shared with the network's ``torch.stft`` path)."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {x.shape}")
    need = n_fft // 2 + 1 if center else n_fft
    if x.size < need:
        raise ValueError(
            f"signal of {x.size} samples is too short for n_fft={n_fft} (center={center}): "
            f"need at least {need}"
        )
    if not np.isfinite(x).all():
        raise ValueError("signal holds NaN or Inf samples")
    return np.ascontiguousarray(x, dtype=np.float32)


def stft(
    x: np.ndarray,
    n_fft: int,
    hop_length: int,
    *,
    center: bool = True,
    pad_mode: PadMode = "constant",
) -> np.ndarray:
    """Complex64 STFT ``(n_fft // 2 + 1, T)`` of a 1-D signal: :func:`librosa.stft` with a
    periodic Hann window of ``n_fft`` samples. ``center=True`` pads ``n_fft // 2`` samples at
    each end (``pad_mode``), so ``T = 1 + len(x) // hop_length``; ``center=False`` gives
    ``T = 1 + (len(x) - n_fft) // hop_length``. ValueError for a non-1-D, too short or
    non-finite signal."""
    import librosa

    y = check_signal(x, n_fft, center)
    return librosa.stft(
        y, n_fft=n_fft, hop_length=hop_length, window="hann", center=center, pad_mode=pad_mode
    )  # F, T


def power_spectrogram(
    x: np.ndarray,
    n_fft: int,
    hop_length: int,
    *,
    power: float = 2.0,
    center: bool = True,
    pad_mode: PadMode = "constant",
) -> np.ndarray:
    """``|stft(x)| ** power`` as float32 ``(F, T)`` (power 2: ``re^2 + im^2``)."""
    z = stft(x, n_fft, hop_length, center=center, pad_mode=pad_mode)  # F, T
    if power == 2.0:
        return (z.real * z.real + z.imag * z.imag).astype(np.float32)
    return (np.abs(z) ** power).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _mel_cached(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: str | None
) -> np.ndarray:
    import librosa

    with warnings.catch_warnings():  # an empty filter is raised as a ValueError below
        warnings.filterwarnings("ignore", message="Empty filters detected")
        fb = librosa.filters.mel(
            sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm
        ).astype(np.float32)  # M, F
    empty = np.flatnonzero(fb.max(axis=1) == 0)
    if empty.size:
        raise ValueError(
            f"{empty.size} of {n_mels} mel filters fall between FFT bins and are empty "
            f"(first: {empty[0]}); use fewer mel bands or a larger n_fft"
        )
    fb.setflags(write=False)
    return fb


def mel_filterbank(
    sr: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    *,
    htk: bool = False,
    norm: Literal["slaney"] | None = "slaney",
) -> np.ndarray:
    """Mel filterbank ``(n_mels, n_fft // 2 + 1)`` float32, read-only: :func:`librosa.filters.mel`
    (default: Slaney scale, area-normalised filters; ``htk=True, norm=None``: HTK scale, unit
    peaks). ``fmax`` None means ``sr / 2``. ValueError when a filter would be empty."""
    fmax = sr / 2 if fmax is None else float(fmax)
    if not 0 <= fmin < fmax <= sr / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sr / 2, got fmin={fmin}, fmax={fmax}, sr={sr}")
    return _mel_cached(int(sr), int(n_fft), int(n_mels), float(fmin), fmax, bool(htk), norm)


def power_to_db(
    power: np.ndarray, *, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = None
) -> np.ndarray:
    """``10 log10(max(amin, S) / ref)`` (:func:`librosa.power_to_db`), floored at ``max -
    top_db`` when ``top_db`` is given; same shape and dtype as ``power``."""
    import librosa

    return librosa.power_to_db(np.asarray(power), ref=ref, amin=amin, top_db=top_db)


def trim(
    x: np.ndarray, *, top_db: float, frame_length: int, hop_length: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Cut leading and trailing silence (:func:`librosa.effects.trim`): frames whose RMS is more
    than ``top_db`` dB below the loudest frame. Returns ``(trimmed signal, (start, stop))`` in
    samples. ValueError for a non-1-D, non-finite or all-zero signal."""
    import librosa

    y = np.asarray(x)
    if y.ndim != 1 or not np.isfinite(y).all():
        raise ValueError(f"expected a finite 1-D signal, got shape {y.shape}")
    if not np.any(y):
        raise ValueError("silent signal: nothing to keep after trimming")
    out, (start, stop) = librosa.effects.trim(
        y, top_db=top_db, frame_length=frame_length, hop_length=hop_length
    )
    return out, (int(start), int(stop))


def speed_change(x: np.ndarray, factor: float, sr: int) -> np.ndarray:
    """The 1-D signal ``x`` (at ``sr``) played ``factor`` times as fast, at ``sr`` again:
    :func:`librosa.resample` from ``factor * sr`` to ``sr`` (every frequency times ``factor``,
    ``ceil(len(x) / factor)`` samples). float32. ValueError for ``factor <= 0`` or a
    non-1-D, empty or non-finite signal."""
    import librosa

    if not factor > 0:
        raise ValueError(f"speed factor must be > 0, got {factor}")
    y = np.asarray(x, dtype=np.float32)
    if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
        raise ValueError(f"expected a finite, non-empty 1-D signal, got shape {y.shape}")
    return librosa.resample(y, orig_sr=factor * sr, target_sr=sr).astype(np.float32)
