import json

import numpy as np
import pandas as pd
import pytest

from audioanom.datasets import (
    CLIP_COLUMNS,
    assign_dcase_split,
    counts,
    filter_clips,
    find_dataset_root,
    load_audiomnist,
    load_dataset,
    load_dcase2020,
    load_fsdd,
    load_mimii,
    make_table,
)
from audioanom.datasets.detect import detect_layout
from tests.conftest import shared, tone


def _touch_wavs(write_wav, names, sr=16000):
    return [write_wav(n, tone(0.05, sr=sr), sr=sr) for n in names]


# ------------------------------------------------------------------ layouts made on the fly


def test_dcase_layout_parses_and_reports_odd_names(tmp_path, write_wav):
    _touch_wavs(
        write_wav,
        [
            "dc/fan/train/normal_id_00_00000000.wav",
            "dc/fan/train/normal_id_02_00000001.wav",
            "dc/fan/test/normal_id_00_00000000.wav",
            "dc/fan/test/anomaly_id_00_00000000.wav",
            "dc/fan/test/anomaly-id-00.wav",  # does not parse
            "dc/fan/train/anomaly_id_00_00000003.wav",  # anomaly in train: refused
            "dc/fan/extra/normal_id_00_00000000.wav",  # wrong folder
        ],
    )
    loaded = load_dcase2020(tmp_path / "dc")
    clips = loaded.clips
    assert list(clips.columns[:6]) == list(CLIP_COLUMNS)
    assert len(clips) == 4 and len(loaded.unparsed) == 3
    reasons = {p.name: why for p, why in loaded.unparsed}
    assert "name is not" in reasons["anomaly-id-00.wav"]
    assert reasons["anomaly_id_00_00000003.wav"] == "anomaly clip in a train folder"
    assert set(clips["id"]) == {"id_00", "id_02"} and set(clips["group"]) == {"fan"}
    assert counts(clips, ["split", "label"])["n"].tolist() == [1, 1, 2]
    assert detect_layout(tmp_path / "dc") == "dcase2020"


def test_mimii_layout_with_and_without_snr_level(tmp_path, write_wav):
    _touch_wavs(
        write_wav,
        [
            "m/6_dB_fan/fan/id_00/normal/00000000.wav",
            "m/6_dB_fan/fan/id_00/normal/00000001.wav",
            "m/6_dB_fan/fan/id_00/normal/00000002.wav",
            "m/6_dB_fan/fan/id_00/abnormal/00000000.wav",
            "m/-6_dB_fan/fan/id_02/abnormal/00000000.wav",
            "m/6_dB_pump/fan/id_00/normal/00000009.wav",  # SNR folder names another type
            "m/6_dB_fan/fan/id_00/normal/take1.wav",  # not a clip number
        ],
    )
    loaded = load_mimii(tmp_path / "m")
    assert len(loaded.clips) == 5 and len(loaded.unparsed) == 2
    assert sorted(loaded.clips["snr_db"].unique()) == [-6.0, 6.0]
    assert set(loaded.clips["split"]) == {"unsplit"}
    split = assign_dcase_split(loaded.clips, seed=0)
    id00 = split[(split["id"] == "id_00")]
    assert (id00.loc[id00["label"] == "anomaly", "split"] == "test").all()
    assert (id00.loc[id00["label"] == "normal", "split"] == "test").sum() == 1
    assert (id00.loc[id00["label"] == "normal", "split"] == "train").sum() == 2
    # Without the SNR level.
    _touch_wavs(write_wav, ["m2/valve/id_04/normal/00000000.wav"])
    plain = load_mimii(tmp_path / "m2")
    assert plain.clips.loc[0, "id"] == "id_04" and np.isnan(plain.clips.loc[0, "snr_db"])
    assert detect_layout(tmp_path / "m2") == "mimii"


def test_mimii_split_keeps_every_recording_on_one_side_at_every_snr(tmp_path, write_wav):
    """MIMII mixes each recording at -6, 0 and 6 dB (same clip numbers). The split is drawn per
    (type, ID) over recording numbers: a normal recording is in train at all three SNRs or in
    test at all three, and per (type, ID, SNR) the test set holds as many normal clips as
    anomalous ones (the DCASE rule)."""
    names = []
    for snr in ("-6", "0", "6"):
        for mid, n_norm, n_anom in (("id_00", 10, 3), ("id_02", 8, 2)):
            names += [f"m/{snr}_dB_fan/fan/{mid}/normal/{i:08d}.wav" for i in range(n_norm)]
            names += [f"m/{snr}_dB_fan/fan/{mid}/abnormal/{i:08d}.wav" for i in range(n_anom)]
    _touch_wavs(write_wav, names)
    clips = load_mimii(tmp_path / "m").clips
    for seed in range(5):
        split = assign_dcase_split(clips, seed=seed)
        normal = split[split["label"] == "normal"]
        sides = normal.groupby(["id", "clip"])["split"].nunique()
        assert (sides == 1).all(), sides[sides > 1]  # no recording crosses the split
        assert (normal.groupby(["id", "clip"]).size() == 3).all()
        per = split.groupby(["id", "snr_db", "label", "split"]).size().unstack(fill_value=0)
        test = per["test"].unstack("label")
        assert (test["normal"] == test["anomaly"]).all(), test
        assert (split.loc[split["label"] == "anomaly", "split"] == "test").all()
    # the draw depends on the seed
    a = assign_dcase_split(clips, seed=0)["split"]
    assert any((assign_dcase_split(clips, seed=s)["split"] != a).any() for s in range(1, 5))


def test_digit_layouts_and_unparsed(tmp_path, write_wav):
    _touch_wavs(
        write_wav,
        [
            "f/recordings/6_jackson_0.wav",
            "f/recordings/6_jackson_7.wav",
            "f/recordings/3_theo_4.wav",
            "f/recordings/six_theo_1.wav",
        ],
        sr=8000,
    )
    (tmp_path / "f" / "speakers.json").write_text(json.dumps({"jackson": {"gender": "male"}}))
    fsdd = load_fsdd(tmp_path / "f")
    assert fsdd.clips[["digit", "label", "split"]].values.tolist() == [
        [3, "anomaly", "test"],
        [6, "normal", "test"],
        [6, "normal", "train"],
    ]
    assert [p.name for p, _ in fsdd.unparsed] == ["six_theo_1.wav"]
    assert fsdd.notes == ("speakers without a metadata entry: theo",)

    _touch_wavs(
        write_wav,
        ["a/data/01/6_01_0.flac", "a/data/02/6_02_3.wav", "a/data/02/6_01_1.wav"],
        sr=48000,
    )
    (tmp_path / "a" / "audioMNIST_meta.txt").write_text(
        json.dumps({"01": {"age": "1234", "gender": "male"}, "03": {"age": 25}})
    )
    am = load_audiomnist(tmp_path / "a")
    assert am.clips["id"].tolist() == ["01", "02"]
    assert am.unparsed[0][1] == "speaker '01' in the name, folder '02'"
    assert "implausible ages left empty: 01 ('1234')" in am.notes
    assert "speakers without a metadata entry: 02" in am.notes
    assert pd.isna(am.clips.loc[0, "age"]) and am.clips.loc[0, "age_raw"] == "1234"


def test_filters_and_table_validation():
    rows = [
        {
            "path": f"/x/{i}.wav",
            "dataset": "d",
            "group": g,
            "id": i % 2,
            "label": lab,
            "split": "test",
        }
        for i, (g, lab) in enumerate([("fan", "normal"), ("fan", "anomaly"), ("pump", "normal")])
    ]
    df = make_table(rows)
    assert len(filter_clips(df, group="fan")) == 2
    assert len(filter_clips(df, group=["fan", "pump"], label="normal")) == 2
    with pytest.raises(KeyError, match="no column 'machine'"):
        filter_clips(df, machine="fan")
    with pytest.raises(ValueError, match="labels must be one of"):
        make_table([{**rows[0], "label": "abnormal"}])


def test_unknown_dataset_and_missing_root(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOANOM_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AUDIOANOM_SHARED_DATA", str(tmp_path / "none"))
    with pytest.raises(ValueError, match="unknown data set 'esc50'"):
        load_dataset("esc50")
    with pytest.raises(FileNotFoundError, match="audioanom fetch dcase2020"):
        find_dataset_root("dcase2020")


# ------------------------------------------------------------------ the real copies


@pytest.mark.realdata
def test_real_audiomnist_six_counts_and_metadata_quirks():
    loaded = load_audiomnist(shared("audiomnist_six"))
    clips = loaded.clips
    assert len(clips) == 3000 and not loaded.unparsed
    per_speaker = clips.groupby("id").size()
    assert len(per_speaker) == 60 and (per_speaker == 50).all()
    assert set(clips["digit"]) == {6} and set(clips["label"]) == {"normal"}
    assert clips["take"].between(0, 49).all()
    assert (clips["split"] == "test").sum() == 300
    assert "speakers without a metadata entry: 17, 22, 34" in loaded.notes
    assert "implausible ages left empty: 45 ('1234')" in loaded.notes
    assert clips.loc[clips["id"].isin(["17", "22", "34"]), "gender"].isna().all()
    assert clips.loc[clips["id"] == "01", "age"].iat[0] == 30
    assert clips["path"].str.endswith(".flac").all()


@pytest.mark.realdata
def test_real_fsdd_counts_and_official_split():
    loaded = load_fsdd(shared("fsdd"))
    clips = loaded.clips
    assert len(clips) == 3000 and not loaded.unparsed and not loaded.notes
    assert clips.groupby(["id", "digit"]).size().eq(50).all()
    assert sorted(clips["id"].unique()) == [
        "george",
        "jackson",
        "lucas",
        "nicolas",
        "theo",
        "yweweler",
    ]
    assert clips.groupby("split").size().to_dict() == {"test": 300, "train": 2700}
    assert (clips.loc[clips["take"] < 5, "split"] == "test").all()
    assert clips.groupby("label").size().to_dict() == {"anomaly": 2700, "normal": 300}
    assert clips.loc[clips["id"] == "nicolas", "accent"].iat[0] == "BEL/French"


# Per folder, as the data's README table gives them.
README_COUNTS = {
    ("fan", "test", "normal"): 12,
    ("fan", "test", "anomaly"): 11,
    ("pump", "test", "normal"): 13,
    ("pump", "test", "anomaly"): 9,
    ("slider", "test", "normal"): 11,
    ("slider", "test", "anomaly"): 10,
    ("valve", "test", "normal"): 11,
    ("valve", "test", "anomaly"): 11,
    ("ToyCar", "test", "normal"): 11,
    ("ToyCar", "test", "anomaly"): 11,
    ("ToyConveyor", "test", "normal"): 9,
    ("ToyConveyor", "test", "anomaly"): 9,
    ("slider", "train", "normal"): 75,
}


@pytest.mark.realdata
def test_real_dcase_samples_counts_per_type_id_label():
    loaded = load_dataset("dcase2020", shared("mimii_dcase2020_samples"))
    clips = loaded.clips
    assert not loaded.unparsed
    got = clips.groupby(["group", "split", "label"]).size().to_dict()
    assert got == README_COUNTS
    assert len(clips) == sum(README_COUNTS.values()) == 203
    ids = clips.groupby("group")["id"].unique().map(sorted).to_dict()
    for machine in ("fan", "pump", "slider", "valve"):
        assert ids[machine] == ["id_00", "id_02", "id_04", "id_06"]
    assert ids["ToyCar"] == ["id_01", "id_02", "id_03", "id_04"]
    assert ids["ToyConveyor"] == ["id_01", "id_02", "id_03"]
    per_id = clips[clips["split"] == "test"].groupby(["group", "id"]).size()
    assert per_id.min() == 2 and per_id.max() == 11  # pump id_02: 2 normal clips only
    pump02 = filter_clips(clips, group="pump", id="id_02")
    assert set(pump02["label"]) == {"normal"}  # one class only: allowed
    assert len(filter_clips(clips, group="slider", id="id_00", split="train")) == 75


def test_count_matrix_counts_each_pair_and_fills_zeros():
    from audioanom.datasets import count_matrix

    clips = pd.DataFrame(
        {
            "group": ["fan", "fan", "fan", "pump"],
            "id": ["id_00", "id_00", "id_02", "id_00"],
            "split": ["train", "test", "train", "test"],
            "label": ["normal", "anomaly", "normal", "normal"],
        }
    )
    m = count_matrix(clips)
    assert m.loc[("fan", "id_00"), ("train", "normal")] == 1
    assert m.loc[("fan", "id_00"), ("test", "anomaly")] == 1
    assert m.loc[("fan", "id_02"), ("test", "anomaly")] == 0  # filled
    assert m.loc[("pump", "id_00"), ("test", "normal")] == 1
    assert int(m.to_numpy().sum()) == len(clips)


def test_a_sample_copy_is_announced_and_a_full_download_is_not(tmp_path, monkeypatch):
    import warnings

    from audioanom.datasets import SampleDataWarning, find_dataset_root

    data, shared = tmp_path / "data", tmp_path / "shared"
    (shared / "mimii_dcase2020_samples").mkdir(parents=True)
    data.mkdir()
    monkeypatch.setenv("AUDIOANOM_DATA", str(data))
    monkeypatch.setenv("AUDIOANOM_SHARED_DATA", str(shared))
    with pytest.warns(SampleDataWarning, match=r"sample copy .*203 real clips.*fetch dcase2020"):
        assert find_dataset_root("dcase2020") == shared / "mimii_dcase2020_samples"
    (data / "dcase2020").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the full download: no notice
        assert find_dataset_root("dcase2020") == data / "dcase2020"
