"""The log-mel-statistics baseline: features re-derived with numpy, detection on a known input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audioanom.machines.baselines import LogMelStatsConfig, log_mel_stats, logmel_gaussian_scores
from audioanom.metrics import auc_pauc

SR = 16_000


def _by_hand(x: np.ndarray, cfg: LogMelStatsConfig) -> np.ndarray:
    """The same features from first principles: centred (zero-padded, librosa >= 0.10)
    Hann frames, numpy FFT power, librosa's Slaney mel weights, 10 log10 with the top_db floor."""
    import librosa

    pad = cfg.n_fft // 2
    xp = np.pad(x.astype(np.float64), pad)
    n = 1 + len(x) // cfg.hop_length
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.n_fft) / cfg.n_fft)  # periodic Hann
    frames = np.stack(
        [xp[t * cfg.hop_length : t * cfg.hop_length + cfg.n_fft] * win for t in range(n)]
    )
    power = np.abs(np.fft.rfft(frames, axis=1)).T ** 2  # F, T
    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels)
    db = 10 * np.log10(np.maximum(fb @ power, 1e-10))
    db = np.maximum(db, db.max() - cfg.top_db)
    return np.r_[db.mean(axis=1), db.std(axis=1)]


def test_features_match_a_first_principles_computation():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 1000 * t) + 0.01 * rng.standard_normal(SR)).astype(np.float32)
    cfg = LogMelStatsConfig()
    f = log_mel_stats(x, cfg)
    assert f.shape == (256,)
    np.testing.assert_allclose(f, _by_hand(x, cfg), atol=2e-3)
    # a stationary 1 kHz tone: the loudest band holds 1 kHz, and it hardly varies over time
    import librosa

    centres = librosa.mel_frequencies(n_mels=130, fmax=SR / 2)[1:-1]
    top = int(np.argmax(f[:128]))
    assert abs(centres[top] - 1000) < 60
    assert f[128 + top] < 1.0


def test_bad_signals_are_refused():
    with pytest.raises(ValueError, match="at least 1024 samples"):
        log_mel_stats(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="NaN or Inf"):
        log_mel_stats(np.full(4096, np.nan, np.float32))


def test_gaussian_detects_an_extra_tone_per_id(tmp_path, write_wav):
    rng = np.random.default_rng(1)
    t = np.arange(SR) / SR
    rows = []

    def clip(name, mid, label, split, base, extra=None):
        x = 0.2 * np.sin(2 * np.pi * base * (1 + 0.01 * rng.standard_normal()) * t)
        x = x + 0.02 * rng.standard_normal(SR)
        if extra is not None:
            x = x + 0.05 * np.sin(2 * np.pi * extra * t)
        path = write_wav(name, x.astype(np.float32))
        rows.append({"path": str(path), "group": "toy", "id": mid, "label": label, "split": split})

    for mid, base in (("id_00", 300.0), ("id_02", 1200.0)):
        for i in range(12):
            clip(f"{mid}_train_{i}.wav", mid, "normal", "train", base)
        for i in range(4):
            clip(f"{mid}_test_n{i}.wav", mid, "normal", "test", base)
            clip(f"{mid}_test_a{i}.wav", mid, "anomaly", "test", base, extra=3000.0)
    clips = pd.DataFrame(rows)
    scores = logmel_gaussian_scores(clips, cache=False)
    assert list(scores["path"]) == list(clips["path"])
    for mid, g in scores[scores["split"] == "test"].groupby("id"):
        auc, _ = auc_pauc(g["label"], g["score"].to_numpy())
        assert auc == 1.0, mid
    with pytest.raises(ValueError, match=r"no normal training clips for \['toy/id_04'\]"):
        extra = clips.iloc[:1].assign(id="id_04", split="test")
        logmel_gaussian_scores(pd.concat([clips, extra]), cache=False)
