"""The recording faults of the anomalous spoken-digit takes, as pure functions.

Each takes a non-empty float32 signal ``(T,)`` and returns a new one (the input is never
changed): :func:`hard_clip`, :func:`add_noise_burst`, :func:`drop_out`, :func:`truncate`,
:func:`pitch_shift`, and :func:`reverberate` with a synthetic :func:`room_impulse_response`.
:mod:`audioanom.synth.speech` applies them to the takes it renders.
"""

from __future__ import annotations

import numpy as np
import soxr
from scipy.signal import fftconvolve


def _as_signal(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty 1-D signal (T,), got shape {x.shape}")
    return x


def hard_clip(x: np.ndarray, gain_db: float) -> np.ndarray:
    """Amplify by ``gain_db`` and clip to [-1, 1] (an overdriven recording)."""
    x = _as_signal(x)
    return np.clip(x * np.float32(10 ** (gain_db / 20)), -1.0, 1.0)  # T


def add_noise_burst(
    x: np.ndarray, start: int, length: int, rms: float, rng: np.random.Generator
) -> np.ndarray:
    """Add white Gaussian noise of RMS ``rms`` to ``x[start:start+length]`` (short ramps)."""
    x = _as_signal(x).copy()
    if not (0 <= start and length > 0 and start + length <= x.size):
        raise ValueError(f"burst [{start}, {start + length}) outside a signal of {x.size} samples")
    ramp = min(length // 2, max(1, length // 20))
    env = np.ones(length, dtype=np.float32)
    env[:ramp] = np.linspace(0, 1, ramp, endpoint=False)
    env[length - ramp :] = env[:ramp][::-1]
    x[start : start + length] += rms * env * rng.standard_normal(length, dtype=np.float32)
    return x  # T


def drop_out(x: np.ndarray, start: int, length: int) -> np.ndarray:
    """Set ``x[start:start+length]`` to exactly zero (lost samples)."""
    x = _as_signal(x).copy()
    if not (0 <= start and length > 0 and start + length <= x.size):
        raise ValueError(f"dropout [{start}, {start + length}) outside a signal of {x.size}")
    x[start : start + length] = 0.0
    return x  # T


def truncate(x: np.ndarray, end: int) -> np.ndarray:
    """Keep ``x[:end]``: the recording stops there."""
    x = _as_signal(x)
    if not 0 < end <= x.size:
        raise ValueError(f"truncation point {end} outside (0, {x.size}]")
    return x[:end].copy()  # T'


def pitch_shift(x: np.ndarray, semitones: float, sr: int) -> np.ndarray:
    """Resampling pitch shift (tape-speed change): pitch x 2^(s/12), duration / 2^(s/12)."""
    x = _as_signal(x)
    factor = 2.0 ** (semitones / 12.0)
    return soxr.resample(x, sr, sr / factor).astype(np.float32)  # T / factor


def room_impulse_response(
    rt60: float, drr_db: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Synthetic RIR: a unit direct path plus exponentially decaying noise.

    The tail decays by 60 dB over ``rt60`` seconds and its energy is ``drr_db`` below the
    direct path (direct-to-reverberant ratio); length ``rt60`` seconds.
    """
    if rt60 <= 0:
        raise ValueError(f"rt60 must be positive, got {rt60}")
    n = max(2, int(rt60 * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / rt60)
    tail[0] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    tail[0] = 1.0
    return tail.astype(np.float32)  # N


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with a room impulse response; the result is longer by ``len(rir) - 1``."""
    x = _as_signal(x)
    return fftconvolve(x, _as_signal(rir)).astype(np.float32)  # T + N - 1
