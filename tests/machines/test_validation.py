"""Validation proxies: pseudo-anomalies from held-out normal clips, checked by hand and sklearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from audioanom.machines.training_data import split_train_val, training_clips
from audioanom.machines.validation import (
    added_sound_partners,
    mix_at,
    proxy_aucs,
    proxy_split,
)


def test_mix_at_adds_the_second_signal_at_the_asked_power_ratio():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(8000).astype(np.float32)
    y = 3.0 * rng.standard_normal(8000).astype(np.float32)
    for db in (-20.0, -10.0, 0.0, 6.0):
        added = mix_at(x, y, db).astype(np.float64) - x
        ratio_db = 10 * np.log10(np.mean(added**2) / np.mean(x.astype(np.float64) ** 2))
        assert ratio_db == pytest.approx(db, abs=1e-3)
    short = np.ones(3000, np.float32)
    assert mix_at(x, short, 0.0).shape == x.shape  # repeated to the length of x
    with pytest.raises(ValueError, match="silent"):
        mix_at(x, np.zeros(10), -10.0)


def _table(n_per_id: int = 10) -> pd.DataFrame:
    rows = [
        {"path": f"/x/{g}_{i}_{k}.wav", "group": g, "id": i, "label": "normal", "split": "train"}
        for g in ("fan", "pump")
        for i in ("id_00", "id_02")
        for k in range(n_per_id)
    ]
    rows.append(
        {"path": "/x/t.wav", "group": "fan", "id": "id_00", "label": "anomaly", "split": "test"}
    )
    return pd.DataFrame(rows)


def test_partners_are_of_another_type_and_the_split_is_the_networks():
    clips = _table()
    fit, held = proxy_split(clips, None, 0.2, seed=3)
    ref_fit, ref_held = split_train_val(training_clips(clips), 0.2, 3)
    assert list(held["path"]) == list(ref_held["path"])
    assert list(fit["path"]) == list(ref_fit["path"])
    assert "/x/t.wav" not in set(fit["path"]) | set(held["path"])  # test clips never enter
    partners = added_sound_partners(held, seed=0)
    groups = held["group"].to_numpy()
    assert (groups[partners] != groups).all()
    assert (added_sound_partners(held, seed=0) == partners).all()
    with pytest.raises(ValueError, match="two machine types"):
        added_sound_partners(held[held["group"] == "fan"])


def test_proxy_aucs_equal_a_hand_made_gaussian_and_sklearn(write_wav, tmp_path):
    """Features: (log power, id number + noise). A Gaussian fitted by hand with sklearn's
    LedoitWolf on the fit clips and scikit-learn's AUC give the same per-ID numbers."""
    rng = np.random.default_rng(1)
    rows = []
    for g in ("fan", "pump"):
        for num, i in enumerate(("id_00", "id_02")):
            for k in range(10):
                amp = 0.1 * (1 + num) * np.exp(0.1 * rng.standard_normal())
                x = amp * rng.standard_normal(4000)
                p = write_wav(f"{g}/{i}_{k}.wav", x.astype(np.float32), subtype="FLOAT")
                rows.append({"path": str(p), "group": g, "id": i, "label": "normal"})
    clips = pd.DataFrame(rows).assign(split="train")

    def feats(waves):
        return np.stack([[np.log(np.mean(np.square(w))), np.std(w[:100])] for w in waves])

    def read(table):
        import soundfile as sf

        return feats([sf.read(p, dtype="float32")[0] for p in table["path"]])

    table = proxy_aucs(
        clips, None, clip_features=read, wave_features=feats, mix_db=0.0, sample_rate=16000
    )
    fit, held = proxy_split(clips, None, 0.2, 0)
    partners = added_sound_partners(held, 0)
    import soundfile as sf

    waves = [sf.read(p, dtype="float32")[0] for p in held["path"]]
    f_fit, f_held = read(fit), read(held)
    f_mix = feats([mix_at(waves[i], waves[partners[i]], 0.0) for i in range(len(held))])
    key_fit = (fit["group"] + "/" + fit["id"]).to_numpy()
    key_held = (held["group"] + "/" + held["id"]).to_numpy()
    for _, r in table.iterrows():
        key = f"{r['machine_type']}/{r['id']}"
        lw = LedoitWolf().fit(f_fit[key_fit == key])
        own = key_held == key
        other = (held["group"].to_numpy() == r["machine_type"]) & ~own
        s_own, s_other, s_mix = (
            lw.mahalanobis(f) for f in (f_held[own], f_held[other], f_mix[own])
        )
        y_other = np.r_[np.zeros(own.sum()), np.ones(other.sum())]
        assert r["other IDs"] == pytest.approx(roc_auc_score(y_other, np.r_[s_own, s_other]))
        y_mix = np.r_[np.zeros(own.sum()), np.ones(own.sum())]
        assert r["added sound"] == pytest.approx(roc_auc_score(y_mix, np.r_[s_own, s_mix]))
    # the IDs differ by a factor 2 in level and a 0 dB mix doubles the power: both separable
    assert table["other IDs"].min() == 1.0
    assert table["added sound"].min() == 1.0
    assert (table["n_held"] == 2).all() and (table["n_fit"] == 8).all()
