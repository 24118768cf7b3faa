"""Complex STFT, cache, windows, mel filterbank and log-mel vectors
(audioanom.machines.features)."""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from audioanom.audio import AudioError  # noqa: E402
from audioanom.machines import features as mf  # noqa: E402
from audioanom.machines.stft_plots import (  # noqa: E402
    instantaneous_frequency_deviation,
    plot_stft_views,
)

SR = 16000


def numpy_stft(x: np.ndarray, n_fft: int = 1024, hop: int = 512) -> np.ndarray:
    """Reference: reflect-pad n_fft/2, periodic Hann, rfft of each frame -> complex (F, T)."""
    xp = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    n_frames = 1 + (xp.size - n_fft) // hop
    frames = np.stack([xp[t * hop : t * hop + n_fft] * w for t in range(n_frames)], axis=1)
    return np.fft.rfft(frames, axis=0)


def test_stft_matches_numpy_reference_and_has_the_documented_layout():
    x = np.random.default_rng(0).standard_normal(SR * 10).astype(np.float32)
    s = mf.complex_stft(x)
    assert s.shape == (2, 513, 313) and s.dtype == np.float32
    ref = numpy_stft(x)
    np.testing.assert_allclose(s[0], ref.real, atol=2e-3 * np.abs(ref).max())
    np.testing.assert_allclose(s[1], ref.imag, atol=2e-3 * np.abs(ref).max())
    assert mf.StftConfig().n_frames(SR * 10) == 313
    nc = mf.StftConfig(center=False)
    assert mf.complex_stft(x, nc).shape == (2, 513, nc.n_frames(SR * 10)) == (2, 513, 311)


@pytest.mark.parametrize("k", [40, 64, 300])
def test_sine_at_a_bin_frequency_peaks_at_that_bin(k):
    t = np.arange(SR * 2) / SR
    x = 0.5 * np.sin(2 * np.pi * (k * SR / 1024) * t).astype(np.float32)
    s = mf.complex_stft(x)
    mag = np.hypot(s[0], s[1])  # F, T
    assert np.argmax(mag[:, mag.shape[1] // 2]) == k
    # amplitude 0.5 with a Hann window summing to 512: |X[k]| = 0.5 * 512 / 2
    assert mag[k, mag.shape[1] // 2] == pytest.approx(128.0, rel=1e-3)


def test_stft_rejects_bad_signals():
    with pytest.raises(ValueError, match="1-D"):
        mf.complex_stft(np.zeros((2, 4000), np.float32))
    with pytest.raises(ValueError, match="too short"):
        mf.complex_stft(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        mf.complex_stft(np.full(4000, np.nan, np.float32))


def test_stft_table_caches_each_clip_once(tmp_path, write_wav, monkeypatch):
    rng = np.random.default_rng(1)
    paths = [write_wav(f"c{i}.wav", 0.1 * rng.standard_normal(SR)) for i in range(2)]
    calls = []
    real_read = mf.read_audio

    def counting_read(path, **kw):
        calls.append(str(path))
        return real_read(path, **kw)

    monkeypatch.setattr(mf, "read_audio", counting_read)
    root = tmp_path / "cache"
    first = mf.stft_table(paths, cache_root=root)
    assert len(calls) == 2 and first[0].shape == (2, 513, 32)
    second = mf.stft_table(paths, cache_root=root)
    assert len(calls) == 2  # cache hit: no file read again
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    lazy = mf.stft_table(paths, cache_root=root, lazy=True)
    assert isinstance(lazy[0], mf.CachedArray) and len(calls) == 2
    assert lazy[1].shape == first[1].shape and lazy[1].ndim == 3 and lazy[1].dtype == np.float32
    np.testing.assert_array_equal(np.asarray(lazy[1]), first[1])
    np.testing.assert_array_equal(lazy[1][:, 3:5, 7:9], first[1][:, 3:5, 7:9])
    # a changed file (new mtime) is computed again; another config has its own entry
    st = os.stat(paths[0])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    mf.stft_table(paths, cache_root=root)
    assert calls[2:] == [str(paths[0])]
    mf.stft_table(paths[:1], mf.StftConfig(center=False), cache_root=root)
    assert len(calls) == 4
    # cache off: always read
    mf.stft_table(paths[:1], cache=False)
    assert len(calls) == 5


def test_stft_table_uses_the_cache_dir_by_default_and_bad_files_name_themselves(
    tmp_path, write_wav, monkeypatch
):
    monkeypatch.setenv("AUDIOANOM_CACHE", str(tmp_path / "c"))
    p = write_wav("ok.wav", np.zeros(SR, np.float32))
    mf.stft_table([p])
    assert list((tmp_path / "c" / "machine_features" / "stft").rglob("*.npy"))
    bad = write_wav("wrong_rate.wav", np.zeros(8000, np.float32), sr=8000)
    with pytest.raises(AudioError, match="wrong_rate.wav.*8000 Hz"):
        mf.stft_table([bad])
    with pytest.raises(ValueError, match="'path'"):
        import pandas as pd

        mf.stft_table(pd.DataFrame({"file": [str(p)]}))


def test_window_starts_cover_the_whole_clip():
    starts = mf.window_starts(313, 64, 32)
    assert starts[0] == 0 and starts[-1] == 313 - 64
    assert list(starts[:-1]) == list(range(0, 225, 32))
    covered = np.zeros(313, bool)
    for s in starts:
        covered[s : s + 64] = True
    assert covered.all()
    assert list(mf.window_starts(128, 64, 32)) == [0, 32, 64]  # exact fit: no extra window
    assert list(mf.window_starts(64, 64, 32)) == [0]
    assert list(mf.window_starts(100, 64, 64)) == [0, 36]
    with pytest.raises(ValueError, match="shorter than one window"):
        mf.window_starts(63, 64, 32)
    with pytest.raises(ValueError, match=">= 1"):
        mf.window_starts(100, 64, 0)
    spec = np.arange(2 * 3 * 313, dtype=np.float32).reshape(2, 3, 313)
    w = mf.clip_windows(spec, 64, 32)
    assert w.shape == (len(starts), 2, 3, 64)
    np.testing.assert_array_equal(w[-1], spec[..., -64:])


# Tolerances against librosa (float64 reference). Our filterbank and librosa's are both
# computed in float64 and rounded to float32: they can differ by one float32 ulp, i.e. by at
# most EPS32 relative. Our log-mel runs a float32 FFT: its relative error per bin is bounded by
# about EPS32 * log2(n_fft) in amplitude, twice that in power; in dB that is
# 10 / ln(10) * 2 * EPS32 * log2(1024) ~ 1.0e-5 dB. DB_TOL allows ten times that.
EPS32 = float(np.finfo(np.float32).eps)
DB_TOL = 10 / np.log(10) * 2 * EPS32 * np.log2(1024) * 10  # ~1.0e-4 dB


def librosa_log_mel(x: np.ndarray) -> np.ndarray:
    """The DCASE 2020 baseline's log-mel with librosa 0.11 in float64: reflect padding (the
    baseline's librosa 0.6 default), Slaney mel filters, 10 log10(mel) floored at float eps."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=x.astype(np.float64),
        sr=SR,
        n_fft=1024,
        hop_length=512,
        n_mels=128,
        power=2.0,
        center=True,
        pad_mode="reflect",
    )
    return librosa.power_to_db(mel, ref=1.0, amin=sys.float_info.epsilon, top_db=None)


def test_log_mel_of_noise_equals_librosa():
    x = (0.1 * np.random.default_rng(2).standard_normal(SR)).astype(np.float32)
    lm = mf.log_mel(x)
    ref = librosa_log_mel(x)
    assert lm.shape == ref.shape == (128, 32)
    np.testing.assert_allclose(lm, ref, rtol=0, atol=DB_TOL)


def test_log_mel_of_a_sine_matches_a_hand_computation_and_silence_is_eps():
    import librosa

    k = 100
    t = np.arange(SR) / SR
    x = (0.5 * np.sin(2 * np.pi * (k * SR / 1024) * t)).astype(np.float32)
    lm = mf.log_mel(x)
    assert lm.shape == (128, 32) and lm.dtype == np.float32
    # periodic Hann: main-lobe bins k-1, k, k+1 hold amplitudes 64, 128, 64 (power 1/4, 1, 1/4)
    # and every other bin is 0 (the sine sits on bin k); librosa's filters weigh them
    fb = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=128, dtype=np.float64)
    power = 128.0**2 * (fb[:, k] + 0.25 * fb[:, k - 1] + 0.25 * fb[:, k + 1])
    lit = np.flatnonzero(power > 0)
    assert lit.size >= 2
    np.testing.assert_allclose(lm[lit, 16], 10 * np.log10(power[lit]), rtol=0, atol=DB_TOL)
    # the whole picture against librosa, in power relative to the peak: bands far from the
    # sine hold only float32 round-off of the peak (no meaningful dB value); the round-off of
    # a bin is about 2 * log2(1024) * EPS32 = 20 EPS32 of the peak power
    ref = 10 ** (librosa_log_mel(x) / 10)
    np.testing.assert_allclose(10 ** (lm / 10), ref, rtol=0, atol=20 * EPS32 * ref.max())
    silent = mf.log_mel(np.zeros(SR, np.float32))
    np.testing.assert_allclose(silent, 10 * np.log10(np.finfo(float).eps), atol=1e-3)
    np.testing.assert_allclose(silent, librosa_log_mel(np.zeros(SR, np.float32)), atol=1e-3)


def test_stack_frames_makes_640_dim_frame_major_vectors():
    m = np.arange(128 * 313, dtype=np.float32).reshape(128, 313)
    v = mf.stack_frames(m, 5)
    assert v.shape == (309, 640) and v.dtype == np.float32 and v.flags.c_contiguous
    for t in (0, 17, 308):
        for j in range(5):
            np.testing.assert_array_equal(v[t, 128 * j : 128 * (j + 1)], m[:, t + j])
    with pytest.raises(ValueError, match="shorter than 5"):
        mf.stack_frames(m[:, :4], 5)
    with pytest.raises(ValueError, match="n_mels, T"):
        mf.stack_frames(m[0], 5)
    assert mf.LogMelConfig().dims == 640


def test_vectors_table_is_cached_and_equals_the_direct_computation(tmp_path, write_wav):
    p = write_wav("a.wav", 0.1 * np.random.default_rng(2).standard_normal(SR))
    direct = mf.clip_vectors(p)
    assert direct.shape == (32 - 4, 640)
    cached = mf.vectors_table([p], cache_root=tmp_path)
    again = mf.vectors_table([p], cache_root=tmp_path)
    np.testing.assert_array_equal(cached[0], direct)
    np.testing.assert_array_equal(again[0], direct)
    assert len(list((tmp_path / "machine_features" / "logmel").rglob("*.npy"))) == 1


def test_configs_are_frozen_and_validated():
    with pytest.raises(AttributeError):
        mf.StftConfig().n_fft = 512  # type: ignore[misc]
    with pytest.raises(ValueError, match="fmin"):
        mf.LogMelConfig(fmin=9000.0)
    with pytest.raises(ValueError, match="pad_mode"):
        mf.StftConfig(pad_mode="edge")  # type: ignore[arg-type]


def test_stft_pictures_return_figures_and_if_of_a_steady_sine_is_its_offset():
    f0 = 64 * SR / 1024 + 5.0  # 5 Hz above bin 64
    t = np.arange(SR) / SR
    s = mf.complex_stft((0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32))
    dev = instantaneous_frequency_deviation(s)
    assert dev.shape == (513, 31)
    assert np.median(dev[64, 2:-2]) == pytest.approx(5.0, abs=0.05)
    fig = plot_stft_views(s, title="sine", max_hz=2000)
    assert len(fig.axes) >= 3
    fig2, axes = plt.subplots(1, 3)
    assert plot_stft_views(s, axes=axes) is fig2
    plt.close("all")


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux /proc")
def test_a_cached_array_holds_no_memory_map_after_a_read(tmp_path):
    a = np.arange(2 * 5 * 40, dtype=np.float32).reshape(2, 5, 40)
    np.save(tmp_path / "x.npy", a)

    def mapped() -> bool:
        return str(tmp_path / "x.npy") in Path("/proc/self/maps").read_text()

    held = np.load(tmp_path / "x.npy", mmap_mode="r")
    _ = float(held[0, 0, 0])
    assert mapped()  # a memmap stays mapped (its pages count in resident memory)
    del held, _
    lazy = mf.CachedArray(tmp_path / "x.npy")
    np.testing.assert_array_equal(lazy[:, 1:3, 10:20], a[:, 1:3, 10:20])
    np.testing.assert_array_equal(np.asarray(lazy, dtype=np.float64), a)
    assert not mapped()  # read and let go
    assert lazy.shape == (2, 5, 40) and lazy.ndim == 3 and len(lazy) == 2


def test_a_truncated_cache_entry_is_named_and_recomputed(tmp_path):
    a = np.ones((2, 3, 4), dtype=np.float32)
    np.save(tmp_path / "x.npy", a)
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[:-8])
    with pytest.raises(ValueError, match=r"x\.npy: truncated"):
        mf.CachedArray(tmp_path / "x.npy")
    (tmp_path / "x.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match=r"x\.npy: not a \.npy array"):
        mf.CachedArray(tmp_path / "x.npy")


def test_crops_from_cached_arrays_equal_crops_from_arrays(tmp_path):
    from audioanom.machines.training_data import crop_batch

    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=(2, 7, 30)).astype(np.float32) for _ in range(3)]
    for i, a in enumerate(arrays):
        np.save(tmp_path / f"{i}.npy", a)
    lazy = [mf.CachedArray(tmp_path / f"{i}.npy") for i in range(3)]
    clip_idx, starts = np.array([2, 2, 0, 2, 1, 1]), np.array([0, 9, 4, 20, 3, 22])
    got = crop_batch(lazy, clip_idx, starts, 8)  # runs of one clip read it once
    for b, (c, s) in enumerate(zip(clip_idx, starts, strict=True)):
        np.testing.assert_array_equal(got[b], arrays[c][:, :, s : s + 8])


def test_speed_stft_of_a_bin_sine_peaks_at_the_scaled_bin_and_is_cached(
    tmp_path, write_wav, monkeypatch
):
    """A 1-kHz sine (bin 64 of 513) played 1.25 times as fast is a 1,250-Hz sine (bin 80) with
    1 / 1.25 the samples (by hand); the second call reads the cache, not the file."""
    x = 0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(3 * SR) / SR)
    path = write_wav("sine.wav", x)
    root = tmp_path / "cache"
    (fast,) = mf.stft_table([path], speed=1.25, cache_root=root)
    n = int(np.ceil(3 * SR / 1.25))
    assert fast.shape == (2, 513, 1 + n // 512) and fast.dtype == np.float32
    mag = np.hypot(fast[0], fast[1])[:, 5:-5]  # interior frames
    assert (mag.argmax(axis=0) == 80).all()
    (plain,) = mf.stft_table([path], cache_root=root)
    assert (np.hypot(plain[0], plain[1])[:, 5:-5].argmax(axis=0) == 64).all()

    def no_read(*args, **kwargs):
        raise AssertionError("the cached copy was computed again")

    monkeypatch.setattr(mf, "read_audio", no_read)
    (again,) = mf.stft_table([path], speed=1.25, cache_root=root, lazy=True)
    np.testing.assert_array_equal(np.asarray(again), fast)
    assert len(list((root / "machine_features" / "stft_speed").rglob("*.npy"))) == 1
    with pytest.raises(ValueError, match="not 1"):
        mf.SpeedStftConfig(1.0)
    with pytest.raises(ValueError, match="> 0"):
        mf.stft_table([path], speed=-2.0, cache_root=root)
