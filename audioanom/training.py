"""Training of the self-supervised complex network (:mod:`audioanom.nn`) on normal clips.

What is learnt
--------------
One model per machine type, trained on the NORMAL TRAINING clips of that type only
(``split == "train"``, ``label == "normal"``) to tell which machine ID a 64-frame window of
the complex STFT comes from. The classes are the IDs present in those clips, sorted
(:func:`class_mapping`); test labels are never looked at.

Data
----
Each clip's complex STFT ``(2, 513, T)`` is computed once and cached
(:func:`audioanom.machine_features.stft_table`). An epoch draws ``crops_per_clip`` random
64-frame crops from every training clip (uniform start frame), shuffles them and runs them in
batches of ``batch_size`` (a last batch of one window is dropped: batch norm needs two).

Validation and early stopping
-----------------------------
A seeded part of the normal training clips (``val_fraction`` of each ID, split BY CLIP, so no
clip has windows on both sides) is held out. After every epoch the model, in eval mode, sees
the validation clips' windows at :func:`audioanom.machine_features.window_starts` with hop
``val_hop`` (deterministic, covering every frame): ``val_loss`` is the training loss on them
(the sum of the heads' cross-entropies, :meth:`ComplexNet.loss`), ``val_acc`` the ID accuracy
of the scoring logits. Training stops after ``patience`` epochs without improvement of
``monitor`` (by more than ``min_delta``) and the weights of the best epoch are returned.

Optional regularisation (all OFF by default: the paper trains on plain windows)
--------------------------------------------------------------------------------
* ``mixup_alpha > 0``: mixup of windows and targets, ``lam ~ Beta(alpha, alpha)`` per batch.
* ``freq_mask_bins`` / ``time_mask_frames``: one random band of up to that many bins and one
  random run of up to that many frames set to zero in each window (SpecAugment-style).
* ``noise_level > 0``: complex Gaussian noise with a standard deviation of ``noise_level``
  times the window's RMS magnitude.
* ``freq_shift_bins > 0``: the window rolled by a random number of bins in
  ``[-freq_shift_bins, freq_shift_bins]`` along frequency (zero-filled). Careful: machine IDs
  of one type often differ mainly by frequency, so a shift can make IDs look alike.

Reproducibility and resuming
----------------------------
Everything random is derived from ``(seed, epoch)``: the model's initial weights from
``seed``; at the start of epoch ``e`` the crops, their order and mixup come from
``numpy.random.default_rng([seed, e])``, the augmentations from a torch generator and dropout
from the (forked, so the caller's is untouched) global torch RNG, both seeded from that
generator. A checkpoint is written after every epoch (``<checkpoint_dir>/last.pt``, replaced
atomically): weights, optimizer and grad-scaler state, the torch RNG states, the epoch, the
best metric, its weights and the history. ``resume=True`` continues after the last completed
epoch, and because epoch ``e`` depends only on ``(seed, e)`` and the restored state, an
interrupted and resumed run ends with the SAME weights and history as an uninterrupted one
(for the same device, precision and thread count). ``epochs`` may be raised on resuming (the
run continues to the new maximum); a checkpoint written for other settings, clips or classes
is refused with a ValueError rather than silently mixed.

Device and precision
--------------------
``device="auto"`` picks CUDA, then Apple MPS, then the CPU. ``precision="auto"``: on CUDA
bf16 autocast where supported, else fp16 autocast with a gradient scaler; on the CPU bf16
autocast with channels_last memory layout when :func:`audioanom.nn.fast_bf16_available`
(AMX / AVX512-BF16), else fp32 (emulated bf16 is slower than fp32); fp32 on MPS. Torch uses
``threads`` intra-op threads while training (default: every core), restored afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from .machine_features import StftConfig, stft_table, window_starts
from .nn import ComplexNet, ComplexNetConfig, fast_bf16_available, scoring_logits

__all__ = [
    "HISTORY_COLUMNS",
    "CheckpointMismatch",
    "TrainConfig",
    "TrainResult",
    "augment_batch",
    "autocast_context",
    "checkpoint_path",
    "class_mapping",
    "crop_batch",
    "evaluate_windows",
    "load_trained",
    "resolve_device",
    "resolve_precision",
    "sample_crops",
    "save_trained",
    "split_train_val",
    "torch_threads",
    "train_machine_type",
    "train_model",
    "training_clips",
    "use_channels_last",
]

Precision = Literal["auto", "fp32", "bf16", "fp16"]

#: Columns of the per-epoch metrics table (and ``metrics.csv``). ``clips_per_s``: training
#: windows (64-frame crops) per second of the epoch's training steps.
HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "seconds",
    "clips_per_s",
    "best",
)

CHECKPOINT_FORMAT = 1


class CheckpointMismatch(ValueError):
    """A checkpoint to resume from was written for other settings, classes or data."""


@dataclass(frozen=True)
class TrainConfig:
    """How the complex network is trained (see the module docstring).

    ``epochs`` is the maximum; early stopping (``patience`` epochs without improvement of
    ``monitor``; None: never) may end sooner. ``threads=None`` uses every core.
    """

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    window_frames: int = 64
    crops_per_clip: int = 2
    val_fraction: float = 0.2
    val_hop: int = 64
    patience: int | None = 5
    min_delta: float = 0.0
    monitor: Literal["val_loss", "val_acc"] = "val_loss"
    seed: int = 0
    device: str = "auto"
    precision: Precision = "auto"
    threads: int | None = None
    mixup_alpha: float = 0.0
    freq_mask_bins: int = 0
    time_mask_frames: int = 0
    noise_level: float = 0.0
    freq_shift_bins: int = 0

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "window_frames", "crops_per_clip", "val_hop")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (batch norm needs two windows)")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(
                f"need lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}"
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
        if self.monitor not in ("val_loss", "val_acc"):
            raise ValueError(f"monitor must be 'val_loss' or 'val_acc', got {self.monitor!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")
        for name in ("mixup_alpha", "noise_level", "min_delta"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("freq_mask_bins", "time_mask_frames", "freq_shift_bins"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def augmented(self) -> bool:
        """True when any augmentation or mixup is switched on."""
        return bool(
            self.mixup_alpha
            or self.freq_mask_bins
            or self.time_mask_frames
            or self.noise_level
            or self.freq_shift_bins
        )


# --------------------------------------------------------------------------------------------
# device, precision, threads


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else MPS, else CPU; otherwise the named device, checked.

    Raises ValueError for a device this torch cannot use (e.g. ``"cuda"`` on a CPU build).
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but this torch has no usable CUDA")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device {device!r} requested but MPS is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda[:N] or mps, got {device!r}")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"`` for ``device`` (``"auto"``: module docstring).

    fp16 is refused on the CPU (CPU autocast covers it poorly); bf16 on a CPU without native
    support is allowed but slow.
    """
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu":
            return "bf16" if fast_bf16_available() else "fp32"
        return "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision 'fp16' is not supported on the CPU; use 'bf16' or 'fp32'")
    return precision


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for ``precision`` on ``device`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def use_channels_last(device: torch.device, precision: str) -> bool:
    """channels_last layout with reduced precision on CPU and CUDA (faster convolutions)."""
    return precision != "fp32" and device.type in ("cpu", "cuda")


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run with ``n`` torch intra-op threads (None: ``os.cpu_count()``), then restore."""
    before = torch.get_num_threads()
    n = n if n is not None else (os.cpu_count() or 1)
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------------------------
# clips, classes and the validation split


def training_clips(clips: pd.DataFrame, machine_type: str | None = None) -> pd.DataFrame:
    """The normal training clips (``split == "train"``, ``label == "normal"``), of one machine
    type (``group``) when given; row order kept, index reset."""
    for col in ("path", "group", "id", "label", "split"):
        if col not in clips.columns:
            raise ValueError(f"clip table lacks column {col!r} (has {list(clips.columns)})")
    mask = (clips["split"] == "train") & (clips["label"] == "normal")
    if machine_type is not None:
        mask &= clips["group"] == machine_type
    return clips[mask].reset_index(drop=True)


def class_mapping(ids: Iterable[object]) -> dict[str, int]:
    """Sorted distinct IDs -> class index 0..K-1 (``{"id_00": 0, "id_02": 1, ...}``)."""
    distinct = sorted({str(i) for i in ids})
    return {name: k for k, name in enumerate(distinct)}


def split_train_val(
    clips: pd.DataFrame, val_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``round(val_fraction * n)`` clips of every ID (at least 1 when the ID has 2+
    clips and ``val_fraction > 0``, never all), chosen with ``default_rng(seed)``.

    Returns ``(train, val)`` tables, each in the original row order.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    val_rows: list[int] = []
    for _, part in clips.groupby("id", sort=True):
        n = len(part)
        k = int(round(n * val_fraction))
        if val_fraction > 0 and n >= 2:
            k = min(max(k, 1), n - 1)
        else:
            k = 0
        if k:
            val_rows += rng.choice(part.index.to_numpy(), size=k, replace=False).tolist()
    is_val = clips.index.isin(val_rows)
    return clips[~is_val], clips[is_val]


# --------------------------------------------------------------------------------------------
# windows, crops and augmentation


def sample_crops(
    n_frames: Sequence[int], crops_per_clip: int, window: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``crops_per_clip`` random window starts per clip, shuffled: ``(clip_index, start)``.

    Raises ValueError naming a clip shorter than ``window`` frames.
    """
    n = np.asarray(n_frames, dtype=np.int64)
    short = np.flatnonzero(n < window)
    if short.size:
        raise ValueError(
            f"clip {int(short[0])} has {int(n[short[0]])} frames, fewer than one window of "
            f"{window} ({short.size} such clips)"
        )
    clip_idx = np.repeat(np.arange(n.size), crops_per_clip)  # N
    starts = rng.integers(0, n[clip_idx] - window + 1)  # N
    order = rng.permutation(clip_idx.size)
    return clip_idx[order], starts[order]


def crop_batch(
    specs: Sequence[np.ndarray], clip_idx: np.ndarray, starts: np.ndarray, window: int
) -> np.ndarray:
    """Windows ``(B, 2, F, window)`` float32 cut from the clips' ``(2, F, T)`` STFTs."""
    return np.stack(
        [
            np.asarray(specs[c][:, :, s : s + window], dtype=np.float32)
            for c, s in zip(clip_idx, starts, strict=True)
        ]
    )  # B, 2, F, window


def _validation_windows(
    specs: Sequence[np.ndarray], labels: np.ndarray, window: int, hop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every validation window: ``(clip_index, start, label)`` covering each clip."""
    idx, st = [], []
    for i, spec in enumerate(specs):
        s = window_starts(spec.shape[-1], window, hop)
        idx.append(np.full(s.size, i))
        st.append(s)
    if not idx:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    clip_idx = np.concatenate(idx)
    return clip_idx, np.concatenate(st), labels[clip_idx]


def augment_batch(x: torch.Tensor, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """Masking, noise and frequency shift of a batch ``(B, 2, F, T)`` per ``config`` (a new
    tensor; ``x`` itself when nothing is switched on). Random numbers from ``generator``."""
    if x.ndim != 4 or x.shape[1] != 2:
        raise ValueError(f"augment_batch: expected (B, 2, F, T), got {tuple(x.shape)}")
    b, _, f, t = x.shape
    if config.noise_level > 0:
        rms = x.square().sum(dim=1).mean(dim=(1, 2)).sqrt()  # B: RMS magnitude
        noise = torch.randn(x.shape, generator=generator) / math.sqrt(2)  # B, 2, F, T
        x = x + config.noise_level * rms[:, None, None, None] * noise
    if config.freq_shift_bins > 0:
        k = config.freq_shift_bins
        shifts = torch.randint(-k, k + 1, (b,), generator=generator).tolist()
        out = torch.zeros_like(x)
        for i, s in enumerate(shifts):
            if s >= 0:
                out[i, :, s:] = x[i, :, : f - s]
            else:
                out[i, :, :s] = x[i, :, -s:]
        x = out
    if config.freq_mask_bins > 0 or config.time_mask_frames > 0:
        x = x.clone()
        for i in range(b):
            if config.freq_mask_bins > 0:
                width = int(torch.randint(0, config.freq_mask_bins + 1, (1,), generator=generator))
                lo = int(torch.randint(0, max(f - width, 0) + 1, (1,), generator=generator))
                x[i, :, lo : lo + width] = 0
            if config.time_mask_frames > 0:
                width = int(
                    torch.randint(0, config.time_mask_frames + 1, (1,), generator=generator)
                )
                lo = int(torch.randint(0, max(t - width, 0) + 1, (1,), generator=generator))
                x[i, :, :, lo : lo + width] = 0
    return x


# --------------------------------------------------------------------------------------------
# evaluation on validation windows


def evaluate_windows(
    model: ComplexNet,
    specs: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    window: int,
    hop: int,
    device: torch.device,
    precision: str = "fp32",
    batch_size: int = 64,
) -> tuple[float, float]:
    """``(loss, accuracy)`` of the model in eval mode over every window of the clips
    (:func:`audioanom.machine_features.window_starts`, hop ``hop``); NaN when no clips.

    The loss is :meth:`ComplexNet.loss` averaged over windows; the accuracy is that of the
    argmax of the scoring logits (fused head, or magnitude head when ablated).
    """
    clip_idx, starts, y = _validation_windows(specs, np.asarray(labels), window, hop)
    if clip_idx.size == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    with torch.inference_mode(), autocast_context(device, precision):
        for i in range(0, clip_idx.size, batch_size):
            sl = slice(i, i + batch_size)
            x = torch.from_numpy(crop_batch(specs, clip_idx[sl], starts[sl], window)).to(device)
            target = torch.from_numpy(y[sl]).to(device)  # b
            out = model(x)  # b, K per head
            total += float(model.loss(out, target)) * len(target)
            correct += int((scoring_logits(out).argmax(dim=1) == target).sum())
    model.train(was_training)
    return total / clip_idx.size, correct / clip_idx.size


# --------------------------------------------------------------------------------------------
# checkpoints


def checkpoint_path(checkpoint_dir: str | Path) -> Path:
    """The checkpoint file of a training folder: ``<dir>/last.pt``."""
    return Path(checkpoint_dir) / "last.pt"


def _atomic_save(obj: object, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, target)  # a crash never leaves a half-written checkpoint


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _config_json(obj: object) -> str:
    return json.dumps(asdict(obj), sort_keys=True, default=str)  # type: ignore[arg-type]


def _data_digest(specs: Sequence[np.ndarray], labels: np.ndarray) -> str:
    """A cheap fingerprint of the training data: shapes, labels and a few values per clip."""
    h = hashlib.sha256()
    h.update(np.asarray(labels, dtype=np.int64).tobytes())
    for s in specs:
        h.update(str(s.shape).encode())
        flat = np.asarray(s).reshape(-1)
        h.update(np.asarray(flat[:: max(1, flat.size // 64)], dtype=np.float32).tobytes())
    return h.hexdigest()[:24]


# --------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainResult:
    """A trained network and how it got there.

    ``model`` is in eval mode, on ``device``, holding the best epoch's weights (the last
    epoch's when there is no validation set). ``classes[k]`` is the ID of class ``k``.
    ``history``: one row per epoch (:data:`HISTORY_COLUMNS`). ``signature`` identifies the
    configs and data it was trained on (used to reuse cached models).
    """

    model: ComplexNet = dataclasses.field(repr=False)
    history: pd.DataFrame = dataclasses.field(repr=False)
    classes: tuple[str, ...]
    best_epoch: int
    stopped_early: bool
    config: TrainConfig
    model_config: ComplexNetConfig
    device: str
    precision: str
    n_train_clips: int
    n_val_clips: int
    signature: str = ""

    @property
    def class_index(self) -> dict[str, int]:
        """ID -> class index."""
        return {c: k for k, c in enumerate(self.classes)}


def _improved(value: float, best: float | None, monitor: str, min_delta: float) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if monitor == "val_loss" else value > best + min_delta


def train_model(
    train_specs: Sequence[np.ndarray],
    train_labels: Sequence[int] | np.ndarray,
    val_specs: Sequence[np.ndarray],
    val_labels: Sequence[int] | np.ndarray,
    model_config: ComplexNetConfig,
    config: TrainConfig = TrainConfig(),
    *,
    classes: Sequence[str] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Train a :class:`ComplexNet` on windows of ``(2, F, T)`` STFTs with class labels.

    ``model_config.n_classes`` must match the labels (``0 .. n_classes - 1``). With
    ``checkpoint_dir`` a checkpoint (``last.pt``) and ``metrics.csv`` are written after every
    epoch; ``resume=True`` continues from that checkpoint (ValueError if it belongs to other
    settings or data; a finished run is returned as it is). ``callback(epoch, row)`` is called
    after each epoch's checkpoint (e.g. to stop a run in a test by raising).
    """
    y_train = np.asarray(train_labels, dtype=np.int64)
    y_val = np.asarray(val_labels, dtype=np.int64)
    if len(train_specs) != y_train.size or len(val_specs) != y_val.size:
        raise ValueError("one label per clip is needed for the training and validation clips")
    if y_train.size == 0:
        raise ValueError("no training clips")
    k = model_config.n_classes
    for name, y in (("training", y_train), ("validation", y_val)):
        if y.size and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"{name} labels must be in 0..{k - 1}, got {sorted(set(y.tolist()))}")
    for i, s in enumerate(list(train_specs) + list(val_specs)):
        if s.ndim != 3 or s.shape[0] != 2 or s.shape[1] != model_config.n_bins:
            raise ValueError(
                f"clip {i}: expected a (2, {model_config.n_bins}, T) STFT, got {tuple(s.shape)}"
            )
    if classes is None:
        classes = [str(c) for c in range(k)]
    classes = tuple(str(c) for c in classes)
    if len(classes) != k:
        raise ValueError(f"{len(classes)} class names for {k} classes")

    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    signature = json.dumps(
        {
            # epochs and threads may change between a run and its resumption
            "train": _config_json(dataclasses.replace(config, epochs=1, threads=None)),
            "model": _config_json(model_config),
            "classes": classes,
            "data": _data_digest(train_specs, y_train),
            "val": _data_digest(val_specs, y_val),
            "precision": precision,
            "device": device.type,
        },
        sort_keys=True,
    )
    ckpt_file = checkpoint_path(checkpoint_dir) if checkpoint_dir is not None else None
    n_frames = [s.shape[-1] for s in train_specs]

    with (
        torch_threads(config.threads),
        torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []),
    ):
        torch.manual_seed(config.seed)
        model = ComplexNet(model_config)
        model.set_channels_last(use_channels_last(device, precision))
        model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        history: list[dict] = []
        best_metric: float | None = None
        best_epoch, bad_epochs, stopped = 0, 0, False
        best_state = _cpu_state(model)
        start_epoch = 1

        if resume and ckpt_file is not None and ckpt_file.is_file():
            ckpt = torch.load(ckpt_file, map_location="cpu", weights_only=True)
            if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("signature") != signature:
                raise CheckpointMismatch(
                    f"{ckpt_file}: checkpoint written for other settings, classes or data; "
                    "delete it or train without resume"
                )
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            torch.set_rng_state(ckpt["rng_torch"])
            if device.type == "cuda" and ckpt.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(ckpt["rng_cuda"], device)
            history = list(ckpt["history"])
            best_metric, best_epoch = ckpt["best_metric"], ckpt["best_epoch"]
            bad_epochs, stopped = ckpt["bad_epochs"], ckpt["stopped"]
            best_state = ckpt["best_state"]
            start_epoch = ckpt["epoch"] + 1
        elif ckpt_file is not None:
            ckpt_file.unlink(missing_ok=True)  # a fresh run: never resume a stale file later

        from tqdm.auto import tqdm

        bar = tqdm(
            total=config.epochs,
            initial=start_epoch - 1,
            desc="train",
            unit="epoch",
            disable=not progress,
        )
        epoch = start_epoch
        while epoch <= config.epochs and not stopped:
            rng = np.random.default_rng([config.seed, epoch])
            torch.manual_seed(int(rng.integers(2**62)))  # dropout
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))  # augmentations
            clip_idx, starts = sample_crops(
                n_frames, config.crops_per_clip, config.window_frames, rng
            )
            model.train()
            t0 = time.perf_counter()
            total, correct, seen = 0.0, 0, 0
            for i in range(0, clip_idx.size, config.batch_size):
                sl = slice(i, i + config.batch_size)
                if clip_idx[sl].size < 2:
                    continue  # batch norm cannot train on one window
                x = torch.from_numpy(
                    crop_batch(train_specs, clip_idx[sl], starts[sl], config.window_frames)
                )  # b, 2, F, W
                y = torch.from_numpy(y_train[clip_idx[sl]])  # b
                x = augment_batch(x, config, gen)
                lam, perm = 1.0, None
                if config.mixup_alpha > 0:
                    lam = float(rng.beta(config.mixup_alpha, config.mixup_alpha))
                    perm = torch.from_numpy(rng.permutation(len(y)))
                    x = lam * x + (1 - lam) * x[perm]
                x, y = x.to(device), y.to(device)
                with autocast_context(device, precision):
                    out = model(x)
                loss = model.loss(out, y)
                if perm is not None:
                    loss = lam * loss + (1 - lam) * model.loss(out, y[perm.to(device)])
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                total += float(loss.detach()) * len(y)
                correct += int((scoring_logits(out).argmax(dim=1) == y).sum())
                seen += len(y)
            train_seconds = time.perf_counter() - t0
            val_loss, val_acc = evaluate_windows(
                model,
                val_specs,
                y_val,
                window=config.window_frames,
                hop=config.val_hop,
                device=device,
                precision=precision,
            )
            metric = val_loss if config.monitor == "val_loss" else val_acc
            has_val = len(val_specs) > 0
            is_best = has_val and _improved(metric, best_metric, config.monitor, config.min_delta)
            if is_best:
                best_metric, best_epoch, bad_epochs = metric, epoch, 0
                best_state = _cpu_state(model)
            elif has_val:
                bad_epochs += 1
            else:
                best_epoch, best_state = epoch, _cpu_state(model)
            if has_val and config.patience is not None and bad_epochs >= config.patience:
                stopped = True
            row = {
                "epoch": epoch,
                "train_loss": total / max(seen, 1),
                "train_acc": correct / max(seen, 1),
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": opt.param_groups[0]["lr"],
                "seconds": time.perf_counter() - t0,
                "clips_per_s": seen / train_seconds if train_seconds > 0 else float("nan"),
                "best": bool(is_best or not has_val),
            }
            history.append(row)
            if ckpt_file is not None:
                _atomic_save(
                    {
                        "format": CHECKPOINT_FORMAT,
                        "signature": signature,
                        "epoch": epoch,
                        "model": _cpu_state(model),
                        "optimizer": opt.state_dict(),
                        "scaler": scaler.state_dict(),
                        "rng_torch": torch.get_rng_state(),
                        "rng_cuda": torch.cuda.get_rng_state(device)
                        if device.type == "cuda"
                        else None,
                        "history": history,
                        "best_metric": best_metric,
                        "best_epoch": best_epoch,
                        "bad_epochs": bad_epochs,
                        "stopped": stopped,
                        "best_state": best_state,
                    },
                    ckpt_file,
                )
                pd.DataFrame(history, columns=list(HISTORY_COLUMNS)).to_csv(
                    ckpt_file.parent / "metrics.csv", index=False
                )
            bar.update(1)
            bar.set_postfix(
                loss=f"{row['train_loss']:.3f}", val=f"{val_loss:.3f}", acc=f"{val_acc:.2f}"
            )
            if callback is not None:
                callback(epoch, row)
            epoch += 1
        bar.close()

    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        model=model,
        history=pd.DataFrame(history, columns=list(HISTORY_COLUMNS)),
        classes=classes,
        best_epoch=int(best_epoch),
        stopped_early=bool(stopped),
        config=config,
        model_config=model_config,
        device=str(device),
        precision=precision,
        n_train_clips=len(train_specs),
        n_val_clips=len(val_specs),
        signature=signature,
    )


def train_machine_type(
    clips: pd.DataFrame,
    machine_type: str,
    model_config: ComplexNetConfig | None = None,
    config: TrainConfig = TrainConfig(),
    *,
    stft_config: StftConfig | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    cache: bool = True,
    callback: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Train one machine type's network on its normal training clips (module docstring).

    Classes are the IDs of those clips (:func:`class_mapping`); ``model_config.n_classes`` is
    set to their number. Raises ValueError when the type has no normal training clips or
    fewer than two IDs (the network learns to tell IDs apart: one ID is nothing to learn).
    """
    model_config = model_config if model_config is not None else ComplexNetConfig()
    stft_config = stft_config if stft_config is not None else StftConfig()
    train_all = training_clips(clips, machine_type)
    if train_all.empty:
        raise ValueError(f"{machine_type}: no normal training clips")
    mapping = class_mapping(train_all["id"])
    if len(mapping) < 2:
        raise ValueError(
            f"{machine_type}: normal training clips of {len(mapping)} machine ID "
            f"({', '.join(mapping)}); the ID classifier needs at least 2"
        )
    if stft_config.n_bins != model_config.n_bins:
        raise ValueError(
            f"STFT gives {stft_config.n_bins} bins, the network expects {model_config.n_bins}"
        )
    model_config = dataclasses.replace(model_config, n_classes=len(mapping))
    train, val = split_train_val(train_all, config.val_fraction, config.seed)
    specs = stft_table(train_all, stft_config, cache=cache, mmap=cache, progress=progress)
    pos = {p: i for i, p in enumerate(train_all.index)}
    labels = train_all["id"].astype(str).map(mapping).to_numpy(dtype=np.int64)
    return train_model(
        [specs[pos[i]] for i in train.index],
        labels[[pos[i] for i in train.index]],
        [specs[pos[i]] for i in val.index],
        labels[[pos[i] for i in val.index]],
        model_config,
        config,
        classes=list(mapping),
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        callback=callback,
    )


# --------------------------------------------------------------------------------------------
# trained models on disk


def save_trained(result: TrainResult, path: str | Path, **extra: object) -> Path:
    """Write a trained network (weights, configs, classes, history, signature and any
    ``extra`` JSON-able metadata) to ``path``; returns the path."""
    path = Path(path)
    blob = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": _cpu_state(result.model),
        "model_config": _config_json(result.model_config),
        "train_config": _config_json(result.config),
        "classes": list(result.classes),
        "history": result.history.to_dict(orient="list"),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "device": result.device,
        "precision": result.precision,
        "n_train_clips": result.n_train_clips,
        "n_val_clips": result.n_val_clips,
        "signature": result.signature,
        "extra": json.dumps(extra, sort_keys=True, default=str),
    }
    _atomic_save(blob, path)
    return path


def _model_config_from_json(text: str) -> ComplexNetConfig:
    d = json.loads(text)
    for key in ("channels",):
        d[key] = tuple(d[key])
    for key in ("kernels", "strides"):
        d[key] = tuple(tuple(v) for v in d[key])
    d["branch_kernel"] = tuple(d["branch_kernel"])
    return ComplexNetConfig(**d)


def load_trained(path: str | Path, *, device: str = "cpu") -> tuple[TrainResult, dict]:
    """Read a network written by :func:`save_trained`: ``(result, extra metadata)``.

    The model is put on ``device`` in eval mode. FileNotFoundError when there is no file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained model")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: unknown model file format {blob.get('format')!r}")
    model_config = _model_config_from_json(blob["model_config"])
    train_d = json.loads(blob["train_config"])
    model = ComplexNet(model_config)
    model.load_state_dict(blob["state_dict"])
    dev = resolve_device(device)
    model.to(dev).eval()
    result = TrainResult(
        model=model,
        history=pd.DataFrame(blob["history"]),
        classes=tuple(blob["classes"]),
        best_epoch=int(blob["best_epoch"]),
        stopped_early=bool(blob["stopped_early"]),
        config=TrainConfig(**train_d),
        model_config=model_config,
        device=str(dev),
        precision=str(blob["precision"]),
        n_train_clips=int(blob["n_train_clips"]),
        n_val_clips=int(blob["n_val_clips"]),
        signature=str(blob["signature"]),
    )
    return result, json.loads(blob["extra"])
