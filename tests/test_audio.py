import math
import struct

import numpy as np
import pytest
import soundfile as sf

from audioanom.audio import AudioError, audio_info, check_files, list_audio_files, read_audio
from tests.conftest import tone


@pytest.mark.parametrize(
    "subtype,tol",
    [
        ("PCM_U8", 1e-2),
        ("PCM_16", 1e-4),
        ("PCM_24", 1e-6),
        ("PCM_32", 1e-6),
        ("FLOAT", 0),
        ("DOUBLE", 0),
    ],
)
def test_reads_every_pcm_and_float_width(write_wav, subtype, tol):
    x = tone()
    path = write_wav(f"t_{subtype}.wav", x, subtype=subtype)
    y, sr = read_audio(path)
    assert sr == 16000 and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=tol + 1e-7)


def test_reads_wave_format_extensible_and_flac(write_wav):
    x = tone(channels=3)
    wavex = write_wav("ext.wav", x, format="WAVEX", subtype="PCM_24")
    assert struct.unpack("<H", wavex.read_bytes()[20:22])[0] == 0xFFFE  # WAVE_FORMAT_EXTENSIBLE
    flac = write_wav("t.flac", x[:, 0], format="FLAC")
    np.testing.assert_allclose(read_audio(wavex)[0], x[:, 0], atol=1e-6)
    np.testing.assert_allclose(read_audio(flac)[0], x[:, 0], atol=1e-4)


@pytest.mark.parametrize("channels", [1, 2, 8])
def test_channel_selection_and_mean(write_wav, channels):
    x = tone(channels=channels)
    path = write_wav("mc.wav", x, subtype="FLOAT")
    y0, _ = read_audio(path)  # channel 0 by default (MIMII)
    ref = x if channels == 1 else x[:, 0]
    np.testing.assert_allclose(y0, ref, atol=1e-7)
    ym, _ = read_audio(path, channel="mean")
    np.testing.assert_allclose(ym, x.reshape(len(x), -1).mean(axis=1), atol=1e-6)
    if channels > 1:
        last, _ = read_audio(path, channel=channels - 1)
        np.testing.assert_allclose(last, x[:, -1], atol=1e-7)
    with pytest.raises(AudioError, match=f"channel {channels} requested, the file has {channels}"):
        read_audio(path, channel=channels)


def test_resampling_keeps_tone(write_wav):
    path = write_wav("48k.wav", tone(1.0, sr=48000, freq=1000.0), sr=48000)
    y, sr = read_audio(path, sr=8000)
    assert sr == 8000 and abs(y.size - 8000) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 8000 / y.size - 1000.0) < 2.0


def test_expected_rate_mismatch_names_file_and_rates(write_wav):
    path = write_wav("r.wav", tone(sr=8000), sr=8000)
    with pytest.raises(AudioError) as info:
        read_audio(path, expected_sr=16000)
    assert info.value.path == path and str(path) in str(info.value)
    assert "sample rate 8000 Hz, expected 16000 Hz" in info.value.fault


def test_truncated_wav_is_detected(write_wav):
    path = write_wav("cut.wav", tone())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated: header declares 16000 bytes"):
        read_audio(path)


def test_empty_and_headerless_and_zero_sample_files(tmp_path, write_wav):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty file \(0 bytes\)"):
        read_audio(empty)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError, match="unreadable header"):
        read_audio(junk)
    zero = write_wav("zero.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match="zero samples"):
        read_audio(zero)
    with pytest.raises(AudioError, match="no such file"):
        read_audio(tmp_path / "missing.wav")


@pytest.mark.parametrize("bad,word", [(math.nan, "NaN"), (math.inf, "Inf")])
def test_nan_and_inf_samples_are_errors(write_wav, bad, word):
    x = tone()
    x[10:13] = bad
    path = write_wav("nan.wav", x, subtype="FLOAT")
    with pytest.raises(AudioError, match=rf"{word} samples \(3 of {x.size}\)"):
        read_audio(path)


def test_check_files_lists_every_fault_without_stopping(tmp_path, write_wav):
    for i in range(4):
        write_wav(f"good/{i}.wav", tone(freq=440.0 + 10 * i))  # distinct: copies are a fault
    trunc = write_wav("good/trunc.wav", tone())
    trunc.write_bytes(trunc.read_bytes()[:1000])
    (tmp_path / "good" / "empty.wav").write_bytes(b"")
    x = tone()
    x[5] = np.nan
    write_wav("good/nan.wav", x, subtype="FLOAT")
    report = check_files(list_audio_files(tmp_path / "good"))
    assert report.n_files == 7 and report.n_bad == 3 and not report.ok
    faults = {p.name: f for p, f in report.problems}
    assert set(faults) == {"trunc.wav", "empty.wav", "nan.wav"}
    assert faults["trunc.wav"].startswith("truncated")
    assert faults["empty.wav"].startswith("empty file")
    assert faults["nan.wav"].startswith("NaN samples")
    assert report.rates == ((16000, 4),)


def test_audio_info_reads_header_only(write_wav):
    path = write_wav("i.wav", tone(0.25, channels=2), subtype="PCM_24")
    info = audio_info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 2, 4000, "PCM_24")
    assert info.duration == pytest.approx(0.25)
    assert sf.info(str(path)).frames == 4000


def test_list_audio_files_requires_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        list_audio_files(tmp_path / "nope")
