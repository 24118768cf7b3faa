"""Training data of the ID networks: which clips train, their classes, the per-class
validation split, the random 64-frame crops an epoch draws, and the loss and accuracy over every
window of held-out clips (:func:`window_totals`).

Pure functions on clip tables and index arrays (but :func:`window_totals`, which runs a model);
:mod:`audioanom.machines.training` runs the loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from ..runtime import autocast_context
from .features import window_starts

__all__ = [
    "CropBatches",
    "class_key",
    "class_keys",
    "class_mapping",
    "crop_batch",
    "crop_loader",
    "evaluate_windows",
    "sample_crops",
    "split_train_val",
    "training_clips",
    "window_totals",
]

# --------------------------------------------------------------------------------------------
# clips, classes and the validation split


def class_key(group: object, machine_id: object) -> str:
    """The class name of a (machine type, ID) pair: ``"fan/id_00"``."""
    return f"{group}/{machine_id}"


def class_keys(clips: pd.DataFrame) -> pd.Series:
    """The class key of every row of a clip table (:func:`class_key` of its group and ID)."""
    return clips["group"].astype(str) + "/" + clips["id"].astype(str)


def training_clips(clips: pd.DataFrame, groups: Iterable[str] | str | None = None) -> pd.DataFrame:
    """The normal training clips (``split == "train"``, ``label == "normal"``) of the machine
    types ``groups`` (one name, several, or None: all); row order kept, index reset."""
    for col in ("path", "group", "id", "label", "split"):
        if col not in clips.columns:
            raise ValueError(f"clip table lacks column {col!r} (has {list(clips.columns)})")
    mask = (clips["split"] == "train") & (clips["label"] == "normal")
    if groups is not None:
        groups = [groups] if isinstance(groups, str) else list(groups)
        mask &= clips["group"].astype(str).isin(groups)
    return clips[mask].reset_index(drop=True)


def class_mapping(keys: Iterable[object]) -> dict[str, int]:
    """Sorted distinct class keys -> index 0..K-1 (``{"fan/id_00": 0, ...}``)."""
    return {name: k for k, name in enumerate(sorted({str(i) for i in keys}))}


def split_train_val(
    clips: pd.DataFrame, val_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``round(val_fraction * n)`` clips of every class (at least 1 when the class has
    2+ clips and ``val_fraction > 0``, never all), chosen with ``default_rng(seed)``.

    Returns ``(train, val)`` tables, each in the original row order.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    val_rows: list[int] = []
    for _, part in clips.groupby(class_keys(clips), sort=True):
        n = len(part)
        k = min(max(int(round(n * val_fraction)), 1), n - 1) if val_fraction > 0 and n >= 2 else 0
        if k:
            val_rows += rng.choice(part.index.to_numpy(), size=k, replace=False).tolist()
    is_val = clips.index.isin(val_rows)
    return clips[~is_val], clips[is_val]


# --------------------------------------------------------------------------------------------
# windows


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
    """Windows ``(B, 2, F, window)`` float32 cut from the clips' ``(2, F, T)`` STFTs, each
    written straight into the batch. A clip read when used (:class:`audioanom.machines.
    features.CachedArray`) is read once for a run of consecutive crops of it (the scoring
    windows of one clip)."""
    if len(clip_idx) == 0:
        raise ValueError("crop_batch: no crops")
    first = specs[int(clip_idx[0])]
    out = np.empty((len(clip_idx), first.shape[0], first.shape[1], window), np.float32)
    last, view = None, None
    for b, (c, s) in enumerate(zip(clip_idx, starts, strict=True)):
        spec = specs[c]
        if hasattr(spec, "scratch_view"):
            if c != last:
                view, last = spec.scratch_view(), c
            spec = view
        out[b] = spec[:, :, int(s) : int(s) + window]
    return out  # B, 2, F, window


class CropBatches(torch.utils.data.Dataset):
    """Batch ``k`` of a list of crops: ``(windows (b, 2, F, window) float32, clip indices
    (b,))`` for crops ``k * batch_size ...``, read from the clips' STFTs when asked for (so a
    DataLoader worker reads them, and only they are in memory)."""

    def __init__(self, specs, clip_idx, starts, window: int, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(clip_idx) != len(starts):
            raise ValueError(f"{len(clip_idx)} clip indices but {len(starts)} starts")
        self.specs, self.window, self.batch_size = specs, window, batch_size
        self.clip_idx = np.asarray(clip_idx, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int64)

    def __len__(self) -> int:
        return -(-self.clip_idx.size // self.batch_size)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        sl = slice(k * self.batch_size, (k + 1) * self.batch_size)
        idx = self.clip_idx[sl]
        x = crop_batch(self.specs, idx, self.starts[sl], self.window)  # b, 2, F, window
        return torch.from_numpy(x), torch.from_numpy(idx)


def crop_loader(
    specs: Sequence[np.ndarray],
    clip_idx: np.ndarray,
    starts: np.ndarray,
    *,
    window: int,
    batch_size: int,
    workers: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """The crops in their order, in batches of ``batch_size`` (:class:`CropBatches`), through a
    :class:`torch.utils.data.DataLoader` with ``workers`` reader processes (0: read in this
    process) and pinned memory for CUDA. Nothing is shuffled here: the order is the caller's."""
    return torch.utils.data.DataLoader(
        CropBatches(specs, clip_idx, starts, window, batch_size),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers > 0 else None,
    )


# --------------------------------------------------------------------------------------------
# loss and accuracy over held-out windows


def window_totals(
    model: torch.nn.Module,
    specs: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    window: int,
    hop: int,
    device: torch.device,
    precision: str = "fp32",
    batch_size: int = 64,
) -> tuple[float, int, int]:
    """``(summed loss, correct, windows)`` in eval mode over every window of the clips (at
    :func:`audioanom.machines.features.window_starts`); ``(0, 0, 0)`` for no clips."""
    idx, st = [], []
    for i, spec in enumerate(specs):
        s = window_starts(spec.shape[-1], window, hop)
        idx.append(np.full(s.size, i))
        st.append(s)
    if not idx:
        return 0.0, 0, 0
    clip_idx, starts = np.concatenate(idx), np.concatenate(st)
    y = np.asarray(labels, dtype=np.int64)[clip_idx]
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
            correct += int((out.fused.argmax(dim=1) == target).sum())
    model.train(was_training)
    return total, correct, int(clip_idx.size)


def evaluate_windows(
    model: torch.nn.Module, specs: Sequence[np.ndarray], labels: np.ndarray, **kwargs
) -> tuple[float, float]:
    """``(loss, accuracy)`` over every window of the clips (:func:`window_totals`, same
    keyword arguments); ValueError when there are none."""
    total, correct, n = window_totals(model, specs, labels, **kwargs)
    if n == 0:
        raise ValueError("evaluate_windows: no clips")
    return total / n, correct / n
