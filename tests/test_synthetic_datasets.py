"""The embedded synthetic sets as clip tables: generated once, reused, labels joined strictly."""

import pytest

from audioanom.datasets import counts, ensure_synthetic, load_dataset, open_dataset
from audioanom.datasets.synthetic import SIZES, STAMP_FILE, load_synthetic_digits


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory):
    return ensure_synthetic(
        "digits", "smoke", root=tmp_path_factory.mktemp("digits"), progress=False
    )


def test_digit_set_labels_come_from_labels_csv(digits_root):
    loaded = load_synthetic_digits(digits_root)
    clips = loaded.clips
    args = SIZES[("digits", "smoke")]
    assert len(clips) == args["n_speakers"] * args["takes_per_speaker"] and not loaded.unparsed
    assert set(clips["dataset"]) == {"synthetic-digits"}
    # Corrupted sixes are named 6_NN_T.wav but are anomalies; only clean sixes are normal.
    sixes = clips[clips["digit"] == 6]
    assert set(sixes["label"]) == {"normal", "anomaly"}
    assert (clips.loc[clips["label"] == "normal", "anomaly_kind"] == "none").all()
    kinds = set(clips.loc[clips["label"] == "anomaly", "anomaly_kind"])
    assert {"clipping", "truncation", "other_digit", "similar_word"} <= kinds
    assert (clips.loc[clips["anomaly_kind"] == "other_digit", "digit"] != 6).all()
    assert counts(clips, ["label"])["n"].sum() == len(clips)


def test_generated_once_then_reused(digits_root):
    stamp = digits_root / STAMP_FILE
    before = stamp.stat().st_mtime_ns
    first = next((digits_root / "data").rglob("*.wav"))
    wav_before = first.stat().st_mtime_ns
    assert ensure_synthetic("digits", "smoke", root=digits_root, progress=False) == digits_root
    assert stamp.stat().st_mtime_ns == before and first.stat().st_mtime_ns == wav_before


def test_labels_and_files_must_agree(tmp_path, digits_root):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(digits_root, copy)
    victim = sorted((copy / "data").rglob("*.wav"))[3]
    victim.unlink()
    with pytest.raises(
        ValueError, match="labels.csv and the audio files disagree: 0 files without"
    ):
        load_synthetic_digits(copy)


def test_open_dataset_resolves_notebook_parameters(digits_root, monkeypatch, tmp_path):
    loaded = open_dataset("synthetic", domain="digits", data_dir=str(digits_root), smoke=True)
    assert loaded.root == digits_root and len(loaded.clips) > 0
    with pytest.raises(ValueError, match="domain must be"):
        open_dataset("synthetic", domain="speech")
    monkeypatch.setenv("AUDIOANOM_SHARED_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("AUDIOANOM_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match="audioanom fetch fsdd"):
        open_dataset("fsdd", domain="digits")
    assert load_dataset("synthetic-digits", digits_root).clips.shape[0] == len(loaded.clips)
