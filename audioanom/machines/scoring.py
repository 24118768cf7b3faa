"""The trained ID network as a front-end: clip embeddings and log-probabilities of whole clips.

A clip is cut into the windows the network was trained on: ``window_frames`` of its config
(64), every ``hop`` frames (default: the config's ``window_hop``, 32),
plus one window aligned to the clip's end when the last regular one stops short, so every frame
is seen (:func:`audioanom.machines.features.window_starts`; 313 frames, hop 32: 9 windows). Each
window runs through the network ON ITS OWN, with zero padding at its edges exactly as in
training (no run-once shortcut: the windows a network is scored on are the windows it was
trained on). Per clip (:class:`ClipEmbeddings`):

* ``embedding`` ``(D,)``: the mean over windows of the network's embedding (the input of its
  fused head), for the ``knn`` and ``gauss`` back-ends (:mod:`audioanom.machines.backends`);
* ``log_probs`` ``(K,)``: the mean over windows of the log-softmax of the fused logits; the
  paper's score, the mean cross-entropy of the true class, is ``-log_probs[true class]``;
* ``pred``: the class with the highest mean log-probability (for the ID confusion matrix);
* ``layer_stats`` ``(sum of the layers' dims,)``: the mean over windows of the band statistics
  of trunk layers ``EmbedConfig.layers`` (:mod:`audioanom.machines.nn.layer_stats`), taken in the
  same forward pass, for the ``layers`` back-end.

Everything runs in eval mode without randomness: two runs give identical numbers. Windows of
several clips are batched together (``batch_windows`` per forward pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..runtime import (
    PRECISIONS,
    autocast_context,
    resolve_device,
    resolve_precision,
    torch_threads,
    use_channels_last,
)
from .features import StftConfig, require_windows, stft_table, window_starts
from .nn.layer_stats import TrunkTaps
from .training_data import crop_batch

__all__ = ["ClipEmbeddings", "EmbedConfig", "embed_clips", "embed_specs"]


@dataclass(frozen=True)
class EmbedConfig:
    """How clips are cut and run (module docstring). The window length is the network's
    (``ComplexNetConfig.window_frames``: the windows it was trained on); ``hop=None`` takes
    its ``window_hop``. ``precision``/``device`` as :func:`audioanom.runtime.resolve_precision`;
    ``threads=None`` uses every core."""

    hop: int | None = None
    batch_windows: int = 64
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    layers: tuple[int, ...] = (1, 2)
    bands: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if (self.hop is not None and self.hop < 1) or self.batch_windows < 1 or self.bands < 1:
            raise ValueError(f"hop, batch_windows and bands must be >= 1: {self}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")


@dataclass(frozen=True)
class ClipEmbeddings:
    """Front-end output for ``N`` clips: ``embedding`` ``(N, D)`` float32, ``log_probs``
    ``(N, K)`` float64, ``pred`` ``(N,)`` class index, ``n_windows`` ``(N,)``; ``classes[k]``
    names output ``k``; ``layer_stats`` ``(N, sum(layer_dims))`` float32, the statistics of
    each tapped trunk layer side by side (``layer_dims``: their lengths; none: ``(N, 0)``)."""

    embedding: np.ndarray
    log_probs: np.ndarray
    pred: np.ndarray
    n_windows: np.ndarray
    classes: tuple[str, ...]
    layer_stats: np.ndarray | None = None
    layer_dims: tuple[int, ...] = ()

    @property
    def blocks(self) -> tuple[int, ...]:
        """Lengths of the blocks of :meth:`features` ``("layers")``: the embedding's, then
        each layer's."""
        return (self.embedding.shape[1], *self.layer_dims)

    def features(self, kind: str) -> np.ndarray:
        """``"embedding"``, ``"log_probs"`` or ``"layers"`` (the embedding and the layer
        statistics side by side): what a back-end's ``input`` names."""
        if kind == "layers":
            stats = self.layer_stats if self.layer_stats is not None else self.embedding[:, :0]
            return np.concatenate([self.embedding, stats], axis=1)
        if kind not in ("embedding", "log_probs"):
            raise ValueError(f"kind must be 'embedding', 'log_probs' or 'layers', got {kind!r}")
        return getattr(self, kind)

    def take(self, rows: np.ndarray) -> ClipEmbeddings:
        """The clips at ``rows`` (an index or boolean array)."""
        return ClipEmbeddings(
            self.embedding[rows],
            self.log_probs[rows],
            self.pred[rows],
            self.n_windows[rows],
            self.classes,
            None if self.layer_stats is None else self.layer_stats[rows],
            self.layer_dims,
        )


def embed_specs(
    model: torch.nn.Module,
    specs: Sequence[np.ndarray],
    classes: Sequence[str],
    config: EmbedConfig = EmbedConfig(),
    *,
    progress: bool = False,
) -> ClipEmbeddings:
    """Embeddings and mean log-probabilities of clips given as raw ``(2, F, T)`` STFTs
    (module docstring). The model is put in eval mode; ValueError for a clip of the wrong
    shape or shorter than one window (naming the clip)."""
    cfg = model.config
    window = cfg.window_frames  # the training windows
    hop = cfg.window_hop if config.hop is None else config.hop
    for i, s in enumerate(specs):
        if s.ndim != 3 or s.shape[0] != 2 or s.shape[1] != cfg.n_bins:
            raise ValueError(f"clip {i}: expected a (2, {cfg.n_bins}, T) STFT, got {s.shape}")
        if s.shape[2] < window:
            raise ValueError(f"clip {i}: {s.shape[2]} frames, shorter than one window of {window}")
    if len(classes) != cfg.n_classes:
        raise ValueError(f"{len(classes)} class names for a network with {cfg.n_classes}")
    starts = [window_starts(s.shape[-1], window, hop) for s in specs]
    owner = np.concatenate([np.full(len(st), i) for i, st in enumerate(starts)] or [[]])
    owner = owner.astype(np.int64)
    flat = np.concatenate(starts or [[]]).astype(np.int64)
    n = len(specs)
    emb_sum = np.zeros((n, cfg.embedding_dim))
    lp_sum = np.zeros((n, cfg.n_classes))
    taps = TrunkTaps(model, config.layers, config.bands)
    stats_sum = np.zeros((n, sum(taps.dims)))
    counts = np.bincount(owner, minlength=n)
    device = next(model.parameters()).device
    if config.device != "auto":
        device = resolve_device(config.device)
        model.to(device)
    precision = resolve_precision(config.precision, device)
    if use_channels_last(device, precision):
        model.to(memory_format=torch.channels_last)
    model.eval()
    from ..progress import tqdm

    batches = range(0, flat.size, config.batch_windows)
    with torch_threads(config.threads), torch.inference_mode(), taps:
        for b in tqdm(batches, desc="embed", unit="batch", disable=not progress):
            sl = slice(b, b + config.batch_windows)
            x = crop_batch(specs, owner[sl], flat[sl], window)  # b, 2, F, window
            with autocast_context(device, precision):
                out = model(torch.from_numpy(x).to(device))
            e = out.embedding.float().double().cpu().numpy()  # b, D
            lp = torch.log_softmax(out.fused.float(), dim=1).double().cpu().numpy()  # b, K
            np.add.at(emb_sum, owner[sl], e)
            np.add.at(lp_sum, owner[sl], lp)
            if taps.dims:
                np.add.at(stats_sum, owner[sl], taps.stats.pop().double().cpu().numpy())
    emb = (emb_sum / counts[:, None]).astype(np.float32)
    log_probs = lp_sum / counts[:, None]
    stats = (stats_sum / counts[:, None]).astype(np.float32)
    bad = ~np.isfinite(emb).all(axis=1) | ~np.isfinite(log_probs).all(axis=1)
    bad |= ~np.isfinite(stats).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} clips got NaN/Inf embeddings (first: clip {int(np.argmax(bad))})"
        )
    pred = log_probs.argmax(axis=1)
    return ClipEmbeddings(emb, log_probs, pred, counts, tuple(classes), stats, taps.dims)


def embed_clips(
    model: torch.nn.Module,
    clips: pd.DataFrame,
    classes: Sequence[str],
    config: EmbedConfig = EmbedConfig(),
    *,
    stft_config: StftConfig | None = None,
    specs_fn=None,
    progress: bool = False,
) -> ClipEmbeddings:
    """:func:`embed_specs` of every clip of a clip table, in row order (STFTs from the cache,
    :func:`audioanom.machines.features.stft_table` with the network's settings
    ``model.config.stft``, or ``specs_fn(clips)``). ValueError when ``stft_config`` differs
    from the network's."""
    if "path" not in clips.columns:
        raise ValueError("clip table lacks column 'path'")
    if specs_fn is not None:
        specs = specs_fn(clips)
    else:
        cfg = model.config.stft
        if stft_config is not None and stft_config != cfg:
            raise ValueError(f"STFT settings {stft_config} differ from the network's {cfg}")
        specs = stft_table(clips, cfg, lazy=True, progress=progress)
    require_windows(specs, clips["path"].tolist(), model.config.window_frames)
    return embed_specs(model, specs, classes, config, progress=progress)
