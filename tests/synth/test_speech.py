"""Synthetic spoken digits (espeak-ng through espeakng-loader): wrapper, layout, anomalies."""

from __future__ import annotations

import json
import re
import sys

# espeakng-loader is a required dependency (pyproject.toml): a missing one fails, never skips
import espeakng_loader
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from audioanom.datasets import load_audiomnist
from audioanom.synth import speech as sp

SR = sp.SAMPLE_RATE
SMALL = dict(n_speakers=3, takes_per_speaker=8, anomaly_fraction=0.5, progress=False)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """3 speakers x 8 takes, half anomalous (12 anomalies: every kind at least once)."""
    out = tmp_path_factory.mktemp("digits") / "set"
    labels = sp.generate_digits(out, seed=3, **SMALL)
    return out, labels


def _pcm(out, file) -> np.ndarray:
    return sf.read(out / file, dtype="int16")[0]


def _float(out, file) -> np.ndarray:
    return sf.read(out / file, dtype="float32")[0]


def _longest_zero_run(x: np.ndarray) -> int:
    edges = np.diff(np.r_[0, (x == 0).astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if starts.size else 0


# ------------------------------------------------------------------------------ the wrapper


def test_espeak_says_six_and_is_deterministic():
    x, sr = sp.synthesize("six")
    assert sr == 22050 and x.dtype == np.float32 and x.ndim == 1
    assert 0.25 < x.size / sr < 0.8  # one short word
    assert np.sqrt(np.mean(x**2)) > 0.01 and np.abs(x).max() > 0.1
    again, _ = sp.synthesize("six")
    np.testing.assert_array_equal(x, again)
    # a breathy voice: espeak-ng's noise generator is seeded by the session, not the clock
    b1, _ = sp.synthesize("six", "en+f5", rand_seed=1)
    b2, _ = sp.synthesize("six", "en+f5", rand_seed=1)
    b3, _ = sp.synthesize("six", "en+f5", rand_seed=2)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(b1, b3)
    longer, _ = sp.synthesize("six", rate=100)
    assert longer.size > 1.3 * x.size
    y, sr48 = sp.synthesize("six", sr=SR)
    assert sr48 == SR and abs(y.size - x.size * SR / 22050) < 50


def test_voices_and_settings_are_checked():
    bases, variants = sp.available_voices()
    assert set(sp.BASE_VOICES) <= set(bases) and set(sp.VARIANTS) <= set(variants)
    for base in sp.BASE_VOICES:  # every voice of the speaker catalogue exists in the data
        for variant in sp.VARIANTS:
            sp.check_voice(f"{base}+{variant}")
    with pytest.raises(ValueError, match="variant 'nope'"):
        sp.synthesize("six", "en-us+nope")  # espeak-ng alone would ignore it silently
    with pytest.raises(ValueError, match="voice 'xx-yy'"):
        sp.synthesize("six", "xx-yy")
    with pytest.raises(ValueError, match="rate"):
        sp.synthesize("six", rate=10)
    with pytest.raises(ValueError, match="non-empty"):
        sp.synthesize("  ")


def test_one_session_at_a_time():
    with sp.EspeakSession() as session:
        assert session.synthesize("six").dtype == np.int16
        with pytest.raises(sp.SpeechSynthError, match="another EspeakSession"):
            sp.synthesize("six")
    assert sp.synthesize("six")[0].size > 0  # released after the session closed


def test_clear_error_when_the_library_cannot_be_loaded(monkeypatch, tmp_path):
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(tmp_path / "nope.so"))
    with pytest.raises(sp.SpeechSynthError, match=r"could not be loaded.*pip install espeakng"):
        sp.synthesize("six")
    with pytest.raises(sp.SpeechSynthError, match="could not be loaded"):
        sp.generate_digits(tmp_path / "out", n_speakers=1, takes_per_speaker=1, progress=False)
    assert not (tmp_path / "out").exists()  # failed before writing anything
    monkeypatch.undo()

    with pytest.raises(sp.SpeechSynthError, match="could not be initialised"):
        with sp.EspeakSession(data_path=str(tmp_path)):
            pass
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # not installed
    with pytest.raises(sp.SpeechSynthError, match="pip install espeakng-loader"):
        sp.synthesize("six")
    monkeypatch.undo()
    assert sp.synthesize("six")[0].size > 0  # nothing left locked or half-loaded


# --------------------------------------------------------------------- corruptions, alone


def test_corruption_functions_do_what_they_say():
    rng = np.random.default_rng(0)
    t = np.arange(SR // 2) / SR
    x = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # T
    clipped = sp.hard_clip(x, 12.0)
    assert np.abs(clipped).max() == 1.0 and np.mean(np.abs(clipped) == 1.0) > 0.5
    dropped = sp.drop_out(x, 1000, 2400)
    assert _longest_zero_run(dropped) == 2400 and np.array_equal(dropped[:1000], x[:1000])
    assert sp.truncate(x, 5000).size == 5000
    burst = sp.add_noise_burst(x, 2000, 960, 0.3, rng)
    assert np.array_equal(burst[:2000], x[:2000]) and np.std(burst[2100:2800] - x[2100:2800]) > 0.2
    for semitones in (-5.0, 4.0):
        y = sp.pitch_shift(x, semitones, SR)
        peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * SR / y.size
        assert peak_hz == pytest.approx(220 * 2 ** (semitones / 12), rel=0.02)
        assert y.size == pytest.approx(x.size / 2 ** (semitones / 12), rel=0.01)
    rir = sp.room_impulse_response(0.5, 0.0, SR, rng)
    assert rir.size == SR // 2 and rir[0] == 1.0
    assert np.sum(rir[1:] ** 2) == pytest.approx(1.0, rel=1e-3)  # DRR 0 dB
    first, last = rir[1 : SR // 20], rir[-SR // 20 :]
    assert np.mean(first**2) > 1e4 * np.mean(last**2)  # ~ -60 dB at rt60
    assert sp.reverberate(x, rir).size == x.size + rir.size - 1
    with pytest.raises(ValueError, match="1-D"):
        sp.hard_clip(np.zeros((2, 10)), 3.0)
    with pytest.raises(ValueError, match="outside"):
        sp.drop_out(x, x.size - 10, 100)


# ----------------------------------------------------------------------------------- plans


def test_default_plan_spreads_anomalies_evenly():
    config = sp.DigitSynthConfig()
    speakers, plans = sp.plan_speakers(config), sp.plan_takes(config)
    assert len(speakers) == 30 and len({s.voice for s in speakers}) == 30
    assert [s.speaker for s in speakers[:2]] == ["01", "02"]
    df = pd.DataFrame([p.__dict__ for p in plans])
    assert len(df) == 600
    anomalies = df[df["kind"] != "none"]
    assert len(anomalies) == 90
    kind_counts = anomalies["kind"].value_counts()
    assert set(kind_counts.index) == set(sp.ANOMALY_KINDS) and np.ptp(kind_counts) <= 1
    assert np.ptp(anomalies.groupby("speaker_index").size().reindex(range(30), fill_value=0)) <= 1
    other = anomalies[anomalies["kind"] == "other_digit"]
    assert (other["digit"] != 6).all() and (other["word"] != "six").all()
    assert plans == sp.plan_takes(sp.DigitSynthConfig())  # deterministic
    assert plans != sp.plan_takes(sp.DigitSynthConfig(seed=1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_speakers": 0}, "n_speakers"),
        ({"anomaly_fraction": 1.0}, "anomaly_fraction"),
        ({"kinds": ("bogus",)}, "kinds"),
        ({"seed": -1}, "seed"),
        ({"takes_per_speaker": 0}, "takes_per_speaker"),
    ],
)
def test_bad_config_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sp.DigitSynthConfig(**kwargs)


# ----------------------------------------------------------------------- the generated set


def test_layout_counts_and_format(small_set):
    out, labels = small_set
    files = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*.wav"))
    assert len(files) == 24 and sorted(labels["file"]) == files
    assert sorted(p.name for p in (out / "data").iterdir()) == ["01", "02", "03"]
    for f in files:
        folder, name = f.split("/")[1:]
        m = re.fullmatch(r"(\d)_(\d\d)_(\d+)\.wav", name)
        assert m and m[2] == folder
        info = sf.info(out / f)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (
            SR,
            1,
            "WAV",
            "PCM_16",
        )
    assert 0.1 < labels["duration_s"].min() and labels["duration_s"].max() < 2.0
    assert "x_realtime" in labels.attrs and labels.attrs["audio_seconds"] > 5


def test_labels_agree_with_files_and_names(small_set):
    out, labels = small_set
    on_disk = sp.read_labels(out)
    assert list(on_disk.columns) == list(sp.LABEL_COLUMNS)
    pd.testing.assert_frame_equal(on_disk, labels, check_dtype=False)
    for r in labels.itertuples():
        digit, speaker, take = r.file.split("/")[-1][:-4].split("_")
        assert (int(digit), speaker, int(take)) == (r.digit, r.speaker, r.take)
        assert sf.info(out / r.file).frames == round(r.duration_s * SR)
        assert 0 < r.onset_s < r.offset_s <= r.duration_s
        assert (r.label == "normal") == (r.anomaly_kind == "none")
        if r.anomaly_kind == "other_digit":
            assert r.word == sp.DIGIT_WORDS[r.digit] and r.digit != 6
        else:
            assert r.digit == 6
            assert (r.word == "six") == (r.anomaly_kind != "similar_word")
        assert r.severity == {"none": 0.0, "other_digit": 1.0, "similar_word": 1.0}.get(
            r.anomaly_kind, r.severity
        )
        assert 0.0 <= r.severity <= 1.0
    assert (labels.groupby("speaker")["voice"].nunique() == 1).all()
    assert labels.groupby("speaker")["voice"].first().nunique() == 3


def test_metadata_parses_one_entry_per_speaker(small_set):
    out, labels = small_set
    meta = json.loads((out / "audioMNIST_meta.txt").read_text())
    assert sorted(meta) == sorted(labels["speaker"].unique())
    for speaker, entry in meta.items():
        for field in (
            "accent",
            "age",
            "gender",
            "native speaker",
            "origin",
            "recordingdate",
            "recordingroom",
            "voice",
            "pitch",
            "speed",
        ):
            assert field in entry, (speaker, field)
        assert entry["gender"] in ("male", "female") and 18 < int(entry["age"]) < 70
        assert re.fullmatch(r"\d\d-\d\d-\d\d-\d\d-\d\d-\d\d", entry["recordingdate"])
        assert entry["voice"] == labels.loc[labels["speaker"] == speaker, "voice"].iloc[0]
    loaded = load_audiomnist(out)  # the project's AudioMNIST reader takes it as it is
    assert len(loaded.clips) == 24 and not loaded.unparsed
    assert set(loaded.clips["gender"]) <= {"male", "female"}
    # names carry the spoken digit: a name-based reader sees exactly the other_digit anomalies
    n_other = (labels["anomaly_kind"] == "other_digit").sum()
    assert (loaded.clips["label"] == "anomaly").sum() == n_other > 0


def test_same_seed_same_bytes_other_seed_differs(small_set, tmp_path):
    out, _ = small_set
    again = sp.generate_digits(tmp_path / "again", seed=3, **SMALL)
    other = sp.generate_digits(tmp_path / "other", seed=4, **SMALL)
    names = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert names == sorted(
        p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file()
    )
    for name in names:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert len(again) == len(other) == 24
    differs = [
        f
        for f in other["file"]
        if not (out / f).exists() or (out / f).read_bytes() != (tmp_path / "other" / f).read_bytes()
    ]
    assert len(differs) == 24


def test_refuses_to_mix_with_an_existing_set(small_set, tmp_path):
    out, _ = small_set
    with pytest.raises(FileExistsError, match="overwrite=True"):
        sp.generate_digits(out, seed=3, **SMALL)
    stray = tmp_path / "mine" / "data" / "notes.txt"
    stray.parent.mkdir(parents=True)
    stray.write_text("keep me")
    with pytest.raises(FileExistsError, match="did not write"):
        sp.generate_digits(tmp_path / "mine", overwrite=True, **SMALL)
    assert stray.read_text() == "keep me"


def test_every_kind_present_and_each_does_what_it_says(small_set):
    out, labels = small_set
    kinds = labels.loc[labels["label"] == "anomaly", "anomaly_kind"]
    assert set(kinds) == set(sp.ANOMALY_KINDS)
    normal = labels[labels["label"] == "normal"]
    assert normal["speaker"].nunique() == 3  # every speaker has normal takes to compare with
    sos = butter(8, 12_000, "highpass", fs=SR, output="sos")

    def hf_peak(x):  # highest 10 ms energy above 12 kHz (espeak-ng has none: 22 kHz source)
        e = sosfilt(sos, x) ** 2
        n = e.size // 480
        return e[: n * 480].reshape(n, 480).mean(axis=1).max()

    def tail_ratio(r):  # RMS 30-130 ms after the word, relative to the word
        x = _float(out, r.file)
        onset, offset = int(r.onset_s * SR), int(r.offset_s * SR)
        tail = x[offset + 1440 : offset + 1440 + 4800]
        return np.sqrt(np.mean(tail**2) / np.mean(x[onset:offset] ** 2))

    for r in normal.itertuples():
        pcm = _pcm(out, r.file)
        assert np.mean(np.abs(pcm.astype(np.int32)) >= 32767) == 0.0
        assert _longest_zero_run(pcm) < 20
    own = normal.groupby("speaker")
    shortest = own["duration_s"].min()
    span = (normal["offset_s"] - normal["onset_s"]).groupby(normal["speaker"]).median()
    hf_normal = max(hf_peak(_float(out, f)) for f in normal["file"])
    tails = {s: max(tail_ratio(r) for r in g.itertuples()) for s, g in own}

    for r in labels[labels["label"] == "anomaly"].itertuples():
        pcm = _pcm(out, r.file)
        if r.anomaly_kind == "clipping":
            at_full_scale = np.abs(pcm.astype(np.int32)) >= 32767
            assert at_full_scale.sum() >= 40 and at_full_scale.mean() > 0.002, r.file
        elif r.anomaly_kind == "dropout":
            assert _longest_zero_run(pcm) >= 0.03 * SR * 0.95, r.file
        elif r.anomaly_kind == "truncation":
            assert r.duration_s < shortest[r.speaker], r.file
            assert r.duration_s == r.offset_s
        elif r.anomaly_kind == "noise_burst":
            assert hf_peak(_float(out, r.file)) > 100 * hf_normal, r.file
        elif r.anomaly_kind == "reverberation":
            assert tail_ratio(r) > 3 * tails[r.speaker], r.file
        elif r.anomaly_kind == "pitch_shift":
            semitones = float(r.detail.split("=")[1])
            heard = -12 * np.log2((r.offset_s - r.onset_s) / span[r.speaker])
            assert np.sign(heard) == np.sign(semitones) and abs(heard) > 1.5, r.file
        else:
            assert r.word != "six"
