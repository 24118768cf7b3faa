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

Modules: :mod:`~audioanom.synth.machine_params` (types, kinds and the parameters of each ID),
:mod:`~audioanom.synth.machine_sources` (the physical sound models and the background),
:mod:`~audioanom.synth.signal_blocks` (the signal building blocks); this module mixes one clip
(:func:`render_clip`) and writes, plans and reads the data set. Everything public in those
modules can be imported from here too.
"""

from __future__ import annotations

import inspect
import json
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

# The names that moved to the new modules stay importable from here ("X as X": re-exported).
from .machine_params import (
    ANOMALY_KINDS,
    MACHINE_TYPES,
    NORMAL_KIND,
    _check_type,
    _clip_parameters,
    _id_number,
)
from .machine_params import ParamRange as ParamRange
from .machine_params import machine_parameters as machine_parameters
from .machine_sources import _MACHINES, _background
from .machine_sources import LINE_HZ as LINE_HZ
from .signal_blocks import _F32, _rms, _unit, to_pcm16

SR = 16000
DEFAULT_IDS: tuple[str, ...] = ("00", "02", "04", "06")
DEFAULT_SNR_DB: tuple[float, ...] = (6.0, 0.0, -6.0)
TARGET_RMS = 0.0125
GAIN_DB = 3.0
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

_DCASE_WAV = re.compile(r"^(normal|anomaly)_id_\d{2}_\d{8}\.wav$")
_SPLIT_CODE = {"train": 0, "test": 1}
_LABEL_CODE = {"normal": 0, "anomaly": 1}

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
        from ..progress import tqdm

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
    progress: bool = True,
    workers: int = 1,
    overwrite: bool = False,
    **plan,
) -> pd.DataFrame:
    """Write a synthetic DCASE 2020 Task 2 style set to ``out_dir``; return its labels table.

    ``plan`` takes the keyword arguments of :func:`plan_machines` (``seed``, ``train_per_id``,
    ``test_per_id``, ``seconds``, ``machine_types``, ``ids``, ``snr_db``, ``severity``), with
    its defaults; any other name raises TypeError.

    The defaults (4 types x 4 IDs x (50 train + 30 test) clips of 10 s) make 1,280 clips,
    about 410 MB. ``workers > 1`` renders in a process pool with byte-identical output.
    An existing set in ``out_dir`` (``labels.csv``, the manifest, or DCASE-named WAV files in
    any ``<type>/{train,test}``) raises FileExistsError unless ``overwrite=True``, which
    deletes those files first. The manifest ``synth_machines.json`` is written last.
    ``labels.attrs`` holds ``seconds`` (wall time of the rendering), ``audio_seconds`` and
    ``x_realtime``, and with one worker ``cpu_seconds`` and ``x_realtime_cpu``.
    """
    plan = _plan_arguments("generate_machines", plan)
    specs = plan_machines(**plan)
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
    config = _config(**plan)
    config["n_clips"] = len(specs)
    (out_dir / MANIFEST_FILE).write_text(json.dumps(config, indent=2) + "\n")
    audio = float(plan["seconds"]) * len(specs)
    labels.attrs.update(seconds=wall, audio_seconds=audio, x_realtime=audio / max(wall, 1e-9))
    if int(workers) == 1:
        labels.attrs.update(cpu_seconds=cpu, x_realtime_cpu=audio / max(cpu, 1e-9))
    return labels


# The arguments of plan_machines with their defaults: the one list of a set's configuration.
_PLAN_DEFAULTS: dict[str, object] = {
    name: param.default for name, param in inspect.signature(plan_machines).parameters.items()
}


def _plan_arguments(caller: str, kwargs: dict) -> dict:
    """``kwargs`` completed with the defaults of :func:`plan_machines`; TypeError for others."""
    unknown = set(kwargs) - set(_PLAN_DEFAULTS)
    if unknown:
        raise TypeError(f"{caller}() got unknown arguments {sorted(unknown)}")
    return {**_PLAN_DEFAULTS, **kwargs}


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
    wanted = _config(**_plan_arguments("ensure_machines", kwargs))
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
