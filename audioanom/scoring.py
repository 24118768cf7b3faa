"""Anomaly scores of whole clips from a trained complex network (higher = more anomalous).

A clip's score is the cross-entropy of its TRUE machine ID under the network's scoring
logits (fused head; the magnitude head for the magnitude-only ablation), averaged over every
64-frame window of the clip: windows start every ``hop`` frames and, when the last regular
window stops short of the end, one more window is aligned to the clip's end, so every frame
is scored (:func:`audioanom.machine_features.window_starts`; 313 frames, hop 32: 9 windows).
The predicted ID of a clip is the argmax of its windows' mean logits (for the ID confusion
matrix). Everything runs in eval mode without randomness: two runs give identical scores.

Two ways to get the window logits (:func:`clip_window_logits`):

* run-once (default, ``exact=False``): the convolution trunk runs ONCE over the whole clip and
  the windows are sliced out of the bottleneck (:meth:`audioanom.nn.ComplexNet.window_logits`;
  window and hop must be multiples of the trunk's time stride, 16). The end-aligned window
  (start ``T - 64``, not a multiple of 16) is computed from a short tail of the clip that
  includes up to 32 frames of left context. Cost: about one trunk pass per clip.
* exact (``exact=True``, the paper's procedure): every window runs through the network on its
  own (zero padding at its edges, as in training). About ``W * 64 / T`` times the trunk cost
  (1.8x for 10-s clips at hop 32).

The two differ only near window edges, where run-once sees the neighbouring audio instead of
zero padding; the networks are trained on separate windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .machine_features import StftConfig, stft_table, window_starts
from .nn import ComplexNet, anomaly_scores, scoring_logits
from .training import (
    autocast_context,
    resolve_device,
    resolve_precision,
    torch_threads,
    use_channels_last,
)

__all__ = [
    "SCORE_COLUMNS",
    "ClipScores",
    "ScoreConfig",
    "clip_window_logits",
    "per_window_reference",
    "score_clips",
    "score_specs",
    "write_scores",
]

#: Columns of a score table (``anomaly_kind`` too when the clip table has it).
SCORE_COLUMNS = ("path", "machine_type", "id", "label", "split", "score", "pred_id")

#: Frames of left context given to the end-aligned window in run-once scoring.
TAIL_CONTEXT = 32


#: Networks with this many channels or more score in channels_last layout on CPU in fp32 too.
WIDE_CHANNELS = 32


@dataclass(frozen=True)
class ScoreConfig:
    """How clips are scored (module docstring). ``batch_clips`` whole clips per forward
    pass; ``precision``/``device`` as :func:`audioanom.training.resolve_precision`;
    ``threads=None`` uses every core."""

    window: int = 64
    hop: int = 32
    exact: bool = False
    batch_clips: int = 8
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.window < 1 or self.hop < 1 or self.batch_clips < 1:
            raise ValueError(f"window, hop and batch_clips must be >= 1: {self}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")


@dataclass(frozen=True)
class ClipScores:
    """Per clip: ``scores`` ``(N,)`` float64, ``pred`` ``(N,)`` predicted class index,
    ``mean_logits`` ``(N, K)`` float32, ``n_windows`` ``(N,)``."""

    scores: np.ndarray
    pred: np.ndarray
    mean_logits: np.ndarray
    n_windows: np.ndarray


def clip_window_logits(
    model: ComplexNet, x: torch.Tensor, *, window: int = 64, hop: int = 32, exact: bool = False
) -> torch.Tensor:
    """Scoring logits ``(B, W, K)`` of every window of whole clips ``x`` ``(B, 2, F, T)``.

    Windows at :func:`audioanom.machine_features.window_starts` ``(T, window, hop)``; the model
    should be in eval mode (this function does not change its mode). Run-once unless
    ``exact`` or the window/hop are not multiples of the trunk's time stride.
    """
    if x.ndim != 4 or x.shape[1] != 2:
        raise ValueError(f"clip_window_logits: expected (B, 2, F, T), got {tuple(x.shape)}")
    t = x.shape[3]
    starts = window_starts(t, window, hop)  # W
    ts = model.config.time_stride
    if exact or window % ts or hop % ts:
        win = torch.stack([x[..., s : s + window] for s in starts.tolist()], dim=1)
        b, w = win.shape[:2]  # win: B, W, 2, F, window
        out = model(win.reshape(b * w, *win.shape[2:]))  # B*W, K per head
        return scoring_logits(out).reshape(b, w, -1)  # B, W, K
    logits = scoring_logits(model.window_logits(x, window=window, hop=hop))  # B, W0, K
    if logits.shape[1] == len(starts):
        return logits
    end = int(starts[-1])  # the end-aligned window, T - window
    ctx = min(end // ts * ts, TAIL_CONTEXT // ts * ts)
    tail = x[..., end - ctx :]  # B, 2, F, window + ctx
    last = scoring_logits(model.window_logits(tail, window=window, hop=max(ctx, ts)))
    return torch.cat([logits, last[:, -1:]], dim=1)  # B, W, K


def score_specs(
    model: ComplexNet,
    specs: Sequence[np.ndarray],
    targets: Sequence[int] | np.ndarray,
    config: ScoreConfig = ScoreConfig(),
    *,
    progress: bool = False,
) -> ClipScores:
    """Score clips given as ``(2, F, T)`` STFTs and their true class indices (module
    docstring). Clips of equal length are batched; the model is put in eval mode."""
    targets = np.asarray(targets, dtype=np.int64)
    if len(specs) != targets.size:
        raise ValueError(f"{len(specs)} clips but {targets.size} targets")
    k = model.config.n_classes
    if targets.size and (targets.min() < 0 or targets.max() >= k):
        raise ValueError(f"targets must be in 0..{k - 1}, got {sorted(set(targets.tolist()))}")
    for i, s in enumerate(specs):
        if s.ndim != 3 or s.shape[0] != 2 or s.shape[1] != model.config.n_bins:
            raise ValueError(
                f"clip {i}: expected a (2, {model.config.n_bins}, T) STFT, got {tuple(s.shape)}"
            )
    n = len(specs)
    scores = np.zeros(n)
    pred = np.zeros(n, dtype=np.int64)
    mean_logits = np.zeros((n, k), dtype=np.float32)
    n_windows = np.zeros(n, dtype=np.int64)
    device = next(model.parameters()).device
    if config.device != "auto":
        device = resolve_device(config.device)
        model.to(device)
    precision = resolve_precision(config.precision, device)
    # channels_last: same maths; faster with bf16, and in fp32 inference for wide networks
    # (paper size on this 2-core CPU: 6.8 instead of 4.8 clips/s; the small preset is ~8 %
    # slower with it, so it stays off there).
    wide = max(model.config.channels) >= WIDE_CHANNELS
    model.set_channels_last(use_channels_last(device, precision) or (device.type == "cpu" and wide))
    model.eval()
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(specs):
        by_length.setdefault(int(s.shape[-1]), []).append(i)
    batches = [
        idx[j : j + config.batch_clips]
        for idx in by_length.values()
        for j in range(0, len(idx), config.batch_clips)
    ]
    from tqdm.auto import tqdm

    with torch_threads(config.threads), torch.inference_mode():
        for idx in tqdm(batches, desc="score", unit="batch", disable=not progress):
            x = torch.from_numpy(np.stack([np.asarray(specs[i], np.float32) for i in idx]))
            x = x.to(device)  # b, 2, F, T
            with autocast_context(device, precision):
                logits = clip_window_logits(
                    model, x, window=config.window, hop=config.hop, exact=config.exact
                )  # b, W, K
            logits = logits.float()
            target = torch.from_numpy(targets[idx]).to(device)  # b
            ce = anomaly_scores(logits, target[:, None].expand(logits.shape[:2]))  # b, W
            scores[idx] = ce.mean(dim=1).double().cpu().numpy()
            mean = logits.mean(dim=1)  # b, K
            mean_logits[idx] = mean.cpu().numpy()
            pred[idx] = mean.argmax(dim=1).cpu().numpy()
            n_windows[idx] = logits.shape[1]
    return ClipScores(scores, pred, mean_logits, n_windows)


def per_window_reference(
    model: ComplexNet, spec: np.ndarray, target: int, *, window: int = 64, hop: int = 32
) -> float:
    """The slow reference: each window of one clip through the network on its own, one at a
    time, in float32; returns the mean cross-entropy of ``target`` (for tests)."""
    model.eval()
    x = torch.from_numpy(np.asarray(spec, np.float32))  # 2, F, T
    ces = []
    with torch.inference_mode():
        for s in window_starts(x.shape[-1], window, hop).tolist():
            logits = scoring_logits(model(x[None, ..., s : s + window]))  # 1, K
            ces.append(float(anomaly_scores(logits, torch.tensor([target]))[0]))
    return float(np.mean(ces))


def score_clips(
    model: ComplexNet,
    clips: pd.DataFrame,
    classes: Sequence[str],
    config: ScoreConfig = ScoreConfig(),
    *,
    stft_config: StftConfig | None = None,
    cache: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Score every clip of a clip table against its true ``id``; returns a score table with
    :data:`SCORE_COLUMNS` (``machine_type`` from ``group``; ``anomaly_kind`` too if present),
    in the clips' row order.

    ``classes[k]`` is the ID of class ``k`` (:attr:`audioanom.training.TrainResult.classes`).
    Raises ValueError naming clips whose ID is not among the classes (an ID without training
    clips cannot be scored by this method: drop those rows first).
    """
    for col in ("path", "group", "id", "label", "split"):
        if col not in clips.columns:
            raise ValueError(f"clip table lacks column {col!r}")
    index = {str(c): k for k, c in enumerate(classes)}
    if len(index) != model.config.n_classes:
        raise ValueError(f"{len(index)} classes for a network with {model.config.n_classes}")
    unknown = sorted(set(clips["id"].astype(str)) - set(index))
    if unknown:
        raise ValueError(
            f"IDs {unknown} are not among the network's classes {list(index)} "
            "(no normal training clips): they cannot be scored"
        )
    stft_config = stft_config if stft_config is not None else StftConfig()
    specs = stft_table(clips, stft_config, cache=cache, mmap=cache, progress=progress)
    targets = clips["id"].astype(str).map(index).to_numpy(dtype=np.int64)
    res = score_specs(model, specs, targets, config, progress=progress)
    out = pd.DataFrame(
        {
            "path": clips["path"].to_numpy(),
            "machine_type": clips["group"].to_numpy(),
            "id": clips["id"].astype(str).to_numpy(),
            "label": clips["label"].to_numpy(),
            "split": clips["split"].to_numpy(),
            "score": res.scores,
            "pred_id": [str(classes[k]) for k in res.pred],
        }
    )
    if "anomaly_kind" in clips.columns:
        out["anomaly_kind"] = clips["anomaly_kind"].to_numpy()
    return out


def write_scores(scores: pd.DataFrame, path: str | Path) -> Path:
    """Write a score table as CSV (folders created); returns the path."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"score table lacks columns {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(path, index=False)
    return path
