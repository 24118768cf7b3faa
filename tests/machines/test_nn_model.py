"""ComplexNet and MagnitudeNet: shapes, input normalisation, fusion, phase (in)variance, heads."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from audioanom.machines.nn import (
    ArcMarginHead,
    ComplexNet,
    ComplexNetConfig,
    MagnitudeNet,
    anomaly_scores,
    complex_to_input,
    count_parameters,
    stft_input,
)
from tests.conftest import tiny_net_config

TINY = tiny_net_config()
F_BINS = TINY.n_bins


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _specs(n=3, frames=80, seed=0):
    rng = np.random.default_rng(seed)
    scale = np.linspace(0.1, 3.0, F_BINS)[None, :, None]  # louder at high bins
    return [(rng.standard_normal((2, F_BINS, frames)) * scale).astype(np.float32) for _ in range(n)]


def _net(cls=ComplexNet, cfg=TINY, seed=0):
    torch.manual_seed(seed)
    return cls(cfg).fit_input_norm(_specs()).eval()


def test_default_config_is_the_paper_trunk_with_the_documented_shapes():
    cfg = ComplexNetConfig()
    assert cfg.n_bins == 513 and cfg.window_frames == 64
    assert cfg.channels == (45, 90, 90, 90, 45)
    assert cfg.kernels == ((7, 5), (7, 5), (5, 3), (5, 3), (5, 2))
    assert cfg.strides[-1] == (2, 1) and cfg.time_stride == 16
    assert cfg.bottleneck_size() == (17, 4)  # 513 -> 257 -> 129 -> 65 -> 33 -> 17; 64 -> 4
    assert cfg.branch_bins == 9 and cfg.embedding_dim == 32 * 9
    assert dataclasses.replace(cfg, pooling="global").embedding_dim == 32
    # JSON round trip (as saved with a model)
    assert ComplexNetConfig(**json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg


@pytest.mark.parametrize("cls", [ComplexNet, MagnitudeNet])
@pytest.mark.parametrize("pooling", ["time", "stats", "global"])
def test_output_shapes(cls, pooling):
    cfg = dataclasses.replace(TINY, pooling=pooling)
    out = _net(cls, cfg)(torch.randn(5, 2, F_BINS, 64))
    assert out.fused.shape == (5, 3) and out.embedding.shape == (5, cfg.embedding_dim)
    if cls is ComplexNet:
        assert out.mag.shape == out.cplx.shape == (5, 3)
    else:
        assert out.mag is None and out.cplx is None


@pytest.mark.parametrize("cls", [ComplexNet, MagnitudeNet])
def test_stats_pooling_is_the_mean_and_std_over_time_of_the_total_conv(cls):
    """The "stats" embedding of the same weights: [time pooling, population std over time]
    of the total convolution's output (read by a forward hook), per channel and frequency."""
    cfg = dataclasses.replace(TINY, pooling="stats")
    net = _net(cls, cfg)
    seen = {}
    net.total.register_forward_hook(lambda m, i, o: seen.update(t=o.detach().double()))
    x = torch.randn(3, 2, F_BINS, 64)
    e = net(x).embedding.double()
    t = seen["t"]  # B, E, F'', T'
    assert t.shape[-1] == 4  # 64 frames / 16: the std is over 4 time steps
    mean = t.mean(dim=3).flatten(1)
    std = (((t - t.mean(dim=3, keepdim=True)) ** 2).mean(dim=3).flatten(1) + 1e-6).sqrt()
    assert cfg.embedding_dim == 2 * cfg.embedding_channels * cfg.branch_bins == e.shape[1]
    torch.testing.assert_close(e[:, : e.shape[1] // 2], mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(e[:, e.shape[1] // 2 :], std, rtol=1e-4, atol=1e-5)


def test_the_ablation_has_about_the_weights_of_the_complex_network():
    for cfg in (TINY, ComplexNetConfig(n_classes=4)):
        c, m = count_parameters(ComplexNet(cfg)), count_parameters(MagnitudeNet(cfg))
        assert abs(c - m) / c < 0.1, (c, m)  # channel counts are rounded: 6 % off for tiny


def test_input_normalisation_gives_unit_mean_power_per_bin():
    specs = _specs()
    net = ComplexNet(TINY).fit_input_norm(specs)
    x = torch.from_numpy(np.concatenate(specs, axis=2))[None]  # 1, 2, F, all frames
    power = net.normalise(x).square().sum(dim=1).mean(dim=(0, 2))  # F
    torch.testing.assert_close(power, torch.ones(F_BINS), rtol=1e-4, atol=1e-4)
    assert bool(net.norm_fitted)
    # saved with the model: a fresh network loading the state dict scales identically
    other = ComplexNet(TINY)
    other.load_state_dict(net.state_dict())
    torch.testing.assert_close(other.input_scale, net.input_scale)


def test_compression_keeps_the_phase_and_compresses_the_magnitude():
    net = ComplexNet(dataclasses.replace(TINY, compression=0.5)).fit_input_norm(_specs())
    x = torch.randn(2, 2, F_BINS, 64)
    y = net.normalise(x)
    s = net.input_scale[None, :, None]
    zx = torch.complex(x[:, 0] * s, x[:, 1] * s)
    zy = torch.complex(y[:, 0], y[:, 1])
    torch.testing.assert_close(zy.abs(), zx.abs().sqrt(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.angle(zy), torch.angle(zx), rtol=1e-4, atol=1e-4)


def _with_random_phase(x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mag = x.square().sum(dim=1, keepdim=True).sqrt()  # B, 1, F, T
    phi = torch.rand(mag.shape, generator=g, dtype=x.dtype) * 2 * torch.pi
    return torch.cat([mag * torch.cos(phi), mag * torch.sin(phi)], dim=1)  # B, 2, F, T


def test_the_magnitude_only_network_never_sees_phase():
    """Replacing the phase of the input changes no output of the ablation (float64, so the
    only difference is the rounding of |X|^2: 1e-15 relative), and does change the complex
    network's: the test can tell the two apart."""
    x = torch.randn(4, 2, F_BINS, 64, dtype=torch.float64)
    xr = _with_random_phase(x)
    mag = _net(MagnitudeNet).double()
    a, b = mag(x), mag(xr)
    torch.testing.assert_close(b.embedding, a.embedding, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(b.fused, a.fused, rtol=1e-9, atol=1e-9)
    cplx = _net(ComplexNet).double()
    assert (cplx(x).embedding - cplx(xr).embedding).abs().max() > 1e-3


def test_branch_attention_weighs_the_two_branches():
    net = _net()
    x = torch.randn(3, 2, F_BINS, 64)
    a = net.attention_weights(x)
    assert a.shape == (3, 2)
    torch.testing.assert_close(a.sum(dim=1), torch.ones(3))
    # the fused map is a_m F_m + a_c F_c: recompute it from the branches by hand
    from audioanom.machines.nn import abs2

    with torch.no_grad():
        z = net.trunk(net.normalise(x))
        fm = net.mag_branch(abs2(z).clamp_min(1e-12).sqrt())
        fc = net.cplx_branch(z)
        fused = a[:, 0, None, None, None] * fm + a[:, 1, None, None, None] * fc
        e = net.total(fused).mean(dim=3).flatten(1)
        torch.testing.assert_close(net(x).embedding, e, rtol=1e-5, atol=1e-6)


def test_channel_attention_is_a_residual_softmax_over_the_branch_channels():
    cfg = dataclasses.replace(TINY, attention="channel", branch_channels=4)
    net = _net(ComplexNet, cfg)
    w = net.attention_weights(torch.randn(3, 2, F_BINS, 64))
    assert w.shape == (3, 8)  # 2 branches x 4 channels, as the public re-implementation
    torch.testing.assert_close(w.sum(dim=1), torch.ones(3))


def test_loss_is_the_sum_of_the_head_cross_entropies():
    net = _net()
    x, y = torch.randn(6, 2, F_BINS, 64), torch.tensor([0, 1, 2, 0, 1, 2])
    out = net(x)
    ce, mse = torch.nn.functional.cross_entropy, torch.nn.functional.mse_loss
    stats = TINY.stats_weight * mse(out.stats, out.stats_target)
    by_hand = ce(out.mag, y) + ce(out.cplx, y) + ce(out.fused, y) + stats
    torch.testing.assert_close(net.loss(out, y), by_hand)
    mag = _net(MagnitudeNet)
    out = mag(x)
    torch.testing.assert_close(
        mag.loss(out, y), ce(out.fused, y) + mse(out.stats, out.stats_target)
    )
    off = _net(ComplexNet, dataclasses.replace(TINY, stats_bands=0))
    out = off(x)
    assert out.stats is None and off.stats_head is None
    torch.testing.assert_close(
        off.loss(out, y), ce(out.mag, y) + ce(out.cplx, y) + ce(out.fused, y)
    )


def test_the_statistics_target_is_the_windows_log_mel_mean_and_std():
    """Recomputed with librosa's mel filterbank on numpy power spectra, then standardised with
    the statistics of the training windows (fitted in fit_input_norm)."""
    import librosa

    specs = _specs(n=2, frames=128)
    net = ComplexNet(TINY).fit_input_norm(specs)
    fb = librosa.filters.mel(sr=TINY.sample_rate, n_fft=TINY.n_fft, n_mels=TINY.stats_bands)

    def by_hand(w):
        logmel = np.log10(fb @ (w[0].astype(np.float64) ** 2 + w[1] ** 2) + 1e-10)
        return np.r_[logmel.mean(axis=1), logmel.std(axis=1, ddof=1)]

    windows = [s[:, :, j : j + 64] for s in specs for j in (0, 64)]
    raw = np.stack([by_hand(w) for w in windows])  # 4 windows, 2M
    mean, std = raw.mean(axis=0), raw.std(axis=0, ddof=1)
    np.testing.assert_allclose(net.stats_mean.numpy(), mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net.stats_std.numpy(), std, rtol=1e-3, atol=1e-4)
    out = net(torch.from_numpy(np.stack(windows)))
    np.testing.assert_allclose(out.stats_target.numpy(), (raw - mean) / std, rtol=1e-3, atol=1e-3)


def test_arcface_head_adds_the_margin_to_the_true_class_only_in_training():
    head = ArcMarginHead(4, 3, margin=0.3, scale=10.0)
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    cos = (
        torch.nn.functional.normalize(x, dim=1)
        @ torch.nn.functional.normalize(head.weight, dim=1).T
    )  # 5, 3
    torch.testing.assert_close(head(x), 10.0 * cos)
    with_margin = head(x, y)
    true = torch.cos(torch.acos(cos[torch.arange(5), y]) + 0.3) * 10.0
    torch.testing.assert_close(with_margin[torch.arange(5), y], true, rtol=1e-4, atol=1e-4)
    other = torch.ones_like(cos, dtype=torch.bool)
    other[torch.arange(5), y] = False
    torch.testing.assert_close(with_margin[other], 10.0 * cos[other])


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((2, 3, F_BINS, 64), "expected \\(B, 2, F, T\\)"),
        ((2, 2, 100, 64), f"F = {F_BINS}"),
        ((2, 2, F_BINS, 8), "at least 16 frames"),
        ((2, F_BINS, 64), "expected \\(B, 2, F, T\\)"),
    ],
)
def test_wrong_input_shapes_raise(shape, match):
    with pytest.raises(ValueError, match=match):
        _net()(torch.zeros(shape))


def test_an_unfitted_network_and_silent_or_non_finite_training_clips_refuse():
    with pytest.raises(ValueError, match="input normalisation not fitted"):
        ComplexNet(TINY)(torch.zeros(2, 2, F_BINS, 64))
    silent = [np.zeros((2, F_BINS, 70), np.float32)]
    with pytest.raises(ValueError, match="silent in every training clip"):
        ComplexNet(TINY).fit_input_norm(silent)
    bad = _specs(n=2)
    bad[1][0, 5, 3] = np.inf
    with pytest.raises(ValueError, match="clip 1 holds NaN or Inf"):
        ComplexNet(TINY).fit_input_norm(bad)
    with pytest.raises(ValueError, match="clip 1 holds NaN or Inf"):
        MagnitudeNet(TINY).fit_input_norm(bad)


def test_complex_input_equals_stacked_input():
    net = _net()
    z = torch.randn(2, F_BINS, 64, dtype=torch.complex64)
    torch.testing.assert_close(net(z).fused, net(complex_to_input(z)).fused)


def test_gradients_reach_every_parameter():
    for cls in (ComplexNet, MagnitudeNet):
        net = _net(cls).train()
        y = torch.tensor([0, 1, 2, 1])
        net.loss(net(torch.randn(4, 2, F_BINS, 64)), y).backward()
        missing = [n for n, p in net.named_parameters() if p.grad is None]
        assert not missing, missing


def test_stft_input_equals_librosa():
    import librosa

    rng = np.random.default_rng(0)
    x = rng.standard_normal(16_000).astype(np.float32)
    cfg = ComplexNetConfig()
    ours = stft_input(x, cfg)[0].numpy()  # 2, F, T
    ref = librosa.stft(
        x, n_fft=1024, hop_length=512, window="hann", center=True, pad_mode="reflect"
    )
    assert ours.shape == (2, 513, 32) == (2, *ref.shape)
    np.testing.assert_allclose(ours[0] + 1j * ours[1], ref, rtol=0, atol=2e-4 * np.abs(ref).max())


def test_anomaly_scores_is_the_true_class_cross_entropy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    s = anomaly_scores(logits, torch.tensor([0, 0]))
    torch.testing.assert_close(
        s, torch.tensor([np.log1p(np.exp(-2.0)), np.log1p(np.exp(3.0))]).float()
    )


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"attention": "softmax"}, "attention must be one of"),
        ({"pooling": "max"}, "pooling must be one of"),
        ({"n_classes": 1}, "n_classes must be >= 2"),
        ({"compression": 0.0}, "compression must be in"),
        ({"channels": (4, 8)}, "same length"),
        ({"window_frames": 8}, "shorter than the trunk's time stride"),
        ({"margin": -1.0}, "margin >= 0"),
    ],
)
def test_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        ComplexNetConfig(**kw)
