"""What a training checkpoint and a saved network are made of: the weights copied to the CPU,
configs as sorted JSON, a cheap fingerprint of the training data, and a loader that names a
damaged file. Used by :mod:`audioanom.machines.training` (``last.pt``) and
:mod:`audioanom.machines.model_files` (``model.pt``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

__all__ = ["CHECKPOINT_FORMAT", "config_json", "cpu_state", "data_digest", "load_checkpoint"]

#: Version of the checkpoint and model files; a file of another version is refused.
CHECKPOINT_FORMAT = 2


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's state on the CPU (detached)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def config_json(obj: object, drop: Sequence[str] = ()) -> str:
    """A dataclass config as JSON with sorted keys (non-JSON values as strings), without the
    fields ``drop`` (settings that do not change the result, such as data-loader workers)."""
    fields = {k: v for k, v in asdict(obj).items() if k not in drop}  # type: ignore[call-overload]
    return json.dumps(fields, sort_keys=True, default=str)


def data_digest(specs: Sequence[np.ndarray], labels: np.ndarray) -> str:
    """A cheap fingerprint of the training data: shapes, labels and a few values per clip."""
    h = hashlib.sha256()
    h.update(np.asarray(labels, dtype=np.int64).tobytes())
    for s in specs:
        h.update(str(s.shape).encode())
        flat = np.asarray(s).reshape(-1)
        h.update(np.asarray(flat[:: max(1, flat.size // 64)], dtype=np.float32).tobytes())
    return h.hexdigest()[:24]


def load_checkpoint(path: Path) -> dict:
    """``torch.load`` of a checkpoint (weights only); ValueError naming a damaged file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, ...
        raise ValueError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from err
