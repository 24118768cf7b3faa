"""Trained ID networks on disk: :func:`save_trained` writes a :class:`~audioanom.machines.
training.TrainResult` (weights with the input normalisation, both configs, classes, history,
the training-data signature and any extra metadata) atomically; :func:`load_trained` reads it
back, refusing a file of another format or a damaged one with a message that names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..runtime import atomic_torch_save, resolve_device
from .checkpoints import CHECKPOINT_FORMAT, config_json, cpu_state, load_checkpoint
from .nn import ComplexNetConfig
from .training import TrainConfig, TrainResult, build_network

__all__ = ["load_trained", "save_trained"]


def save_trained(result: TrainResult, path: str | Path, **extra: object) -> Path:
    """Write a trained network (weights with its input normalisation, configs, classes,
    history, signature and any ``extra`` JSON-able metadata) to ``path``; returns the path."""
    blob = {
        "format": CHECKPOINT_FORMAT,
        "variant": result.variant,
        "state_dict": cpu_state(result.model),
        "model_config": config_json(result.model_config),
        "train_config": config_json(result.config),
        "classes": list(result.classes),
        "history": result.history.to_dict(orient="list"),
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "precision": result.precision,
        "n_train_clips": result.n_train_clips,
        "n_val_clips": result.n_val_clips,
        "signature": result.signature,
        "seconds": result.seconds,
        "extra": json.dumps(extra, sort_keys=True, default=str),
    }
    return atomic_torch_save(blob, path)


def load_trained(path: str | Path, *, device: str = "cpu") -> tuple[TrainResult, dict]:
    """Read a network written by :func:`save_trained`: ``(result, extra metadata)``, the model
    on ``device`` in eval mode. FileNotFoundError when there is no file; ValueError naming the
    file when it is unreadable, of another format, or its weights do not fit its config."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained model")
    blob = load_checkpoint(path)
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        fmt = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path}: not a trained model of this version (format {fmt!r})")
    try:
        model_config = ComplexNetConfig(**json.loads(blob["model_config"]))
        model = build_network(blob["variant"], model_config)
        model.load_state_dict(blob["state_dict"])
        train_fields = json.loads(blob["train_config"])
        # files written before the window length moved to the network's config kept a copy
        legacy_window = train_fields.pop("window_frames", model_config.window_frames)
        if legacy_window != model_config.window_frames:
            raise ValueError(
                f"trained on windows of {legacy_window} frames, but its network config says "
                f"{model_config.window_frames}"
            )
        train_config = TrainConfig(**train_fields)
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise ValueError(f"{path}: damaged model file ({type(err).__name__}: {err})") from err
    dev = resolve_device(device)
    model.to(dev).eval()
    result = TrainResult(
        model=model,
        variant=str(blob["variant"]),
        history=pd.DataFrame(blob["history"]),
        classes=tuple(blob["classes"]),
        best_epoch=int(blob["best_epoch"]),
        stop_reason=str(blob["stop_reason"]),
        config=train_config,
        model_config=model_config,
        device=str(dev),
        precision=str(blob["precision"]),
        n_train_clips=int(blob["n_train_clips"]),
        n_val_clips=int(blob["n_val_clips"]),
        signature=str(blob["signature"]),
        seconds=float(blob.get("seconds", 0.0)),
    )
    return result, json.loads(blob["extra"])
