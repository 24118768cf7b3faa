"""The DCASE 2020 Task 2 autoencoder baseline, in PyTorch (CPU, deterministic with a seed).

As the official Keras baseline (github.com/y-kawagu/dcase2020_task2_baseline,
``keras_model.py``, ``00_train.py``, ``01_test.py``):

* input: 640-dim log-mel vectors (128 mels x 5 frames, :mod:`audioanom.machines.features`);
* dense 640-128-128-128-128-8-128-128-128-128-640, each hidden layer (the 8-unit bottleneck
  included) followed by BatchNorm and ReLU, linear output;
* loss MSE, Adam (lr 1e-3), 100 epochs, batch 512, shuffled every epoch, 10 % validation;
* ONE model per machine type, trained on the normal training clips of all its IDs;
* score of a clip = mean over its vectors of the per-vector mean squared reconstruction error
  (higher = more anomalous).

Keras details kept so the numbers are comparable: Glorot-uniform weights and zero biases,
BatchNorm momentum 0.99 (PyTorch ``momentum=0.01``) and epsilon 1e-3, Adam epsilon 1e-7, the
epoch's training loss as the size-weighted mean of its batch losses (train mode) and the
validation loss in eval mode. Validation split: given one ``(N, 640)`` array, the LAST
``val_fraction`` of the rows, as Keras' ``validation_split`` does; given a list of per-clip
arrays, whole clips chosen at random (seeded), so that no clip has frames on both sides (the
Keras rule would put the last clips of the sorted file list, i.e. mostly the last machine ID,
into validation). A final training batch of a single vector is dropped for that epoch
(BatchNorm needs two).

Threads: training and scoring run with ``config.threads`` torch threads (default 1, restored
afterwards). This small model gains little from more threads, and on a busy machine
OpenMP threads competing for cores made a training step 20x slower (0.7 s instead of 30 ms
with 2 threads on 2 shared cores); a fixed count also keeps runs bit-for-bit repeatable.

:func:`run_autoencoder_baseline` runs the whole baseline over a clip table;
:func:`real_data_check` trains and scores one machine ID of the real DCASE samples.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..runtime import atomic_torch_save, torch_threads
from .features import LogMelConfig, vectors_table

__all__ = [
    "AutoencoderConfig",
    "AutoencoderRun",
    "DenseAutoencoder",
    "RealDataCheck",
    "fit_autoencoder",
    "load_autoencoder",
    "real_data_check",
    "reconstruction_errors",
    "run_autoencoder_baseline",
    "save_autoencoder",
    "score_clips",
]


@dataclass(frozen=True)
class AutoencoderConfig:
    """Architecture and training of the DCASE 2020 baseline autoencoder (module docstring)."""

    input_dim: int = 640
    hidden: int = 128
    n_hidden: int = 4  # dense layers of ``hidden`` units on each side of the bottleneck
    bottleneck: int = 8
    epochs: int = 100
    batch_size: int = 512
    lr: float = 1e-3
    adam_eps: float = 1e-7  # Keras default
    val_fraction: float = 0.1
    bn_momentum: float = 0.01  # = 1 - Keras' 0.99
    bn_eps: float = 1e-3  # Keras default
    seed: int = 0
    threads: int | None = 1  # torch intra-op threads while training/scoring; None: every core

    def __post_init__(self) -> None:
        if min(self.input_dim, self.hidden, self.bottleneck, self.epochs, self.batch_size) < 1:
            raise ValueError(f"sizes and epochs must be >= 1: {self}")
        if self.n_hidden < 0:
            raise ValueError(f"n_hidden must be >= 0, got {self.n_hidden}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (BatchNorm needs two vectors)")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Units per layer from input to output: (640, 128 x 4, 8, 128 x 4, 640)."""
        h = (self.hidden,) * self.n_hidden
        return (self.input_dim, *h, self.bottleneck, *h, self.input_dim)


class DenseAutoencoder(nn.Module):
    """Dense autoencoder ``(B, D) -> (B, D)``: [Linear -> BatchNorm -> ReLU] per hidden layer,
    linear output layer (sizes: :attr:`AutoencoderConfig.layer_sizes`)."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()) -> None:
        super().__init__()
        self.config = config
        sizes = config.layer_sizes
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:  # not the output layer
                layers += [
                    nn.BatchNorm1d(b, eps=config.bn_eps, momentum=config.bn_momentum),
                    nn.ReLU(),
                ]
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):  # Keras Dense defaults
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.config.input_dim:
            raise ValueError(
                f"expected (B, {self.config.input_dim}) vectors, got shape {tuple(x.shape)}"
            )
        return self.net(x)  # B, D


def _as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[1] != dim:
        raise ValueError(f"{what}: expected (N, {dim}) vectors, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{what}: vectors hold NaN or Inf")
    return v


def _split(
    train_vectors: np.ndarray | Sequence[np.ndarray], config: AutoencoderConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) matrices following the module docstring's rule."""
    dim = config.input_dim
    if isinstance(train_vectors, np.ndarray):
        v = _as_matrix(train_vectors, dim, "train_vectors")
        n_val = int(math.floor(v.shape[0] * config.val_fraction))
        return v[: v.shape[0] - n_val], v[v.shape[0] - n_val :]
    clips = [_as_matrix(c, dim, f"train_vectors[{i}]") for i, c in enumerate(train_vectors)]
    if not clips:
        raise ValueError("train_vectors is an empty list")
    n_val = int(round(len(clips) * config.val_fraction))
    if config.val_fraction > 0 and len(clips) >= 2:
        n_val = min(max(n_val, 1), len(clips) - 1)
    order = np.random.default_rng(config.seed).permutation(len(clips))
    val_idx = set(order[:n_val].tolist())
    train = [c for i, c in enumerate(clips) if i not in val_idx]
    val = [c for i, c in enumerate(clips) if i in val_idx]
    empty = np.zeros((0, dim), np.float32)
    return (np.concatenate(train), np.concatenate(val) if val else empty)


def _mse(model: nn.Module, x: torch.Tensor, batch: int = 8192) -> float:
    total = 0.0
    for i in range(0, x.shape[0], batch):
        xb = x[i : i + batch]
        total += float(((model(xb) - xb) ** 2).mean(dim=1).sum())
    return total / max(x.shape[0], 1)


def fit_autoencoder(
    train_vectors: np.ndarray | Sequence[np.ndarray],
    config: AutoencoderConfig = AutoencoderConfig(),
    *,
    progress: bool = False,
) -> tuple[DenseAutoencoder, pd.DataFrame]:
    """Train the baseline autoencoder on normal vectors; returns ``(model, history)``.

    ``train_vectors``: one ``(N, 640)`` array or a list of per-clip arrays (validation split
    as in the module docstring). ``history`` has one row per epoch: ``epoch, train_loss,
    val_loss, seconds`` (``val_loss`` NaN when ``val_fraction`` is 0). The model is returned in
    eval mode. Deterministic for a given ``config.seed`` and torch thread count; the global RNG
    state is left untouched.
    """
    train, val = _split(train_vectors, config)
    if train.shape[0] < 2:
        raise ValueError(f"need at least 2 training vectors, got {train.shape[0]}")
    x_train = torch.from_numpy(np.ascontiguousarray(train))  # N, D
    x_val = torch.from_numpy(np.ascontiguousarray(val))  # V, D
    rows = []
    with torch_threads(config.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = DenseAutoencoder(config)
        gen = torch.Generator().manual_seed(config.seed)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps)
        from ..progress import trange

        for epoch in trange(1, config.epochs + 1, desc="AE", unit="epoch", disable=not progress):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(x_train.shape[0], generator=gen)
            total, seen = 0.0, 0
            for i in range(0, perm.numel(), config.batch_size):
                idx = perm[i : i + config.batch_size]
                if idx.numel() < 2:
                    continue  # BatchNorm cannot train on one vector
                xb = x_train[idx]  # b, D
                loss = ((model(xb) - xb) ** 2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * idx.numel()
                seen += idx.numel()
            model.eval()
            with torch.no_grad():
                val_loss = _mse(model, x_val) if x_val.shape[0] else float("nan")
            rows.append(
                {
                    "epoch": epoch,
                    "train_loss": total / seen,
                    "val_loss": val_loss,
                    "seconds": time.perf_counter() - t0,
                }
            )
    model.eval()
    history = pd.DataFrame(rows, columns=["epoch", "train_loss", "val_loss", "seconds"])
    history.attrs.update(n_train=int(train.shape[0]), n_val=int(val.shape[0]))
    return model, history


def reconstruction_errors(model: DenseAutoencoder, vectors: np.ndarray) -> np.ndarray:
    """Per-vector mean squared reconstruction error ``(N,)`` (eval mode, no gradients)."""
    v = _as_matrix(vectors, model.config.input_dim, "vectors")
    model.eval()
    out = []
    with torch_threads(model.config.threads), torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(v))
        for i in range(0, x.shape[0], 8192):
            xb = x[i : i + 8192]  # b, D
            out.append(((model(xb) - xb) ** 2).mean(dim=1).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def score_clips(model: DenseAutoencoder, clip_vectors_list: Sequence[np.ndarray]) -> np.ndarray:
    """Anomaly score per clip ``(n_clips,)``: the mean of :func:`reconstruction_errors` over
    the clip's vectors (the baseline's score; higher = more anomalous). A clip without
    vectors raises ValueError naming its index."""
    if len(clip_vectors_list) == 0:
        return np.zeros(0)
    lengths = []
    for i, c in enumerate(clip_vectors_list):
        if np.asarray(c).ndim != 2 or len(c) == 0:
            raise ValueError(f"clip {i}: expected (N >= 1, D) vectors, got shape {np.shape(c)}")
        lengths.append(len(c))
    errors = reconstruction_errors(model, np.concatenate(clip_vectors_list))  # sum(N)
    bounds = np.cumsum([0, *lengths])
    return np.array([errors[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


def save_autoencoder(model: DenseAutoencoder, path: str | Path) -> Path:
    """Write the config and weights to ``path`` (atomically); returns the path."""
    blob = {"config": asdict(model.config), "state_dict": model.state_dict()}
    return atomic_torch_save(blob, path)


def load_autoencoder(path: str | Path) -> DenseAutoencoder:
    """Read a model written by :func:`save_autoencoder` (eval mode). FileNotFoundError when
    there is none; ValueError naming the file when it is unreadable or damaged."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no autoencoder")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = DenseAutoencoder(AutoencoderConfig(**blob["config"]))
        model.load_state_dict(blob["state_dict"])
    except Exception as err:
        raise ValueError(f"{path}: unreadable autoencoder ({type(err).__name__}: {err})") from err
    return model.eval()


# --------------------------------------------------------------------------------------------
# whole pipeline


@dataclass(frozen=True)
class AutoencoderRun:
    """Result of :func:`run_autoencoder_baseline`.

    ``scores``: the clip-table rows of every machine type trained (train and test clips) plus
    column ``score``; ``models`` / ``histories``: per machine type; ``notes``: machine types
    left out and why.
    """

    scores: pd.DataFrame
    models: dict[str, DenseAutoencoder] = field(repr=False)
    histories: dict[str, pd.DataFrame] = field(repr=False)
    notes: tuple[str, ...] = ()


def run_autoencoder_baseline(
    clips: pd.DataFrame,
    *,
    config: AutoencoderConfig = AutoencoderConfig(),
    feature_config: LogMelConfig | None = None,
    machine_types: Sequence[str] | None = None,
    cache: bool = True,
    cache_root: str | Path | None = None,
    progress: bool = False,
) -> AutoencoderRun:
    """The DCASE 2020 baseline over a clip table: one model per machine type (``group``),
    trained on its ``split == "train"`` normal clips (all IDs), scoring all its clips.

    ``feature_config`` defaults to :class:`LogMelConfig` (128 mels x 5 frames).
    ``machine_types=None`` takes every type that has training clips (the others are listed
    in ``notes``); a named type without training clips raises ValueError.
    """
    feature_config = feature_config if feature_config is not None else LogMelConfig()
    for col in ("path", "group", "id", "label", "split"):
        if col not in clips.columns:
            raise ValueError(f"clip table lacks column {col!r}")
    if feature_config.dims != config.input_dim:
        raise ValueError(
            f"feature vectors have {feature_config.dims} dims, the autoencoder expects "
            f"{config.input_dim}"
        )
    is_train = (clips["split"] == "train") & (clips["label"] == "normal")
    have_train = sorted(clips.loc[is_train, "group"].unique().tolist())
    notes = []
    if machine_types is None:
        types = have_train
        notes = [
            f"{t}: no training clips, not scored"
            for t in sorted(clips["group"].unique().tolist())
            if t not in have_train
        ]
    else:
        types = list(machine_types)
        missing = [t for t in types if t not in have_train]
        if missing:
            raise ValueError(f"no normal training clips for machine type(s) {missing}")
    if not types:
        raise ValueError("no machine type has normal training clips")
    frames, models, histories = [], {}, {}
    for t in types:
        sub = clips[clips["group"] == t].reset_index(drop=True)
        vecs = vectors_table(
            sub, feature_config, cache=cache, cache_root=cache_root, progress=progress
        )
        train_mask = ((sub["split"] == "train") & (sub["label"] == "normal")).to_numpy()
        model, hist = fit_autoencoder(
            [v for v, m in zip(vecs, train_mask, strict=True) if m], config, progress=progress
        )
        frames.append(sub.assign(score=score_clips(model, vecs)))
        models[t], histories[t] = model, hist
    return AutoencoderRun(pd.concat(frames, ignore_index=True), models, histories, tuple(notes))


@dataclass(frozen=True)
class RealDataCheck:
    """Outcome of :func:`real_data_check` (AUC/pAUC on a handful of real test clips)."""

    machine_type: str
    machine_id: str
    n_train: int
    n_normal: int
    n_anomaly: int
    auc: float
    pauc: float
    seconds: float
    scores: pd.DataFrame = field(repr=False)
    history: pd.DataFrame = field(repr=False)


def real_data_check(
    root: str | Path | None = None,
    *,
    machine_type: str = "slider",
    machine_id: str = "id_00",
    config: AutoencoderConfig = AutoencoderConfig(),
    feature_config: LogMelConfig | None = None,
    cache: bool = True,
    cache_root: str | Path | None = None,
) -> RealDataCheck:
    """Train the baseline on the real training clips of one machine ID and score its test
    clips (default: slider id_00 of the shared DCASE 2020 samples, 75 training clips,
    5 normal + 4 anomaly test clips).

    ``root`` defaults to ``<shared data>/mimii_dcase2020_samples``. With so few test clips the
    AUC is a sanity check of the pipeline on real recordings, not a benchmark.
    """
    from .. import paths
    from ..datasets import load_dataset
    from ..metrics import auc_pauc

    root = Path(root) if root is not None else paths.shared_data() / "mimii_dcase2020_samples"
    clips = load_dataset("dcase2020", root).clips
    sub = clips[(clips["group"] == machine_type) & (clips["id"] == machine_id)]
    if sub.empty:
        raise ValueError(f"no clips of {machine_type} {machine_id} in {root}")
    t0 = time.perf_counter()
    run = run_autoencoder_baseline(
        sub,
        config=config,
        feature_config=feature_config,
        machine_types=[machine_type],
        cache=cache,
        cache_root=cache_root,
    )
    test = run.scores[run.scores["split"] == "test"]
    auc, pauc = auc_pauc(test["label"], test["score"].to_numpy())
    return RealDataCheck(
        machine_type=machine_type,
        machine_id=machine_id,
        n_train=int((run.scores["split"] == "train").sum()),
        n_normal=int((test["label"] == "normal").sum()),
        n_anomaly=int((test["label"] == "anomaly").sum()),
        auc=auc,
        pauc=pauc,
        seconds=time.perf_counter() - t0,
        scores=run.scores,
        history=run.histories[machine_type],
    )
