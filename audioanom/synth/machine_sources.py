"""Physical source models of the synthetic machines and of the factory background.

One function per machine type (:data:`_MACHINES`) renders the machine signal of one clip, the
normal sound and, when ``kind`` names one, the anomaly of that kind scaled by ``sev``: the
physics of each type and kind is listed in :mod:`audioanom.synth.machines`. ``p`` holds the
clip's parameters (:func:`audioanom.synth.machine_params._clip_parameters`). :func:`_background`
renders the factory background that every clip is mixed with.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import fft as sfft

from .signal_blocks import (
    _F32,
    _add_lines,
    _band_gain,
    _band_noise,
    _crossings,
    _cycles,
    _freqs,
    _harmonics,
    _impulses,
    _noise_spectrum,
    _one_pole,
    _resonate,
    _ring,
    _shaped_noise,
    _smooth_random,
    _spectral_power,
    _unit,
    _wrap,
)

LINE_HZ = 50.0


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
