"""Synthetic machine sounds in the DCASE 2020 Task 2 layout, labelled with the anomaly KIND.

Real machine-sound data say *that* a clip is anomalous, never *what* is wrong. This module
writes a small, deterministic stand-in for the DCASE 2020 Task 2 development set that runs on
a fresh machine with nothing downloaded, and records for every anomalous clip its kind and
severity.

Layout (the same as DCASE, readable by :func:`audioanom.datasets.machines.load_dcase2020`)::

    out_dir/<type>/train/normal_id_XX_NNNNNNNN.wav          (numbered from 0 per ID)
    out_dir/<type>/test/{normal,anomaly}_id_XX_NNNNNNNN.wav (normal and anomaly numbered apart)
    out_dir/labels.csv         one row per clip, see LABEL_COLUMNS
    out_dir/synth_machines.json  the configuration, written last (a complete set has one)

16 kHz mono 16-bit PCM. ``labels.csv`` columns: ``file`` (relative to ``out_dir``, with ``/``),
``machine_type``, ``id`` (``"id_00"``), ``split``, ``label``, ``anomaly_kind`` (``"none"`` for
normal clips: never an empty string, which pandas would read back as NaN), ``severity``
(``0.0`` for normal clips), ``snr_db`` and ``seed`` (the clip's own seed:
``render_clip(type, id, seed, anomaly_kind=..., severity=..., snr_db=..., seconds=...)``
gives the clip again, sample for sample).

The sounds come from physical causes:

=======  ====================================================================================
fan      rotation rate with slow drift, blade-pass harmonics (n_blades x rate), turbulence
         (band-limited noise amplitude-modulated at blade pass and rotation), one structural
         resonance excited by both.
pump     induction motor: magnetic hum at twice the 50 Hz line frequency beating at the
         pole-pass frequency (2 x slip x line), shaft rotation at the slip-reduced synchronous
         speed, impeller vane-pass tones, low-frequency flow noise through two casing modes.
slider   linear actuator strokes (smooth velocity profile, dwell between strokes), motor whine
         whose pitch follows the speed, rolling noise during motion, start/stop clunks
         exciting the frame modes, a faint holding hum.
valve    solenoid valve in a duty cycle: open and close impacts ringing three body modes,
         AC-solenoid buzz while energised, flow hiss (also ringing the first body mode)
         while open.
=======  ====================================================================================

Machine IDs are machines of the same type with other physical parameters (rates, blade and
vane counts, resonance frequencies, harmonic weights, duty cycles), spread evenly over each
parameter's range (:func:`machine_parameters`); every clip varies randomly around its ID's
nominal values, so IDs are learnable but overlap.

Anomaly kinds (:data:`ANOMALY_KINDS`), scaled by ``severity`` (1.0 = default, subtle; 0 = no
change at all):

=======  ==================  ========================================================
fan      imbalance           1x rotation modulation, 1x vibration and a rattle of the
                             structure once per revolution
fan      bearing_fault       impulses at the outer-race defect frequency (about 3.1-3.6 x
                             rotation, load-zone modulated) ringing a high resonance
fan      contamination       extra broadband turbulence at blade pass and a rub once per
                             revolution
pump     leak                a narrow hiss band (3-6 kHz)
pump     cavitation          random broadband bursts (vapour bubbles collapsing)
pump     clogging            load-dependent slowdown (more slip: lower shaft and vane-pass
                             rate, faster hum beat), stronger vane-pass harmonics, less flow,
                             slow surging
slider   rail_damage         an impact where the carriage's two blocks pass a fixed rail
                             position, each stroke, in both directions
slider   no_lubrication      stick-slip friction noise and an intermittent squeal during
                             motion
valve    contamination       damped (lower-Q) clicks with a bounce (double click), and
                             particles crackling through the orifice while open
valve    timing_fault        irregular duty cycle of a sticking plunger: late, jittered
                             opening and shorter, irregular open durations
valve    leak                hiss during the closed phase (higher pitched than open flow)
=======  ==================  ========================================================

Every clip carries factory background noise (pink-to-brown noise, distant 50 Hz hum, a distant
rotating machine, occasional impacts), independent of ID and label, mixed at an SNR taken from
``snr_db`` (cycled evenly, recorded). The mix is then scaled to a fixed RMS
(:data:`TARGET_RMS`) times a random per-clip gain (+-:data:`GAIN_DB` dB), so that loudness
alone tells nothing about the label or the kind.

Determinism: a clip's seed comes from ``numpy.random.SeedSequence(seed, spawn_key=(type,
id, split, label, index))``; nothing depends on global random state, process order or the
number of clips (the first 50 clips of a 100-clip set are those of a 50-clip set), and
``workers > 1`` gives byte-identical files (on the same platform and numpy/scipy versions:
floating-point results may differ between CPUs or library releases). The same seed with and
without an anomaly kind gives the same machine and background (independent random streams),
which makes paired normal/anomalous examples for figures; ``severity=0`` gives the normal clip
exactly.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import fft as sfft
from scipy.signal import lfilter

SR = 16000
MACHINE_TYPES: tuple[str, ...] = ("fan", "pump", "slider", "valve")
ANOMALY_KINDS: dict[str, tuple[str, ...]] = {
    "fan": ("imbalance", "bearing_fault", "contamination"),
    "pump": ("leak", "cavitation", "clogging"),
    "slider": ("rail_damage", "no_lubrication"),
    "valve": ("contamination", "timing_fault", "leak"),
}
NORMAL_KIND = "none"
DEFAULT_IDS: tuple[str, ...] = ("00", "02", "04", "06")
DEFAULT_SNR_DB: tuple[float, ...] = (6.0, 0.0, -6.0)
TARGET_RMS = 0.0125
GAIN_DB = 3.0
LINE_HZ = 50.0
LABEL_COLUMNS: tuple[str, ...] = (
    "file",
    "machine_type",
    "id",
    "split",
    "label",
    "anomaly_kind",
    "severity",
    "snr_db",
    "seed",
)
LABELS_FILE = "labels.csv"
MANIFEST_FILE = "synth_machines.json"
GENERATOR_VERSION = 1

_F32 = np.float32
_DCASE_WAV = re.compile(r"^(normal|anomaly)_id_\d{2}_\d{8}\.wav$")
_SPLIT_CODE = {"train": 0, "test": 1}
_LABEL_CODE = {"normal": 0, "anomaly": 1}


# --------------------------------------------------------------------------------------------
# Machine parameters per ID
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamRange:
    """One physical parameter of a machine type.

    IDs take nominal values spread evenly over ``[lo, hi]`` (geometrically when ``log``);
    every clip then draws its own value around the nominal one with a standard deviation of
    ``jitter`` times the (log-)range.
    """

    lo: float
    hi: float
    jitter: float
    log: bool = True


_PARAMS: dict[str, dict[str, ParamRange]] = {
    "fan": {
        "rate": ParamRange(15.0, 24.0, 0.06),  # rotation, Hz
        "harm_decay": ParamRange(0.7, 1.6, 0.15, log=False),  # blade harmonic k weight k**-x
        "tone_level": ParamRange(0.35, 0.8, 0.15),
        "turb_centre": ParamRange(500.0, 1400.0, 0.12),  # turbulence band centre, Hz
        "turb_am": ParamRange(0.15, 0.45, 0.15, log=False),  # blade-pass modulation depth
        "res_freq": ParamRange(800.0, 2200.0, 0.06),  # structural resonance, Hz
        "res_q": ParamRange(6.0, 14.0, 0.15),
        "res_gain": ParamRange(0.4, 1.0, 0.15),
        "bpfo": ParamRange(3.05, 3.6, 0.02, log=False),  # outer-race defect / rotation
        "bearing_res": ParamRange(3200.0, 5200.0, 0.05),  # bearing housing resonance, Hz
    },
    "pump": {
        "slip": ParamRange(0.02, 0.05, 0.08),
        "hum_decay": ParamRange(0.6, 1.6, 0.15, log=False),  # hum harmonic k weight k**-x
        "hum_level": ParamRange(0.25, 0.6, 0.15),
        "vane_level": ParamRange(0.6, 1.2, 0.15),
        "vane_decay": ParamRange(0.5, 1.3, 0.15, log=False),
        "flow_hi": ParamRange(900.0, 2500.0, 0.06),  # flow noise upper corner, Hz
        "casing1": ParamRange(300.0, 700.0, 0.03),  # casing modes, Hz
        "casing2": ParamRange(1100.0, 2600.0, 0.03),
        "casing_gain": ParamRange(0.5, 1.2, 0.15),
    },
    "slider": {
        "period": ParamRange(1.3, 2.4, 0.04),  # one back-and-forth, s
        "move_frac": ParamRange(0.55, 0.85, 0.05, log=False),  # moving share of a half-cycle
        "whine": ParamRange(350.0, 900.0, 0.06),  # motor whine at full speed, Hz
        "whine_decay": ParamRange(0.6, 1.6, 0.2, log=False),
        "roll_centre": ParamRange(700.0, 2500.0, 0.12),
        "roll_level": ParamRange(0.4, 1.0, 0.15),
        "clunk1": ParamRange(150.0, 400.0, 0.08),  # frame modes, Hz
        "clunk2": ParamRange(700.0, 1800.0, 0.08),
        "clunk_level": ParamRange(0.5, 1.5, 0.2),
        "rail_res": ParamRange(2500.0, 4500.0, 0.05),  # rail/carriage resonance, Hz
    },
    "valve": {
        "period": ParamRange(0.7, 1.3, 0.05),  # open-close cycle, s
        "duty": ParamRange(0.3, 0.55, 0.15, log=False),  # open share of a cycle
        "click_freq": ParamRange(1100.0, 2500.0, 0.05),  # first body mode, Hz
        "click_q": ParamRange(15.0, 35.0, 0.20),
        "close_ratio": ParamRange(0.9, 1.6, 0.2),  # close impact / open impact
        "hiss_centre": ParamRange(1500.0, 3500.0, 0.07),
        "hiss_level": ParamRange(0.05, 0.15, 0.12),
        "buzz_level": ParamRange(0.01, 0.04, 0.25),
    },
}
_CHOICES: dict[str, dict[str, tuple[int, ...]]] = {
    "fan": {"blades": (5, 7, 6, 9)},
    "pump": {"poles": (2, 4, 4, 2), "vanes": (5, 6, 7, 8)},
    "slider": {},
    "valve": {},
}


def _check_type(machine_type: str) -> None:
    if machine_type not in MACHINE_TYPES:
        raise ValueError(f"machine type {machine_type!r} is not one of {MACHINE_TYPES}")


def _id_number(machine_id: str) -> int:
    """``"04"`` or ``"id_04"`` -> 4; anything else raises ValueError."""
    text = str(machine_id)
    text = text[3:] if text.startswith("id_") else text
    if not re.fullmatch(r"\d{2}", text):
        raise ValueError(f"machine ID {machine_id!r} is not two digits like '00' or 'id_00'")
    return int(text)


def _id_position(number: int, param_index: int) -> float:
    """Where ID ``number`` sits in ``[0, 1)`` for parameter ``param_index``.

    Golden-ratio steps spread the IDs evenly (00, 02, 04, 06 sit 0.236 apart); a different
    rotation per parameter orders the IDs differently from one parameter to the next.
    """
    return (0.1 + 0.6180339887 * number + 0.3819660113 * param_index) % 1.0


def machine_parameters(machine_type: str, machine_id: str) -> dict[str, float]:
    """The nominal physical parameters of one machine (type and ID); see ``_PARAMS``."""
    _check_type(machine_type)
    number = _id_number(machine_id)
    out: dict[str, float] = {}
    for j, (name, spec) in enumerate(_PARAMS[machine_type].items()):
        u = _id_position(number, j)
        if spec.log:
            out[name] = float(spec.lo * (spec.hi / spec.lo) ** u)
        else:
            out[name] = float(spec.lo + (spec.hi - spec.lo) * u)
    for j, (name, options) in enumerate(_CHOICES[machine_type].items()):
        u = _id_position(number, 100 + j)
        out[name] = float(options[int(u * len(options))])
    return out


def _clip_parameters(machine_type: str, machine_id: str, rng: np.random.Generator) -> dict:
    """Nominal parameters of the ID with this clip's random variation."""
    nominal = machine_parameters(machine_type, machine_id)
    out = dict(nominal)
    for name, spec in _PARAMS[machine_type].items():
        z = float(np.clip(rng.standard_normal(), -3.0, 3.0))
        if spec.log:
            out[name] = nominal[name] * float(np.exp(z * spec.jitter * np.log(spec.hi / spec.lo)))
        else:
            out[name] = nominal[name] + z * spec.jitter * (spec.hi - spec.lo)
    return out


# --------------------------------------------------------------------------------------------
# Signal helpers (all float32 signals of length n)
# --------------------------------------------------------------------------------------------


def _rms(x: np.ndarray) -> float:
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


# --------------------------------------------------------------------------------------------
# Machines: each returns the machine signal (normal part plus anomaly) for one clip.
# rng drives the machine, arng the anomaly, so that kind="none" and any anomaly kind with
# the same seed share the machine.
# --------------------------------------------------------------------------------------------


def _fan(p: dict, rng, arng, n: int, sr: int, kind: str, sev: float) -> np.ndarray:
    drift = _smooth_random(rng, n, sr, 0.7)
    rate = p["rate"] * (1.0 + 0.004 * drift.astype(np.float64))
    cyc = _cycles(rate, sr, rng.random())
    theta = _wrap(cyc)  # rotation phase
    nb = int(p["blades"])
    weights = [k ** -p["harm_decay"] for k in range(1, 7)]
    tones = _harmonics(theta, nb, weights, rng)
    tones += _harmonics(theta, 1, (0.15, 0.05), rng)  # residual imbalance of a healthy fan
    c = p["turb_centre"]
    turb = _band_noise(rng, n, sr, c / 2.5, c * 2.5)
    turb *= 1.0 + _F32(p["turb_am"]) * np.sin(nb * theta) + _F32(0.08) * np.sin(theta)
    x = _unit(tones) * _F32(p["tone_level"]) + turb
    x += _unit(_resonate(x, sr, p["res_freq"], p["res_q"])) * _F32(p["res_gain"])
    x = _unit(x)
    if kind == "imbalance":
        x *= 1.0 + _F32(0.12 * sev) * np.sin(theta + _F32(arng.uniform(0, 2 * np.pi)))
        x += _F32(0.25 * sev) * np.sin(theta) + _F32(0.1 * sev) * np.sin(2 * theta)
        laps = _crossings(cyc)
        late = arng.integers(0, 40, laps.size)
        hits = _impulses(n, laps + late, arng.uniform(0.6, 1.0, laps.size))
        x += _unit(_resonate(hits, sr, p["res_freq"] * 1.15, 25.0)) * _F32(0.2 * sev)
    elif kind == "bearing_fault":
        defect = _cycles(rate * p["bpfo"], sr, arng.random())
        pos = _crossings(defect)
        load = 0.55 + 0.45 * np.cos(theta[pos])  # load zone turns with the shaft
        amps = load * arng.uniform(0.7, 1.3, pos.size)
        hits = _impulses(n, pos + arng.integers(-8, 9, pos.size), amps)
        ring = _resonate(hits, sr, p["bearing_res"], 30.0)
        ring += _F32(0.5) * _resonate(hits, sr, p["bearing_res"] * 1.6, 40.0)
        x += _unit(ring) * _F32(0.15 * sev)
    elif kind == "contamination":
        extra = _band_noise(arng, n, sr, 1500.0, 6500.0)
        extra *= 1.0 + _F32(0.5) * np.sin(nb * theta)
        rub_gate = np.exp(_F32(-8.0) * (1.0 - np.cos(theta - _F32(arng.uniform(0, 6.28)))))
        rub = _band_noise(arng, n, sr, 2500.0, 7500.0) * rub_gate
        x += extra * _F32(0.09 * sev) + _unit(rub) * _F32(0.09 * sev)
    return x


def _pump(p: dict, rng, arng, n: int, sr: int, kind: str, sev: float) -> np.ndarray:
    slip = p["slip"]
    if kind == "clogging":
        slip = slip + 0.015 * sev  # more load: the induction motor slows down
    sync = 2.0 * LINE_HZ / p["poles"]
    drift = _smooth_random(rng, n, sr, 0.8).astype(np.float64)
    rate = sync * (1.0 - slip) * (1.0 + 0.002 * drift)
    cyc = _cycles(rate, sr, rng.random())
    theta = _wrap(cyc)
    # magnetic hum at 2 x line frequency (and harmonics), beating at the pole-pass frequency
    t = np.arange(n, dtype=np.float64) * (1.0 / sr)
    hum_phase = _wrap(2.0 * LINE_HZ * t + rng.random())
    hum = _harmonics(hum_phase, 1, [k ** -p["hum_decay"] for k in range(1, 6)], rng)
    pole_pass = _wrap(2.0 * slip * LINE_HZ * t + rng.random())
    hum *= 1.0 + _F32(0.25) * np.sin(pole_pass)
    nv = int(p["vanes"])
    vane_w = [k ** -p["vane_decay"] for k in range(1, 7)]
    if kind == "clogging":
        vane_w = [w * (1.0 + sev * (k > 1)) for k, w in enumerate(vane_w, start=1)]
    vane = _harmonics(theta, nv, vane_w, rng) + _harmonics(theta, 1, (0.2, 0.1), rng)
    f = _freqs(n, sr)
    flow_gain = _band_gain(f, 30.0, p["flow_hi"], 1) / np.sqrt(np.maximum(f, _F32(30.0)) / 30.0)
    flow = _shaped_noise(rng, n, flow_gain)
    flow *= 1.0 + _F32(0.1) * _smooth_random(rng, n, sr, 0.3) + _F32(0.15) * np.sin(nv * theta)
    flow_level = 1.0
    if kind == "clogging":
        flow_level = max(0.0, 1.0 - 0.3 * sev)
        surge = np.sin(_wrap(_cycles(np.full(n, arng.uniform(0.5, 1.5)), sr, arng.random())))
        flow *= 1.0 + _F32(0.3 * min(sev, 3.0)) * surge
    x = _unit(hum) * _F32(p["hum_level"]) + _unit(vane) * _F32(p["vane_level"])
    x += flow * _F32(flow_level)
    casing = _resonate(x, sr, p["casing1"], 8.0) + _F32(0.6) * _resonate(x, sr, p["casing2"], 12.0)
    x = _unit(x + _unit(casing) * _F32(p["casing_gain"]))
    if kind == "leak":
        c = arng.uniform(3000.0, 6000.0)
        hiss = _band_noise(arng, n, sr, c / 1.25, c * 1.25)
        hiss *= 1.0 + _F32(0.2) * _smooth_random(arng, n, sr, 0.2)
        x += hiss * _F32(0.15 * sev)
    elif kind == "cavitation":
        count = arng.poisson(60.0 * n / sr)
        pos = arng.integers(0, n, count)
        env = _one_pole(_impulses(n, pos, arng.exponential(1.0, count)), sr, 0.0015)
        bursts = _band_noise(arng, n, sr, 1200.0, 7500.0) * env
        x += _unit(bursts) * _F32(0.06 * sev)
    return x


def _slider_motion(rng, n: int, sr: int, period: float, move_frac: float):
    """Velocity (signed, peak 1), rail position (0..1) and the moves ``(start, stop, dir)``.

    Each half-cycle moves with a sin^2 velocity profile, then dwells; strokes jitter by 2 %.
    """
    v = np.zeros(n, dtype=_F32)
    pos = np.zeros(n, dtype=_F32)
    moves = []
    clock = -rng.uniform(0.0, period)
    direction = 1
    where = 0.0
    while clock * sr < n:
        half = 0.5 * period * (1.0 + 0.02 * rng.standard_normal())
        a, b = int(round(clock * sr)), int(round((clock + half * move_frac) * sr))
        c = int(round((clock + half) * sr))
        s = (np.arange(a, b, dtype=_F32) - _F32(a)) / _F32(max(b - a, 1))
        lo, hi = max(a, 0), min(b, n)
        if hi > lo:
            seg = s[lo - a : hi - a]
            v[lo:hi] = direction * np.sin(_F32(np.pi) * seg) ** 2
            travel = seg - np.sin(_F32(2 * np.pi) * seg) / _F32(2 * np.pi)
            pos[lo:hi] = where + direction * travel
        where = 1.0 if direction > 0 else 0.0
        lo, hi = max(b, 0), min(c, n)
        if hi > lo:
            pos[lo:hi] = where
        moves.append((a, b, direction))
        direction = -direction
        clock += half
    return v, pos, moves


def _slider(p: dict, rng, arng, n: int, sr: int, kind: str, sev: float) -> np.ndarray:
    v, pos, moves = _slider_motion(rng, n, sr, p["period"], p["move_frac"])
    speed = np.abs(v)
    whine_phase = _wrap(_cycles(p["whine"] * speed.astype(np.float64), sr, rng.random()))
    whine = _harmonics(whine_phase, 1, [k ** -p["whine_decay"] for k in range(1, 4)], rng)
    whine *= speed**0.8
    c = p["roll_centre"]
    roll = _band_noise(rng, n, sr, c / 2.0, c * 2.0) * speed
    t = np.arange(n, dtype=np.float64) * (1.0 / sr)
    hold = np.sin(_wrap(2.0 * LINE_HZ * t + rng.random()))
    starts = np.array([m[0] for m in moves] + [m[1] for m in moves])
    clunks = _impulses(n, starts, rng.uniform(0.6, 1.0, starts.size))
    frame = _resonate(clunks, sr, p["clunk1"], 6.0) + _F32(0.5) * _resonate(
        clunks, sr, p["clunk2"], 10.0
    )
    x = _unit(whine) + _unit(roll) * _F32(p["roll_level"]) + _F32(0.05) * hold
    x += _unit(frame) * _F32(0.6 * p["clunk_level"])
    x = _unit(x)
    if kind == "rail_damage":
        defect = arng.uniform(0.2, 0.8)
        gap = arng.uniform(0.05, 0.12)  # distance between the carriage's two blocks
        hit_pos, hit_amp = [], []
        for a, b, _ in moves:
            lo, hi = max(a, 0), min(b, n)
            if hi - lo < 2:
                continue
            seg = pos[lo:hi]
            for spot in (defect, defect + gap):
                inside = np.flatnonzero(np.diff(np.sign(seg - _F32(spot))) != 0)
                for i in inside:
                    hit_pos.append(lo + i)
                    hit_amp.append(0.3 + speed[lo + i])
        hits = _impulses(n, np.array(hit_pos, dtype=np.int64), np.array(hit_amp, dtype=_F32))
        ring = _resonate(hits, sr, p["rail_res"], 25.0) + _resonate(hits, sr, p["clunk2"], 10.0)
        x += _unit(ring) * _F32(0.35 * sev)
    elif kind == "no_lubrication":
        stick = arng.uniform(40.0, 120.0)  # stick-slip rate, Hz
        slip_phase = _cycles(stick * (0.5 + speed.astype(np.float64)), sr, arng.random())
        ramp = _wrap(slip_phase) * _F32(1.0 / (2.0 * np.pi))
        ramp *= ramp
        pulses = ramp * ramp * ramp  # sawtooth**6: friction builds up, then releases
        friction = _band_noise(arng, n, sr, 1000.0, 6000.0) * pulses * speed
        sq = arng.uniform(1500.0, 3500.0)
        squeal_on = (_smooth_random(arng, n, sr, 0.25) > 0.3).astype(_F32)
        squeal_on = _one_pole(squeal_on, sr, 0.02)
        vib = 1.0 + 0.01 * _smooth_random(arng, n, sr, 0.05).astype(np.float64)
        squeal = np.sin(_wrap(_cycles(sq * vib, sr, arng.random()))) * squeal_on * speed
        x += _unit(friction) * _F32(0.45 * sev) + _F32(0.2 * sev) * squeal
    return x


def _valve_schedule(rng, arng, n: int, sr: int, period: float, duty: float, irregular: float):
    """Open and close times (samples) of the valve; ``irregular`` > 0 for a timing fault."""
    opens, closes = [], []
    clock = -rng.uniform(0.0, period)
    while clock * sr < n:
        cycle = period * (1.0 + 0.02 * rng.standard_normal())
        start_jit = 0.005 * rng.standard_normal()
        this_duty = duty * (1.0 + 0.03 * rng.standard_normal())
        if irregular > 0:  # a sticking plunger: late and irregular opening, early closing
            late = irregular * 0.25 * period * arng.uniform(0.0, 1.0)
            start_jit += late
            this_duty -= late / period
            this_duty *= float(np.clip(1.0 + irregular * arng.uniform(-0.5, 0.2), 0.1, 1.8))
            this_duty = max(this_duty, 0.05)
        o = clock + start_jit
        opens.append(o)
        closes.append(o + min(this_duty, 0.95) * cycle)
        clock += cycle
    return np.round(np.array(opens) * sr).astype(np.int64), np.round(np.array(closes) * sr).astype(
        np.int64
    )


def _valve(p: dict, rng, arng, n: int, sr: int, kind: str, sev: float) -> np.ndarray:
    irregular = sev if kind == "timing_fault" else 0.0
    opens, closes = _valve_schedule(rng, arng, n, sr, p["period"], p["duty"], irregular)
    amp_open = rng.uniform(0.8, 1.0, opens.size)
    amp_close = p["close_ratio"] * rng.uniform(0.8, 1.0, closes.size)
    gate = np.zeros(n, dtype=_F32)
    for o, c in zip(opens, closes, strict=True):
        gate[max(o, 0) : max(min(c, n), 0)] = 1.0
    gate = _one_pole(gate, sr, 0.006)
    pos = np.concatenate([opens, closes])
    amps = np.concatenate([amp_open, amp_close])
    q = p["click_q"]
    if kind == "contamination":
        q = q / (1.0 + 3.0 * sev)  # debris damps the plunger
        bounce = arng.integers(int(0.003 * sr), int(0.012 * sr), pos.size)
        pos = np.concatenate([pos, pos + bounce])
        amps = np.concatenate([amps, amps * min(sev, 1.0)])
    hits = _impulses(n, pos, amps)
    f1 = p["click_freq"]
    clicks = (
        _resonate(hits, sr, f1, q)
        + _F32(0.7) * _resonate(hits, sr, f1 * 2.32, q * 1.3)
        + _F32(0.4) * _resonate(hits, sr, f1 * 3.9, q * 1.6)
    )
    t = np.arange(n, dtype=np.float64) * (1.0 / sr)
    buzz_phase = _wrap(2.0 * LINE_HZ * t + rng.random())
    buzz = _harmonics(buzz_phase, 1, (1.0, 0.5, 0.3), rng) * gate
    c = p["hiss_centre"]
    hiss = _band_noise(rng, n, sr, c / 2.0, c * 2.0)
    hiss += _unit(_resonate(hiss, sr, f1, 6.0))  # the flow rings the body's first mode too
    hiss *= 1.0 + _F32(0.15) * _smooth_random(rng, n, sr, 0.05)
    x = clicks + hiss * gate * _F32(p["hiss_level"]) + buzz * _F32(p["buzz_level"])
    if kind == "contamination":  # particles in the flow crackle through the orifice
        count = arng.poisson(300.0 * n / sr)
        grains = _impulses(n, arng.integers(0, n, count), arng.exponential(1.0, count))
        crackle = _one_pole(grains, sr, 0.0005) * _band_noise(arng, n, sr, 2000.0, 7000.0)
        x += _unit(crackle * gate) * _F32(0.8 * sev * p["hiss_level"])
    if kind == "leak":
        lc = 1.5 * c
        leak = _band_noise(arng, n, sr, lc / 1.5, lc * 1.5) * (1.0 - gate)
        x += leak * _F32(0.25 * sev * p["hiss_level"])
    return x


_MACHINES: dict[str, Callable[..., np.ndarray]] = {
    "fan": _fan,
    "pump": _pump,
    "slider": _slider,
    "valve": _valve,
}


def _background(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Factory background: pink-to-brown noise, distant hum and machine, occasional impacts.

    Noise, 50 Hz hum harmonics and a distant rotating machine (narrow bands around its
    harmonics: a drifting, fluctuating tone) share one inverse FFT; the impacts (knocks
    ringing two random modes) are added in the time domain.
    """
    f = _freqs(n, sr)
    alpha = rng.uniform(1.0, 2.0)  # 1 = pink, 2 = brown
    gain = (np.maximum(f, _F32(20.0)) / _F32(100.0)) ** _F32(-alpha / 2.0)
    gain *= _band_gain(f, 15.0, rng.uniform(4000.0, 7500.0), 1)
    noise = _noise_spectrum(rng, n) * gain
    hum = np.zeros_like(noise)
    _add_lines(hum, rng, n, sr, LINE_HZ * np.arange(1, 7), rng.uniform(0.0, 1.0, 6), 0.3)
    far = np.zeros_like(noise)
    far_f0 = rng.uniform(20.0, 60.0)
    harm = np.arange(1, 6)
    _add_lines(far, rng, n, sr, far_f0 * harm, rng.uniform(0.0, 1.0, 5), 0.004 * far_f0 * harm + 1)
    spec = noise * _F32(1.0 / np.sqrt(_spectral_power(noise)))
    spec += hum * _F32(rng.uniform(0.1, 0.4) / np.sqrt(_spectral_power(hum)))
    spec += far * _F32(rng.uniform(0.1, 0.4) / np.sqrt(_spectral_power(far)))
    spec[0] = 0.0
    x = _unit(sfft.irfft(spec, n))
    count = rng.poisson(0.4 * n / sr)
    where = rng.integers(0, n, count)
    amps = rng.uniform(1.0, 6.0, count)
    x += _ring(n, sr, where, amps, rng.uniform(150.0, 600.0), rng.uniform(5.0, 15.0))
    x += _ring(n, sr, where, amps * 0.7, rng.uniform(800.0, 3000.0), rng.uniform(8.0, 25.0))
    return x


# --------------------------------------------------------------------------------------------
# One clip
# --------------------------------------------------------------------------------------------


def render_clip(
    machine_type: str,
    machine_id: str,
    seed: int,
    *,
    seconds: float = 10.0,
    anomaly_kind: str = NORMAL_KIND,
    severity: float = 1.0,
    snr_db: float = 0.0,
    sr: int = SR,
) -> np.ndarray:
    """One clip as float32 samples in [-1, 1] (what :func:`generate_machines` quantises).

    ``seed`` is the clip seed (the ``seed`` column of ``labels.csv``). With the same seed,
    ``anomaly_kind="none"`` and an anomaly kind share the machine and the background.
    ``severity`` is ignored for ``"none"``.
    """
    _check_type(machine_type)
    kinds = ANOMALY_KINDS[machine_type]
    if anomaly_kind != NORMAL_KIND and anomaly_kind not in kinds:
        raise ValueError(f"anomaly kind {anomaly_kind!r} is not 'none' or one of {kinds}")
    if not np.isfinite(severity) or severity < 0:
        raise ValueError(f"severity must be a finite number >= 0, got {severity!r}")
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be finite, got {snr_db!r}")
    n = int(round(seconds * sr))
    if n < sr // 4:
        raise ValueError(f"seconds={seconds!r} is too short: at least 0.25 s")
    if sr < 8000:
        raise ValueError(f"sr={sr!r} is too low: at least 8000 Hz")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed!r}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4)]
    prng, mrng, arng, brng = streams
    params = _clip_parameters(machine_type, machine_id, prng)
    kind = anomaly_kind if anomaly_kind != NORMAL_KIND else ""
    machine = _MACHINES[machine_type](params, mrng, arng, n, sr, kind, float(severity))
    background = _background(brng, n, sr)
    mix = _unit(machine) + _unit(background) * _F32(10.0 ** (-snr_db / 20.0))
    gain_db = prng.uniform(-GAIN_DB, GAIN_DB)
    mix *= _F32(TARGET_RMS * 10.0 ** (gain_db / 20.0) / _rms(mix))
    return mix.astype(_F32, copy=False)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples -> int16 (rounded, clipped at full scale)."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------------------------
# The data set
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSpec:
    """Everything that defines one clip of a generated set (one row of ``labels.csv``)."""

    file: str
    machine_type: str
    id: str
    split: str
    label: str
    anomaly_kind: str
    severity: float
    snr_db: float
    seed: int
    seconds: float


def clip_seed(seed: int, machine_type: str, machine_id: str, split: str, label: str, index: int):
    """The seed of one clip, from the set's seed and where the clip sits (63-bit int)."""
    _check_type(machine_type)
    key = (
        MACHINE_TYPES.index(machine_type),
        _id_number(machine_id),
        _SPLIT_CODE[split],
        _LABEL_CODE[label],
        int(index),
    )
    ss = np.random.SeedSequence(int(seed), spawn_key=key)
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def plan_machines(
    *,
    seed: int = 0,
    train_per_id: int = 50,
    test_per_id: int = 30,
    seconds: float = 10.0,
    machine_types: Iterable[str] = MACHINE_TYPES,
    ids: Iterable[str] = DEFAULT_IDS,
    snr_db: Sequence[float] = DEFAULT_SNR_DB,
    severity: float = 1.0,
) -> list[ClipSpec]:
    """The clips :func:`generate_machines` writes, without rendering anything.

    Per type and ID: ``train_per_id`` normal training clips; ``test_per_id`` test clips, half
    anomalous (``test_per_id // 2``, kinds cycled evenly) and the rest normal. SNRs are
    cycled so that every (kind, SNR) pair comes up equally often.
    """
    types = tuple(machine_types)
    id_list = tuple(ids)
    snrs = tuple(float(s) for s in snr_db)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if train_per_id < 0 or test_per_id < 0:
        raise ValueError(f"clip counts must be >= 0, got {train_per_id}, {test_per_id}")
    if not types or not id_list or not snrs:
        raise ValueError("machine_types, ids and snr_db must each name at least one value")
    if len(set(types)) != len(types) or len({_id_number(i) for i in id_list}) != len(id_list):
        raise ValueError(f"repeated machine type or ID in {types}, {id_list}")
    for t in types:
        _check_type(t)
    if not all(np.isfinite(snrs)):
        raise ValueError(f"snr_db must be finite, got {snr_db!r}")
    if not np.isfinite(severity) or severity < 0:
        raise ValueError(f"severity must be a finite number >= 0, got {severity!r}")
    if not 0.25 <= seconds <= 600:
        raise ValueError(f"seconds must be within 0.25..600, got {seconds!r}")
    n_anomaly = test_per_id // 2
    n_normal_test = test_per_id - n_anomaly
    specs: list[ClipSpec] = []

    def add(t: str, mid: str, split: str, label: str, i: int, kind: str, sev: float, snr):
        num = _id_number(mid)
        name = f"{t}/{split}/{label}_id_{num:02d}_{i:08d}.wav"
        seed_i = clip_seed(seed, t, mid, split, label, i)
        specs.append(
            ClipSpec(name, t, f"id_{num:02d}", split, label, kind, sev, snr, seed_i, seconds)
        )

    for t in types:
        kinds = ANOMALY_KINDS[t]
        for mid in id_list:
            for i in range(train_per_id):
                add(t, mid, "train", "normal", i, NORMAL_KIND, 0.0, snrs[i % len(snrs)])
        for mid in id_list:
            for i in range(n_normal_test):
                add(t, mid, "test", "normal", i, NORMAL_KIND, 0.0, snrs[i % len(snrs)])
            for i in range(n_anomaly):
                snr = snrs[(i // len(kinds)) % len(snrs)]
                add(t, mid, "test", "anomaly", i, kinds[i % len(kinds)], float(severity), snr)
    return specs


def _render_and_write(spec: ClipSpec, out_dir: str) -> None:
    x = render_clip(
        spec.machine_type,
        spec.id,
        spec.seed,
        seconds=spec.seconds,
        anomaly_kind=spec.anomaly_kind,
        severity=spec.severity,
        snr_db=spec.snr_db,
    )
    sf.write(Path(out_dir) / spec.file, to_pcm16(x), SR, subtype="PCM_16", format="WAV")


def _write_all(specs: list[ClipSpec], out_dir: Path, workers: int, progress: bool) -> None:
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(specs), desc="synth machines", unit="clip")
    try:
        if workers <= 1:
            for spec in specs:
                _render_and_write(spec, str(out_dir))
                if bar is not None:
                    bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                jobs = pool.map(_render_and_write, specs, [str(out_dir)] * len(specs), chunksize=4)
                for _ in jobs:
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def _clear(out_dir: Path, overwrite: bool) -> None:
    """Refuse to write over an earlier set unless ``overwrite``; then remove its files."""
    old = [out_dir / LABELS_FILE, out_dir / MANIFEST_FILE]
    for t in MACHINE_TYPES:
        for split in ("train", "test"):
            folder = out_dir / t / split
            if folder.is_dir():
                old += [p for p in folder.iterdir() if _DCASE_WAV.match(p.name)]
    old = [p for p in old if p.is_file()]
    if old and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds a data set ({len(old)} files, e.g. {old[0].name}); "
            "pass overwrite=True to replace it"
        )
    for p in old:
        p.unlink()


def generate_machines(
    out_dir: str | Path,
    *,
    seed: int = 0,
    train_per_id: int = 50,
    test_per_id: int = 30,
    seconds: float = 10.0,
    machine_types: Iterable[str] = MACHINE_TYPES,
    ids: Iterable[str] = DEFAULT_IDS,
    snr_db: Sequence[float] = DEFAULT_SNR_DB,
    severity: float = 1.0,
    progress: bool = True,
    workers: int = 1,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Write a synthetic DCASE 2020 Task 2 style set to ``out_dir``; return its labels table.

    The defaults (4 types x 4 IDs x (50 train + 30 test) clips of 10 s) make 1,280 clips,
    about 410 MB. ``workers > 1`` renders in a process pool with byte-identical output.
    An existing set in ``out_dir`` (``labels.csv``, the manifest, or DCASE-named WAV files in
    any ``<type>/{train,test}``) raises FileExistsError unless ``overwrite=True``, which
    deletes those files first. The manifest ``synth_machines.json`` is written last.
    ``labels.attrs`` holds ``seconds`` (wall time of the rendering), ``audio_seconds`` and
    ``x_realtime``, and with one worker ``cpu_seconds`` and ``x_realtime_cpu``.
    """
    specs = plan_machines(
        seed=seed,
        train_per_id=train_per_id,
        test_per_id=test_per_id,
        seconds=seconds,
        machine_types=machine_types,
        ids=ids,
        snr_db=snr_db,
        severity=severity,
    )
    if not specs:
        raise ValueError("nothing to generate: train_per_id and test_per_id are both 0")
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear(out_dir, overwrite)
    for folder in sorted({str(Path(s.file).parent) for s in specs}):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    t0, cpu0 = time.perf_counter(), time.process_time()
    _write_all(specs, out_dir, int(workers), progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    labels = pd.DataFrame([asdict(s) for s in specs], columns=list(LABEL_COLUMNS))
    labels.to_csv(out_dir / LABELS_FILE, index=False)
    config = _config(seed, train_per_id, test_per_id, seconds, machine_types, ids, snr_db, severity)
    config["n_clips"] = len(specs)
    (out_dir / MANIFEST_FILE).write_text(json.dumps(config, indent=2) + "\n")
    audio = float(seconds) * len(specs)
    labels.attrs.update(seconds=wall, audio_seconds=audio, x_realtime=audio / max(wall, 1e-9))
    if int(workers) == 1:
        labels.attrs.update(cpu_seconds=cpu, x_realtime_cpu=audio / max(cpu, 1e-9))
    return labels


def _config(seed, train_per_id, test_per_id, seconds, machine_types, ids, snr_db, severity):
    return {
        "generator": "audioanom.synth.machines",
        "version": GENERATOR_VERSION,
        "seed": int(seed),
        "train_per_id": int(train_per_id),
        "test_per_id": int(test_per_id),
        "seconds": float(seconds),
        "machine_types": list(machine_types),
        "ids": [f"{_id_number(i):02d}" for i in ids],
        "snr_db": [float(s) for s in snr_db],
        "severity": float(severity),
        "sample_rate": SR,
    }


def load_labels(out_dir: str | Path) -> pd.DataFrame:
    """Read ``labels.csv`` of a generated set with the right column types."""
    path = Path(out_dir) / LABELS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no labels table (generate the set first)")
    labels = pd.read_csv(
        path,
        dtype={"file": str, "machine_type": str, "id": str, "split": str, "label": str},
        keep_default_na=False,
    )
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return labels


def ensure_machines(out_dir: str | Path, **kwargs) -> pd.DataFrame:
    """Return the labels of the set in ``out_dir``, generating it first unless it is there.

    The set counts as there when its manifest matches the requested configuration (the
    keyword arguments of :func:`generate_machines`) and every listed file exists; otherwise
    the set is generated again (``overwrite=True``).
    """
    run_opts = {k: kwargs.pop(k) for k in ("progress", "workers") if k in kwargs}
    kwargs.pop("overwrite", None)
    defaults = {
        "seed": 0,
        "train_per_id": 50,
        "test_per_id": 30,
        "seconds": 10.0,
        "machine_types": MACHINE_TYPES,
        "ids": DEFAULT_IDS,
        "snr_db": DEFAULT_SNR_DB,
        "severity": 1.0,
    }
    unknown = set(kwargs) - set(defaults)
    if unknown:
        raise TypeError(f"unknown arguments {sorted(unknown)}")
    wanted = _config(**{**defaults, **kwargs})
    out_dir = Path(out_dir)
    manifest = out_dir / MANIFEST_FILE
    if manifest.is_file():
        have = json.loads(manifest.read_text())
        have.pop("n_clips", None)
        if have == wanted:
            labels = load_labels(out_dir)
            if all((out_dir / f).is_file() for f in labels["file"]):
                return labels
    return generate_machines(out_dir, **kwargs, **run_opts, overwrite=True)
