"""Synthetic spoken digits in the AudioMNIST layout: the word "six" and anomalous takes of it.

Offline and deterministic embedded data for the "six" exploration. Speech comes from espeak-ng
(the ``espeakng-loader`` package ships the library and its voice data), driven through a small
ctypes wrapper; everything after the synthesizer is numpy/scipy/soxr with seeded generators.

Layout written by :func:`generate_digits` (as AudioMNIST, plus ``labels.csv``)::

    OUT/data/NN/{digit}_{NN}_{take}.wav   48 kHz mono 16-bit PCM, NN = 01, 02, ...
    OUT/audioMNIST_meta.txt              JSON, one entry per speaker (AudioMNIST's fields + voice)
    OUT/labels.csv                       one row per file: the ground truth

Normal takes are the word "six". Anomalous takes are of named kinds (:data:`ANOMALY_KINDS`):

=================  ============================================================================
``other_digit``    another digit word ("five", "seven", ...)
``similar_word``   a word close to "six": "sex", "fix", "sick", "sits", "mix"
``clipping``       a six amplified until its peak is 6-24 dB over full scale, then hard-clipped
``noise_burst``    a six with a 20-120 ms burst of loud white noise inside the word
``dropout``        a six with a 30-150 ms stretch inside the word set to exactly zero
``truncation``     a six whose file ends 20-55 % of the way through the word
``pitch_shift``    a six resampled by 3-7 semitones up or down (duration changes with it)
``reverberation``  a six convolved with a synthetic room impulse response (RT60 0.3-1.2 s)
=================  ============================================================================

File names: the digit in a name is the digit word actually spoken when one was spoken, else 6,
the prompted digit. So ``other_digit`` takes carry their own digit (``7_03_12.wav`` says
"seven"), while ``similar_word`` takes and the six corruption kinds are named as sixes (they are
sixes that went wrong, or a speaker asked for "six" who said "sick"). A loader that labels by the
digit in the name therefore sees only the ``other_digit`` anomalies: ``labels.csv`` is the
truth (columns in :data:`LABEL_COLUMNS`).

Severity is a number in [0.2, 1] scaling each corruption within the range in the table above
(0.2 = mild end, 1 = strong end), with the exact setting in ``detail``; the two word kinds have
severity 1, normal takes 0.

Determinism: espeak-ng keeps synthesis state in C static variables (pitch-flutter phase, gain
control, noise generator) that nothing in its API resets, so the same text with the same voice
comes out slightly different on each call. :class:`EspeakSession` therefore loads a fresh copy of
the library and unloads it when closed; within a session, outputs depend only on the sequence of
calls. :func:`generate_digits` opens one session per speaker and synthesizes that speaker's
takes in take order, so the same seed and sizes give byte-identical files in any process.

Modules: :mod:`~audioanom.synth.espeak` (the espeak-ng binding: :class:`EspeakSession`,
:func:`synthesize`), :mod:`~audioanom.synth.corruptions` (the recording faults, pure functions);
this module plans the speakers and takes, renders a take and writes the data set. Everything
public in those modules can be imported from here too.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import soxr

# The names that moved to the new modules stay importable from here ("X as X": re-exported).
from .corruptions import (
    add_noise_burst,
    drop_out,
    hard_clip,
    pitch_shift,
    reverberate,
    room_impulse_response,
    truncate,
)
from .espeak import EspeakSession, check_voice
from .espeak import SpeechSynthError as SpeechSynthError
from .espeak import available_voices as available_voices
from .espeak import espeak_paths as espeak_paths
from .espeak import synthesize as synthesize
from .signal_blocks import to_pcm16

SAMPLE_RATE = 48_000
NORMAL_WORD = "six"
NORMAL_DIGIT = 6
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIMILAR_WORDS = ("sex", "fix", "sick", "sits", "mix")
ANOMALY_KINDS = (
    "other_digit",
    "similar_word",
    "clipping",
    "noise_burst",
    "dropout",
    "truncation",
    "pitch_shift",
    "reverberation",
)
WORD_KINDS = ("other_digit", "similar_word")
LABEL_COLUMNS = (
    "file",
    "speaker",
    "take",
    "digit",
    "word",
    "label",
    "anomaly_kind",
    "severity",
    "voice",
    "pitch",
    "rate",
    "pitch_range",
    "onset_s",
    "offset_s",
    "duration_s",
    "detail",
)

# espeak-ng base voices (files under espeak-ng-data/lang/gmw) -> (accent, origin) for the metadata.
BASE_VOICES: dict[str, tuple[str, str]] = {
    "en-us": ("American", "North America, USA"),
    "en": ("British", "Europe, United Kingdom, England"),
    "en-gb-scotland": ("Scottish", "Europe, United Kingdom, Scotland"),
    "en-029": ("Caribbean", "North America, Caribbean"),
    "en-gb-x-rp": ("British (Received Pronunciation)", "Europe, United Kingdom, England"),
    "en-gb-x-gbclan": ("Lancastrian", "Europe, United Kingdom, Lancashire"),
    "en-gb-x-gbcwmd": ("West Midlands", "Europe, United Kingdom, West Midlands"),
    "en-us-nyc": ("New York", "North America, USA, New York"),
}
# espeak-ng voice variants (files under espeak-ng-data/voices/!v) -> gender for the metadata.
VARIANTS: dict[str, str] = {
    **{f"m{i}": "male" for i in range(1, 9)},
    **{f"f{i}": "female" for i in range(1, 6)},
    **{name: "male" for name in ("klatt", "klatt2", "klatt3", "klatt4")},
}


# ========================================================================= generation plan


@dataclass(frozen=True)
class DigitSynthConfig:
    """Sizes and seed of a synthetic digit set (see :func:`generate_digits`)."""

    seed: int = 0
    n_speakers: int = 30
    takes_per_speaker: int = 20
    anomaly_fraction: float = 0.15
    kinds: tuple[str, ...] = ANOMALY_KINDS

    def __post_init__(self) -> None:
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        n_max = len(BASE_VOICES) * len(VARIANTS)
        if not 1 <= self.n_speakers <= n_max:
            raise ValueError(f"n_speakers must be in [1, {n_max}], got {self.n_speakers}")
        if self.takes_per_speaker < 1:
            raise ValueError(f"takes_per_speaker must be >= 1, got {self.takes_per_speaker}")
        if not 0.0 <= self.anomaly_fraction < 1.0:
            raise ValueError(f"anomaly_fraction must be in [0, 1), got {self.anomaly_fraction}")
        unknown = [k for k in self.kinds if k not in ANOMALY_KINDS]
        if unknown or not self.kinds or len(set(self.kinds)) != len(self.kinds):
            raise ValueError(
                f"kinds must be distinct names from {ANOMALY_KINDS}, got {self.kinds!r}"
            )

    @property
    def n_clips(self) -> int:
        return self.n_speakers * self.takes_per_speaker


@dataclass(frozen=True)
class SpeakerProfile:
    """One synthetic speaker: an espeak-ng voice and its settings, plus AudioMNIST metadata."""

    index: int
    speaker: str  # "01", "02", ...
    voice: str  # "en-us+m3"
    accent: str
    origin: str
    gender: str
    age: int
    pitch: int  # espeak-ng 0-100
    pitch_range: int  # espeak-ng 0-100
    rate: int  # words per minute
    level_db: float  # peak level of a clean take, dBFS
    noise_db: float  # RMS of the recording noise floor, dBFS
    recording_date: str  # AudioMNIST style "YY-MM-DD-hh-mm-ss"


@dataclass(frozen=True)
class TakePlan:
    """What one take is: the word spoken, the digit in its file name, the anomaly kind."""

    speaker_index: int
    take: int
    word: str
    digit: int
    kind: str  # "none" or one of ANOMALY_KINDS


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def _espeak_seed(seed: int, speaker_index: int) -> int:
    """espeak-ng's own noise seed for one speaker's session (31 bits)."""
    return int(np.random.SeedSequence([seed, 3, speaker_index]).generate_state(1)[0] >> 1)


def plan_speakers(config: DigitSynthConfig) -> list[SpeakerProfile]:
    """The speakers: distinct (accent, variant) voices drawn by the seed, with their settings."""
    catalogue = [(base, variant) for base in BASE_VOICES for variant in VARIANTS]
    order = _rng(config.seed, 0, 0).permutation(len(catalogue))
    width = max(2, len(str(config.n_speakers)))
    start = datetime(2024, 3, 4, 9, 0, 0)
    speakers = []
    for i in range(config.n_speakers):
        base, variant = catalogue[order[i]]
        rng = _rng(config.seed, 1, i)
        accent, origin = BASE_VOICES[base]
        date = start + timedelta(
            days=int(rng.integers(0, 120)), seconds=int(rng.integers(0, 36000))
        )
        speakers.append(
            SpeakerProfile(
                index=i,
                speaker=f"{i + 1:0{width}d}",
                voice=f"{base}+{variant}",
                accent=accent,
                origin=origin,
                gender=VARIANTS[variant],
                age=int(rng.integers(19, 62)),
                pitch=int(rng.integers(25, 76)),
                pitch_range=int(rng.integers(20, 81)),
                rate=int(rng.integers(130, 211)),
                level_db=round(float(rng.uniform(-10.0, -3.0)), 2),
                noise_db=round(float(rng.uniform(-72.0, -60.0)), 2),
                recording_date=date.strftime("%y-%m-%d-%H-%M-%S"),
            )
        )
    return speakers


def plan_takes(config: DigitSynthConfig) -> list[TakePlan]:
    """Which takes are anomalous and of which kind, spread evenly over kinds and speakers.

    ``round(anomaly_fraction * n_clips)`` anomalies; kind counts differ by at most one, and so
    do the anomaly counts of any two speakers.
    """
    rng = _rng(config.seed, 0, 1)
    n_spk, n_takes = config.n_speakers, config.takes_per_speaker
    n_anom = int(round(config.anomaly_fraction * config.n_clips))
    kinds = list(config.kinds)
    order = rng.permutation(len(kinds))
    sequence = [kinds[order[i % len(kinds)]] for i in range(n_anom)]
    rng.shuffle(sequence)
    per_speaker = np.full(n_spk, n_anom // n_spk)
    per_speaker[rng.choice(n_spk, n_anom % n_spk, replace=False)] += 1
    assigned: dict[tuple[int, int], str] = {}
    it: Iterator[str] = iter(sequence)
    for s in range(n_spk):
        for take in sorted(rng.choice(n_takes, int(per_speaker[s]), replace=False)):
            assigned[(s, int(take))] = next(it)
    plans = []
    for s in range(n_spk):
        for take in range(n_takes):
            kind = assigned.get((s, take), "none")
            word, digit = NORMAL_WORD, NORMAL_DIGIT
            if kind == "other_digit":
                digit = int(rng.choice([d for d in range(10) if d != NORMAL_DIGIT]))
                word = DIGIT_WORDS[digit]
            elif kind == "similar_word":
                word = str(rng.choice(SIMILAR_WORDS))
            plans.append(TakePlan(s, take, word, digit, kind))
    return plans


# ========================================================================= rendering a take


def _trim(pcm: np.ndarray, sr: int, floor_db: float = -50.0, margin_s: float = 0.005) -> np.ndarray:
    """Cut espeak-ng's leading/trailing silence: keep from -50 dB of peak, 5 ms margins."""
    a = np.abs(pcm.astype(np.float32))  # T
    loud = np.flatnonzero(a > a.max() * 10 ** (floor_db / 20))
    margin = int(margin_s * sr)
    return pcm[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def _render_take(
    session: EspeakSession, spk: SpeakerProfile, plan: TakePlan, seed: int
) -> tuple[np.ndarray, dict]:
    """Synthesize and corrupt one take: int16 samples (T,) at 48 kHz and its labels row."""
    rng = _rng(seed, 2, spk.index, plan.take)
    pitch = int(np.clip(spk.pitch + rng.integers(-4, 5), 0, 100))
    pitch_range = int(np.clip(spk.pitch_range + rng.integers(-6, 7), 0, 100))
    rate = int(np.clip(round(spk.rate * rng.uniform(0.94, 1.06)), 80, 450))
    lead = int(rng.uniform(0.02, 0.10) * SAMPLE_RATE)
    trail = int(rng.uniform(0.05, 0.15) * SAMPLE_RATE)
    level = 10 ** ((spk.level_db + rng.uniform(-1.5, 1.5)) / 20)
    kind = plan.kind
    if kind == "none":
        severity = 0.0
    elif kind in WORD_KINDS:
        severity = 1.0
    else:
        severity = round(float(rng.uniform(0.2, 1.0)), 3)
    u = (severity - 0.2) / 0.8  # corruption strength in [0, 1] across the documented range
    detail = ""

    pcm = session.synthesize(plan.word, spk.voice, rate=rate, pitch=pitch, pitch_range=pitch_range)
    word = _trim(pcm, session.sample_rate).astype(np.float32) / 32768.0  # W at 22.05 kHz
    word = soxr.resample(word, session.sample_rate, SAMPLE_RATE).astype(np.float32)  # W'
    if kind == "pitch_shift":
        semitones = float(rng.choice([-1.0, 1.0]) * (3.0 + 4.0 * u))
        word = pitch_shift(word, semitones, SAMPLE_RATE)
        detail = f"semitones={semitones:+.2f}"
    onset, offset = lead, lead + word.size
    x = np.concatenate([np.zeros(lead, np.float32), word, np.zeros(trail, np.float32)])  # T
    if kind == "reverberation":
        rt60 = 0.3 + 0.9 * u
        drr_db = 4.0 - 10.0 * u
        x = reverberate(x, room_impulse_response(rt60, drr_db, SAMPLE_RATE, rng))
        x = x[: offset + trail + int(0.5 * rt60 * SAMPLE_RATE)]  # tail to about -30 dB
        fade = int(0.01 * SAMPLE_RATE)
        x[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        detail = f"rt60={rt60:.2f}s drr={drr_db:+.1f}dB"
    x *= np.float32(level / np.abs(x).max())
    x += np.float32(10 ** (spk.noise_db / 20)) * rng.standard_normal(x.size, dtype=np.float32)

    span = offset - onset
    if kind == "clipping":
        over_db = 6.0 + 18.0 * u  # how far the peak is driven over full scale
        x = hard_clip(x, over_db - 20 * np.log10(np.abs(x).max()))
        detail = f"peak driven {over_db:.1f} dB over full scale"
    elif kind == "noise_burst":
        length = min(span, int((0.02 + 0.1 * u) * SAMPLE_RATE))
        start = onset + int(rng.integers(0, span - length + 1))
        rms = 0.05 + 0.15 * u
        x = add_noise_burst(x, start, length, rms, rng)
        peak = np.abs(x).max()
        if peak > 0.99:
            x *= np.float32(0.99 / peak)
        detail = (
            f"start={start / SAMPLE_RATE:.3f}s length={length / SAMPLE_RATE:.3f}s rms={rms:.2f}"
        )
    elif kind == "dropout":
        length = min(span, int((0.03 + 0.12 * u) * SAMPLE_RATE))
        start = onset + int(rng.integers(0, span - length + 1))
        x = drop_out(x, start, length)
        detail = f"start={start / SAMPLE_RATE:.3f}s length={length / SAMPLE_RATE:.3f}s"
    elif kind == "truncation":
        kept = 0.55 - 0.35 * u
        offset = onset + max(1, int(kept * span))
        x = truncate(x, offset)
        detail = f"kept={kept:.2f} of the word"

    pcm16 = to_pcm16(x)  # T
    row = {
        "file": f"data/{spk.speaker}/{plan.digit}_{spk.speaker}_{plan.take}.wav",
        "speaker": spk.speaker,
        "take": plan.take,
        "digit": plan.digit,
        "word": plan.word,
        "label": "normal" if kind == "none" else "anomaly",
        "anomaly_kind": kind,
        "severity": severity,
        "voice": spk.voice,
        "pitch": pitch,
        "rate": rate,
        "pitch_range": pitch_range,
        "onset_s": round(onset / SAMPLE_RATE, 6),
        "offset_s": round(offset / SAMPLE_RATE, 6),
        "duration_s": round(pcm16.size / SAMPLE_RATE, 6),
        "detail": detail,
    }
    return pcm16, row


# ============================================================================== the data set

_OUR_WAV = re.compile(r"^\d_\d+_\d+\.wav$")


def _prepare_output(out: Path, overwrite: bool) -> None:
    """Refuse to mix with an earlier set unless ``overwrite``; then remove only our own files."""
    ours = [out / "labels.csv", out / "audioMNIST_meta.txt"]
    data = out / "data"
    if not any(p.exists() for p in [*ours, data]):
        return
    if not overwrite:
        raise FileExistsError(f"{out} already holds a data set; pass overwrite=True to replace it")
    if data.exists():
        strangers = [
            p
            for p in data.rglob("*")
            if p.is_file() and not (_OUR_WAV.match(p.name) and p.parent.parent == data)
        ]
        if strangers:
            raise FileExistsError(
                f"{data} holds files this generator did not write (e.g. {strangers[0]}); "
                "not deleting it: choose another output folder"
            )
        shutil.rmtree(data)
    for p in ours:
        p.unlink(missing_ok=True)


def _speaker_meta(spk: SpeakerProfile) -> dict:
    return {
        "accent": spk.accent,
        "age": str(spk.age),
        "gender": spk.gender,
        "native speaker": "yes",
        "origin": f"{spk.origin} (synthetic)",
        "recordingdate": spk.recording_date,
        "recordingroom": "synthetic",
        "voice": spk.voice,
        "pitch": spk.pitch,
        "pitch_range": spk.pitch_range,
        "speed": spk.rate,
        "synthesizer": "espeak-ng (espeakng-loader)",
    }


def generate_digits(
    out_dir: str | Path,
    *,
    seed: int = 0,
    n_speakers: int = 30,
    takes_per_speaker: int = 20,
    anomaly_fraction: float = 0.15,
    kinds: Sequence[str] = ANOMALY_KINDS,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Write a synthetic AudioMNIST-style "six" set into ``out_dir``; return ``labels.csv``.

    See the module docstring for the layout, the anomaly kinds and the file-name rule. The same
    arguments give byte-identical files. ``overwrite`` replaces an earlier set written here
    (only files of this layout are removed). ``labels.attrs`` holds ``seconds`` (wall time),
    ``cpu_seconds``, ``audio_seconds`` and ``x_realtime`` (audio seconds per CPU second: the
    work is single-threaded, so this is the speed on one core).
    """
    from ..progress import tqdm

    config = DigitSynthConfig(seed, n_speakers, takes_per_speaker, anomaly_fraction, tuple(kinds))
    out = Path(out_dir)
    speakers = plan_speakers(config)
    plans = plan_takes(config)
    for spk in speakers:
        check_voice(spk.voice)  # also proves espeakng-loader is importable before writing
    with EspeakSession():  # fail on a broken espeak-ng before touching out_dir
        pass
    _prepare_output(out, overwrite)
    t0, cpu0 = time.perf_counter(), time.process_time()
    rows = []
    with tqdm(total=len(plans), disable=not progress, desc="synth digits", unit="clip") as bar:
        for spk in speakers:
            folder = out / "data" / spk.speaker
            folder.mkdir(parents=True, exist_ok=True)
            # A fresh engine per speaker (see the module docstring).
            with EspeakSession(rand_seed=_espeak_seed(config.seed, spk.index)) as session:
                for plan in (p for p in plans if p.speaker_index == spk.index):
                    pcm16, row = _render_take(session, spk, plan, config.seed)
                    sf.write(out / row["file"], pcm16, SAMPLE_RATE, subtype="PCM_16", format="WAV")
                    rows.append(row)
                    bar.update()
    meta = {spk.speaker: _speaker_meta(spk) for spk in speakers}
    (out / "audioMNIST_meta.txt").write_text(json.dumps(meta, indent=4) + "\n", encoding="utf-8")
    labels = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
    labels.to_csv(out / "labels.csv", index=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    audio = float(labels["duration_s"].sum())
    labels.attrs.update(
        seconds=seconds, cpu_seconds=cpu, audio_seconds=audio, x_realtime=audio / max(cpu, 1e-9)
    )
    return labels


def read_labels(out_dir: str | Path) -> pd.DataFrame:
    """Read ``labels.csv`` of a generated set (speaker ids kept as zero-padded strings)."""
    path = Path(out_dir) / "labels.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a generated digit set (no labels.csv)")
    return pd.read_csv(path, dtype={"speaker": str, "detail": str}, keep_default_na=False)


def describe_labels(labels: pd.DataFrame) -> str:
    """One line for the CLI: clip counts by label and kind, audio length, speed."""
    kinds = labels.loc[labels["label"] == "anomaly", "anomaly_kind"].value_counts().sort_index()
    parts = ", ".join(f"{k} {n}" for k, n in kinds.items())
    line = (
        f"{len(labels)} clips from {labels['speaker'].nunique()} speakers: "
        f"{int((labels['label'] == 'normal').sum())} normal, {int(kinds.sum())} anomalies"
        + (f" ({parts})" if parts else "")
    )
    if "seconds" in labels.attrs:
        a = labels.attrs
        line += (
            f"; {a['audio_seconds']:.1f} s of audio in {a['seconds']:.1f} s "
            f"({a['cpu_seconds']:.1f} s CPU: {a['x_realtime']:.0f}x real time on one core)"
        )
    return line
