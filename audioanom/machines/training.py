"""Training of the ID networks (:mod:`audioanom.machines.nn`) on normal clips.

What is learnt
--------------
A network learns, on NORMAL TRAINING clips only (``split == "train"``, ``label ==
"normal"``), which *class* a 64-frame window of the complex STFT comes from. A class is a
(machine type, machine ID) pair, named ``"fan/id_00"`` (:func:`class_key`): one network per
machine type has 4 classes, one network over every type of a data set 16. Test labels are never
looked at.

Data
----
Each clip's complex STFT ``(2, 513, T)`` is computed once and cached
(:func:`audioanom.machines.features.stft_table`). The network fits its input normalisation on
the training clips (:meth:`audioanom.machines.nn.ComplexNet.fit_input_norm`). An epoch draws
``crops_per_clip`` random 64-frame crops from every training clip (uniform start frame),
shuffles them and runs them in batches of ``batch_size`` (a last batch of one window is
dropped: batch norm needs two). ``mixup_alpha > 0`` mixes each batch with a shuffled copy of
itself (``lam ~ Beta(alpha, alpha)``, complex spectra mixed as the waveforms would be; loss
``lam CE(y) + (1 - lam) CE(y')``). ``exchange`` (off by default) then combines a share of each
batch's windows with windows of other classes as extra classes
(:mod:`audioanom.machines.exchange`; the loss takes soft targets).

Validation and stopping
-----------------------
A seeded part of the normal training clips (``val_fraction`` of each class, split BY CLIP) is
held out. After every epoch the model, in eval mode, sees every validation window at
:func:`audioanom.machines.features.window_starts` (hop ``val_hop``; the scoring windows):
``val_loss`` is the training loss on them, ``val_acc`` the class accuracy of the fused head.
Training stops after ``patience`` epochs without an improvement of ``val_loss`` by more than
``min_delta`` and returns the best epoch's weights; ``epochs`` is only a cap, and a run that
reaches it while the validation loss still improves says so (``stop_reason = "epoch cap"``,
with a warning). ``patience`` and ``lr_schedule="plateau"`` need validation clips: a ValueError
says so when there are none.

Failures are loud: a loss that becomes NaN or Inf raises :class:`TrainingDiverged` naming the
epoch and step (the initial weights are never returned silently); a checkpoint written for
other settings or data raises :class:`CheckpointMismatch`; an unreadable file names itself.

Reproducibility and resuming
----------------------------
Everything random is derived from ``(seed, epoch)``: the initial weights from ``seed``; the
crops, their order and mixup of epoch ``e`` from ``numpy.random.default_rng([seed, e])``,
dropout from the (forked) global torch RNG seeded from it. A checkpoint is written after every
epoch (``<checkpoint_dir>/last.pt``, replaced atomically) with the weights, optimizer and
scaler state, RNG state, history and best weights; ``resume=True`` continues after the last
completed epoch and ends with the SAME weights as an uninterrupted run (same device, precision
and thread count). ``epochs`` may be raised on resuming. Device and precision:
:mod:`audioanom.runtime` (``precision="auto"``: bf16 where it is fast). Clips, classes, the
validation split and the crops: :mod:`audioanom.machines.training_data`. Several processes
(``torchrun``, DistributedDataParallel): :mod:`audioanom.distributed`.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..distributed import all_sum, barrier, broadcast_buffers, main_first, shard_indices
from ..distributed import current as current_dist
from ..runtime import (
    atomic_torch_save,
    autocast_context,
    cudnn_autotune,
    resolve_device,
    resolve_precision,
    to_device,
    torch_threads,
    use_channels_last,
)
from .checkpoints import CHECKPOINT_FORMAT, config_json, cpu_state, data_digest, load_checkpoint
from .exchange import exchange_batch, exchange_partners
from .features import (
    StftConfig,
    require_windows,
    stft_table,
)
from .nn import ComplexNet, ComplexNetConfig, MagnitudeNet
from .training_config import LR_SCHEDULES, RESULT_NEUTRAL, TrainConfig, signature_drop
from .training_data import (
    class_key,
    class_keys,
    class_mapping,
    crop_batch,
    crop_loader,
    evaluate_windows,
    sample_crops,
    split_train_val,
    training_clips,
    window_totals,
)

__all__ = [
    "HISTORY_COLUMNS",
    "LR_SCHEDULES",
    "RESULT_NEUTRAL",
    "VARIANTS",
    "CheckpointMismatch",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "build_network",
    "class_key",
    "class_mapping",
    "crop_batch",
    "evaluate_windows",
    "sample_crops",
    "split_train_val",
    "train_clips_network",
    "train_model",
    "training_clips",
]

#: The two networks: the complex network and its magnitude-only ablation.
VARIANTS = ("complex", "magnitude")

#: Columns of the per-epoch metrics table (and ``metrics.csv``). ``windows_per_s``: training
#: windows (64-frame crops) per second of the epoch's training steps.
HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "seconds",
    "windows_per_s",
    "best",
)


class CheckpointMismatch(ValueError):
    """A checkpoint or saved model was written for other settings, classes or data."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or Inf (the message names the epoch and step)."""


def build_network(variant: str, config: ComplexNetConfig) -> ComplexNet | MagnitudeNet:
    """A fresh network of ``variant`` (``"complex"`` or ``"magnitude"``) with ``config``."""
    if variant == "complex":
        return ComplexNet(config)
    if variant == "magnitude":
        return MagnitudeNet(config)
    raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


# ---- the training loop ----------------------------------------------------------------------


@dataclass(frozen=True)
class TrainResult:
    """A trained network and how it got there.

    ``model`` is in eval mode on ``device`` with the best epoch's weights (the last epoch's
    without validation). ``classes[k]`` is the class key of output ``k``. ``stop_reason``:
    ``"early stop"`` (patience reached), ``"epoch cap"`` (patience not reached),
    ``"fixed epochs"`` (no patience) or ``"no validation"``.
    ``signature`` identifies the configs and the data it was trained on.
    """

    model: torch.nn.Module = dataclasses.field(repr=False)
    variant: str
    history: pd.DataFrame = dataclasses.field(repr=False)
    classes: tuple[str, ...]
    best_epoch: int
    stop_reason: str
    config: TrainConfig
    model_config: ComplexNetConfig
    device: str
    precision: str
    n_train_clips: int
    n_val_clips: int
    signature: str = ""
    seconds: float = 0.0

    @property
    def class_index(self) -> dict[str, int]:
        """Class key -> output index."""
        return {c: k for k, c in enumerate(self.classes)}


def _check_inputs(specs, labels, k: int, n_bins: int, what: str) -> np.ndarray:
    y = np.asarray(labels, dtype=np.int64)
    if len(specs) != y.size:
        raise ValueError(f"{what}: {len(specs)} clips but {y.size} labels")
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"{what} labels must be in 0..{k - 1}, got {sorted(set(y.tolist()))}")
    for i, s in enumerate(specs):
        if s.ndim != 3 or s.shape[0] != 2 or s.shape[1] != n_bins:
            raise ValueError(f"{what} clip {i}: expected a (2, {n_bins}, T) STFT, got {s.shape}")
    return y


def train_model(
    variant: str,
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
    """Train a ``variant`` network on windows of ``(2, F, T)`` STFTs with class labels
    ``0 .. model_config.n_classes - 1`` (module docstring). With ``checkpoint_dir`` a
    checkpoint (``last.pt``) and ``metrics.csv`` are written after every epoch; ``resume=True``
    continues from that checkpoint (CheckpointMismatch if it belongs to other settings or data).
    ``callback(epoch, row)`` runs after each epoch's checkpoint (a test stops a run by raising).
    """
    t_start = time.perf_counter()
    ctx = current_dist()
    k, n_bins = model_config.n_classes, model_config.n_bins
    window = model_config.window_frames  # the windows the network is scored on too
    exchanging = config.exchange != "none"
    if exchanging and (k % 2 or variant != "complex" and config.exchange == "branches"):
        raise ValueError(
            f"exchange={config.exchange!r} needs the complex network (branches) and an even "
            f"n_classes (K ID classes, then K exchange classes), got {variant!r}, {k}"
        )
    if exchanging and model_config.margin > 0:
        raise ValueError("exchange classes need soft targets: not with an ArcFace head (margin)")
    n_base = k // 2 if exchanging else k  # the ID classes the labels name
    y_train = _check_inputs(train_specs, train_labels, n_base, n_bins, "training")
    y_val = _check_inputs(val_specs, val_labels, n_base, n_bins, "validation")
    if y_train.size == 0:
        raise ValueError("no training clips")
    if config.patience is not None and y_val.size == 0:
        raise ValueError(
            "early stopping (patience) needs validation clips, but there are none: raise "
            "val_fraction, give validation clips, or set patience=None"
        )
    if config.lr_schedule == "plateau" and y_val.size == 0:
        raise ValueError(
            "lr_schedule='plateau' needs validation clips, but there are none: raise "
            "val_fraction, give validation clips, or set lr_schedule='constant'"
        )
    classes = tuple(str(c) for c in (classes if classes is not None else range(k)))
    if len(classes) != k:
        raise ValueError(f"{len(classes)} class names for {k} classes")
    class_group = np.array([c.split("/")[0] for c in classes[:n_base]])  # machine type per class
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    signature = json.dumps(
        {
            "variant": variant,
            "train": config_json(
                dataclasses.replace(config, epochs=1, threads=None), drop=signature_drop(config)
            ),
            "model": config_json(model_config),
            "classes": classes,
            "data": data_digest(train_specs, y_train),
            "val": data_digest(val_specs, y_val),
            "precision": precision,
            "device": device.type,
        },
        sort_keys=True,
    )
    ckpt_file = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None
    n_frames = [s.shape[-1] for s in train_specs]
    has_val = y_val.size > 0

    with (
        torch_threads(config.threads),
        cudnn_autotune(device),
        torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []),
    ):
        torch.manual_seed(config.seed)
        model = build_network(variant, model_config).fit_input_norm(train_specs)
        model.to(device)
        channels_last = use_channels_last(device, precision)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sched = None
        if config.lr_schedule == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt,
                factor=config.lr_factor,
                patience=config.lr_patience,
                threshold=config.min_delta,
                threshold_mode="abs",
            )
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        state = {"history": [], "best_metric": None, "best_epoch": 0, "bad_epochs": 0}
        state["stopped"], state["best_state"], start_epoch = False, cpu_state(model), 1
        if resume and ckpt_file is not None and ckpt_file.is_file():
            ckpt = load_checkpoint(ckpt_file)
            if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("signature") != signature:
                raise CheckpointMismatch(
                    f"{ckpt_file}: checkpoint written for other settings, classes or data; "
                    "delete it or train without resume"
                )
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            if sched is not None:
                sched.load_state_dict(ckpt["scheduler"])
            torch.set_rng_state(ckpt["rng_torch"])
            for key in ("history", "best_metric", "best_epoch", "bad_epochs", "stopped"):
                state[key] = ckpt[key]
            state["history"] = list(state["history"])
            state["best_state"] = ckpt["best_state"]
            start_epoch = ckpt["epoch"] + 1
        elif ckpt_file is not None and ctx.is_main:
            ckpt_file.unlink(missing_ok=True)  # a fresh run: never resume a stale file later
        fwd = model  # what the training steps call: DDP around the model on several ranks
        if ctx.active:
            ids = [device.index or 0] if device.type == "cuda" else None
            fwd = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        per_rank = -(-config.batch_size // ctx.world_size)  # windows per step and rank
        val_mine = np.arange(len(val_specs))[ctx.rank :: ctx.world_size]

        from ..progress import tqdm

        bar = tqdm(
            total=config.epochs,
            initial=start_epoch - 1,
            desc=f"train {variant}",
            unit="epoch",
            disable=not (progress and ctx.is_main),
        )
        epoch = start_epoch
        while epoch <= config.epochs and not state["stopped"]:
            rng = np.random.default_rng([config.seed, epoch])
            torch.manual_seed(int(rng.integers(2**62)))  # dropout
            clip_idx, starts = sample_crops(n_frames, config.crops_per_clip, window, rng)
            mine = shard_indices(clip_idx.size, ctx)  # this rank's crops (all on one process)
            clip_idx, starts = clip_idx[mine], starts[mine]
            model.train()
            t0 = time.perf_counter()
            total, correct, seen, scored = 0.0, 0, 0, 0  # scored: windows not exchanged
            batches = crop_loader(
                train_specs,
                clip_idx,
                starts,
                window=window,
                batch_size=per_rank,
                workers=config.loader_workers,
                pin_memory=device.type == "cuda",
            )
            for step, (x, idx) in enumerate(batches, start=1):  # b, 2, F, W and b
                if len(idx) < 2:
                    continue  # batch norm cannot train on one window
                y = torch.from_numpy(y_train[idx.numpy()])  # b
                lam, perm = 1.0, None
                if config.mixup_alpha > 0:
                    lam = float(rng.beta(config.mixup_alpha, config.mixup_alpha))
                    perm = torch.from_numpy(rng.permutation(len(y)))
                    x = lam * x + (1 - lam) * x[perm]  # b, 2, F, W
                partner = None
                if exchanging:
                    partner = exchange_partners(
                        y.numpy(), class_group[y.numpy()], config.exchange_fraction, rng
                    )  # b
                x, y = to_device(x, device), to_device(y, device)
                if channels_last:  # the batch too (faster than the model alone: runtime)
                    x = x.contiguous(memory_format=torch.channels_last)  # b, 2, F, W (NHWC)
                if partner is None:
                    with autocast_context(device, precision):
                        out = fwd(x, y)
                    loss = model.loss(out, y)
                    if perm is not None:
                        loss = lam * loss + (1 - lam) * model.loss(out, y[perm.to(device)])
                    kept = torch.ones_like(y, dtype=torch.bool)  # b
                else:  # exchange classes: soft targets over 2K classes
                    partner = to_device(torch.from_numpy(partner), device)  # b
                    soft = torch.nn.functional.one_hot(y, n_base).float()  # b, K
                    if perm is not None:
                        soft = lam * soft + (1 - lam) * soft[perm.to(device)]
                    x, heads_t, fused_t = exchange_batch(x, soft, partner, config.exchange)
                    with autocast_context(device, precision):
                        out = fwd(x, swap=partner) if config.exchange == "branches" else fwd(x)
                    loss = model.loss(out, heads_t, fused_t)
                    kept = partner == torch.arange(len(y), device=device)  # b
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"{variant} network: the training loss is {float(loss.detach())} at "
                        f"epoch {epoch}, step {step} (learning rate {config.lr}); lower the "
                        "learning rate or check the input for NaN/Inf"
                    )
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                total += float(loss.detach()) * len(y)
                correct += int(((out.fused.argmax(dim=1) == y) & kept).sum())
                seen += len(y)
                scored += int(kept.sum())
            train_seconds = time.perf_counter() - t0
            total, correct, seen, scored = all_sum([total, correct, seen, scored], ctx)
            val_loss = val_acc = float("nan")
            if has_val:
                broadcast_buffers(model, ctx)  # one set of batch-norm statistics to validate
                v_total, v_correct, v_n = all_sum(
                    window_totals(
                        model,
                        [val_specs[j] for j in val_mine],
                        y_val[val_mine],
                        window=window,
                        hop=config.val_hop,
                        device=device,
                        precision=precision,
                    ),
                    ctx,
                )
                val_loss, val_acc = v_total / v_n, v_correct / v_n
            best = state["best_metric"]
            is_best = not has_val or best is None or val_loss < best - config.min_delta
            if is_best:
                state["best_metric"], state["best_epoch"], state["bad_epochs"] = (
                    val_loss,
                    epoch,
                    0,
                )
                state["best_state"] = cpu_state(model)
            else:
                state["bad_epochs"] += 1
            if config.patience is not None and state["bad_epochs"] >= config.patience:
                state["stopped"] = True
            lr_used = opt.param_groups[0]["lr"]
            if sched is not None:
                sched.step(val_loss)  # the next epoch's rate
            row = {
                "epoch": epoch,
                "train_loss": total / max(seen, 1),
                "train_acc": correct / max(scored, 1),
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": lr_used,
                "seconds": time.perf_counter() - t0,
                "windows_per_s": seen / train_seconds if train_seconds > 0 else float("nan"),
                "best": bool(is_best),
            }
            state["history"].append(row)
            if ckpt_file is not None and ctx.is_main:
                atomic_torch_save(
                    {
                        "format": CHECKPOINT_FORMAT,
                        "signature": signature,
                        "epoch": epoch,
                        "model": cpu_state(model),
                        "optimizer": opt.state_dict(),
                        "scaler": scaler.state_dict(),
                        "scheduler": sched.state_dict() if sched is not None else None,
                        "rng_torch": torch.get_rng_state(),
                        **state,
                    },
                    ckpt_file,
                )
                pd.DataFrame(state["history"], columns=list(HISTORY_COLUMNS)).to_csv(
                    ckpt_file.parent / "metrics.csv", index=False
                )
            barrier(ctx)  # the checkpoint is complete before any rank goes on
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{val_loss:.3f}")
            if callback is not None:
                callback(epoch, row)
            epoch += 1
        bar.close()

    history = pd.DataFrame(state["history"], columns=list(HISTORY_COLUMNS))
    if not has_val:
        reason = "no validation"
    elif config.patience is None:
        reason = "fixed epochs"
    elif state["stopped"]:
        reason = "early stop"
    else:
        reason = "epoch cap"
        if state["best_epoch"] == len(history):
            warnings.warn(
                f"{variant} network: stopped at the epoch cap ({config.epochs}) while the "
                "validation loss was still improving: raise epochs",
                stacklevel=2,
            )
    model.load_state_dict(state["best_state"])
    model.eval()
    return TrainResult(
        model=model,
        variant=variant,
        history=history,
        classes=classes,
        best_epoch=int(state["best_epoch"]),
        stop_reason=reason,
        config=config,
        model_config=model_config,
        device=str(device),
        precision=precision,
        n_train_clips=len(train_specs),
        n_val_clips=len(val_specs),
        signature=signature,
        seconds=time.perf_counter() - t_start,
    )


def train_clips_network(
    clips: pd.DataFrame,
    variant: str,
    model_config: ComplexNetConfig,
    config: TrainConfig = TrainConfig(),
    *,
    groups: Iterable[str] | str | None = None,
    stft_config: StftConfig | None = None,
    specs_fn: Callable[[pd.DataFrame], list[np.ndarray]] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
    speed_classes: Sequence[float] = (),
) -> TrainResult:
    """Train a network on the normal training clips of the machine types ``groups`` (None:
    every type in ``clips``): classes are their (type, ID) keys (:func:`class_key`),
    ``model_config.n_classes`` is set to their number. ``specs_fn(table)`` computes the STFTs
    (default: :func:`audioanom.machines.features.stft_table` with ``stft_config``, cached).
    ValueError when there are no training clips or fewer than two classes.

    ``speed_classes``: for each factor ``f``, every clip of the split played ``f`` times as
    fast (:func:`audioanom.machines.features.stft_table` with ``speed=f``) as a class of its
    own, named ``"<type>/<id>@x<f>"`` after the real classes (Giri et al., DCASE 2020, make
    classes from pitch-shifted and time-stretched copies): a harder task for the embedding. A
    copy lands on the side of the split its clip is on, so held-out clips stay unseen in every
    form. ``config.exchange`` adds one exchange class per class, named ``"<class>~exchanged"``
    (:mod:`audioanom.machines.exchange`)."""
    if stft_config is None:
        stft_config = model_config.stft
    elif stft_config != model_config.stft:
        raise ValueError(
            f"STFT settings {stft_config} differ from the network's {model_config.stft} "
            "(sample_rate, n_fft, hop_length of ComplexNetConfig)"
        )
    train_all = training_clips(clips, groups)
    if train_all.empty:
        raise ValueError(f"{groups or 'all types'}: no normal training clips")
    mapping = class_mapping(class_keys(train_all))
    if len(mapping) < 2:
        raise ValueError(
            f"{groups or 'all types'}: normal training clips of {len(mapping)} class "
            f"({', '.join(mapping)}); the ID classifier needs at least 2"
        )
    factors = [float(f) for f in speed_classes]
    if len(set(factors)) != len(factors) or any(not f > 0 or f == 1 for f in factors):
        raise ValueError(f"speed_classes must be distinct factors > 0 and not 1, got {factors}")
    if factors and specs_fn is not None:
        raise ValueError("speed_classes need the clips' audio: not with specs_fn")
    train, val = split_train_val(train_all, config.val_fraction, config.seed)
    files = train_all["path"].tolist()
    labels = class_keys(train_all).map(mapping).to_numpy(dtype=np.int64)
    classes = list(mapping)
    with main_first(current_dist()):  # several ranks: rank 0 fills the STFT cache
        if specs_fn is None:
            specs = stft_table(train_all, stft_config, lazy=True, progress=progress)
        else:
            specs = specs_fn(train_all)
        copies = [
            stft_table(train_all, stft_config, speed=f, lazy=True, progress=progress)
            for f in factors
        ]
    require_windows(specs, files, model_config.window_frames)
    train_specs, val_specs = [specs[i] for i in train.index], [specs[i] for i in val.index]
    y_train, y_val = [labels[train.index]], [labels[val.index]]
    for j, (f, fast) in enumerate(zip(factors, copies, strict=True), start=1):
        require_windows(fast, [f"{p} (x{f:g})" for p in files], model_config.window_frames)
        train_specs += [fast[i] for i in train.index]
        val_specs += [fast[i] for i in val.index]
        y_train.append(labels[train.index] + j * len(mapping))
        y_val.append(labels[val.index] + j * len(mapping))
        classes += [f"{k}@x{f:g}" for k in mapping]
    if config.exchange != "none":  # the exchange classes after the ID classes
        classes += [f"{k}~exchanged" for k in classes]
    model_config = dataclasses.replace(model_config, n_classes=len(classes))
    return train_model(
        variant,
        train_specs,
        np.concatenate(y_train),
        val_specs,
        np.concatenate(y_val),
        model_config,
        config,
        classes=classes,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        callback=callback,
    )
