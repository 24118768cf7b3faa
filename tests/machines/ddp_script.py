"""Run by ``torchrun`` from ``test_distributed.py``: train the tiny network of
``test_training.py`` on its band-noise clips with DistributedDataParallel (gloo, CPU).

    torchrun --standalone --nproc_per_node 2 -m tests.machines.ddp_script OUT EPOCHS [resume]

Rank 0 writes ``OUT/history.csv`` and ``OUT/weights.pt``; the checkpoint goes to ``OUT/ckpt``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

from audioanom import distributed
from audioanom.machines.training import train_model
from tests.machines.test_training import BASE, TINY, band_specs

DDP_CONFIG = dataclasses.replace(BASE, patience=None)


def data():
    """The clips every rank (and the one-process run of the test) trains on."""
    train, y_train = band_specs(4, seed=1)
    val, y_val = band_specs(2, seed=2)
    return train, y_train, val, y_val


def main(out: Path, epochs: int, resume: bool) -> None:
    ctx = distributed.init_from_env("cpu")
    try:
        res = train_model(
            "complex",
            *data(),
            TINY,
            dataclasses.replace(DDP_CONFIG, epochs=epochs),
            checkpoint_dir=out / "ckpt",
            resume=resume,
        )
        if ctx.is_main:
            res.history.to_csv(out / "history.csv", index=False)
            torch.save(res.model.state_dict(), out / "weights.pt")
            (out / "world.txt").write_text(str(ctx.world_size))
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "resume")
