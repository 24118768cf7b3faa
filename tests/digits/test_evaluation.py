"""AUC overall / per group / per anomaly kind, purity and ARI, the FSDD protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audioanom.datasets import load_fsdd
from audioanom.digits.evaluation import (
    auc_by_kind,
    auc_table,
    cluster_recovery,
    cluster_recovery_table,
    contingency,
    digit_benchmark,
    kind_benchmark,
    kind_cluster_benchmark,
    labelled_split,
    one_class_split,
    purity,
    wide_auc,
)
from audioanom.digits.features import AUDIOMNIST_FFT, FFTConfig, MelConfig
from tests.conftest import shared, tone


def test_auc_per_group_with_overall_first_and_one_class_groups_as_nan():
    y = np.array([0, 1, 0, 1, 0, 0])
    groups = ["a", "a", "b", "b", "c", "c"]
    s = np.array([0.1, 0.9, 0.8, 0.2, 0.5, 0.6])
    t = auc_table({"det": s, "neg": -s}, y, groups)
    det = t[t["detector"] == "det"].set_index("group")
    assert list(det.index) == ["all", "a", "b", "c"]
    assert det.loc["a", "auc"] == 1.0 and det.loc["b", "auc"] == 0.0
    assert np.isnan(det.loc["c", "auc"])
    assert (det.loc["c", "n_normal"], det.loc["c", "n_anomaly"]) == (2, 0)
    assert det.loc["all", "auc"] == 0.625  # 5 of 8 (normal, anomaly) pairs ranked right
    neg = t[t["detector"] == "neg"].set_index("group")
    assert neg.loc["all", "auc"] == pytest.approx(1 - 0.625)
    wide = wide_auc(t)
    assert list(wide.columns) == ["all", "a", "b", "c"] and wide.shape == (2, 4)
    with pytest.raises(ValueError, match="length"):
        auc_table({"det": s}, y, groups[:3])


def test_auc_per_anomaly_kind():
    kinds = np.array(["none"] * 4 + ["loud"] * 2 + ["odd"] * 2)
    s = np.array([1, 2, 3, 4, 10, 11, 2.5, 2.5])
    t = auc_by_kind(s, kinds).set_index("kind")
    assert list(t.index) == ["loud", "odd", "all"]
    assert t.loc["loud", "auc"] == 1.0 and t.loc["loud", "n"] == 2
    assert t.loc["odd", "auc"] == 0.5
    assert t.loc["all", "n"] == 4 and t.loc["all", "auc"] == 0.75
    both = auc_by_kind({"a": s, "b": -s}, kinds)
    assert list(both["detector"].unique()) == ["a", "b"] and len(both) == 6
    with pytest.raises(ValueError, match="normal kind"):
        auc_by_kind(s, np.array(["x"] * 8))


def test_purity_and_adjusted_rand_index_on_known_labels():
    truth = ["a", "a", "a", "b", "b", "c"]
    assert purity(truth, [0, 0, 0, 1, 1, 2]) == 1.0
    assert purity(truth, [0, 0, 1, 1, 1, 1]) == pytest.approx(4 / 6)  # {a, a}, {a, b, b, c}
    assert purity(truth, [0] * 6) == pytest.approx(3 / 6)
    same = cluster_recovery(truth, [5, 5, 5, 9, 9, 7])  # a relabelling: perfect
    assert same == {"ari": 1.0, "purity": 1.0, "n_clusters": 3, "n_labels": 3}
    assert cluster_recovery(truth, [0] * 6)["ari"] == 0.0
    c = contingency(truth, [0, 0, 1, 1, 1, 1])
    assert c.loc[1, "b"] == 2 and c.loc[0, "a"] == 2 and c.to_numpy().sum() == 6
    with pytest.raises(ValueError, match="equal"):
        purity(truth, [0, 1])


def _toy_digit_table(write_wav):
    """Two speakers, digits 5/6/7 as tones of different pitch, takes 0-9 (0-4 test)."""
    rows = []
    for speaker, shift in (("ann", 0.0), ("bob", 30.0)):
        for digit, f0 in ((5, 300.0), (6, 700.0), (7, 1500.0)):
            for take in range(10):
                x = tone(0.25, 8000, f0 + shift + 4 * ((take * 7) % 10))  # takes interleave
                path = write_wav(f"rec/{digit}_{speaker}_{take}.wav", x, 8000)
                rows.append(
                    {
                        "path": str(path),
                        "digit": digit,
                        "speaker": speaker,
                        "take": take,
                        "split": "test" if take < 5 else "train",
                    }
                )
    return pd.DataFrame(rows)


def test_one_class_split_and_digit_benchmark_on_toy_digits(write_wav, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOANOM_CACHE", str(tmp_path / "cache"))
    clips = _toy_digit_table(write_wav)
    train, test = one_class_split(clips, normal_digit=6)
    assert set(train["digit"]) == {6} and set(train["split"]) == {"train"} and len(train) == 10
    assert len(test) == 30 and test["is_anomaly"].sum() == 20
    variants = {"fft": FFTConfig(n_samples=2048), "mel": MelConfig(summary="stats", n_mels=20)}
    t = digit_benchmark(clips, variants, n_components=(3, 0.9), n_estimators=50)
    assert set(t["features"]) == {"fft", "mel"}
    assert set(t["group"]) == {"all", "ann", "bob"}
    assert (t.groupby(["features", "detector"]).size() == 3).all()
    assert len(t.drop_duplicates(["features", "detector"])) == 2 * 3  # IF once + 2 PCA each
    overall = t[t["group"] == "all"]
    assert (overall["auc"] > 0.8).all(), overall
    assert (t.loc[t["detector"] == "Isolation Forest", "n_components"] == "").all()
    with pytest.raises(KeyError, match="digit"):
        one_class_split(clips.drop(columns="digit"))
    with pytest.raises(ValueError, match="empty split"):
        one_class_split(clips, normal_digit=3)


def test_labelled_split_and_auc_per_kind_benchmark(write_wav, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOANOM_CACHE", str(tmp_path / "cache"))
    clips = _toy_digit_table(write_wav)
    clips["label"] = np.where(clips["digit"] == 6, "normal", "anomaly")
    clips["anomaly_kind"] = np.where(
        clips["digit"] == 6, "none", "digit" + clips["digit"].astype(str)
    )
    train, test = labelled_split(clips)
    assert set(train["label"]) == {"normal"} and set(train["split"]) == {"train"}
    assert len(test) == 30 and test["is_anomaly"].sum() == 20
    t = kind_benchmark(
        clips, {"fft": FFTConfig(n_samples=2048)}, n_components=(3,), n_estimators=50
    )
    assert list(t.columns) == ["features", "detector", "n_components", "kind", "n", "auc"]
    assert list(t["kind"].unique()) == ["digit5", "digit7", "all"]
    assert (t["n"][t["kind"] != "all"] == 10).all()
    assert (t["auc"] >= 0.75).all() and (
        t.loc[t["detector"] != "Isolation Forest", "auc"] == 1
    ).all()
    wide = wide_auc(t, column="kind")
    assert list(wide.columns) == ["all", "digit5", "digit7"] and len(wide) == 2
    with pytest.raises(KeyError, match="label"):
        labelled_split(clips.drop(columns="label"))


def test_kind_cluster_benchmark_recovers_two_distinct_kinds(write_wav, tmp_path, monkeypatch):
    """Anomalies of two kinds (tones far apart) leave different error patterns: k-means on
    their log errors recovers the kinds exactly; normal clips never enter the clustering."""
    monkeypatch.setenv("AUDIOANOM_CACHE", str(tmp_path / "cache"))
    clips = _toy_digit_table(write_wav)
    clips["label"] = np.where(clips["digit"] == 6, "normal", "anomaly")
    clips["anomaly_kind"] = np.where(
        clips["digit"] == 6, "none", "digit" + clips["digit"].astype(str)
    )
    t = kind_cluster_benchmark(clips, {"fft": FFTConfig(n_samples=2048)}, n_components=3)
    assert list(t.columns) == [
        "features",
        "pattern",
        "clustering",
        "ari",
        "purity",
        "n_clusters",
        "n_labels",
    ]
    assert len(t) == 4  # 2 pattern forms x 2 clusterings
    assert (t["n_labels"] == 2).all() and (t["n_clusters"] == 2).all()
    # Tones a few Hz apart leave their "share" errors in disjoint FFT bins (no two patterns
    # alike); on the log scale the broad floor of each kind dominates and k-means finds them.
    direct = t[(t["clustering"] == "k-means") & (t["pattern"] == "log error")].iloc[0]
    assert direct["ari"] == 1.0 and direct["purity"] == 1.0
    with pytest.raises(ValueError, match="anomaly_kind"):
        kind_cluster_benchmark(clips.drop(columns="anomaly_kind"))


@pytest.mark.realdata
def test_fsdd_plain_fft_recipe_reproduces_the_reference_aucs():
    clips = load_fsdd(shared("fsdd")).clips
    t = digit_benchmark(clips, {"fft": AUDIOMNIST_FFT}, n_components=(20,))
    overall = t[t["group"] == "all"].set_index("detector")["auc"]
    assert overall["Isolation Forest"] == pytest.approx(0.78, abs=0.02)
    assert overall["PCA (20 comp.)"] == pytest.approx(0.81, abs=0.02)
    assert set(t["group"]) == {"all", *clips["speaker"].unique()}


def test_cluster_recovery_over_all_clips_and_anomalies_only():
    kinds = ["none"] * 6 + ["clip", "clip", "noise", "noise"]
    clusters = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
    t = cluster_recovery_table(kinds, clusters)
    assert list(t.index) == ["all clips", "anomalies only"]
    assert t.loc["anomalies only", "ari"] == 1.0 and t.loc["anomalies only", "purity"] == 1.0
    assert t.loc["all clips", "purity"] == 1.0 and t.loc["all clips", "ari"] < 1.0
    only_normal = cluster_recovery_table(["none"] * 3, [0, 0, 1])
    assert list(only_normal.index) == ["all clips"]
