"""audioanom.dsp: librosa's STFT, mel filterbank, dB, trimming and resampling behind checked
wrappers."""

import numpy as np
import pytest

from audioanom.dsp import (
    mel_filterbank,
    power_spectrogram,
    power_to_db,
    speed_change,
    stft,
    trim,
)

SR = 16000
EPS32 = float(np.finfo(np.float32).eps)


def test_stft_of_a_bin_centred_sine_is_the_hann_main_lobe():
    """A sine on bin k under a periodic Hann window of N samples: |X| = N/4 at bin k, N/8 at
    k +- 1, ~0 elsewhere (by hand), in every interior frame."""
    n, k = 1024, 37
    t = np.arange(4 * SR) / SR
    x = np.sin(2 * np.pi * (k * SR / n) * t).astype(np.float32)
    z = stft(x, n, 512, center=False)
    assert z.shape == (n // 2 + 1, 1 + (x.size - n) // 512) and z.dtype == np.complex64
    mag = np.abs(z[:, 3])
    np.testing.assert_allclose(mag[[k - 1, k, k + 1]], [n / 8, n / 4, n / 8], rtol=1e-4)
    others = np.delete(mag, [k - 1, k, k + 1])
    assert others.max() < 1e-3 * n
    np.testing.assert_allclose(power_spectrogram(x, n, 512, center=False)[:, 3], mag**2, rtol=1e-4)
    zc = stft(x, n, 512)  # centred: 1 + len // hop frames
    assert zc.shape[1] == 1 + x.size // 512


def test_stft_rejects_bad_signals():
    with pytest.raises(ValueError, match="1-D"):
        stft(np.zeros((2, 4096)), 1024, 512)
    with pytest.raises(ValueError, match="too short"):
        stft(np.zeros(100), 1024, 512, center=False)
    with pytest.raises(ValueError, match="NaN"):
        stft(np.full(4096, np.nan), 1024, 512)


def test_mel_filterbank_properties():
    import librosa

    fb = mel_filterbank(SR, 1024, 128)
    assert fb.shape == (128, 513) and fb.dtype == np.float32
    assert (fb >= 0).all() and (fb.max(axis=1) > 0).all()
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > peaks[0]
    # Slaney normalisation: each triangle has unit area in Hz (sum * bin width ~ 1)
    area = fb.sum(axis=1) * (SR / 1024)
    assert np.all(np.abs(area - 1) < 0.15), (area.min(), area.max())
    # the centre of filter i is the (i+1)-th of 130 equally spaced mel points
    centres = librosa.mel_frequencies(n_mels=130, fmin=0.0, fmax=8000.0)[1:-1]
    assert np.all(np.abs(peaks * SR / 1024 - centres) <= SR / 1024)
    # every bin between the first and last centre is covered
    lo, hi = peaks[0], peaks[-1]
    assert (fb[:, lo : hi + 1].sum(axis=0) > 0).all()
    with pytest.raises(ValueError, match="empty"):
        mel_filterbank(SR, 256, 128)


def test_mel_filterbank_equals_librosa():
    import librosa

    for kw in ({}, {"n_mels": 64, "fmin": 50.0, "fmax": 7000.0}):
        ours = mel_filterbank(SR, 1024, kw.get("n_mels", 128), kw.get("fmin", 0.0), kw.get("fmax"))
        ref = librosa.filters.mel(
            sr=SR,
            n_fft=1024,
            n_mels=kw.get("n_mels", 128),
            fmin=kw.get("fmin", 0.0),
            fmax=kw.get("fmax"),
            dtype=np.float64,
        )
        np.testing.assert_array_equal(ours > 0, ref > 0)  # the same support
        np.testing.assert_allclose(ours, ref, rtol=EPS32, atol=0)  # one float32 rounding


def test_htk_filterbank_has_unit_peaks_on_the_htk_scale():
    fb = mel_filterbank(8000, 256, 40, 50.0, htk=True, norm=None)
    assert fb.shape == (40, 129)
    # HTK mel: 2595 log10(1 + f / 700); centres of filters equally spaced on it
    mel = lambda f: 2595 * np.log10(1 + np.asarray(f) / 700)  # noqa: E731
    edges = np.linspace(mel(50.0), mel(4000.0), 42)
    centres = 700 * (10 ** (edges[1:-1] / 2595) - 1)
    peaks = fb.argmax(axis=1) * 8000 / 256
    assert np.all(np.abs(peaks - centres) <= 8000 / 256)
    assert np.all(fb.max(axis=1) <= 1.0 + 1e-6) and fb.max() > 0.9


def test_power_to_db_by_hand():
    s = np.array([1.0, 10.0, 1e-3, 0.0])
    np.testing.assert_allclose(power_to_db(s), [0.0, 10.0, -30.0, -100.0], atol=1e-9)
    np.testing.assert_allclose(power_to_db(s, ref=10.0, top_db=20.0), [-10, 0, -20, -20], atol=1e-9)


def test_trim_cuts_silence_at_both_ends_only():
    rng = np.random.default_rng(0)
    word = (0.5 * rng.standard_normal(4000)).astype(np.float32)
    x = np.concatenate([np.zeros(3000, np.float32), word, np.zeros(5000, np.float32)])
    y, (start, stop) = trim(x, top_db=40, frame_length=256, hop_length=64)
    assert abs(start - 3000) <= 256 and abs(stop - 7000) <= 256
    np.testing.assert_array_equal(y, x[start:stop])
    with pytest.raises(ValueError, match="silent"):
        trim(np.zeros(1000), top_db=40, frame_length=256, hop_length=64)


@pytest.mark.parametrize(("factor", "freq"), [(1.25, 1250.0), (0.8, 800.0)])
def test_speed_change_moves_a_sine_by_the_factor_and_shortens_it_by_its_inverse(factor, freq):
    """A 1-kHz sine of 2 s played ``factor`` times as fast is a ``1000 factor`` Hz sine of
    ``2 / factor`` s (by hand): its spectrum peaks there, to the resolution of the FFT."""
    x = np.sin(2 * np.pi * 1000.0 * np.arange(2 * SR) / SR).astype(np.float32)
    y = speed_change(x, factor, SR)
    assert y.dtype == np.float32 and y.size == int(np.ceil(x.size / factor))
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    peak = np.argmax(spectrum) * SR / y.size
    assert abs(peak - freq) <= SR / y.size
    mid = y[y.size // 4 : 3 * y.size // 4]  # away from the resampler's edges
    np.testing.assert_allclose(np.sqrt(np.mean(mid**2)), np.sqrt(0.5), rtol=1e-2)


def test_speed_change_rejects_bad_factors_and_signals():
    x = np.ones(100, np.float32)
    for factor in (0.0, -1.0):
        with pytest.raises(ValueError, match="speed factor"):
            speed_change(x, factor, SR)
    with pytest.raises(ValueError, match="1-D"):
        speed_change(np.ones((2, 100)), 1.1, SR)
    with pytest.raises(ValueError, match="finite"):
        speed_change(np.full(100, np.nan), 1.1, SR)
