"""Shared fixtures: the real data beside the checkout, and small audio files made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioanom import paths


def shared(name: str) -> Path:
    """Path of a real data set under the shared data; skips the test with a reason if absent."""
    root = paths.shared_data() / name
    if not root.is_dir():
        if os.environ.get("AUDIOANOM_REQUIRE_REAL_DATA"):  # set by .ci/run: never skip in CI
            pytest.fail(
                f"real data {name!r} required (AUDIOANOM_REQUIRE_REAL_DATA) but not at {root}"
            )
        pytest.skip(
            f"real data {name!r} not found at {root} (set AUDIOANOM_SHARED_DATA to the folder "
            "holding audiomnist_six/, fsdd/ and mimii_dcase2020_samples/)"
        )
    return root


@pytest.fixture
def write_wav(tmp_path):
    """Write a test signal: ``write_wav(name, x, sr=16000, subtype="PCM_16", format="WAV")``."""

    def _write(name: str, x: np.ndarray, sr: int = 16000, subtype: str = "PCM_16", format="WAV"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x, sr, subtype=subtype, format=format)
        return path

    return _write


def tone(
    seconds: float = 0.5, sr: int = 16000, freq: float = 440.0, channels: int = 1
) -> np.ndarray:
    """A sine (frames,) or (frames, channels) with channel c at amplitude 0.5/(c+1)."""
    t = np.arange(int(seconds * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    if channels == 1:
        return x.astype(np.float32)
    return np.stack([x / (c + 1) for c in range(channels)], axis=1).astype(np.float32)


def tiny_net_config(dropout: float = 0.0, n_classes: int = 3, **overrides):
    """A narrow network on STFTs of n_fft 256 (129 bins), hop 128: fast on a shared 2-core
    machine."""
    from audioanom.machines.nn import ComplexNetConfig

    sizes = {
        "n_fft": 256,
        "hop_length": 128,
        "channels": (4, 8, 8, 8, 4),
        "branch_channels": 4,
        "embedding_channels": 8,
        "stats_bands": 16,
    }
    return ComplexNetConfig(n_classes=n_classes, dropout=dropout, **{**sizes, **overrides})
