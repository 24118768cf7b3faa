"""How an ID network is trained: :class:`TrainConfig` (the loop is
:mod:`audioanom.machines.training`, whose module docstring describes every field's effect)."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime import PRECISIONS
from .exchange import EXCHANGES

__all__ = ["LR_SCHEDULES", "RESULT_NEUTRAL", "TrainConfig", "signature_drop"]

#: Learning-rate schedules: ``"constant"``; ``"plateau"`` multiplies the rate by ``lr_factor``
#: after ``lr_patience`` epochs without a better validation loss
#: (:class:`torch.optim.lr_scheduler.ReduceLROnPlateau`, same ``min_delta`` as early stopping).
LR_SCHEDULES = ("constant", "plateau")

#: TrainConfig fields that change speed, not results: left out of signatures, so that a run may
#: resume (or a saved model be reused) with another value.
RESULT_NEUTRAL = ("loader_workers",)

#: Options added after models were saved, with their "off" value and the fields they bring:
#: left out of signatures while off, so that models and checkpoints saved before stay valid.
_ADDED_OPTIONS = {"exchange": ("none", ("exchange", "exchange_fraction"))}


@dataclass(frozen=True)
class TrainConfig:
    """How an ID network is trained (module docstring). ``epochs`` is a cap; ``patience``
    epochs without a better validation loss stop the run (None: train all ``epochs``).
    ``threads=None`` uses every core (shared among torchrun's processes). ``loader_workers``
    processes read the training crops ahead of the steps (DataLoader workers; 0: the training
    process reads them), which changes speed, not results. ``lr_schedule`` (:data:`LR_SCHEDULES`)
    with ``lr_factor`` and ``lr_patience``: how the learning rate falls when the validation loss
    stops improving (needs validation clips). ``exchange`` (:data:`EXCHANGES`) with
    ``exchange_fraction``: the share of each batch's windows exchanged with a window of another
    class, as extra classes (:mod:`audioanom.machines.exchange`; ``"none"``: off). The window
    length is not here: it is the network's (``ComplexNetConfig.window_frames``), so training
    and scoring cut the same windows."""

    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    crops_per_clip: int = 4
    val_fraction: float = 0.2
    val_hop: int = 32
    patience: int | None = 5
    min_delta: float = 1e-3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    mixup_alpha: float = 0.0
    loader_workers: int = 0
    lr_schedule: str = "constant"
    lr_factor: float = 0.5
    lr_patience: int = 2
    exchange: str = "none"
    exchange_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.exchange not in EXCHANGES:
            raise ValueError(f"exchange must be one of {EXCHANGES}, got {self.exchange!r}")
        if not 0.0 < self.exchange_fraction <= 1.0:
            raise ValueError(f"exchange_fraction must be in (0, 1], got {self.exchange_fraction}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0.0 < self.lr_factor < 1.0 or self.lr_patience < 0:
            raise ValueError(
                f"need 0 < lr_factor < 1 and lr_patience >= 0, got {self.lr_factor}, "
                f"{self.lr_patience}"
            )
        if self.loader_workers < 0:
            raise ValueError(f"loader_workers must be >= 0, got {self.loader_workers}")
        for name in ("epochs", "crops_per_clip", "val_hop"):
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
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")
        if self.mixup_alpha < 0 or self.min_delta < 0:
            raise ValueError(f"mixup_alpha and min_delta must be >= 0: {self}")


def signature_drop(config: TrainConfig) -> tuple[str, ...]:
    """The fields of ``config`` a signature leaves out: :data:`RESULT_NEUTRAL`, and the fields of
    an option added later while it is off (a model saved before it had none of them)."""
    drop = list(RESULT_NEUTRAL)
    for name, (off, fields) in _ADDED_OPTIONS.items():
        if getattr(config, name) == off:
            drop += fields
    return tuple(drop)
