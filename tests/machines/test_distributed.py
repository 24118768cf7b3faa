"""Training on two processes (torchrun, DistributedDataParallel, gloo on the CPU): the same
validation metrics as one process within the stated tolerance, exact resume, the CLI."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audioanom.distributed import SINGLE, DistContext, all_sum, init_from_env, shard_indices
from audioanom.machines.model_files import load_trained
from audioanom.machines.training import train_model
from audioanom.runtime import cudnn_autotune, default_threads, to_device
from tests.machines.ddp_script import DDP_CONFIG, TINY, data

ROOT = Path(__file__).resolve().parents[2]
# per-rank batch norm (CPU has no SyncBatchNorm) is the one difference from one process:
# measured |val_loss difference| <= 0.05 over 6 epochs of this task, stated tolerance 0.1
VAL_LOSS_TOL = 0.1


def _torchrun(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    run = subprocess.run(
        [*cmd, *args],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def test_each_rank_gets_its_share_of_the_crops():
    # DistributedSampler without shuffling: rank r takes r, r + 2, ...; padded from the start
    assert shard_indices(5, DistContext(0, 2)).tolist() == [0, 2, 4]
    assert shard_indices(5, DistContext(1, 2)).tolist() == [1, 3, 0]
    assert shard_indices(5, SINGLE).tolist() == [0, 1, 2, 3, 4]
    assert all_sum([1.5, 2], SINGLE) == [1.5, 2.0]
    with pytest.raises(ValueError, match="rank 2 of world size 2"):
        DistContext(2, 2)


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    """6 epochs on two processes in one go, and 3 + 3 with a resume in between."""
    whole, parts = tmp_path_factory.mktemp("whole"), tmp_path_factory.mktemp("parts")
    module = "tests.machines.ddp_script"
    _torchrun("-m", module, str(whole), "6")
    _torchrun("-m", module, str(parts), "3")
    _torchrun("-m", module, str(parts), "6", "resume")
    return whole, parts


def test_two_processes_validate_like_one(two_process_runs):
    whole, _ = two_process_runs
    assert (whole / "world.txt").read_text() == "2"
    two = pd.read_csv(whole / "history.csv")
    one = train_model("complex", *data(), TINY, dataclasses.replace(DDP_CONFIG, epochs=6)).history
    assert two["epoch"].tolist() == one["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], atol=VAL_LOSS_TOL)
    np.testing.assert_allclose(two["train_loss"], one["train_loss"], atol=VAL_LOSS_TOL)
    assert two["val_loss"].iat[-1] < two["val_loss"].iat[0] - 0.3  # it learnt
    assert two["val_acc"].iat[-1] == one["val_acc"].iat[-1] == 1.0  # three loud bands


def test_a_resumed_two_process_run_ends_with_the_same_weights(two_process_runs):
    whole, parts = two_process_runs
    a, b = pd.read_csv(whole / "history.csv"), pd.read_csv(parts / "history.csv")
    np.testing.assert_array_equal(a["val_loss"], b["val_loss"])
    wa, wb = torch.load(whole / "weights.pt"), torch.load(parts / "weights.pt")
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0, msg=key)


def test_torchrun_audioanom_train_trains_one_network_on_two_processes(tmp_path):
    env = {
        "AUDIOANOM_BUILD": str(tmp_path / "build"),
        "AUDIOANOM_DATA": str(tmp_path / "data"),
        "AUDIOANOM_TEXT_PROGRESS": "1",
    }
    args = ["-m", "audioanom", "train", "--smoke", "--variant", "complex", "--epochs", "1"]
    run = _torchrun(*args, "--precision", "fp32", env=env)
    assert run.stdout.count("trained on 2 processes") == 1  # rank 0 alone prints
    assert run.stdout.count("models in ") == 1
    model = tmp_path / "build" / "mimii" / "synthetic-smoke" / "models" / "complex" / "all"
    result, _ = load_trained(model / "model.pt")
    assert len(result.classes) == 16 and result.model_config.n_classes == 16
    metrics = pd.read_csv(model / "metrics.csv")
    assert metrics["epoch"].tolist() == [1]  # one writer, one row per epoch


def test_threads_are_shared_among_the_processes_of_a_machine(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_threads() == 16
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert default_threads() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert default_threads() == 1


def test_the_cpu_path_leaves_tensors_and_cudnn_alone():
    x = torch.arange(6.0)
    assert to_device(x, torch.device("cpu")) is x  # no copy on the CPU
    before = torch.backends.cudnn.benchmark
    with cudnn_autotune(torch.device("cpu")):
        assert torch.backends.cudnn.benchmark == before
    assert torch.backends.cudnn.benchmark == before


def test_without_torchrun_there_is_one_process(monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert init_from_env("cpu") == SINGLE and SINGLE.is_main and not SINGLE.active
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="RANK, LOCAL_RANK.*start with torchrun"):
        init_from_env("cpu")
