"""The front-end: every window alone, as in training; means over windows; a float64 reference."""

from __future__ import annotations

import copy

import librosa
import numpy as np
import pandas as pd
import pytest
import torch

from audioanom.machines.features import StftConfig, window_starts
from audioanom.machines.nn import ComplexNet, MagnitudeNet
from audioanom.machines.scoring import EmbedConfig, embed_clips, embed_specs
from tests.conftest import tiny_net_config

TINY = tiny_net_config()
CLASSES = ("fan/id_00", "fan/id_02", "fan/id_04")
FP32 = EmbedConfig(device="cpu", precision="fp32", threads=1, batch_windows=5)


def clips_specs(n: int = 3, frames: int = 100, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2, TINY.n_bins, frames)).astype(np.float32) for _ in range(n)]


@pytest.fixture(scope="module", params=[ComplexNet, MagnitudeNet], ids=["complex", "magnitude"])
def model(request):
    torch.manual_seed(0)
    m = request.param(TINY).fit_input_norm(clips_specs(seed=5))
    # a few training steps so that batch-norm statistics and weights are not at their init
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


def float64_reference(model, spec, *, window=64, hop=32):
    """Embedding mean and mean log-softmax of one clip, every window alone, in float64."""
    m64 = copy.deepcopy(model).double().eval()
    x = torch.from_numpy(np.asarray(spec, np.float64))
    embs, lps = [], []
    with torch.no_grad():
        for s in window_starts(x.shape[-1], window, hop).tolist():
            out = m64(x[None, ..., s : s + window])
            embs.append(out.embedding[0].numpy())
            lps.append(torch.log_softmax(out.fused, dim=1)[0].numpy())
    return np.mean(embs, axis=0), np.mean(lps, axis=0)


def test_clip_outputs_are_window_means_equal_to_a_float64_reference(model):
    """Windows of several clips batched together (5 per batch: batches straddle clips) give the
    per-clip means of every window run alone. Tolerance: float32 rounding through a 7-layer
    network with O(1) activations, a few hundred ulps (measured here: 1e-6)."""
    specs = clips_specs(n=3, frames=100)
    res = embed_specs(model, specs, CLASSES, FP32)
    assert res.n_windows.tolist() == [3, 3, 3]  # starts 0, 32 and 36 (aligned to the end)
    tol = 256 * np.finfo(np.float32).eps
    for i, s in enumerate(specs):
        emb, lp = float64_reference(model, s)
        scale = max(1.0, np.abs(emb).max())
        np.testing.assert_allclose(res.embedding[i], emb, rtol=tol, atol=tol * scale)
        np.testing.assert_allclose(res.log_probs[i], lp, rtol=tol, atol=tol)
    assert np.array_equal(res.pred, res.log_probs.argmax(axis=1))


def test_bf16_stays_within_bf16_rounding_of_the_reference(model):
    """bf16 autocast (``precision="auto"`` on CPUs with AMX or AVX512-BF16): inputs of every
    product rounded to 8 significant bits (eps 2**-7); the log-probabilities of O(1) logits
    move by a small multiple of that. Bound: 4 bf16 eps."""
    specs = clips_specs(n=2, frames=70)
    res = embed_specs(model, specs, CLASSES, EmbedConfig(device="cpu", precision="bf16"))
    eps = float(torch.finfo(torch.bfloat16).eps)
    for i, s in enumerate(specs):
        _, lp = float64_reference(model, s)
        np.testing.assert_allclose(res.log_probs[i], lp, rtol=4 * eps, atol=4 * eps)


def test_outputs_are_deterministic_and_independent_of_the_batch_size(model):
    specs = clips_specs(n=4, frames=130, seed=3)
    a = embed_specs(model, specs, CLASSES, FP32)
    b = embed_specs(model, specs, CLASSES, FP32)
    assert np.array_equal(a.embedding, b.embedding) and np.array_equal(a.log_probs, b.log_probs)
    c = embed_specs(
        model, specs, CLASSES, EmbedConfig(device="cpu", precision="fp32", batch_windows=64)
    )
    np.testing.assert_allclose(c.embedding, a.embedding, rtol=1e-5, atol=1e-6)


def test_bad_inputs_name_the_clip(model):
    with pytest.raises(ValueError, match=r"clip 0: expected a \(2, 129, T\)"):
        embed_specs(model, [np.zeros((2, 100, 80), np.float32)], CLASSES)
    with pytest.raises(ValueError, match="clip 1: 40 frames, shorter than one window"):
        embed_specs(model, clips_specs(n=1) + clips_specs(n=1, frames=40), CLASSES)
    with pytest.raises(ValueError, match="2 class names for a network with 3"):
        embed_specs(model, clips_specs(n=1), CLASSES[:2])


def test_embeddings_of_a_clip_table(model, write_wav):
    rng = np.random.default_rng(0)
    paths = [
        write_wav(f"c{i}.wav", (0.1 * rng.normal(size=16000)).astype(np.float32)) for i in range(2)
    ]
    clips = pd.DataFrame({"path": [str(p) for p in paths]})
    res = embed_clips(model, clips, CLASSES, FP32)  # the network's STFT: n_fft 256, hop 128
    # 1 s -> 126 frames: windows at 0 and 32, and one aligned to the end (62)
    assert res.embedding.shape == (2, TINY.embedding_dim) and res.n_windows.tolist() == [3, 3]
    assert res.take(np.array([1])).embedding.shape == (1, TINY.embedding_dim)
    with pytest.raises(ValueError, match="differ from the network's"):
        embed_clips(model, clips, CLASSES, FP32, stft_config=StftConfig(n_fft=256))


@pytest.mark.parametrize(
    ("overrides", "hop", "n_windows"),
    [
        # 1 s, hop 64 -> 1 + 16000 // 64 = 251 frames: windows at 0, 32, ..., 160 and 187
        ({"hop_length": 64}, None, 7),
        # 126 frames, windows of 96 every 16: 0, 16 and one aligned to the end (30)
        ({"window_frames": 96, "window_hop": 16}, None, 3),
        # 126 frames, windows of 64 every 64 (EmbedConfig.hop): 0 and 62
        ({}, 64, 2),
    ],
)
def test_clips_are_cut_with_the_networks_own_stft_and_windows(overrides, hop, n_windows, write_wav):
    """A network built for another hop or window is scored on ITS frames and windows: the clip
    embedding equals the float64 mean over windows of librosa's STFT with the network's
    settings, cut by hand."""
    cfg = tiny_net_config(**overrides)
    torch.manual_seed(0)
    net = ComplexNet(cfg).fit_input_norm(clips_specs(seed=5)).eval()
    x = (0.1 * np.random.default_rng(1).normal(size=16000)).astype(np.float32)
    clips = pd.DataFrame({"path": [str(write_wav("c.wav", x))]})
    res = embed_clips(net, clips, CLASSES, EmbedConfig(device="cpu", precision="fp32", hop=hop))
    z = librosa.stft(
        x, n_fft=256, hop_length=cfg.hop_length, window="hann", center=True, pad_mode="reflect"
    )
    spec = np.stack([z.real, z.imag])  # 2, 129, T
    emb, lp = float64_reference(
        net, spec, window=cfg.window_frames, hop=cfg.window_hop if hop is None else hop
    )
    assert res.n_windows.tolist() == [n_windows]
    np.testing.assert_allclose(res.embedding[0], emb, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(res.log_probs[0], lp, rtol=1e-4, atol=1e-4)


def _band_stats_by_hand(power: np.ndarray, bands: int) -> np.ndarray:
    """(C, F, T) power -> [mean_t, std_t] of log10 band means, in NumPy (float64)."""
    edges = np.linspace(0, power.shape[1], bands + 1).astype(int)
    banded = np.stack(
        [power[:, a:b].mean(axis=1) for a, b in zip(edges, edges[1:], strict=False)], axis=1
    )
    lp = np.log10(banded + 1e-6)  # C, bands, T
    return np.concatenate([lp.mean(axis=2).ravel(), lp.std(axis=2).ravel()])


def test_layer_statistics_are_window_means_of_band_statistics_of_the_trunk(model):
    """The trunk run block by block in float64 for every window alone, its output power (|z|^2
    of complex channels, h^2 of real ones) pooled into bands by hand: the clip's layer
    statistics are the mean over windows, the layers side by side."""
    specs = clips_specs(n=2, frames=100, seed=7)
    cfg = EmbedConfig(device="cpu", precision="fp32", threads=1, layers=(1, 2), bands=4)
    res = embed_specs(model, specs, CLASSES, cfg)
    m64 = copy.deepcopy(model).double().eval()
    complex_trunk = isinstance(model, ComplexNet)
    for i, spec in enumerate(specs):
        per_window = []
        for s in window_starts(spec.shape[-1], 64, 32).tolist():
            x = torch.from_numpy(np.asarray(spec[None, ..., s : s + 64], np.float64))
            h, rows = m64.normalise(x), []
            with torch.no_grad():
                for block in m64.trunk[:2]:
                    h = block(h)
                    a = h[0].numpy()
                    c = a.shape[0] // 2
                    power = a[:c] ** 2 + a[c:] ** 2 if complex_trunk else a**2
                    rows.append(_band_stats_by_hand(power, 4))
            per_window.append(np.concatenate(rows))
        expected = np.mean(per_window, axis=0)
        assert res.layer_stats.shape[1] == sum(res.layer_dims) == expected.size
        np.testing.assert_allclose(res.layer_stats[i], expected, rtol=1e-4, atol=1e-4)
    assert res.blocks == (TINY.embedding_dim, *res.layer_dims)
    both = res.features("layers")
    np.testing.assert_array_equal(both[:, : TINY.embedding_dim], res.embedding)
    none = embed_specs(model, specs, CLASSES, EmbedConfig(device="cpu", layers=()))
    assert none.layer_dims == () and none.features("layers").shape == res.embedding.shape
    with pytest.raises(ValueError, match="the trunk has layers 1..5"):
        embed_specs(model, specs, CLASSES, EmbedConfig(device="cpu", layers=(6,)))
