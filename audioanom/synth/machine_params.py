"""What the synthetic machines are: the machine types, their anomaly kinds, the parameters of an ID.

Machine IDs are machines of the same type with other physical parameters, spread evenly over
each parameter's range (:func:`machine_parameters`); every clip varies randomly around its ID's
nominal values (:func:`_clip_parameters`), so IDs are learnable but overlap. The sounds made from
these parameters are in :mod:`audioanom.synth.machine_sources`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MACHINE_TYPES: tuple[str, ...] = ("fan", "pump", "slider", "valve")
ANOMALY_KINDS: dict[str, tuple[str, ...]] = {
    "fan": ("imbalance", "bearing_fault", "contamination"),
    "pump": ("leak", "cavitation", "clogging"),
    "slider": ("rail_damage", "no_lubrication"),
    "valve": ("contamination", "timing_fault", "leak"),
}
NORMAL_KIND = "none"


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
