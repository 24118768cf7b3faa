"""Clip scores: deterministic, equal to the per-window slow path, whole clip covered."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from audioanom.machine_features import StftConfig, window_starts
from audioanom.nn import ComplexNet, scoring_logits
from audioanom.scoring import (
    SCORE_COLUMNS,
    ScoreConfig,
    clip_window_logits,
    per_window_reference,
    score_clips,
    score_specs,
    write_scores,
)
from tests.conftest import tiny_net_config

TINY = tiny_net_config(dropout=0.0)
CPU1 = ScoreConfig(device="cpu", precision="fp32", threads=1, batch_clips=3)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = ComplexNet(TINY)
    # A few training steps so that batch-norm statistics and weights are not at their init.
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.randn(8, 2, TINY.n_bins, 64, generator=g)
        y = torch.randint(0, 3, (8,), generator=g)
        loss = m.loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def clips_specs(n: int = 5, frames: int = 100, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2, TINY.n_bins, frames)).astype(np.float32) for _ in range(n)]


def test_scores_are_deterministic(model):
    specs, targets = clips_specs(), np.array([0, 1, 2, 0, 1])
    a = score_specs(model, specs, targets, CPU1)
    b = score_specs(model, specs, targets, CPU1)
    assert np.array_equal(a.scores, b.scores) and np.array_equal(a.pred, b.pred)
    assert a.scores.shape == (5,) and a.mean_logits.shape == (5, 3)
    assert np.isfinite(a.scores).all() and (a.scores > 0).all()


def float64_reference(model, spec, target, *, window=64, hop=32) -> float:
    """Mean cross-entropy of ``target`` over the windows of one clip, every window alone,
    in float64 (a copy of the model): the reference the float32 paths are held to."""
    m64 = copy.deepcopy(model).double().eval()
    x = torch.from_numpy(np.asarray(spec, np.float64))
    with torch.no_grad():
        ces = [
            float(
                torch.nn.functional.cross_entropy(
                    scoring_logits(m64(x[None, ..., s : s + window])), torch.tensor([target])
                )
            )
            for s in window_starts(x.shape[-1], window, hop).tolist()
        ]
    return float(np.mean(ces))


def test_exact_scores_equal_the_slow_per_window_path(model):
    """Batched exact windows, one-window-at-a-time and a float64 reference agree. Precision is
    pinned to fp32: ``"auto"`` picks bf16 on CPUs with fast bf16 (AMX, AVX512-BF16), which is a
    different computation (tested below). Tolerance: float32 rounding of a 5-layer network
    whose logits are O(1): a few hundred ulps of a score of about 1 (measured here: 1e-7)."""
    specs, targets = clips_specs(n=3, frames=100), np.array([2, 0, 1])
    fp32 = ScoreConfig(exact=True, device="cpu", precision="fp32")
    exact = score_specs(model, specs, targets, fp32)
    slow = [per_window_reference(model, s, int(t)) for s, t in zip(specs, targets, strict=True)]
    ref = [float64_reference(model, s, int(t)) for s, t in zip(specs, targets, strict=True)]
    tol = 256 * np.finfo(np.float32).eps  # 3e-5
    np.testing.assert_allclose(exact.scores, ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(slow, ref, rtol=tol, atol=tol)
    # 100 frames, hop 32: windows at 0 and 32, plus one aligned to the end (36).
    assert exact.n_windows.tolist() == [3, 3, 3]


def test_bf16_scores_stay_within_bf16_rounding_of_the_reference(model):
    """bf16 autocast (what ``precision="auto"`` gives on CPUs with fast bf16): each product
    rounds its inputs to 8 significant bits (eps 2**-7 = 0.0078); through a 5-layer network
    with batch norm the score moves by a small multiple of that (measured: 1.9e-4 on an AMD
    EPYC with AVX512-BF16 and here, emulated). Bound: 2 bf16 eps of a score of about 1."""
    specs, targets = clips_specs(n=3, frames=100), np.array([2, 0, 1])
    bf16 = score_specs(
        model, specs, targets, ScoreConfig(exact=True, device="cpu", precision="bf16")
    )
    ref = [float64_reference(model, s, int(t)) for s, t in zip(specs, targets, strict=True)]
    eps = float(torch.finfo(torch.bfloat16).eps)
    np.testing.assert_allclose(bf16.scores, ref, rtol=2 * eps, atol=2 * eps)


def test_run_once_scores_are_close_to_the_slow_path(model):
    """Run-once logits differ from separate windows only near window edges (the trunk sees
    the neighbouring audio instead of zeros): clip scores stay close and keep their order."""
    specs = clips_specs(n=8, frames=160, seed=1)
    targets = np.arange(8) % 3
    fast = score_specs(model, specs, targets, CPU1).scores
    slow = np.array(
        [per_window_reference(model, s, int(t)) for s, t in zip(specs, targets, strict=True)]
    )
    assert np.abs(fast - slow).max() < 0.02 * np.abs(slow).mean()
    assert np.corrcoef(fast, slow)[0, 1] > 0.9


def test_every_frame_is_covered_by_a_window(model):
    x = torch.from_numpy(np.stack(clips_specs(n=2, frames=313)))
    with torch.no_grad():
        logits = clip_window_logits(model, x)  # run-once
        exact = clip_window_logits(model, x, exact=True)
    starts = window_starts(313, 64, 32)
    assert starts[-1] == 313 - 64  # the end-aligned window
    assert logits.shape == exact.shape == (2, len(starts), 3)
    # 70 frames: windows at 0 and 6. The end window (start 6) has less than 16 frames of left
    # context, so run-once computes it from exactly its own 64 frames: equal to the exact path.
    with torch.no_grad():
        short = torch.from_numpy(np.stack(clips_specs(n=1, frames=70)))
        a = clip_window_logits(model, short)
        b = clip_window_logits(model, short, exact=True)
    assert a.shape == b.shape == (1, 2, 3)
    torch.testing.assert_close(a[:, 1], b[:, 1], rtol=1e-5, atol=1e-5)


def test_predicted_id_is_the_argmax_of_the_mean_logits(model):
    specs = clips_specs(n=4)
    res = score_specs(model, specs, [0, 0, 0, 0], CPU1)
    assert np.array_equal(res.pred, res.mean_logits.argmax(axis=1))
    # The score is the cross-entropy of the true class: shifting the target changes it.
    other = score_specs(model, specs, [1, 1, 1, 1], CPU1)
    assert not np.allclose(res.scores, other.scores)


def test_bad_inputs_raise(model):
    with pytest.raises(ValueError, match="targets must be in 0..2"):
        score_specs(model, clips_specs(n=1), [3])
    with pytest.raises(ValueError, match=r"expected a \(2, 129, T\)"):
        score_specs(model, [np.zeros((2, 100, 80), np.float32)], [0])
    with pytest.raises(ValueError, match="shorter than one window"):
        score_specs(model, clips_specs(n=1, frames=40), [0], CPU1)


def test_score_table_from_a_clip_table(model, tmp_path, write_wav):
    rng = np.random.default_rng(0)
    rows = []
    for i, (mid, label, split) in enumerate(
        [("id_00", "normal", "train"), ("id_02", "anomaly", "test"), ("id_04", "normal", "test")]
    ):
        path = write_wav(f"c{i}.wav", (0.1 * rng.normal(size=16000)).astype(np.float32))
        rows.append(
            {
                "path": str(path),
                "group": "fan",
                "id": mid,
                "label": label,
                "split": split,
                "anomaly_kind": "" if label == "normal" else "imbalance",
            }
        )
    clips = pd.DataFrame(rows)
    stft = StftConfig(n_fft=256, hop_length=128)  # 1 s -> 126 frames, 129 bins
    classes = ["id_00", "id_02", "id_04"]
    scores = score_clips(model, clips, classes, CPU1, stft_config=stft, cache=False)
    assert list(scores.columns) == [*SCORE_COLUMNS, "anomaly_kind"]
    assert scores["machine_type"].tolist() == ["fan"] * 3
    assert scores["pred_id"].isin(classes).all() and np.isfinite(scores["score"]).all()
    path = write_scores(scores, tmp_path / "out" / "fan.csv")
    assert pd.read_csv(path).shape == scores.shape
    with pytest.raises(ValueError, match=r"IDs \['id_04'\] are not among"):
        score_clips(model, clips, ["id_00", "id_02", "id_06"], CPU1, stft_config=stft)
