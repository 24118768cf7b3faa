"""The machine-sound pipeline per machine type: train, score, evaluate, write tables.

Three methods per machine type (``group`` of the clip table):

* ``complex``: the self-supervised complex network (:mod:`audioanom.nn`, Kim et al. 2021),
  trained on the type's normal training clips to classify machine IDs
  (:mod:`audioanom.training`), clip score = cross-entropy of the true ID
  (:mod:`audioanom.scoring`);
* ``magnitude``: the same network without its complex branch (the paper's ablation);
* ``autoencoder``: the DCASE 2020 Task 2 baseline (:mod:`audioanom.autoencoder`).

Network sizes
-------------
:data:`MODEL_PRESETS` names network sizes: ``"paper"`` is the paper's network (45/90 complex
channels, ~0.94 M parameters); ``"small"`` (8/16 channels) and ``"tiny"`` (4/8) keep its
structure with fewer channels. The notebooks default to ``"small"``: the paper's network
trains at a few windows per second on 2 CPU cores, the small one several times faster (see
``benchmarks/bench_mimii.py``); use ``"paper"`` on a GPU or a large CPU.

What needs what
---------------
A machine type needs normal training clips of at least TWO IDs for the networks (they learn
to tell IDs apart); a type without any training clips, or with one ID only (the real DCASE
samples: slider id_00 only), is reported and skipped -- the autoencoder still runs where
there is at least one training clip. A test ID without training clips cannot be scored by
the networks (its true class is unknown to them) and is reported. An ID whose test clips are
of one class only gets no AUC (:func:`audioanom.metrics.per_id_metrics` notes it).

Files (``run_dir(dataset, smoke)`` = ``build_dir()/mimii/<dataset>[-smoke]``)::

    models/<variant>/<type>/last.pt       training checkpoint (resume), metrics.csv
    models/<variant>/<type>/model.pt      the trained network (what notebook 07 loads)
    models/autoencoder/<type>/model.pt    the baseline autoencoder, metrics.csv
    scores/<method>/<type>.csv            per-clip scores (audioanom.scoring.SCORE_COLUMNS)
    tables/scores.csv per_id.csv summary.csv comparison.csv thresholds.csv notes.txt

Real-data checks: :func:`fsdd_id_task` (speakers of the Free Spoken Digit Dataset as "IDs",
"six" normal) and :func:`real_samples_check` (the DCASE 2020 sample clips).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import paths
from .audio import read_audio
from .autoencoder import (
    AutoencoderConfig,
    DenseAutoencoder,
    fit_autoencoder,
    load_autoencoder,
    save_autoencoder,
)
from .autoencoder import score_clips as ae_score_clips
from .machine_features import LogMelConfig, StftConfig, complex_stft, stft_table, vectors_table
from .metrics import (
    PAPER_KIM2021_AUC,
    comparison_table,
    evaluate_thresholds,
    per_id_metrics,
    summarize,
)
from .nn import ComplexNetConfig
from .scoring import ScoreConfig, score_clips, score_specs, write_scores
from .training import (
    CheckpointMismatch,
    TrainConfig,
    TrainResult,
    class_mapping,
    load_trained,
    save_trained,
    split_train_val,
    train_machine_type,
    train_model,
    training_clips,
)

__all__ = [
    "DEFAULT_CROPS",
    "DEFAULT_EPOCHS",
    "DEFAULT_LR",
    "FSDD_TRAIN_CONFIG",
    "SMOKE_EPOCHS",
    "METHOD_NAMES",
    "MODEL_PRESETS",
    "VARIANTS",
    "Evaluation",
    "FsddIdTask",
    "MachineTypeRun",
    "RealSamplesCheck",
    "TrainingRun",
    "cli_score",
    "cli_train",
    "default_ae_config",
    "default_train_config",
    "evaluate_all",
    "evaluate_scores",
    "fsdd_id_task",
    "fsdd_specs",
    "id_mean_spectra",
    "load_network",
    "model_config",
    "open_machine_clips",
    "per_kind_metrics",
    "threshold_summary",
    "precision_comparison",
    "real_samples_check",
    "run_all",
    "run_dir",
    "run_machine_type",
    "survey_types",
    "train_all",
    "train_autoencoder_type",
    "train_variant",
]

VARIANTS = ("complex", "magnitude")
METHOD_NAMES = {
    "complex": "complex net",
    "magnitude": "magnitude-only",
    "autoencoder": "autoencoder",
}
#: Network sizes (module docstring): overrides of :class:`audioanom.nn.ComplexNetConfig`.
MODEL_PRESETS: dict[str, dict[str, object]] = {
    "paper": {},
    "small": {"channels": (8, 16, 16, 16, 8), "branch_channels": 16},
    "tiny": {"channels": (4, 8, 8, 8, 4), "branch_channels": 8, "attention_reduction": 2},
}
#: Epochs of a full run of the notebooks on the default synthetic set (about 10-15 minutes
#: for notebook 06 on 2 CPU cores with the small network).
DEFAULT_EPOCHS = 12
#: Random 64-frame crops drawn from every training clip per epoch (1 in smoke mode).
DEFAULT_CROPS = 8
#: Learning rate of :func:`default_train_config` (see there; the paper's is 1e-4).
DEFAULT_LR = 1e-3
SMOKE_EPOCHS = 1
#: Training of the FSDD ID task (:func:`fsdd_id_task`): one crop per clip (most padded clips
#: are exactly one window long).
FSDD_TRAIN_CONFIG = TrainConfig(epochs=30, lr=DEFAULT_LR, crops_per_clip=1, patience=5)


def model_config(preset: str = "small", variant: str = "complex", n_classes: int = 4):
    """The :class:`ComplexNetConfig` of a size preset and variant (``magnitude``: no complex
    branch)."""
    if preset not in MODEL_PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; known: {sorted(MODEL_PRESETS)}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return ComplexNetConfig(
        n_classes=n_classes, use_complex_branch=variant == "complex", **MODEL_PRESETS[preset]
    )


# --------------------------------------------------------------------------------------------
# data


def open_machine_clips(
    dataset: str = "synthetic", *, data_dir: str = "", smoke: bool = False, seed: int = 0
) -> pd.DataFrame:
    """The machine clip table a notebook's parameters name (:func:`audioanom.datasets.
    open_dataset` with ``domain="machines"``), checked to have the clip-table columns.

    The original MIMII layout has no split: :func:`audioanom.datasets.assign_dcase_split`
    gives it the DCASE one (seeded). Raises ValueError if a required column is missing.
    """
    from .datasets import assign_dcase_split, open_dataset

    loaded = open_dataset(dataset, domain="machines", data_dir=data_dir, smoke=smoke, seed=seed)
    clips = loaded.clips
    missing = [c for c in ("path", "group", "id", "label", "split") if c not in clips.columns]
    if missing:
        raise ValueError(f"{dataset}: clip table lacks columns {missing}")
    if (clips["split"] == "unsplit").all():
        clips = assign_dcase_split(clips, seed=seed)
    return clips.reset_index(drop=True)


def run_dir(dataset: str, smoke: bool = False) -> Path:
    """Where a run's models, scores and tables go: ``build_dir()/mimii/<dataset>[-smoke]``."""
    return paths.build_dir() / "mimii" / (f"{dataset}-smoke" if smoke else dataset)


def survey_types(clips: pd.DataFrame, machine_types: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per machine type: ``machine_type, n_train, train_ids, n_test, test_ids,
    network, autoencoder, note`` -- whether the networks (2+ IDs with normal training clips)
    and the autoencoder (1+ training clip) can be trained, and why not."""
    types = (
        sorted(clips["group"].unique().tolist()) if machine_types is None else list(machine_types)
    )
    rows = []
    for t in types:
        sub = clips[clips["group"] == t]
        train = training_clips(sub)
        test = sub[sub["split"] == "test"]
        train_ids = sorted(train["id"].astype(str).unique().tolist())
        test_ids = sorted(test["id"].astype(str).unique().tolist())
        notes = []
        if sub.empty:
            notes.append("no clips of this type")
        elif train.empty:
            notes.append("no normal training clips: nothing can be trained")
        elif len(train_ids) < 2:
            notes.append(
                f"normal training clips of one ID only ({train_ids[0]}): the ID classifier "
                "needs 2+ IDs, networks skipped"
            )
        unscored = sorted(set(test_ids) - set(train_ids))
        if unscored and train_ids:
            notes.append(f"test IDs without training clips, not scored: {', '.join(unscored)}")
        rows.append(
            {
                "machine_type": t,
                "n_train": len(train),
                "train_ids": ", ".join(train_ids),
                "n_test": len(test),
                "test_ids": ", ".join(test_ids),
                "network": len(train_ids) >= 2,
                "autoencoder": len(train) >= 1,
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows)


def _paths_digest(clips: pd.DataFrame) -> str:
    text = "\n".join(sorted(str(p) for p in clips["path"]))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def id_mean_spectra(
    clips: pd.DataFrame,
    machine_type: str,
    *,
    n_per_id: int = 10,
    stft_config: StftConfig | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean log-power spectrum per ID of up to ``n_per_id`` normal training clips (normal
    test clips when there are none): ``id, freq_hz, db`` rows, ``db = 10 log10`` of the mean
    ``|X|^2`` over frames and clips, relative to the type's maximum."""
    stft_config = stft_config if stft_config is not None else StftConfig()
    sub = clips[(clips["group"] == machine_type) & (clips["label"] == "normal")]
    if sub.empty:
        raise ValueError(f"{machine_type}: no normal clips")
    has_train = (sub["split"] == "train").any()
    sub = sub[sub["split"] == ("train" if has_train else sub["split"].iat[0])]
    rows = []
    freqs = np.arange(stft_config.n_bins) * stft_config.sample_rate / stft_config.n_fft
    power = {}
    for mid, g in sub.groupby("id", sort=True):
        g = g.sample(min(n_per_id, len(g)), random_state=seed)
        specs = stft_table(g, stft_config, mmap=True)
        p = np.mean([(s[0] ** 2 + s[1] ** 2).mean(axis=1) for s in specs], axis=0)  # F
        power[str(mid)] = p
    ref = max(float(p.max()) for p in power.values())
    for mid, p in power.items():
        db = 10 * np.log10(p / ref + 1e-12)
        rows.append(pd.DataFrame({"id": mid, "freq_hz": freqs, "db": db}))
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------------------------
# one machine type


@dataclass(frozen=True)
class MachineTypeRun:
    """Result of :func:`run_machine_type`: the trained network (None when skipped), its
    training history, the score table of the type's scorable clips, and notes."""

    machine_type: str
    variant: str
    result: TrainResult | None = field(repr=False)
    scores: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def model(self):
        """The trained network (None when skipped)."""
        return None if self.result is None else self.result.model

    @property
    def history(self) -> pd.DataFrame:
        """Per-epoch metrics (empty when skipped)."""
        return pd.DataFrame() if self.result is None else self.result.history


def _model_folder(out_dir: Path, variant: str, machine_type: str) -> Path:
    return Path(out_dir) / "models" / variant / machine_type


def train_variant(
    clips: pd.DataFrame,
    machine_type: str,
    variant: str = "complex",
    train_config: TrainConfig | None = None,
    *,
    preset: str = "small",
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> TrainResult:
    """Train one variant's network for one machine type; with ``out_dir`` checkpoint into
    ``models/<variant>/<type>/`` and save the result as ``model.pt`` there.

    ``resume=True`` continues an interrupted run (a finished one is returned as saved; a
    checkpoint of other settings or data is replaced by a fresh run, with a message).
    Raises ValueError when the type cannot be trained (:func:`survey_types` says why).
    """
    folder = _model_folder(Path(out_dir), variant, machine_type) if out_dir else None
    train_config = train_config if train_config is not None else TrainConfig()
    args = (clips, machine_type, model_config(preset, variant), train_config)
    try:
        result = train_machine_type(*args, checkpoint_dir=folder, resume=resume, progress=progress)
    except CheckpointMismatch:
        print(
            f"{machine_type} {variant}: the checkpoint in {folder} is for other settings or "
            "data; training from scratch"
        )
        result = train_machine_type(*args, checkpoint_dir=folder, resume=False, progress=progress)
    if folder is not None:
        save_trained(
            result,
            folder / "model.pt",
            machine_type=machine_type,
            variant=variant,
            preset=preset,
            train_clips=_paths_digest(training_clips(clips, machine_type)),
        )
    return result


def load_network(
    out_dir: str | Path,
    variant: str,
    machine_type: str,
    *,
    clips: pd.DataFrame | None = None,
    device: str = "cpu",
) -> TrainResult:
    """The network that :func:`train_variant` saved. With ``clips``, check that it was trained
    on this clip table's normal training clips (ValueError otherwise). FileNotFoundError with
    the command to run when there is none."""
    path = _model_folder(Path(out_dir), variant, machine_type) / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained {variant} network for {machine_type} at {path}: run notebook 06 with "
            f"the same dataset and smoke settings, or `audioanom train --machine-type "
            f"{machine_type} --variant {variant} ...`"
        )
    result, extra = load_trained(path, device=device)
    if clips is not None and extra.get("train_clips") != _paths_digest(
        training_clips(clips, machine_type)
    ):
        raise ValueError(f"{path} was trained on other clips than this clip table's; retrain it")
    return result


def _scorable(clips: pd.DataFrame, classes: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    known = clips["id"].astype(str).isin(set(classes))
    notes = [
        f"{t} {i}: no normal training clips, not scored by the network"
        for (t, i) in sorted(
            set(zip(clips.loc[~known, "group"], clips.loc[~known, "id"], strict=True))
        )
    ]
    return clips[known], notes


def run_machine_type(
    clips: pd.DataFrame,
    machine_type: str,
    variant: str = "complex",
    train_config: TrainConfig | None = None,
    *,
    preset: str = "small",
    score_config: ScoreConfig | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> MachineTypeRun:
    """Train (:func:`train_variant`) and score every clip of one machine type.

    A type that cannot be trained is reported in ``notes`` (no exception) with an empty
    score table. With ``out_dir`` the scores go to ``scores/<variant>/<type>.csv``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    train_config = train_config if train_config is not None else TrainConfig()
    status = survey_types(clips, [machine_type]).iloc[0]
    if not status["network"]:
        return MachineTypeRun(
            machine_type, variant, None, pd.DataFrame(), (f"{machine_type}: {status['note']}",)
        )
    result = train_variant(
        clips,
        machine_type,
        variant,
        train_config,
        preset=preset,
        out_dir=out_dir,
        resume=resume,
        progress=progress,
    )
    sub, notes = _scorable(clips[clips["group"] == machine_type], result.classes)
    scores = score_clips(
        result.model,
        sub,
        result.classes,
        score_config or ScoreConfig(device=train_config.device, precision=train_config.precision),
        progress=progress,
    )
    if out_dir is not None:
        write_scores(scores, Path(out_dir) / "scores" / variant / f"{machine_type}.csv")
    return MachineTypeRun(machine_type, variant, result, scores, tuple(notes))


# --------------------------------------------------------------------------------------------
# the autoencoder baseline, per type


def _ae_signature(config: AutoencoderConfig, train: pd.DataFrame) -> str:
    return json.dumps(
        {"config": dataclasses.asdict(config), "clips": _paths_digest(train)}, sort_keys=True
    )


def train_autoencoder_type(
    clips: pd.DataFrame,
    machine_type: str,
    config: AutoencoderConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> tuple[DenseAutoencoder, pd.DataFrame]:
    """Train the DCASE baseline autoencoder on one type's normal training clips (all IDs).

    With ``out_dir`` the model and ``metrics.csv`` go to ``models/autoencoder/<type>/``;
    ``resume=True`` reuses a saved model trained with the same config on the same clips.
    """
    config = config if config is not None else AutoencoderConfig()
    train = training_clips(clips, machine_type)
    if train.empty:
        raise ValueError(f"{machine_type}: no normal training clips for the autoencoder")
    folder = _model_folder(Path(out_dir), "autoencoder", machine_type) if out_dir else None
    signature = _ae_signature(config, train)
    if folder is not None and resume and (folder / "model.pt").is_file():
        sig_file = folder / "signature.json"
        if sig_file.is_file() and sig_file.read_text() == signature:
            return load_autoencoder(folder / "model.pt"), pd.read_csv(folder / "metrics.csv")
    vecs = vectors_table(train, LogMelConfig(), progress=progress)
    model, history = fit_autoencoder(vecs, config, progress=progress)
    if folder is not None:
        save_autoencoder(model, folder / "model.pt")
        history.to_csv(folder / "metrics.csv", index=False)
        (folder / "signature.json").write_text(signature)
    return model, history


def _ae_scores(model: DenseAutoencoder, clips: pd.DataFrame, progress: bool) -> pd.DataFrame:
    vecs = vectors_table(clips, LogMelConfig(), progress=progress)
    out = pd.DataFrame(
        {
            "path": clips["path"].to_numpy(),
            "machine_type": clips["group"].to_numpy(),
            "id": clips["id"].astype(str).to_numpy(),
            "label": clips["label"].to_numpy(),
            "split": clips["split"].to_numpy(),
            "score": ae_score_clips(model, vecs),
            "pred_id": "",
        }
    )
    if "anomaly_kind" in clips.columns:
        out["anomaly_kind"] = clips["anomaly_kind"].to_numpy()
    return out


# --------------------------------------------------------------------------------------------
# every type: training (notebook 06) and evaluation (notebook 07)


@dataclass(frozen=True)
class TrainingRun:
    """Result of :func:`train_all`: ``histories[(method, type)]`` (per-epoch metrics),
    ``results[(variant, type)]`` (the networks), ``status`` (:func:`survey_types`),
    ``notes`` (what was skipped and why) and ``seconds[(method, type)]``."""

    histories: dict[tuple[str, str], pd.DataFrame] = field(repr=False)
    results: dict[tuple[str, str], TrainResult] = field(repr=False)
    status: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def histories_table(self) -> pd.DataFrame:
        """Every history in one table with ``method`` and ``machine_type`` columns."""
        frames = [
            h.assign(method=METHOD_NAMES[m], machine_type=t) for (m, t), h in self.histories.items()
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> pd.DataFrame:
        """One row per (method, type): ``epochs`` run, ``best_epoch`` (lowest validation
        loss), its ``val_loss`` and ``val_acc`` (networks only), ``seconds`` and mean
        training ``clips_per_s`` (networks: 64-frame windows per second)."""
        rows = []
        for (m, t), h in self.histories.items():
            best = h.loc[h["val_loss"].idxmin()] if h["val_loss"].notna().any() else h.iloc[-1]
            rows.append(
                {
                    "method": METHOD_NAMES[m],
                    "machine_type": t,
                    "epochs": len(h),
                    "best_epoch": int(best["epoch"]),
                    "val_loss": float(best["val_loss"]),
                    "val_acc": float(best["val_acc"]) if "val_acc" in h else np.nan,
                    "seconds": self.seconds.get((m, t), np.nan),
                    "clips_per_s": float(h["clips_per_s"].mean()) if "clips_per_s" in h else np.nan,
                }
            )
        return pd.DataFrame(rows)


def train_all(
    clips: pd.DataFrame,
    machine_types: Sequence[str] | None = None,
    *,
    variants: Sequence[str] = VARIANTS,
    train_config: TrainConfig | None = None,
    ae_config: AutoencoderConfig | None = None,
    autoencoder: bool = True,
    preset: str = "small",
    out_dir: str | Path | None = None,
    resume: bool = True,
    progress: bool = False,
) -> TrainingRun:
    """Train every variant (and the autoencoder when ``autoencoder``) for every
    machine type that allows it (:func:`survey_types`); the others are reported in ``notes``.
    ``resume=True`` continues interrupted runs and reuses finished ones in ``out_dir``.
    Defaults: :class:`TrainConfig` and :class:`AutoencoderConfig` as they are."""
    train_config = train_config if train_config is not None else TrainConfig()
    ae_config = ae_config if ae_config is not None else AutoencoderConfig()
    status = survey_types(clips, machine_types)
    histories, results, seconds, notes = {}, {}, {}, []
    for row in status.itertuples(index=False):
        t = row.machine_type
        if row.note:
            notes.append(f"{t}: {row.note}")
        if row.network:
            for v in variants:
                t0 = time.perf_counter()
                res = train_variant(
                    clips,
                    t,
                    v,
                    train_config,
                    preset=preset,
                    out_dir=out_dir,
                    resume=resume,
                    progress=progress,
                )
                results[(v, t)], histories[(v, t)] = res, res.history
                seconds[(v, t)] = time.perf_counter() - t0
        if autoencoder and row.autoencoder:
            t0 = time.perf_counter()
            _, hist = train_autoencoder_type(
                clips, t, ae_config, out_dir=out_dir, resume=resume, progress=progress
            )
            histories[("autoencoder", t)] = hist
            seconds[("autoencoder", t)] = time.perf_counter() - t0
    return TrainingRun(histories, results, status, tuple(notes), seconds)


@dataclass(frozen=True)
class Evaluation:
    """Scores and tables of every method (``method`` = :data:`METHOD_NAMES` values).

    ``scores``: score tables of all methods with a ``method`` column; ``per_id``:
    :func:`audioanom.metrics.per_id_metrics` rows; ``summary``: arithmetic and harmonic
    means per type; ``comparison``: methods and the paper side by side (%); ``thresholds``:
    Youden (optimistic) and train-percentile decisions per ID; ``notes``.
    """

    scores: pd.DataFrame = field(repr=False)
    per_id: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    comparison: pd.DataFrame = field(repr=False)
    thresholds: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()

    def write(self, folder: str | Path) -> Path:
        """Write every table as CSV (and the notes) into ``folder``; returns it."""
        folder = paths.ensure(Path(folder))
        self.scores.to_csv(folder / "scores.csv", index=False)
        self.per_id.to_csv(folder / "per_id.csv", index=False)
        self.summary.to_csv(folder / "summary.csv", index=False)
        self.comparison.to_csv(folder / "comparison.csv")
        self.thresholds.to_csv(folder / "thresholds.csv", index=False)
        (folder / "notes.txt").write_text("\n".join(self.notes) + "\n")
        return folder


def evaluate_scores(scores: pd.DataFrame, notes: Sequence[str] = ()) -> Evaluation:
    """Tables from a score table with a ``method`` column (and the score columns): per-ID
    AUC/pAUC, means, the comparison with the paper, and both threshold rules."""
    if "method" not in scores.columns:
        raise ValueError("score table needs a 'method' column")
    per_id, thresholds = [], []
    for method, g in scores.groupby("method", sort=False):
        per_id.append(per_id_metrics(g, method=str(method), type_col="machine_type"))
        thresholds.append(evaluate_thresholds(g, method=str(method), type_col="machine_type"))
    per_id_df = pd.concat(per_id, ignore_index=True)
    summary = summarize(per_id_df)
    comparison = comparison_table(
        per_id_df, references={"Kim et al. 2021 AUC (paper)": PAPER_KIM2021_AUC}
    )
    return Evaluation(
        scores.reset_index(drop=True),
        per_id_df,
        summary,
        comparison,
        pd.concat(thresholds, ignore_index=True),
        tuple(notes),
    )


def per_kind_metrics(scores: pd.DataFrame) -> pd.DataFrame:
    """AUC per anomaly kind (synthetic data, column ``anomaly_kind``): for every method,
    machine type, ID and kind, the AUC of that ID's normal test clips against its anomalies
    of that kind; then the mean over IDs. Rows ``method, machine_type, anomaly_kind, n_ids,
    auc``. Empty when there is no ``anomaly_kind`` column."""
    from sklearn.metrics import roc_auc_score

    if "anomaly_kind" not in scores.columns:
        return pd.DataFrame(columns=["method", "machine_type", "anomaly_kind", "n_ids", "auc"])
    test = scores[scores["split"] == "test"]
    rows = []
    for (method, mtype, mid), g in test.groupby(["method", "machine_type", "id"], sort=True):
        normal = g.loc[g["label"] == "normal", "score"].to_numpy()
        for kind, a in g[g["label"] == "anomaly"].groupby("anomaly_kind", sort=True):
            if len(normal) == 0 or len(a) == 0:
                continue
            y = np.r_[np.zeros(len(normal)), np.ones(len(a))]
            auc = roc_auc_score(y, np.r_[normal, a["score"].to_numpy()])
            rows.append(
                {
                    "method": method,
                    "machine_type": mtype,
                    "id": mid,
                    "anomaly_kind": kind,
                    "auc": auc,
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["method", "machine_type", "anomaly_kind", "n_ids", "auc"])
    return (
        df.groupby(["method", "machine_type", "anomaly_kind"], sort=False)
        .agg(n_ids=("id", "nunique"), auc=("auc", "mean"))
        .reset_index()
    )


def threshold_summary(thresholds: pd.DataFrame) -> pd.DataFrame:
    """Decisions per (method, machine type, rule) over its IDs: summed ``tn, fp, fn, tp`` and
    the precision, recall and F1 of those sums (rows of rules that could not be fitted are
    left out)."""
    ok = thresholds.dropna(subset=["tp"])
    sums = (
        ok.groupby(["method", "machine_type", "rule"], sort=False)[["tn", "fp", "fn", "tp"]]
        .sum()
        .astype(int)
        .reset_index()
    )
    tp, fp, fn = sums["tp"], sums["fp"], sums["fn"]
    sums["precision"] = np.where(tp + fp > 0, tp / (tp + fp).clip(lower=1), 0.0)
    sums["recall"] = np.where(tp + fn > 0, tp / (tp + fn).clip(lower=1), 0.0)
    pr = sums["precision"] + sums["recall"]
    sums["f1"] = np.where(pr > 0, 2 * sums["precision"] * sums["recall"] / pr.where(pr > 0, 1), 0.0)
    sums["optimistic"] = sums["rule"] == "youden"
    return sums


def evaluate_all(
    clips: pd.DataFrame,
    machine_types: Sequence[str] | None = None,
    *,
    variants: Sequence[str] = VARIANTS,
    autoencoder: bool = True,
    out_dir: str | Path,
    score_config: ScoreConfig | None = None,
    train_missing: TrainConfig | None = None,
    ae_config: AutoencoderConfig | None = None,
    preset: str = "small",
    progress: bool = False,
) -> Evaluation:
    """Load every saved model of ``out_dir`` (what :func:`train_all` wrote), score all clips
    of each type (train and test: the training scores set the train-percentile threshold),
    write score CSVs and tables (``tables/``) and return them.

    A missing network raises FileNotFoundError naming what to run, unless ``train_missing``
    is given: then it is trained now with that config (the notebooks do this in smoke mode).
    """
    out_dir = Path(out_dir)
    score_config = score_config if score_config is not None else ScoreConfig()
    status = survey_types(clips, machine_types)
    frames, notes = [], []
    for row in status.itertuples(index=False):
        t = row.machine_type
        if row.note:
            notes.append(f"{t}: {row.note}")
        sub_all = clips[clips["group"] == t]
        if row.network:
            for v in variants:
                try:
                    res = load_network(out_dir, v, t, clips=clips)
                except (FileNotFoundError, ValueError):
                    if train_missing is None:
                        raise
                    res = train_variant(
                        clips, t, v, train_missing, preset=preset, out_dir=out_dir, resume=True
                    )
                sub, why = _scorable(sub_all, res.classes)
                if v == variants[0]:
                    notes += why
                s = score_clips(res.model, sub, res.classes, score_config, progress=progress)
                write_scores(s, out_dir / "scores" / v / f"{t}.csv")
                frames.append(s.assign(method=METHOD_NAMES[v]))
        if autoencoder and row.autoencoder:
            folder = _model_folder(out_dir, "autoencoder", t)
            if (folder / "model.pt").is_file():
                model = load_autoencoder(folder / "model.pt")
            elif ae_config is not None:
                model, _ = train_autoencoder_type(clips, t, ae_config, out_dir=out_dir)
            else:
                raise FileNotFoundError(
                    f"no autoencoder for {t} at {folder}: run notebook 06 first"
                )
            s = _ae_scores(model, sub_all, progress)
            write_scores(s, out_dir / "scores" / "autoencoder" / f"{t}.csv")
            frames.append(s.assign(method=METHOD_NAMES["autoencoder"]))
    if not frames:
        raise ValueError("nothing was scored: " + "; ".join(notes))
    ev = evaluate_scores(pd.concat(frames, ignore_index=True), notes)
    ev.write(out_dir / "tables")
    return ev


def run_all(
    dataset: str = "synthetic",
    machine_types: Sequence[str] | str | None = ("fan", "pump", "slider", "valve"),
    epochs: int | None = None,
    device: str = "auto",
    smoke: bool = False,
    *,
    data_dir: str = "",
    precision: str = "auto",
    seed: int = 0,
    preset: str | None = None,
    variants: Sequence[str] = VARIANTS,
    autoencoder: bool = True,
    ae_epochs: int | None = None,
    resume: bool = True,
    progress: bool = False,
) -> tuple[TrainingRun, Evaluation]:
    """The whole pipeline for a data set: open it, train every method per type, score and
    evaluate; everything is written under :func:`run_dir`. ``epochs`` defaults to
    :data:`DEFAULT_EPOCHS` (1 in smoke mode), ``preset`` to ``"small"`` (``"tiny"`` in smoke
    mode), ``ae_epochs`` to 10 (1 in smoke mode)."""
    clips = open_machine_clips(dataset, data_dir=data_dir, smoke=smoke, seed=seed)
    types = _types_arg(machine_types)
    preset = preset or ("tiny" if smoke else "small")
    tc = default_train_config(epochs, smoke=smoke, device=device, precision=precision, seed=seed)
    ae = default_ae_config(ae_epochs, smoke=smoke, seed=seed)
    out = run_dir(dataset, smoke)
    training = train_all(
        clips,
        types,
        variants=variants,
        train_config=tc,
        ae_config=ae,
        autoencoder=autoencoder,
        preset=preset,
        out_dir=out,
        resume=resume,
        progress=progress,
    )
    evaluation = evaluate_all(
        clips,
        types,
        variants=variants,
        autoencoder=autoencoder,
        out_dir=out,
        score_config=ScoreConfig(device=device, precision=precision),
        preset=preset,
        progress=progress,
    )
    return training, evaluation


def _types_arg(machine_types: Sequence[str] | str | None) -> list[str] | None:
    if machine_types is None:
        return None
    if isinstance(machine_types, str):
        machine_types = [t.strip() for t in machine_types.split(",")]
    types = [t for t in machine_types if t]
    return types or None


def default_train_config(
    epochs: int | None = None,
    *,
    smoke: bool = False,
    device: str = "auto",
    precision: str = "auto",
    seed: int = 0,
) -> TrainConfig:
    """The notebooks' and the CLI's training settings, sized for a few CPU cores:
    :data:`DEFAULT_EPOCHS` (:data:`SMOKE_EPOCHS` in smoke mode) unless ``epochs`` is given,
    :data:`DEFAULT_CROPS` crops per clip and epoch (1 in smoke mode), early stopping with
    patience 3, and learning rate :data:`DEFAULT_LR` = 1e-3 -- ten times the paper's 1e-4,
    which needs far more steps than such a budget allows (on the synthetic fan set, 50 steps
    at 1e-4 left the ID accuracy at chance; at 1e-3 it passed 90 % after about 100 steps).

    The networks must be trained close to convergence for the score to work: on the
    synthetic pump, 8 epochs of 2 crops (80 steps, validation loss 2.1) gave a mean AUC of
    0.51; 30 epochs of 8 crops (1,200 steps, validation loss 0.009) gave 0.63."""
    if epochs is None:
        epochs = SMOKE_EPOCHS if smoke else DEFAULT_EPOCHS
    return TrainConfig(
        epochs=epochs,
        lr=DEFAULT_LR,
        device=device,
        precision=precision,  # type: ignore[arg-type]
        seed=seed,
        patience=3,
        crops_per_clip=1 if smoke else DEFAULT_CROPS,
    )


def default_ae_config(
    epochs: int | None = None, *, smoke: bool = False, seed: int = 0
) -> AutoencoderConfig:
    """The notebooks' autoencoder settings: the DCASE baseline with ``epochs`` (default 10,
    1 in smoke mode; the official baseline trains 100)."""
    if epochs is None:
        epochs = 1 if smoke else 10
    return AutoencoderConfig(epochs=epochs, seed=seed)


# --------------------------------------------------------------------------------------------
# command-line entry points (argparse is wired in audioanom.cli)


def cli_train(
    dataset: str,
    machine_type: str,
    *,
    epochs: int | None = None,
    resume: bool = False,
    device: str = "auto",
    precision: str = "auto",
    variant: str = "complex",
    data_dir: str = "",
    smoke: bool = False,
    seed: int = 0,
    preset: str | None = None,
) -> int:
    """``audioanom train``: train ``variant`` (complex | magnitude | autoencoder) for the
    comma-separated machine types; prints where each model went. Returns the exit status
    (1 when a type could not be trained, with the reason printed)."""
    clips = open_machine_clips(dataset, data_dir=data_dir, smoke=smoke, seed=seed)
    out = run_dir(dataset, smoke)
    preset = preset or ("tiny" if smoke else "small")
    status = survey_types(clips, _types_arg(machine_type))
    code = 0
    for row in status.itertuples(index=False):
        t = row.machine_type
        if variant == "autoencoder":
            if not row.autoencoder:
                print(f"{t}: skipped: {row.note}")
                code = 1
                continue
            _, hist = train_autoencoder_type(
                clips,
                t,
                default_ae_config(epochs, smoke=smoke, seed=seed),
                out_dir=out,
                resume=resume,
                progress=True,
            )
            print(f"{t}: autoencoder saved in {_model_folder(out, 'autoencoder', t)}")
            continue
        if not row.network:
            print(f"{t}: skipped: {row.note}")
            code = 1
            continue
        tc = default_train_config(
            epochs, smoke=smoke, device=device, precision=precision, seed=seed
        )
        res = train_variant(
            clips, t, variant, tc, preset=preset, out_dir=out, resume=resume, progress=True
        )
        best = res.history.loc[res.history["epoch"] == res.best_epoch].iloc[0]
        print(
            f"{t} {variant}: best epoch {res.best_epoch} of {len(res.history)} "
            f"(val loss {best['val_loss']:.4f}, val acc {best['val_acc']:.3f}); "
            f"saved in {_model_folder(out, variant, t)}"
        )
    return code


def cli_score(
    dataset: str,
    machine_type: str,
    *,
    variant: str = "complex",
    device: str = "auto",
    precision: str = "auto",
    data_dir: str = "",
    smoke: bool = False,
    seed: int = 0,
    hop: int = 32,
    exact: bool = False,
) -> int:
    """``audioanom score``: score every clip of the comma-separated machine types with the
    saved ``variant`` models (complex | magnitude | autoencoder), write the score CSVs and
    print the per-ID AUC/pAUC. Returns the exit status (1 when a model is missing)."""
    clips = open_machine_clips(dataset, data_dir=data_dir, smoke=smoke, seed=seed)
    out = run_dir(dataset, smoke)
    frames, code = [], 0
    for t in _types_arg(machine_type) or sorted(clips["group"].unique()):
        sub_all = clips[clips["group"] == t]
        try:
            if variant == "autoencoder":
                folder = _model_folder(out, "autoencoder", t)
                if not (folder / "model.pt").is_file():
                    raise FileNotFoundError(f"no autoencoder for {t} at {folder}")
                s = _ae_scores(load_autoencoder(folder / "model.pt"), sub_all, True)
            else:
                res = load_network(out, variant, t, clips=clips, device="cpu")
                sub, notes = _scorable(sub_all, res.classes)
                for n in notes:
                    print(n)
                cfg = ScoreConfig(hop=hop, exact=exact, device=device, precision=precision)
                s = score_clips(res.model, sub, res.classes, cfg, progress=True)
        except (FileNotFoundError, ValueError) as err:
            print(f"{t}: {err}")
            code = 1
            continue
        path = write_scores(s, out / "scores" / variant / f"{t}.csv")
        print(f"{t}: {len(s)} clips scored -> {path}")
        frames.append(s)
    if frames:
        table = per_id_metrics(
            pd.concat(frames, ignore_index=True),
            method=METHOD_NAMES[variant],
            type_col="machine_type",
        )
        print(table.to_string(index=False))
    return code


# --------------------------------------------------------------------------------------------
# mixed precision: does bf16 change the AUC?


def precision_comparison(
    clips: pd.DataFrame,
    machine_type: str,
    *,
    train_config: TrainConfig | None = None,
    preset: str = "small",
    low: str = "bf16",
    variant: str = "complex",
) -> pd.DataFrame:
    """Does reduced precision change the AUC? One machine type, same data and seed, three runs:

    * train fp32, score fp32 (the reference);
    * train fp32, score ``low``: the SAME network scored in reduced precision (the difference
      is the effect of the precision alone; should stay well under 0.5 AUC points);
    * train ``low``, score ``low``: a network trained in reduced precision (also differs by
      the training's rounding, which changes every later step).

    Rows: ``train_precision, score_precision, train_s, train_clips_per_s, score_s,
    score_clips_per_s, auc, pauc`` (means over the type's test IDs) and ``auc_diff_points``
    against the reference. ``train_config`` defaults to :func:`default_train_config`.
    """
    train_config = train_config if train_config is not None else default_train_config()
    sub_all = clips[clips["group"] == machine_type]
    rows, trained = [], {}
    for train_prec, score_prec in (("fp32", "fp32"), ("fp32", low), (low, low)):
        train_s = 0.0
        if train_prec not in trained:
            tc = dataclasses.replace(train_config, precision=train_prec)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            trained[train_prec] = train_variant(clips, machine_type, variant, tc, preset=preset)
            train_s = time.perf_counter() - t0
        res = trained[train_prec]
        sub, _ = _scorable(sub_all, res.classes)
        test = sub[sub["split"] == "test"]
        stft_table(test, mmap=True)  # warm the feature cache outside the timing
        cfg = ScoreConfig(device=train_config.device, precision=score_prec)
        t0 = time.perf_counter()
        s = score_clips(res.model, test, res.classes, cfg)
        score_s = time.perf_counter() - t0
        per_id = per_id_metrics(s, method=score_prec, type_col="machine_type")
        rows.append(
            {
                "train_precision": res.precision,
                "score_precision": score_prec,
                "train_s": train_s,
                "train_clips_per_s": float(res.history["clips_per_s"].mean()),
                "score_s": score_s,
                "score_clips_per_s": len(test) / score_s,
                "auc": float(per_id["auc"].mean()),
                "pauc": float(per_id["pauc"].mean()),
            }
        )
    table = pd.DataFrame(rows)
    table["auc_diff_points"] = 100 * (table["auc"] - table["auc"].iat[0])
    return table


# --------------------------------------------------------------------------------------------
# real data: FSDD speakers as machine IDs, and the DCASE sample clips


def fsdd_specs(
    clips: pd.DataFrame, *, min_frames: int = 64, stft_config: StftConfig | None = None
) -> list[np.ndarray]:
    """Complex STFTs ``(2, F, T >= min_frames)`` of FSDD clips: read, resampled from 8 kHz to
    ``stft_config.sample_rate`` (16 kHz), and zero-padded on both sides (the word centred)
    to at least ``(min_frames - 1) * hop`` samples, so every clip holds one full window
    (FSDD clips last 0.15-2.3 s; a 64-frame window is 2.05 s)."""
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


@dataclass(frozen=True)
class FsddIdTask:
    """Result of :func:`fsdd_id_task`: ``per_speaker`` AUC/pAUC (six vs other digits, test
    takes), ``scores`` per test clip, the training ``history``, and ``id_accuracy`` (speaker
    accuracy on the test takes of "six")."""

    per_speaker: pd.DataFrame
    scores: pd.DataFrame = field(repr=False)
    history: pd.DataFrame = field(repr=False)
    id_accuracy: float = float("nan")
    seconds: float = 0.0


def fsdd_id_task(
    root: str | Path | None = None,
    *,
    train_config: TrainConfig | None = None,
    preset: str = "small",
    variant: str = "complex",
    normal_digit: int = 6,
    max_train_per_speaker: int | None = None,
) -> FsddIdTask:
    """FSDD as an ID task: speakers are the "machine IDs", the digit ``normal_digit`` ("six")
    is normal and every other digit an anomaly. Official split: the network is trained on
    takes 5-49 of "six" of each speaker (a seeded 20 % held out for early stopping) and scores
    takes 0-4 of ALL digits; AUC per speaker. Clips are prepared by :func:`fsdd_specs`.
    ``max_train_per_speaker`` caps the training takes (for quick runs). ``train_config``
    defaults to :data:`FSDD_TRAIN_CONFIG`."""
    from .datasets import load_dataset

    train_config = train_config if train_config is not None else FSDD_TRAIN_CONFIG

    t_start = time.perf_counter()
    clips = load_dataset("fsdd", root, normal_digit=normal_digit).clips
    train_all = training_clips(clips, str(normal_digit))
    if max_train_per_speaker is not None:
        train_all = (
            train_all.groupby("id", sort=True).head(max_train_per_speaker).reset_index(drop=True)
        )
    mapping = class_mapping(train_all["id"])
    train, val = split_train_val(train_all, train_config.val_fraction, train_config.seed)
    labels = lambda df: df["id"].astype(str).map(mapping).to_numpy(np.int64)  # noqa: E731
    cfg = model_config(preset, variant, n_classes=len(mapping))
    result = train_model(
        fsdd_specs(train),
        labels(train),
        fsdd_specs(val),
        labels(val),
        cfg,
        train_config,
        classes=list(mapping),
    )
    test = clips[(clips["split"] == "test") & clips["id"].astype(str).isin(mapping)]
    res = score_specs(
        result.model,
        fsdd_specs(test),
        labels(test),
        ScoreConfig(device=train_config.device, precision=train_config.precision),
    )
    scores = pd.DataFrame(
        {
            "path": test["path"].to_numpy(),
            "machine_type": "fsdd six",
            "id": test["id"].astype(str).to_numpy(),
            "digit": test["group"].to_numpy(),
            "label": test["label"].to_numpy(),
            "split": "test",
            "score": res.scores,
            "pred_id": [result.classes[k] for k in res.pred],
        }
    )
    per = per_id_metrics(scores, method=METHOD_NAMES[variant], type_col="machine_type")
    six = scores[scores["label"] == "normal"]
    acc = float((six["pred_id"] == six["id"]).mean()) if len(six) else float("nan")
    return FsddIdTask(
        per.rename(columns={"id": "speaker"}),
        scores,
        result.history,
        acc,
        time.perf_counter() - t_start,
    )


@dataclass(frozen=True)
class RealSamplesCheck:
    """Result of :func:`real_samples_check`: ``status`` per machine type
    (:func:`survey_types`), the autoencoder check (None when not run) and notes."""

    status: pd.DataFrame
    autoencoder: object | None = field(repr=False)
    notes: tuple[str, ...] = ()


def real_samples_check(
    root: str | Path | None = None,
    *,
    ae_config: AutoencoderConfig | None = None,
    machine_type: str = "slider",
    machine_id: str = "id_00",
) -> RealSamplesCheck:
    """The real DCASE 2020 sample clips: which types the networks could train on (they need
    normal training clips of 2+ IDs; the samples hold training clips of slider id_00 only, so
    none), and the autoencoder baseline trained and scored on ``machine_type machine_id``
    (:func:`audioanom.autoencoder.real_data_check`)."""
    from .autoencoder import real_data_check
    from .datasets import load_dataset

    root = Path(root) if root is not None else paths.shared_data() / "mimii_dcase2020_samples"
    clips = load_dataset("dcase2020", root).clips
    status = survey_types(clips)
    notes = [f"{r.machine_type}: {r.note}" for r in status.itertuples() if r.note]
    if not status["network"].any():
        notes.append(
            "complex network: no machine type has normal training clips of 2+ IDs, so it "
            "cannot be trained on these samples (download the DCASE 2020 development set with "
            "`audioanom fetch mimii`)"
        )
    check = real_data_check(
        root,
        machine_type=machine_type,
        machine_id=machine_id,
        config=ae_config if ae_config is not None else AutoencoderConfig(),
    )
    return RealSamplesCheck(status, check, tuple(notes))
