"""Fixed-length spectral features of audio clips, extracted in parallel and cached on disk.

Two feature families, each described by a frozen config:

* :class:`FFTConfig` -- the magnitude spectrum of the whole clip (one ``rfft``), divided by its
  own maximum so that loudness drops out. :data:`AUDIOMNIST_FFT` is the AudioMNIST convention:
  resample to 8 kHz, zero-pad or cut to 8,000 samples (one second), 4,001 frequency bins.
  With ``log=True`` the values are decibels re. the clip's maximum (floored).
  :func:`clip_spectra` gives the complex spectrum (with phase) of chosen clips and
  :func:`reconstruct_waveform` turns a (reconstructed) feature row back into a waveform with the
  original phase.
* :class:`MelConfig` -- a log-mel spectrogram (dB re. the clip's maximum) of the clip with its
  leading and trailing silence trimmed, summarised either as per-band statistics over time
  (``summary="stats"``: mean and standard deviation, loudness- and duration-free) or stretched
  onto a fixed number of frames (``summary="aligned"``: a time-aligned picture of the word).

:func:`extract_features` reads a list of files (or a clip table's ``path`` column) with
:func:`audioanom.audio.read_audio` on a thread pool (soundfile and soxr release the GIL) and
keeps the result in :func:`audioanom.paths.cache_dir` under a key made of the config and every
file's path, size and modification time, so a re-run loads one ``.npy`` file instead of
decoding thousands. A bad file raises :class:`audioanom.audio.AudioError` naming it; a silent
clip (all-zero spectrum) does too -- never a row of zeros.

Clips longer than ``FFTConfig.n_samples`` (e.g. the few FSDD digits over one second) are cut,
and every cut is recorded: :func:`read_signals`, :func:`clip_spectra` and
:func:`extract_features` emit one :class:`ClipTruncatedWarning` per call naming each cut file
with its duration (seconds, at ``target_sr``) and what was kept; the warning's ``clips``
attribute is a DataFrame ``path, seconds, kept_seconds``. :func:`truncated_clips` returns the
same table without a warning. A cache hit repeats the warning from the record stored beside the
cached features, so a re-run does not hide the cut.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .. import paths
from ..audio import AudioError, read_audio
from ..dsp import mel_filterbank, power_spectrogram, power_to_db, trim

CACHE_VERSION = 3  # bump when the computation of a config changes (2: truncation records,
#                   3: log-mel through librosa, audioanom.dsp)


@dataclass(frozen=True)
class FFTConfig:
    """Magnitude spectrum of the whole clip, normalised by its maximum.

    Attributes:
        target_sr: every clip is resampled to this rate (Hz) first.
        n_samples: clips are zero-padded at the end or cut to this many samples.
        log: False: magnitude / max (values in [0, 1]); True: 20 log10(magnitude / max) in dB,
            floored at ``floor_db`` (values in [floor_db, 0]).
        floor_db: the floor of the log values (dB re. the clip's maximum).
    """

    target_sr: int = 8000
    n_samples: int = 8000
    log: bool = False
    floor_db: float = -80.0

    def __post_init__(self) -> None:
        if self.target_sr <= 0 or self.n_samples < 2:
            raise ValueError(f"target_sr > 0 and n_samples >= 2 needed, got {self}")
        if self.floor_db >= 0:
            raise ValueError(f"floor_db must be negative, got {self.floor_db}")

    @property
    def n_features(self) -> int:
        """Number of frequency bins: ``n_samples // 2 + 1``."""
        return self.n_samples // 2 + 1

    @property
    def name(self) -> str:
        """A short label such as ``fft-8k-8000`` or ``fft-8k-8000-log``."""
        return f"fft-{self.target_sr / 1000:g}k-{self.n_samples}" + ("-log" if self.log else "")


#: The AudioMNIST convention: 8 kHz, one second (8,000 samples), 4,001 bins, linear magnitude.
AUDIOMNIST_FFT = FFTConfig()


@dataclass(frozen=True)
class MelConfig:
    """Log-mel spectrogram of the trimmed clip, summarised to a fixed length.

    Attributes:
        target_sr: resampling rate (Hz).
        n_fft: frame length (samples, Hann window); ``hop``: frame step (samples).
        n_mels: mel bands between ``fmin`` and ``fmax`` (None: target_sr / 2).
        summary: ``"stats"``: mean and standard deviation of each band over the frames
            (2 n_mels values); ``"aligned"``: the spectrogram linearly resampled to ``n_frames``
            frames (n_mels x n_frames values, band-major).
        n_frames: frames of the ``"aligned"`` summary.
        trim_db: frames quieter than (loudest frame - trim_db) at either end are dropped.
        floor_db: values are dB re. the clip's loudest mel cell, floored here.
    """

    target_sr: int = 8000
    n_fft: int = 256
    hop: int = 64
    n_mels: int = 40
    fmin: float = 50.0
    fmax: float | None = None
    summary: Literal["stats", "aligned"] = "stats"
    n_frames: int = 32
    trim_db: float = 40.0
    floor_db: float = -80.0

    def __post_init__(self) -> None:
        if self.summary not in ("stats", "aligned"):
            raise ValueError(f"summary must be 'stats' or 'aligned', got {self.summary!r}")
        if self.hop <= 0 or self.n_fft < 8 or self.n_mels < 1 or self.n_frames < 2:
            raise ValueError(f"invalid mel settings: {self}")
        top = self.fmax if self.fmax is not None else self.target_sr / 2
        if not 0 <= self.fmin < top <= self.target_sr / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= target_sr / 2, got {self}")

    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        return 2 * self.n_mels if self.summary == "stats" else self.n_mels * self.n_frames

    @property
    def name(self) -> str:
        """A short label such as ``logmel40-stats`` or ``logmel40-aligned32``."""
        tail = "stats" if self.summary == "stats" else f"aligned{self.n_frames}"
        return f"logmel{self.n_mels}-{tail}"


FeatureConfig = FFTConfig | MelConfig


# --------------------------------------------------------------------------- one signal


def fit_length(x: np.ndarray, n_samples: int) -> np.ndarray:
    """``x`` zero-padded at the end or cut to ``n_samples`` (float32, 1-D)."""
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {x.shape}")
    out = np.zeros(n_samples, dtype=np.float32)
    n = min(n_samples, x.size)
    out[:n] = x[:n]
    return out


def fft_frequencies(config: FFTConfig) -> np.ndarray:
    """Centre frequency (Hz) of each bin of an :class:`FFTConfig` feature row, (n_features,)."""
    return np.fft.rfftfreq(config.n_samples, d=1.0 / config.target_sr)


def magnitude_features(spectrum: np.ndarray, config: FFTConfig) -> np.ndarray:
    """Feature rows from complex spectra: |X| / max |X| (or its dB), float32, shape kept.

    ``spectrum`` is (F,) or (N, F) with F = ``config.n_features``. A row whose magnitude is all
    zero (a silent clip) raises ValueError: it has no shape to normalise.
    """
    spectrum = np.asarray(spectrum)
    if spectrum.shape[-1] != config.n_features or spectrum.ndim not in (1, 2):
        raise ValueError(
            f"expected spectra of shape (N, {config.n_features}) or ({config.n_features},), "
            f"got {spectrum.shape}"
        )
    mag = np.abs(spectrum).astype(np.float32)  # N, F
    peak = mag.max(axis=-1, keepdims=True)
    if np.any(peak <= 0):
        raise ValueError("silent clip: its spectrum is all zero and cannot be normalised")
    rel = mag / peak
    if not config.log:
        return rel
    floor = np.float32(10 ** (config.floor_db / 20))
    return (20 * np.log10(np.maximum(rel, floor))).astype(np.float32)


def features_to_magnitude(features: np.ndarray, config: FFTConfig) -> np.ndarray:
    """Invert :func:`magnitude_features` up to the clip's scale: relative magnitudes >= 0."""
    features = np.asarray(features, dtype=np.float64)
    rel = 10 ** (features / 20) if config.log else features
    return np.maximum(rel, 0.0)


def trimmed_log_mel(x: np.ndarray, config: MelConfig) -> np.ndarray:
    """Log-mel spectrogram of the trimmed signal, dB re. its loudest cell: ``(n_mels, T)``.

    :func:`audioanom.dsp.trim` (librosa: frames more than ``trim_db`` below the loudest, RMS
    over ``n_fft`` samples every ``hop``) cuts the silence at both ends; then the power
    spectrogram (Hann, ``center=False``; a clip shorter than ``n_fft`` is zero-padded), the HTK
    mel filterbank with unit-peak filters (:func:`audioanom.dsp.mel_filterbank`) and
    :func:`audioanom.dsp.power_to_db` relative to the loudest cell, floored at ``floor_db``.
    ValueError for a silent clip."""
    y, _ = trim(
        np.asarray(x, dtype=np.float32),
        top_db=config.trim_db,
        frame_length=config.n_fft,
        hop_length=config.hop,
    )
    if y.size < config.n_fft:
        y = np.pad(y, (0, config.n_fft - y.size))
    power = power_spectrogram(y, config.n_fft, config.hop, center=False)  # F, T
    fb = mel_filterbank(
        config.target_sr, config.n_fft, config.n_mels, config.fmin, config.fmax, htk=True, norm=None
    )  # M, F
    mel = fb @ power  # M, T
    peak = float(mel.max())
    if peak <= 0:
        raise ValueError("silent clip: its spectrogram is all zero and cannot be normalised")
    db = power_to_db(mel, ref=peak, amin=peak * 10 ** (config.floor_db / 10))  # M, T
    return db.astype(np.float32)


def mel_features(x: np.ndarray, config: MelConfig) -> np.ndarray:
    """The :class:`MelConfig` feature vector of one signal, (config.n_features,) float32."""
    spec = trimmed_log_mel(x, config)  # M, T
    if config.summary == "stats":
        return np.concatenate([spec.mean(axis=1), spec.std(axis=1)]).astype(np.float32)
    t_old = np.linspace(0.0, 1.0, spec.shape[1]) if spec.shape[1] > 1 else np.zeros(1)
    t_new = np.linspace(0.0, 1.0, config.n_frames)
    if spec.shape[1] == 1:
        aligned = np.repeat(spec, config.n_frames, axis=1)
    else:
        aligned = np.stack([np.interp(t_new, t_old, band) for band in spec])  # M, n_frames
    return aligned.reshape(-1).astype(np.float32)


# --------------------------------------------------------------------------- many clips


def _as_paths(clips: pd.DataFrame | Sequence[str | Path]) -> list[str]:
    if isinstance(clips, pd.DataFrame):
        if "path" not in clips.columns:
            raise KeyError("the clip table has no 'path' column")
        return [str(p) for p in clips["path"]]
    return [str(p) for p in clips]


def cache_key(config: FeatureConfig, files: Sequence[str]) -> str:
    """A hash of the config and every file's path, size and modification time.

    A missing file raises :class:`AudioError` naming it.
    """
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"v": CACHE_VERSION, "kind": type(config).__name__, **dataclasses.asdict(config)},
            sort_keys=True,
        ).encode()
    )
    for f in files:
        try:
            st = os.stat(f)
        except FileNotFoundError:
            raise AudioError(f, "no such file") from None
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def features_cache_path(config: FeatureConfig, files: Sequence[str]) -> Path:
    """Where :func:`extract_features` keeps the features of ``files`` under ``config``."""
    return paths.cache_dir() / "features" / f"{config.name}-{cache_key(config, files)}.npy"


def _map(fn: Callable[[str], np.ndarray], files: list[str], n_jobs: int, progress: bool, desc):
    from ..progress import tqdm

    if n_jobs <= 1:
        return [fn(f) for f in tqdm(files, desc=desc, disable=not progress)]
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        return list(tqdm(pool.map(fn, files), total=len(files), desc=desc, disable=not progress))


def _silent(path: str) -> AudioError:
    return AudioError(path, "silent clip: all-zero spectrum, nothing to normalise")


TRUNCATION_COLUMNS = ("path", "seconds", "kept_seconds")


class ClipTruncatedWarning(UserWarning):
    """Clips longer than ``FFTConfig.n_samples`` were cut. ``clips`` is a DataFrame
    ``path, seconds, kept_seconds`` (durations at the config's ``target_sr``)."""

    def __init__(self, message: str, clips: pd.DataFrame):
        super().__init__(message)
        self.clips = clips


def _truncation_table(files: Sequence[str], lengths: Sequence[int], config: FFTConfig):
    rows = [
        (f, n / config.target_sr, config.n_samples / config.target_sr)
        for f, n in zip(files, lengths, strict=True)
        if n > config.n_samples
    ]
    return pd.DataFrame(rows, columns=list(TRUNCATION_COLUMNS))


def _warn_truncated(table: pd.DataFrame, n_files: int, config: FFTConfig) -> None:
    if table.empty:
        return
    shown = 10
    listed = ", ".join(
        f"{p} ({s:.3f} s)" for p, s in zip(table["path"], table["seconds"], strict=True)
    )
    if len(table) > shown:
        head = table.head(shown)
        listed = ", ".join(
            f"{p} ({s:.3f} s)" for p, s in zip(head["path"], head["seconds"], strict=True)
        )
        listed += f", ... and {len(table) - shown} more (see the warning's .clips)"
    kept = config.n_samples / config.target_sr
    warnings.warn(
        ClipTruncatedWarning(
            f"{len(table)} of {n_files} clips longer than {kept:g} s "
            f"({config.n_samples} samples at {config.target_sr} Hz) were cut to {kept:g} s: "
            f"{listed}",
            table,
        ),
        stacklevel=3,
    )


def _read_fitted(
    files: list[str], config: FFTConfig, n_jobs: int, progress: bool
) -> tuple[np.ndarray, pd.DataFrame]:
    """Signals padded/cut to ``n_samples`` and the table of the clips that were cut."""

    def one(path: str) -> tuple[np.ndarray, int]:
        x, _ = read_audio(path, sr=config.target_sr)
        return fit_length(x, config.n_samples), int(x.size)

    pairs = _map(one, files, n_jobs, progress, "reading")
    signals = (
        np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, config.n_samples), np.float32)
    )
    return signals, _truncation_table(files, [p[1] for p in pairs], config)


def read_signals(
    clips: pd.DataFrame | Sequence[str | Path],
    config: FFTConfig,
    *,
    n_jobs: int = 2,
    progress: bool = False,
) -> np.ndarray:
    """Every clip resampled to ``config.target_sr`` and padded/cut: (N, n_samples) float32.

    Clips longer than ``n_samples`` are cut; a :class:`ClipTruncatedWarning` names them with
    their durations.
    """
    files = _as_paths(clips)
    signals, cut = _read_fitted(files, config, n_jobs, progress)
    _warn_truncated(cut, len(files), config)
    return signals


def truncated_clips(
    clips: pd.DataFrame | Sequence[str | Path], config: FFTConfig = AUDIOMNIST_FFT
) -> pd.DataFrame:
    """The clips that ``config`` cuts: DataFrame ``path, seconds, kept_seconds`` (durations at
    ``config.target_sr``, from the file headers; empty when none is cut). No warning."""
    from ..audio import audio_info

    files = _as_paths(clips)
    lengths = []
    for f in files:
        info = audio_info(f)
        # soxr's output length: round(frames * target_sr / samplerate)
        lengths.append(int(round(info.frames * config.target_sr / info.samplerate)))
    return _truncation_table(files, lengths, config)


def clip_spectra(
    clips: pd.DataFrame | Sequence[str | Path], config: FFTConfig, *, n_jobs: int = 2
) -> np.ndarray:
    """Complex spectra (with phase) of chosen clips: (N, n_features) complex64.

    ``magnitude_features(clip_spectra(files, c), c)`` equals ``extract_features(files, c)``.
    """
    files = _as_paths(clips)
    signals, cut = _read_fitted(files, config, n_jobs, False)  # N, S
    _warn_truncated(cut, len(files), config)
    return np.fft.rfft(signals, axis=1).astype(np.complex64)  # N, F


def _fft_batch(
    files: list[str], config: FFTConfig, n_jobs: int, progress: bool
) -> tuple[np.ndarray, pd.DataFrame]:
    signals, cut = _read_fitted(files, config, n_jobs, progress)  # N, S
    out = np.empty((len(files), config.n_features), dtype=np.float32)  # N, F
    chunk = 256
    for start in range(0, len(files), chunk):
        spec = np.fft.rfft(signals[start : start + chunk], axis=1)  # n, F
        silent = np.flatnonzero(np.abs(spec).max(axis=1) == 0)
        if silent.size:
            raise _silent(files[start + silent[0]])
        out[start : start + chunk] = magnitude_features(spec, config)
    return out, cut


def _mel_batch(files: list[str], config: MelConfig, n_jobs: int, progress: bool) -> np.ndarray:
    def one(path: str) -> np.ndarray:
        x, _ = read_audio(path, sr=config.target_sr)
        try:
            return mel_features(x, config)
        except ValueError as err:
            raise AudioError(path, str(err)) from err

    rows = _map(one, files, n_jobs, progress, "log-mel")
    return np.stack(rows) if rows else np.zeros((0, config.n_features), np.float32)


def extract_features(
    clips: pd.DataFrame | Sequence[str | Path],
    config: FeatureConfig = AUDIOMNIST_FFT,
    *,
    n_jobs: int = 2,
    cache: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Feature matrix of the clips, (N, config.n_features) float32, in the order given.

    Args:
        clips: a clip table (its ``path`` column) or a list of audio files.
        config: :class:`FFTConfig` or :class:`MelConfig`.
        n_jobs: reader threads (soundfile and soxr release the GIL).
        cache: load from / save to :func:`features_cache_path` (config + paths + sizes + mtimes).
        progress: show a progress bar.

    Warns:
        ClipTruncatedWarning: an :class:`FFTConfig` cut clips longer than ``n_samples``; the
            message names each with its duration (also on a cache hit).

    Raises:
        AudioError: a file is missing, unreadable or silent (the error names it).
    """
    files = _as_paths(clips)
    target = features_cache_path(config, files) if cache else None
    record = target.with_suffix(".truncated.csv") if target is not None else None
    is_fft = isinstance(config, FFTConfig)
    # an FFT entry counts as a hit only with its truncation record (else it is computed again)
    if target is not None and target.is_file() and (not is_fft or record.is_file()):
        if is_fft:
            _warn_truncated(pd.read_csv(record, dtype={"path": str}), len(files), config)
        return np.load(target)
    cut = None
    if is_fft:
        features, cut = _fft_batch(files, config, n_jobs, progress)
    elif isinstance(config, MelConfig):
        features = _mel_batch(files, config, n_jobs, progress)
    else:
        raise TypeError(f"config must be FFTConfig or MelConfig, got {type(config).__name__}")
    if target is not None:
        paths.ensure(target.parent)
        if cut is not None:  # written first: the .npy is what marks a cache hit
            tmp_rec = record.with_name(f".{record.name}.{os.getpid()}.tmp")
            cut.to_csv(tmp_rec, index=False)
            os.replace(tmp_rec, record)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, features)
        os.replace(tmp, target)
    if cut is not None:
        _warn_truncated(cut, len(files), config)
    return features


def reconstruct_waveform(
    spectrum: np.ndarray, features: np.ndarray, config: FFTConfig
) -> np.ndarray:
    """Waveforms from (reconstructed) feature rows with the original clips' scale and phase.

    Args:
        spectrum: the original complex spectra, (N, F) or (F,) (:func:`clip_spectra`).
        features: feature rows of the same shape, e.g. a PCA reconstruction of
            ``magnitude_features(spectrum, config)``; negative magnitudes become 0.

    Returns:
        float32 waveforms (N, n_samples) or (n_samples,). With ``features`` equal to the
        clips' own features this returns the padded/cut input signals.
    """
    spectrum = np.asarray(spectrum)
    features = np.asarray(features)
    if spectrum.shape != features.shape or spectrum.shape[-1] != config.n_features:
        raise ValueError(
            f"spectrum {spectrum.shape} and features {features.shape} must both be "
            f"(N, {config.n_features})"
        )
    scale = np.abs(spectrum).max(axis=-1, keepdims=True)  # N, 1
    magnitude = features_to_magnitude(features, config) * scale  # N, F
    phase = np.angle(spectrum)
    return np.fft.irfft(magnitude * np.exp(1j * phase), n=config.n_samples, axis=-1).astype(
        np.float32
    )


__all__ = [
    "AUDIOMNIST_FFT",
    "ClipTruncatedWarning",
    "FFTConfig",
    "FeatureConfig",
    "MelConfig",
    "cache_key",
    "features_cache_path",
    "clip_spectra",
    "extract_features",
    "features_to_magnitude",
    "fft_frequencies",
    "fit_length",
    "trimmed_log_mel",
    "magnitude_features",
    "mel_features",
    "read_signals",
    "reconstruct_waveform",
    "truncated_clips",
]
