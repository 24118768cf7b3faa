"""The simple baseline every machine-sound table carries: a per-ID Gaussian on log-mel statistics.

Features of a clip (:func:`log_mel_stats`), computed with librosa: the power mel spectrogram
(``librosa.feature.melspectrogram``: 16 kHz, ``n_fft`` 1024, hop 512, Hann window, centred
frames, 128 Slaney mel bands), in dB by ``librosa.power_to_db`` (``ref=1``, ``amin=1e-10``,
``top_db=80``: librosa's defaults), then the mean and the standard deviation over time of every
band: a vector of ``2 * 128 = 256`` values.

Detector: :class:`audioanom.machines.backends.GaussianBackend` fitted per machine ID on that ID's
normal training clips only (Ledoit-Wolf covariance, squared Mahalanobis distance as the score).
It has no training beyond that fit, no network and no tuning: a method that does not beat it has
learnt nothing that twenty lines of librosa and scikit-learn do not already know.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio import read_audio
from .backends import GaussianBackend, fit_score

__all__ = [
    "BASELINE_NAME",
    "LogMelStatsConfig",
    "clip_log_mel_stats",
    "log_mel_stats",
    "log_mel_stats_table",
    "logmel_gaussian_scores",
]

#: The method name of the baseline in every table.
BASELINE_NAME = "log-mel Gaussian"


@dataclass(frozen=True)
class LogMelStatsConfig:
    """Settings of :func:`log_mel_stats` (defaults: module docstring). ``resample=True``
    resamples files of another rate to ``sample_rate`` (e.g. FSDD's 8 kHz); by default such a
    file is an error."""

    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    top_db: float | None = 80.0
    resample: bool = False

    def __post_init__(self) -> None:
        if min(self.sample_rate, self.n_fft, self.hop_length, self.n_mels) < 1:
            raise ValueError(f"invalid log-mel statistics settings: {self}")

    @property
    def dims(self) -> int:
        """Length of the feature vector: ``2 * n_mels``."""
        return 2 * self.n_mels


def log_mel_stats(x: np.ndarray, config: LogMelStatsConfig = LogMelStatsConfig()) -> np.ndarray:
    """``[mean_t, std_t]`` of the dB mel spectrogram of a mono signal: ``(2 * n_mels,)`` float64.

    ValueError for a signal that is not 1-D, is shorter than ``n_fft`` or holds NaN/Inf.
    """
    import librosa

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1 or x.size < config.n_fft:
        raise ValueError(f"expected a 1-D signal of at least {config.n_fft} samples, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("signal holds NaN or Inf samples")
    mel = librosa.feature.melspectrogram(
        y=x,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        power=2.0,
    )  # M, T
    db = librosa.power_to_db(mel, top_db=config.top_db).astype(np.float64)  # M, T
    return np.concatenate([db.mean(axis=1), db.std(axis=1)])  # 2M


def clip_log_mel_stats(
    path: str | Path, config: LogMelStatsConfig = LogMelStatsConfig()
) -> np.ndarray:
    """Read one file (:func:`audioanom.audio.read_audio`; its rate must be the config's unless
    ``config.resample``: an AudioError names the file otherwise) -> :func:`log_mel_stats`."""
    if config.resample:
        x, _ = read_audio(path, sr=config.sample_rate)
    else:
        x, _ = read_audio(path, expected_sr=config.sample_rate)
    return log_mel_stats(x, config)


def log_mel_stats_table(
    clips: pd.DataFrame | Sequence[str | Path],
    config: LogMelStatsConfig = LogMelStatsConfig(),
    *,
    cache: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """:func:`clip_log_mel_stats` of every clip, in row order: ``(N, 2 * n_mels)``. Each clip's
    vector is cached on disk like the STFTs (:func:`audioanom.machines.features.cache_path`)."""
    from ..progress import tqdm
    from .features import _cached, _paths_of

    rows = []
    for p in tqdm(_paths_of(clips), desc="log-mel stats", unit="clip", disable=not progress):
        compute = functools.partial(clip_log_mel_stats, p, config)
        rows.append(
            _cached(p, "logmelstats", config, compute, cache=cache, cache_root=None, lazy=False)
        )
    if not rows:
        return np.zeros((0, config.dims))
    return np.stack(rows)


def logmel_gaussian_scores(
    clips: pd.DataFrame,
    config: LogMelStatsConfig = LogMelStatsConfig(),
    *,
    cache: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Score every clip of a clip table with the baseline; returns the clip table's ``path,
    group, id, label, split`` (+ ``anomaly_kind`` when present) and ``score``.

    The Gaussian of each ``(group, id)`` is fitted on that ID's normal training clips; an ID
    without any is not scored and is reported by a ValueError naming it. Training clips get
    cross-fitted scores (:func:`audioanom.machines.backends.fit_score`), so that a threshold
    taken from them holds on new clips.
    """
    for col in ("path", "group", "id", "label", "split"):
        if col not in clips.columns:
            raise ValueError(f"clip table lacks column {col!r}")
    feats = log_mel_stats_table(clips, config, cache=cache, progress=progress)
    key = (clips["group"].astype(str) + "/" + clips["id"].astype(str)).to_numpy()
    train = ((clips["split"] == "train") & (clips["label"] == "normal")).to_numpy()
    missing = sorted(set(key) - set(key[train]))
    if missing:
        raise ValueError(f"{BASELINE_NAME}: no normal training clips for {missing}")
    cols = [c for c in ("path", "group", "id", "label", "split", "anomaly_kind") if c in clips]
    out = clips[cols].reset_index(drop=True).copy()
    out["score"] = fit_score(GaussianBackend(), feats, key, train)
    return out
