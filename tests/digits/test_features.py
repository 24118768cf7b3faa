"""Spectral features: normalisation, the AudioMNIST convention, pad/cut, log-mel, the on-disk
cache, bad files, and the complex spectrum / waveform round trip."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import audioanom.digits.features as features_module
from audioanom.audio import AudioError
from audioanom.digits.features import (
    AUDIOMNIST_FFT,
    ClipTruncatedWarning,
    FFTConfig,
    MelConfig,
    clip_spectra,
    extract_features,
    features_cache_path,
    fft_frequencies,
    fit_length,
    magnitude_features,
    mel_features,
    read_signals,
    reconstruct_waveform,
    trimmed_log_mel,
    truncated_clips,
)
from audioanom.dsp import mel_filterbank
from tests.conftest import tone


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOANOM_CACHE", str(tmp_path / "cache"))


def _clips(write_wav, n=4, sr=8000, seconds=0.5):
    return [
        write_wav(f"c{i}.wav", tone(seconds, sr, 300.0 + 150 * i) * (0.2 + 0.2 * i), sr)
        for i in range(n)
    ]


def test_each_row_is_divided_by_its_own_maximum(write_wav):
    files = _clips(write_wav)
    X = extract_features(files, FFTConfig(n_samples=4000), cache=False)
    assert X.shape == (4, 2001) and X.dtype == np.float32
    np.testing.assert_allclose(X.max(axis=1), 1.0, rtol=1e-6)
    assert X.min() >= 0
    # Loudness drops out: the clips differ in level and pitch, the peak bin moves with the pitch.
    peaks = fft_frequencies(FFTConfig(n_samples=4000))[X.argmax(axis=1)]
    np.testing.assert_allclose(peaks, [300, 450, 600, 750], atol=2.1)


def test_audiomnist_convention_resamples_to_8k_and_gives_4001_bins(write_wav):
    short = write_wav("short.wav", tone(0.5, 48000, 440.0), 48000)
    long = write_wav("long.wav", tone(1.5, 48000, 440.0), 48000)
    assert AUDIOMNIST_FFT.n_features == 4001 and AUDIOMNIST_FFT.n_samples == 8000
    with pytest.warns(ClipTruncatedWarning, match=r"long\.wav \(1\.500 s\)"):
        signals = read_signals([short, long], AUDIOMNIST_FFT)
    assert signals.shape == (2, 8000)
    assert np.all(signals[0, 4000:] == 0) and np.abs(signals[0, :3990]).max() > 0.4  # padded
    assert np.abs(signals[1, -100:]).max() > 0.4  # cut: the tone goes on to the last sample
    with pytest.warns(ClipTruncatedWarning, match="long.wav"):
        X = extract_features([short, long], AUDIOMNIST_FFT, cache=False)
    assert X.shape == (2, 4001)
    freqs = fft_frequencies(AUDIOMNIST_FFT)
    assert freqs[-1] == 4000 and freqs[X[0].argmax()] == pytest.approx(440, abs=1.0)


def test_a_clip_over_one_second_is_cut_and_the_cut_is_recorded(write_wav):
    """A known 1.5 s clip (12,000 samples at 8 kHz) under the one-second AudioMNIST/FSDD
    convention: the warning and the table name it with 1.5 s; a 0.5 s and a 1.0 s clip are not
    listed; a cache hit repeats the record; the log-mel features (no cut) warn nothing."""
    long = write_wav("digits/7_jackson_3.wav", tone(1.5, 8000, 440.0), 8000)
    short = write_wav("digits/7_jackson_4.wav", tone(0.5, 8000, 440.0), 8000)
    exact = write_wav("digits/7_jackson_5.wav", tone(1.0, 8000, 440.0), 8000)
    files = [short, long, exact]
    expected = (
        f"1 of 3 clips longer than 1 s (8000 samples at 8000 Hz) were cut to 1 s: {long} (1.500 s)"
    )
    for cache in (True, True, False):  # compute + store, cache hit, no cache
        with pytest.warns(ClipTruncatedWarning) as caught:
            X = extract_features(files, AUDIOMNIST_FFT, cache=cache)
        assert X.shape == (3, 4001)
        (w,) = [c.message for c in caught if isinstance(c.message, ClipTruncatedWarning)]
        assert str(w) == expected
        assert w.clips.to_dict("records") == [
            {"path": str(long), "seconds": 1.5, "kept_seconds": 1.0}
        ]
    with pytest.warns(ClipTruncatedWarning, match="7_jackson_3.wav"):
        clip_spectra(files, AUDIOMNIST_FFT)
    table = truncated_clips(files, AUDIOMNIST_FFT)
    assert table.to_dict("records") == [{"path": str(long), "seconds": 1.5, "kept_seconds": 1.0}]
    assert truncated_clips(files, FFTConfig(n_samples=16000)).empty
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClipTruncatedWarning)
        extract_features(files, FFTConfig(n_samples=12000), cache=False)  # nothing cut
        extract_features(files, MelConfig(), cache=False)


def test_fit_length_pads_and_cuts():
    np.testing.assert_array_equal(fit_length(np.ones(3), 5), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(fit_length(np.arange(7.0), 4), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="1-D"):
        fit_length(np.ones((2, 3)), 4)


def test_log_magnitude_is_db_re_max_with_a_floor(write_wav):
    files = _clips(write_wav, n=2)
    X = extract_features(files, FFTConfig(n_samples=4000, log=True, floor_db=-60), cache=False)
    np.testing.assert_allclose(X.max(axis=1), 0.0, atol=1e-5)
    assert X.min() >= -60.0 - 1e-4 and X.min() < -50


def test_config_validation():
    with pytest.raises(ValueError):
        FFTConfig(n_samples=1)
    with pytest.raises(ValueError):
        FFTConfig(floor_db=3)
    with pytest.raises(ValueError, match="summary"):
        MelConfig(summary="median")
    with pytest.raises(ValueError):
        MelConfig(fmax=9000)
    with pytest.raises(ValueError, match="shape"):
        magnitude_features(np.ones((2, 10)), FFTConfig(n_samples=100))


def test_mel_features_have_fixed_length_and_ignore_loudness():
    x = tone(0.6, 8000, 500.0)
    for summary, n in (("stats", 80), ("aligned", 40 * 32)):
        c = MelConfig(summary=summary)
        f = mel_features(x, c)
        assert f.shape == (n,) == (c.n_features,)
        np.testing.assert_allclose(mel_features(0.05 * x, c), f, atol=1e-3)
    fb = mel_filterbank(8000, 256, 40, 50.0, htk=True, norm=None)
    assert fb.shape == (40, 129) and np.all(fb.max(axis=1) > 0)


def test_log_mel_is_librosa_trim_then_htk_melspectrogram_in_db():
    """The digit log-mel equals librosa computed here directly: effects.trim, then
    feature.melspectrogram (Hann, no centring, HTK scale, unit-peak filters), dB re. the peak."""
    import librosa

    rng = np.random.default_rng(3)
    word = tone(0.4, 8000, 600.0) * np.hanning(3200).astype(np.float32)
    x = np.concatenate([np.zeros(1500, np.float32), word, np.zeros(2500, np.float32)])
    x = x + 1e-5 * rng.standard_normal(x.size).astype(np.float32)
    c = MelConfig()
    y, _ = librosa.effects.trim(x, top_db=c.trim_db, frame_length=c.n_fft, hop_length=c.hop)
    assert 3000 < y.size < x.size - 3000  # the test signal really is trimmed
    S = librosa.feature.melspectrogram(
        y=y,
        sr=8000,
        n_fft=256,
        hop_length=64,
        center=False,
        power=2.0,
        n_mels=40,
        fmin=50.0,
        htk=True,
        norm=None,
    )
    want = 10 * np.log10(np.maximum(S / S.max(), 10 ** (c.floor_db / 10)))
    got = trimmed_log_mel(x, c)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_mel_aligned_stretches_the_word_not_the_silence():
    word = tone(0.3, 8000, 700.0) * np.hanning(2400).astype(np.float32)  # smooth on- and offset
    padded = np.concatenate([np.zeros(2048, np.float32), word, np.zeros(4000, np.float32)])
    c = MelConfig(summary="aligned")
    trimmed = np.abs(mel_features(padded, c) - mel_features(word, c)).mean()  # dB
    untrimmed_c = MelConfig(summary="aligned", trim_db=300.0)
    untrimmed = np.abs(mel_features(padded, untrimmed_c) - mel_features(word, untrimmed_c)).mean()
    assert trimmed < 0.5 < untrimmed


@pytest.mark.filterwarnings(
    "ignore::audioanom.digits.features.ClipTruncatedWarning"
)  # cut on purpose
def test_threads_and_serial_give_the_same_rows(write_wav):
    files = _clips(write_wav, n=5)
    c = FFTConfig(n_samples=2048)
    np.testing.assert_array_equal(
        extract_features(files, c, n_jobs=1, cache=False),
        extract_features(files, c, n_jobs=2, cache=False),
    )
    m = MelConfig()
    np.testing.assert_array_equal(
        extract_features(files, m, n_jobs=1, cache=False),
        extract_features(files, m, n_jobs=2, cache=False),
    )


@pytest.mark.filterwarnings(
    "ignore::audioanom.digits.features.ClipTruncatedWarning"
)  # cut on purpose
def test_cache_hit_returns_the_same_array_without_reading_files(write_wav, monkeypatch):
    files = _clips(write_wav, n=3)
    c = FFTConfig(n_samples=2048)
    first = extract_features(files, c)
    target = features_cache_path(c, [str(f) for f in files])
    assert target.is_file()

    def no_reading(*args, **kwargs):
        raise AssertionError("read_audio called on a cache hit")

    monkeypatch.setattr(features_module, "read_audio", no_reading)
    again = extract_features(files, c)
    np.testing.assert_array_equal(again, first)
    # Another config or a changed file is a different key: it reads again.
    with pytest.raises(AssertionError, match="cache hit"):
        extract_features(files, FFTConfig(n_samples=1024))
    st = os.stat(files[0])
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert features_cache_path(c, [str(f) for f in files]) != target
    with pytest.raises(AssertionError, match="cache hit"):
        extract_features(files, c)


def test_bad_file_raises_naming_it(write_wav, tmp_path):
    good = _clips(write_wav, n=2)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEnot audio at all")
    with pytest.raises(AudioError, match="broken.wav"):
        extract_features([*good, bad], FFTConfig(n_samples=1024))
    silent = write_wav("silent.wav", np.zeros(4000, np.float32), 8000)
    with pytest.raises(AudioError, match="silent.wav.*silent"):
        extract_features([*good, silent], FFTConfig(n_samples=1024))
    with pytest.raises(AudioError, match="silent.wav"):
        extract_features([silent], MelConfig())
    with pytest.raises(AudioError, match="missing.wav"):
        extract_features([tmp_path / "missing.wav"], FFTConfig(n_samples=1024))


def test_clip_spectra_give_the_features_and_the_waveform_back(write_wav):
    files = _clips(write_wav, n=3, seconds=0.3)
    c = FFTConfig(n_samples=4000)
    spectra = clip_spectra(files, c)
    assert spectra.shape == (3, 2001) and np.iscomplexobj(spectra)
    X = extract_features(files, c, cache=False)
    np.testing.assert_allclose(magnitude_features(spectra, c), X, rtol=1e-5, atol=1e-6)
    waves = reconstruct_waveform(spectra, X, c)
    np.testing.assert_allclose(waves, read_signals(files, c), atol=1e-5)
    with pytest.raises(ValueError, match="must both be"):
        reconstruct_waveform(spectra, X[:, :10], c)
