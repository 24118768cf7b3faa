"""The exploration glue: clip choice, smoke subset, scores table and CSV, chosen samples and
their reconstructions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audioanom.digits.exploration import (
    choose_samples,
    explore,
    open_digit_clips,
    reconstruct_samples,
    scores_table,
    smoke_subset,
    write_results,
)
from audioanom.digits.features import FFTConfig, read_signals
from tests.conftest import tone


@pytest.fixture
def toy_audiomnist(tmp_path, write_wav, monkeypatch):
    """An AudioMNIST-layout folder: 6 speakers x digits 5/6 x 10 takes of short tones."""
    monkeypatch.setenv("AUDIOANOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AUDIOANOM_BUILD", str(tmp_path / "build"))
    for s in range(1, 7):
        for digit in (5, 6):
            for take in range(10):
                f0 = 200.0 * digit + 20 * s + 3 * take
                x = tone(0.2, 8000, f0) + 0.3 * tone(0.2, 8000, 2 * f0)
                write_wav(f"am/data/{s:02d}/{digit}_{s:02d}_{take}.wav", x, 8000)
    return tmp_path / "am"


def test_open_digit_clips_keeps_one_digit_and_a_small_smoke_subset(toy_audiomnist):
    clips = open_digit_clips("audiomnist", data_dir=str(toy_audiomnist), digit=6)
    assert len(clips) == 60 and set(clips["digit"]) == {6} and not clips["labelled"].any()
    smoke = open_digit_clips("audiomnist", data_dir=str(toy_audiomnist), digit=6, smoke=True)
    assert sorted(smoke["speaker"].unique()) == ["01", "02", "03", "04", "05"]
    assert len(smoke) == 50  # fewer clips than the smoke cap: all of them
    sub = smoke_subset(clips, n_speakers=2, n_clips=6)
    assert len(sub) == 6 and sorted(sub["take"].unique())[0] == 0
    with pytest.raises(ValueError, match="no clips of digit 3"):
        open_digit_clips("audiomnist", data_dir=str(toy_audiomnist), digit=3)


def test_explore_scores_table_csv_and_samples(toy_audiomnist):
    clips = open_digit_clips("audiomnist", data_dir=str(toy_audiomnist), digit=6)
    config = FFTConfig(n_samples=1024)
    exp = explore(clips, config, n_components=0.9, n_estimators=30)
    assert exp.features.shape == (60, 513) and exp.fitted.all()
    table = scores_table(exp)
    assert list(table.columns[:5]) == ["file", "speaker", "take", "split", "label"]
    assert sorted(table["pca_rank"]) == list(range(1, 61))
    assert table.loc[table["pca_rank"] == 1, "pca_error"].iat[0] == table["pca_error"].max()
    path = write_results(table, "toy_scores")
    assert path.name == "toy_scores.csv" and path.parent.name == "results"
    assert len(pd.read_csv(path)) == 60
    with pytest.raises(ValueError, match="slug"):
        write_results(table, "x.csv")

    train_only = explore(clips, config, n_components=5, n_estimators=30, fit_on="train")
    assert train_only.fitted.sum() == 30 and train_only.scores.pca.n_samples == 30
    with pytest.raises(ValueError, match="fit_on"):
        explore(clips, config, fit_on="everything")

    top = choose_samples(table, n=2)
    assert list(top["pca_rank"]) == [1, 2]
    named = choose_samples(table, files="6_03_4, 6_01_0.wav")
    assert list(named["file"]) == ["6_03_4.wav", "6_01_0.wav"]
    with pytest.raises(KeyError, match="6_99_0"):
        choose_samples(table, files="6_99_0")

    samples = reconstruct_samples(exp, named)
    assert [s.file for s in samples] == ["6_03_4.wav", "6_01_0.wav"]
    s = samples[0]
    row = int(named.index[0])
    np.testing.assert_allclose(s.features, exp.features[row], atol=1e-6)
    assert s.error == pytest.approx(exp.scores.pca_error[row], rel=1e-4)
    np.testing.assert_allclose(s.bin_errors, exp.scores.pca_bin_errors[row], rtol=1e-3, atol=1e-9)
    np.testing.assert_allclose(
        s.waveform, read_signals([exp.clips["path"].iat[row]], config)[0], atol=1e-5
    )
    assert s.waveform_rec.shape == (1024,) and s.sr == 8000
