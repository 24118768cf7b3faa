"""Checks of the machine-sound methods on REAL recordings that the repository can read here.

* :func:`fsdd_id_task`: the Free Spoken Digit Dataset as an ID task. Speakers play the machine
  IDs, the digit "six" is normal and every other digit an anomaly. Official split: the networks
  train on takes 5-49 of "six" of each speaker (a seeded fifth held out for early stopping) and
  score takes 0-4 of every digit (5 normal + 45 anomalous test clips per speaker). Every method
  of the machine tables runs on it, the log-mel Gaussian included.
* :func:`real_samples_check`: the real DCASE 2020 sample clips beside the checkout. Only slider
  id_00 has training clips, so no ID network can be trained on them (one class); the
  autoencoder and the log-mel Gaussian are trained on slider id_00 and score its 9 test clips.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..audio import read_audio
from ..metrics import per_id_metrics
from .autoencoder import AutoencoderConfig
from .backends import BACKENDS
from .baselines import LogMelStatsConfig
from .features import StftConfig, complex_stft
from .nn import ComplexNetConfig
from .pipeline import baseline_scores, network_scores, survey_types
from .scoring import EmbedConfig
from .training import VARIANTS, TrainConfig, train_clips_network

__all__ = [
    "FSDD_GROUP",
    "FsddIdTask",
    "RealSamplesCheck",
    "fsdd_id_task",
    "fsdd_specs",
    "fsdd_task_clips",
    "real_samples_check",
]

#: The "machine type" of the FSDD ID task in its tables.
FSDD_GROUP = "fsdd six"


def fsdd_specs(
    clips: pd.DataFrame, *, min_frames: int = 64, stft_config: StftConfig | None = None
) -> list[np.ndarray]:
    """Complex STFTs ``(2, F, T >= min_frames)`` of FSDD clips: read, resampled from 8 kHz to
    ``stft_config.sample_rate`` (16 kHz), and zero-padded on both sides (the word centred) to
    at least ``(min_frames - 1) * hop`` samples, so every clip holds one full window (FSDD clips
    last 0.15-2.3 s; a 64-frame window is 2.05 s)."""
    cfg = stft_config if stft_config is not None else StftConfig()
    need = (min_frames - 1) * cfg.hop_length
    out = []
    for p in clips["path"]:
        x, _ = read_audio(p, sr=cfg.sample_rate)
        if x.size < need:
            left = (need - x.size) // 2
            x = np.pad(x, (left, need - x.size - left))
        out.append(complex_stft(x, cfg))
    return out


def fsdd_task_clips(root: str | Path | None = None, *, normal_digit: int = 6) -> pd.DataFrame:
    """The FSDD clip table as an ID task: ``group`` = :data:`FSDD_GROUP`, ``id`` = speaker,
    ``digit`` kept; the normal training clips (takes 5-49 of ``normal_digit``) and every test
    take (0-4) of every digit."""
    from ..datasets import load_dataset

    root = Path(root) if root is not None else paths.shared_data() / "fsdd"
    clips = load_dataset("fsdd", root, normal_digit=normal_digit).clips
    keep = (clips["split"] == "test") | (clips["label"] == "normal")
    out = clips[keep].reset_index(drop=True)
    out["digit"] = out["group"].astype(str)
    out["group"] = FSDD_GROUP
    return out


@dataclass(frozen=True)
class FsddIdTask:
    """Result of :func:`fsdd_id_task`: ``per_speaker`` AUC/pAUC of every method (test takes),
    ``scores`` per clip and method, training ``histories`` and ``id_accuracy`` (speaker accuracy
    on the test takes of "six") per network variant, and the run time."""

    per_speaker: pd.DataFrame
    scores: pd.DataFrame = field(repr=False)
    histories: dict[str, pd.DataFrame] = field(repr=False)
    id_accuracy: dict[str, float]
    seconds: float = 0.0

    def mean_auc(self) -> pd.Series:
        """Mean AUC over the speakers per method."""
        return self.per_speaker.groupby("method", sort=False)["auc"].mean()


def fsdd_id_task(
    root: str | Path | None = None,
    *,
    config: ComplexNetConfig,
    train_config: TrainConfig,
    variants: Sequence[str] = VARIANTS,
    backends: Sequence[str] = tuple(BACKENDS),
    normal_digit: int = 6,
    max_train_per_speaker: int | None = None,
    progress: bool = False,
) -> FsddIdTask:
    """Run the FSDD ID task (module docstring) for the network ``variants`` (every back-end)
    and the log-mel Gaussian (on the resampled, unpadded clips). ``max_train_per_speaker`` caps
    the training takes (quick runs)."""
    t0 = time.perf_counter()
    clips = fsdd_task_clips(root, normal_digit=normal_digit)
    if max_train_per_speaker is not None:
        is_train = clips["split"] == "train"
        train = clips[is_train].groupby("id", sort=True).head(max_train_per_speaker)
        clips = pd.concat([train, clips[~is_train]]).sort_index().reset_index(drop=True)
    frames, histories, accuracy = [], {}, {}
    embed = EmbedConfig(device=train_config.device, precision=train_config.precision)
    specs_fn = functools.partial(
        fsdd_specs, min_frames=config.window_frames, stft_config=config.stft
    )
    for v in variants:
        res = train_clips_network(
            clips, v, config, train_config, specs_fn=specs_fn, progress=progress
        )
        s, _, _ = network_scores(
            res,
            clips,
            backends=backends,
            embed_config=embed,
            specs_fn=specs_fn,
            progress=progress,
        )
        frames.append(s)
        six = s[(s["split"] == "test") & (s["label"] == "normal") & (s["backend"] == backends[0])]
        accuracy[v] = float((six["pred_id"] == six["id"]).mean()) if len(six) else float("nan")
        histories[v] = res.history
    base = baseline_scores(clips, LogMelStatsConfig(resample=True), progress=progress)
    frames.append(base)
    scores = pd.concat(frames, ignore_index=True)
    scores["digit"] = scores["path"].map(dict(zip(clips["path"], clips["digit"], strict=True)))
    per = pd.concat(
        [
            per_id_metrics(g, method=str(m), type_col="machine_type")
            for m, g in scores.groupby("method", sort=False)
        ],
        ignore_index=True,
    ).rename(columns={"id": "speaker"})
    return FsddIdTask(per, scores, histories, accuracy, time.perf_counter() - t0)


@dataclass(frozen=True)
class RealSamplesCheck:
    """Result of :func:`real_samples_check`: ``status`` per machine type
    (:func:`audioanom.machines.pipeline.survey_types`), the per-method AUC/pAUC on the checked
    ID, the score table, notes."""

    status: pd.DataFrame
    per_id: pd.DataFrame
    scores: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()
    seconds: float = 0.0


def real_samples_check(
    root: str | Path | None = None,
    *,
    ae_config: AutoencoderConfig,
    machine_type: str = "slider",
    machine_id: str = "id_00",
) -> RealSamplesCheck:
    """Train the autoencoder and fit the log-mel Gaussian on the real training clips of one
    machine ID of the DCASE 2020 samples and score its test clips (module docstring)."""
    from ..datasets import load_dataset
    from .pipeline import autoencoder_scores, train_autoencoder_type

    t0 = time.perf_counter()
    root = Path(root) if root is not None else paths.shared_data() / "mimii_dcase2020_samples"
    clips = load_dataset("dcase2020", root).clips
    status = survey_types(clips)
    notes = [f"{r.machine_type}: {r.note}" for r in status.itertuples() if r.note]
    n_classes = clips[(clips["split"] == "train") & (clips["label"] == "normal")]
    n_classes = n_classes.groupby(["group", "id"]).ngroups
    if n_classes < 2:
        notes.append(
            f"ID networks: the samples hold normal training clips of {n_classes} (type, ID) "
            "pair, so no ID classifier can be trained on them (the DCASE 2020 development set "
            "has them: `audioanom fetch dcase2020`)"
        )
    sub = clips[(clips["group"] == machine_type) & (clips["id"] == machine_id)]
    if sub.empty:
        raise ValueError(f"no clips of {machine_type} {machine_id} in {root}")
    sub = sub.reset_index(drop=True)
    model, _ = train_autoencoder_type(sub, machine_type, ae_config)
    scores = pd.concat([autoencoder_scores(model, sub), baseline_scores(sub)], ignore_index=True)
    per = pd.concat(
        [
            per_id_metrics(g, method=str(m), type_col="machine_type")
            for m, g in scores.groupby("method", sort=False)
        ],
        ignore_index=True,
    )
    return RealSamplesCheck(status, per, scores, tuple(notes), time.perf_counter() - t0)
