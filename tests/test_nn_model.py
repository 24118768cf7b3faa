"""ComplexNet: shapes, ablation, input checks, gradients, a tiny overfit, window logits."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from audioanom.nn import (
    ComplexNet,
    ComplexNetConfig,
    ComplexNetOutput,
    anomaly_scores,
    autocast_bf16,
    complex_to_input,
    count_parameters,
    fast_bf16_available,
    scoring_logits,
    split_windows,
    stft_input,
    window_starts,
)
from tests.conftest import tiny_net_config

SMALL = tiny_net_config(dropout=0.0)
F_BINS = SMALL.n_bins


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: small convolutions on a shared 2-core machine run several times
    faster without OpenMP barriers waiting on a descheduled second thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model(cfg: ComplexNetConfig = SMALL, seed: int = 0) -> ComplexNet:
    torch.manual_seed(seed)
    return ComplexNet(cfg)


def _band_windows(labels: torch.Tensor, n_frames: int = 64, seed: int = 0) -> torch.Tensor:
    """Noise windows whose class sets a loud frequency band (bins 10 + 60 * class, 30 wide)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(labels), 2, F_BINS, n_frames, generator=g) * 0.1
    for i, c in enumerate(labels.tolist()):
        lo = 10 + 60 * c
        x[i, :, lo : lo + 30] += torch.randn(2, 30, n_frames, generator=g)
    return x  # B, 2, F, T


@pytest.fixture(scope="module")
def trained():
    """A small 2-class model trained 20 Adam steps on 8 fixed windows; its loss history."""
    cfg = dataclasses.replace(SMALL, n_classes=2)
    model = _model(cfg)
    y = torch.tensor([0, 1] * 4)
    x = _band_windows(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = model.loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.eval(), losses


def test_default_config_matches_the_paper_sizes_and_shapes():
    cfg = ComplexNetConfig()
    assert cfg.n_bins == 513 and cfg.window_frames == 64
    assert cfg.channels == (45, 90, 90, 90, 45)
    assert cfg.strides[-1] == (2, 1) and cfg.time_stride == 16 and cfg.freq_stride == 32
    assert cfg.bottleneck_size(513, 64) == (17, 4)
    assert cfg.bottleneck_size(513, 313) == (17, 20)
    model = _model(cfg).eval()
    assert 900_000 < count_parameters(model) < 1_000_000
    with torch.no_grad():
        z = model.encode(torch.randn(2, 2, 513, 64))
        out = model.heads(z)
    assert z.shape == (2, 90, 17, 4)
    assert all(o.shape == (2, 4) for o in out)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("n_frames", [64, 50])
def test_output_shapes(batch, n_frames):
    model = _model().eval()
    with torch.no_grad():
        out = model(torch.randn(batch, 2, F_BINS, n_frames))
    assert isinstance(out, ComplexNetOutput)
    for logits in out:
        assert logits.shape == (batch, 3)
    assert scoring_logits(out) is out.fused
    assert model.scoring_logits(out) is out.fused


def test_magnitude_only_ablation():
    cfg = dataclasses.replace(SMALL, use_complex_branch=False)
    model = _model(cfg)
    assert model.cplx_branch is None and model.attention is None and model.fused_head is None
    assert count_parameters(model) < count_parameters(_model())
    x, y = torch.randn(2, 2, F_BINS, 64), torch.tensor([0, 2])
    out = model(x)
    assert out.mag.shape == (2, 3) and out.cplx is None and out.fused is None
    assert scoring_logits(out) is out.mag
    torch.testing.assert_close(model.loss(out, y), torch.nn.functional.cross_entropy(out.mag, y))
    model.eval()
    with torch.no_grad():
        w = model.window_logits(torch.randn(1, 2, F_BINS, 128))
    assert w.mag.shape == (1, 3, 3) and w.fused is None


def test_loss_is_sum_of_head_cross_entropies():
    model = _model()
    out = model(torch.randn(4, 2, F_BINS, 64))
    y = torch.tensor([0, 1, 2, 0])
    ce = torch.nn.functional.cross_entropy
    expected = ce(out.mag, y) + ce(out.cplx, y) + ce(out.fused, y)
    torch.testing.assert_close(model.loss(out, y), expected)


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((2, F_BINS, 64), "rank 3"),
        ((2, 3, F_BINS, 64), "2 parts"),
        ((2, 1, F_BINS, 64), "2 parts"),
        ((2, 2, F_BINS - 1, 64), f"{F_BINS} frequency bins"),
        ((1, 2, F_BINS, 64, 1), "rank 5"),
    ],
)
def test_wrong_input_shapes_raise(shape, match):
    with pytest.raises(ValueError, match=match):
        _model()(torch.randn(*shape))


def test_integer_input_raises():
    with pytest.raises(ValueError, match="floating"):
        _model()(torch.zeros(1, 2, F_BINS, 64, dtype=torch.int64))


def test_complex_input_equals_stacked_input():
    model = _model().eval()
    z = torch.complex(torch.randn(2, F_BINS, 64), torch.randn(2, F_BINS, 64))
    x = complex_to_input(z)
    assert x.shape == (2, 2, F_BINS, 64)
    assert torch.equal(x[:, 0], z.real) and torch.equal(x[:, 1], z.imag)
    with torch.no_grad():
        torch.testing.assert_close(model(z).fused, model(x).fused)
    with pytest.raises(ValueError, match="complex"):
        complex_to_input(torch.randn(2, F_BINS, 64))


def test_gradients_reach_every_parameter():
    model = _model()
    out = model(torch.randn(4, 2, F_BINS, 64))
    model.loss(out, torch.tensor([0, 1, 2, 1])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_tiny_overfit_loss_decreases(trained):
    _, losses = trained
    assert losses[-1] < 0.3 * losses[0], losses


def test_eval_forward_is_deterministic():
    x = torch.randn(2, 2, F_BINS, 64)
    a, b = _model(seed=3).eval(), _model(seed=3).eval()
    with torch.no_grad():
        out1, out2, out3 = a(x), a(x), b(x)
    for o1, o2, o3 in zip(out1, out2, out3, strict=True):
        assert torch.equal(o1, o2)
        assert torch.equal(o1, o3)


def test_channels_last_matches_default_layout():
    x = torch.randn(2, 2, F_BINS, 64)
    plain = _model().eval()
    fast = _model().set_channels_last().eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x).fused, plain(x).fused, rtol=1e-4, atol=1e-4)


def test_bf16_autocast_runs_close_to_fp32():
    model = _model().eval().set_channels_last()
    x = torch.randn(2, 2, F_BINS, 64)
    with torch.no_grad():
        ref = model(x).fused
        with autocast_bf16():
            got = model(x).fused
    assert torch.isfinite(got).all()
    assert (got.float() - ref).abs().max() < 0.1 * (ref.abs().max() + 1)
    assert isinstance(fast_bf16_available(), bool)


def test_window_starts_and_split_windows():
    assert window_starts(313, 64, 32) == [0, 32, 64, 96, 128, 160, 192, 224]
    assert window_starts(64, 64, 16) == [0]
    with pytest.raises(ValueError, match="shorter"):
        window_starts(63, 64, 32)
    x = torch.arange(2 * 3 * 100, dtype=torch.float32).reshape(1, 2, 3, 100)
    w = split_windows(x, 64, 32)
    assert w.shape == (1, 2, 2, 3, 64)
    assert torch.equal(w[0, 1], x[0, :, :, 32:96])


def test_window_logits_single_window_equals_forward():
    model = _model().eval()
    x = torch.randn(2, 2, F_BINS, 64)
    with torch.no_grad():
        once = model.window_logits(x)
        ref = model(x)
    for o, r in zip(once, ref, strict=True):
        assert o.shape == (2, 1, 3)
        torch.testing.assert_close(o[:, 0], r, rtol=1e-5, atol=1e-5)


def test_window_logits_run_once_close_to_separate_windows(trained):
    model, _ = trained
    # a clip whose class changes every 48 frames, out of step with the 32-frame hop
    labels = torch.tensor([(t // 48) % 2 for t in range(313)])
    clip = torch.randn(2, 2, F_BINS, 313, generator=torch.Generator().manual_seed(1)) * 0.1
    for t, c in enumerate(labels.tolist()):
        clip[:, :, 10 + 60 * c : 40 + 60 * c, t] += torch.randn(2, 2, 30)
    with torch.no_grad():
        once = scoring_logits(model.window_logits(clip))  # 2, 8, 2
        exact = scoring_logits(model.window_logits(clip, exact=True))  # 2, 8, 2
        win = split_windows(clip, 64, 32)
        sep = scoring_logits(model(win.reshape(-1, *win.shape[2:]))).reshape(exact.shape)
    assert once.shape == exact.shape == (2, 8, 2)
    torch.testing.assert_close(exact, sep)
    spread = exact.std()
    assert spread > 0.5  # the windows really differ
    assert (once - exact).abs().max() < spread  # edge effects: smaller than the signal
    target = torch.zeros(2, 8, dtype=torch.long)
    s_once, s_exact = anomaly_scores(once, target), anomaly_scores(exact, target)
    r = np.corrcoef(s_once.flatten().numpy(), s_exact.flatten().numpy())[0, 1]
    assert r > 0.95


def test_window_logits_argument_checks():
    model = _model().eval()
    clip = torch.randn(1, 2, F_BINS, 128)
    with pytest.raises(ValueError, match="multiples"):
        model.window_logits(clip, hop=24)
    with pytest.raises(ValueError, match="multiples"):
        model.window_logits(clip, window=40)
    with pytest.raises(ValueError, match="shorter"):
        model.window_logits(torch.randn(1, 2, F_BINS, 48))
    with torch.no_grad():
        exact = model.window_logits(clip, hop=24, exact=True)  # any hop when exact
    assert exact.fused.shape == (1, 3, 3)


def test_run_once_training_through_window_logits():
    model = _model().train()
    clips = torch.randn(2, 2, F_BINS, 128)
    out = model.window_logits(clips, window=64, hop=16)  # 5 windows per clip
    assert out.fused.shape == (2, 5, 3)
    loss = model.loss(out, torch.tensor([0, 2]))  # one ID per clip
    per_window = model.loss(out, torch.tensor([[0] * 5, [2] * 5]))
    torch.testing.assert_close(loss, per_window)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="do not match"):
        model.loss(out, torch.tensor([0, 1, 2]))


def test_anomaly_scores_is_true_class_cross_entropy():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])  # 1, 2, 2
    target = torch.tensor([[0, 0]])
    s = anomaly_scores(logits, target)
    assert s.shape == (1, 2)
    assert s[0, 1] > s[0, 0]  # the window that looks like the wrong ID is more anomalous
    torch.testing.assert_close(s[0, 0], -torch.log_softmax(logits[0, 0], 0)[0])
    with pytest.raises(ValueError, match="class axis"):
        anomaly_scores(logits, torch.tensor([0, 0]))


def test_stft_input_shape_for_a_ten_second_clip():
    cfg = ComplexNetConfig()
    x = stft_input(np.zeros(160_000, dtype=np.float32), cfg)
    assert x.shape == (1, 2, 513, 313) and x.dtype == torch.float32
    t = np.arange(16_000) / 16_000
    tone = stft_input(np.stack([np.sin(2 * np.pi * 1000 * t)] * 2), cfg)  # 2 clips
    mag = tone[0, 0] ** 2 + tone[0, 1] ** 2  # F, T
    assert int(mag[:, 10].argmax()) == 64  # 1000 Hz / (16000 Hz / 1024) = bin 64
    with pytest.raises(ValueError, match="n_fft"):
        stft_input(np.zeros(100), cfg)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kernels": ((3, 3),) * 4}, "same length"),
        ({"padding": "valid"}, "same"),
        ({"n_classes": 1}, "n_classes"),
        ({"dropout": 1.0}, "dropout"),
        ({"branch_kernel": (2, 3)}, "odd"),
        ({"conv_method": "fft"}, "conv_method"),
        ({"strides": (2, 2, 2, 2, 0)}, "strides"),
    ],
)
def test_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        ComplexNetConfig(**kw)


def test_config_normalises_strides_and_resolves_conv_method():
    cfg = ComplexNetConfig(strides=(2, 2, 2, 2, (2, 1)))
    assert cfg.strides == ((2, 2),) * 4 + ((2, 1),)
    assert cfg.layer_conv_method(1, 45) == "block"
    assert cfg.layer_conv_method(45, 90) == "gauss"
    as_json = json.loads(json.dumps(dataclasses.asdict(cfg)))  # tuples become lists
    assert ComplexNetConfig(**as_json) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_classes = 5  # type: ignore[misc]
