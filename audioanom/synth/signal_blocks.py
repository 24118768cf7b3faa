"""Float32 signal building blocks of the synthetic data generators.

Everything here is a small, deterministic numpy/scipy function of its arguments (random draws
come only from the ``numpy.random.Generator`` passed in), so the generators built from them
give the same samples for the same seeds:

* levels: :func:`_rms`, :func:`_unit` (scale to RMS 1), :func:`to_pcm16` (quantise to 16 bit);
* noise shaped in the frequency domain (one inverse FFT): :func:`_noise_spectrum`,
  :func:`_shaped_noise`, :func:`_band_noise` with the Butterworth-like :func:`_band_gain`, and
  narrow random bands (:func:`_add_lines`);
* resonances and filters: :func:`_ring` (direct decaying sines), :func:`_resonate` (two-pole
  resonator), :func:`_one_pole` (first-order low-pass);
* events and oscillators: :func:`_impulses`, :func:`_smooth_random`, :func:`_cycles`,
  :func:`_wrap`, :func:`_crossings`, :func:`_harmonics`.

The machine sounds (:mod:`audioanom.synth.machine_sources`) and their mix
(:func:`audioanom.synth.machines.render_clip`) are built from them; the spoken-digit generator
(:mod:`audioanom.synth.speech`) shares :func:`to_pcm16`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft as sfft
from scipy.signal import lfilter

_F32 = np.float32


def _rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (accumulated in float64; never exactly 0)."""
    return float(np.sqrt(np.mean(x * x, dtype=np.float64) + 1e-20))


def _unit(x: np.ndarray) -> np.ndarray:
    """``x`` scaled to RMS 1 (float32); silence (RMS below 1e-9: no events) stays silent."""
    level = _rms(x)
    if level < 1e-9:
        return np.zeros(x.shape, dtype=_F32)
    return (x * _F32(1.0 / level)).astype(_F32, copy=False)


def _band_gain(freqs: np.ndarray, lo: float, hi: float, order: int = 2) -> np.ndarray:
    """Magnitude of a Butterworth-like band-pass ``lo``..``hi`` Hz at ``freqs``."""
    f = np.maximum(freqs, _F32(1e-3))
    return 1.0 / np.sqrt((1.0 + (lo / f) ** (2 * order)) * (1.0 + (f / hi) ** (2 * order)))


def _freqs(n: int, sr: int) -> np.ndarray:
    """The frequencies (Hz, float32) of the n//2+1 bins of a real FFT of length ``n``."""
    return (np.arange(n // 2 + 1, dtype=_F32) * _F32(sr / n)).astype(_F32)


def _noise_spectrum(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random complex64 spectrum of length n//2+1 (uniform real and imaginary parts)."""
    m = n // 2 + 1
    spec = np.empty(m, dtype=np.complex64)
    spec.real = rng.random(m, dtype=_F32) - _F32(0.5)
    spec.imag = rng.random(m, dtype=_F32) - _F32(0.5)
    return spec


def _add_lines(spec, rng, n: int, sr: int, freqs, weights, width_hz) -> None:
    """Add narrow random bands (tones with slow random AM/FM) to a half spectrum, in place."""
    for f0, w, width in zip(freqs, weights, np.broadcast_to(width_hz, len(freqs)), strict=True):
        lo = int(np.floor((f0 - width / 2) * n / sr))
        hi = max(int(np.ceil((f0 + width / 2) * n / sr)), lo + 1)
        lo, hi = max(lo, 1), min(hi, spec.size)
        if hi <= lo:
            continue
        band = rng.standard_normal((2, hi - lo)).astype(_F32)
        scale = _F32(w / np.sqrt(hi - lo))
        spec[lo:hi] += (band[0] + 1j * band[1]).astype(np.complex64) * scale


def _spectral_power(spec: np.ndarray) -> float:
    """Sum of ``|spec|**2`` (float64; never exactly 0)."""
    return float(np.sum(spec.real * spec.real + spec.imag * spec.imag, dtype=np.float64)) + 1e-30


def _ring(n: int, sr: int, positions, amps, f0: float, q: float) -> np.ndarray:
    """Decaying sines (amplitude ``amps``, decay ``q / (pi f0)``) started at ``positions``.

    Direct synthesis around each event: cheaper than a recursive filter for a few events.
    """
    out = np.zeros(n, dtype=_F32)
    tau = q / (np.pi * f0)
    length = min(int(6.0 * tau * sr) + 1, n)
    t = np.arange(length, dtype=_F32) * _F32(1.0 / sr)
    shape = np.exp(-t / _F32(tau)) * np.sin(_F32(2.0 * np.pi * f0) * t)
    for p, a in zip(positions, amps, strict=True):
        stop = min(p + length, n)
        out[p:stop] += _F32(a) * shape[: stop - p]
    return out


def _shaped_noise(rng: np.random.Generator, n: int, gain: np.ndarray) -> np.ndarray:
    """Noise of RMS 1 whose magnitude spectrum follows ``gain`` (length n//2+1).

    Random phases and magnitudes straight in the frequency domain (one inverse FFT); uniform
    real and imaginary parts are enough, the time signal is Gaussian by the central limit.
    """
    spec = _noise_spectrum(rng, n)
    spec *= gain.astype(_F32, copy=False)
    spec[0] = 0.0
    return _unit(sfft.irfft(spec, n))


def _band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    """Noise of RMS 1 band-limited to ``lo``..``hi`` Hz (see :func:`_band_gain`)."""
    return _shaped_noise(rng, n, _band_gain(_freqs(n, sr), lo, hi))


def _smooth_random(rng: np.random.Generator, n: int, sr: int, step_s: float) -> np.ndarray:
    """A slow random curve (unit standard deviation), linear between knots ``step_s`` apart."""
    step = max(int(round(step_s * sr)), 1)
    m = n // step + 1
    knots = rng.standard_normal(m + 1).astype(_F32)
    ramp = np.arange(step, dtype=_F32) * _F32(1.0 / step)
    base = np.repeat(knots[:-1], step)[:n]
    slope = np.repeat(np.diff(knots), step)[:n]
    return base + slope * np.tile(ramp, m)[:n]


def _resonator(f0: float, q: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """A two-pole resonator whose impulse response is a unit-amplitude decaying sine.

    The decay time constant is ``q / (pi * f0)`` seconds.
    """
    f0 = float(np.clip(f0, 20.0, 0.45 * sr))
    w = 2.0 * np.pi * f0 / sr
    r = float(np.exp(-np.pi * f0 / (max(q, 0.5) * sr)))
    b = np.array([np.sin(w)], dtype=_F32)
    a = np.array([1.0, -2.0 * r * np.cos(w), r * r], dtype=_F32)
    return b, a


# A constant far below audibility added before recursive filters: decaying tails would
# otherwise reach subnormal floats, which make lfilter several times slower.
_TINY = _F32(1e-20)


def _resonate(x: np.ndarray, sr: int, f0: float, q: float) -> np.ndarray:
    """``x`` through the resonator of :func:`_resonator` (float32)."""
    b, a = _resonator(f0, q, sr)
    return lfilter(b, a, x + _TINY).astype(_F32, copy=False)


def _one_pole(x: np.ndarray, sr: int, tau_s: float) -> np.ndarray:
    """First-order low-pass / exponential decay with time constant ``tau_s`` (unit DC gain)."""
    p = float(np.exp(-1.0 / (max(tau_s, 1e-6) * sr)))
    b, a = np.array([1.0 - p], _F32), np.array([1.0, -p], _F32)
    return lfilter(b, a, x + _TINY).astype(_F32, copy=False)


def _impulses(n: int, positions: np.ndarray, amps: np.ndarray | float) -> np.ndarray:
    """A silent signal with ``amps`` added at the integer sample ``positions`` inside [0, n)."""
    out = np.zeros(n, dtype=_F32)
    positions = np.asarray(positions, dtype=np.int64)
    amps = np.broadcast_to(np.asarray(amps, dtype=_F32), positions.shape)
    keep = (positions >= 0) & (positions < n)
    np.add.at(out, positions[keep], amps[keep])
    return out


def _cycles(rate_hz: np.ndarray, sr: int, start: float) -> np.ndarray:
    """Running cycle count (float64) of an oscillator whose rate varies per sample."""
    return np.cumsum(rate_hz, dtype=np.float64) * (1.0 / sr) + start


def _wrap(cycles: np.ndarray) -> np.ndarray:
    """``2 pi frac(cycles)`` as float32: an exact phase for any integer harmonic ``k``."""
    frac = np.floor(cycles)
    np.subtract(cycles, frac, out=frac)
    out = frac.astype(_F32)
    out *= _F32(2.0 * np.pi)
    return out


def _crossings(cycles: np.ndarray) -> np.ndarray:
    """Sample indices where a running cycle count passes an integer."""
    whole = np.floor(cycles)
    return np.flatnonzero(whole[1:] != whole[:-1]) + 1


def _harmonics(phase: np.ndarray, mult: float, weights: Sequence[float], rng) -> np.ndarray:
    """``sum_k w_k sin(k * mult * phase + random phase)`` for k = 1.. (mult an integer)."""
    out = np.zeros_like(phase)
    tmp = np.empty_like(phase)
    for k, w in enumerate(weights, start=1):
        np.multiply(phase, _F32(k * mult), out=tmp)
        tmp += _F32(rng.uniform(0, 2 * np.pi))
        np.sin(tmp, out=tmp)
        tmp *= _F32(w)
        out += tmp
    return out


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples -> int16 (rounded, clipped at full scale)."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
