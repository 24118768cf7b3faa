"""Bootstrap intervals of mean AUC: checked against scikit-learn, exact moments and known inputs."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from audioanom.confidence import bootstrap_auc, comparison_matrix, weighted_auc


def _table(rng, methods, n_ids=2, n_normal=15, n_anomaly=15, shift=None, types=("fan",)):
    """A score table: per ID, normal scores N(0, 1), anomalies N(shift[method], 1)."""
    shift = shift or {m: 1.0 for m in methods}
    rows = []
    for t in types:
        for k in range(n_ids):
            labels = ["normal"] * n_normal + ["anomaly"] * n_anomaly
            for i, label in enumerate(labels):
                base = rng.normal()
                for m in methods:
                    s = base + (shift[m] if label == "anomaly" else 0.0) + 0.3 * rng.normal()
                    rows.append(
                        {
                            "path": f"{t}/id_{k:02d}/{i}.wav",
                            "machine_type": t,
                            "id": f"id_{k:02d}",
                            "label": label,
                            "split": "test",
                            "method": m,
                            "score": s,
                        }
                    )
    return pd.DataFrame(rows)


def test_weighted_auc_equals_sklearn_on_repeated_clips():
    rng = np.random.default_rng(0)
    a = np.round(rng.normal(1, 1, 7), 1)  # rounded: ties, which count one half
    n = np.round(rng.normal(0, 1, 9), 1)
    wa = rng.integers(0, 4, size=(5, 7))
    wn = rng.integers(0, 4, size=(5, 9))
    wa[:, 0] += 1
    wn[:, 0] += 1
    got = weighted_auc(comparison_matrix(a, n), wa, wn)
    for b in range(5):
        s = np.concatenate([np.repeat(a, wa[b]), np.repeat(n, wn[b])])
        y = np.concatenate([np.ones(wa[b].sum()), np.zeros(wn[b].sum())])
        assert got[b] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    # unit weights: the plain AUC
    one = weighted_auc(comparison_matrix(a, n), np.ones(7), np.ones(9))
    y = np.r_[np.ones(7), np.zeros(9)]
    assert one[0] == pytest.approx(roc_auc_score(y, np.r_[a, n]), abs=1e-12)


def test_replicate_spread_matches_the_exact_bootstrap_variance():
    """One ID: the variance of the replicate AUC equals the exact variance of the weighted
    Mann-Whitney statistic under independent multinomial draws of the two classes,
    tr(E[ww'] H E[vv'] H') / (n_a n_n)^2 - AUC^2 with E[ww'] = I + (1 - 1/n) 11'."""
    rng = np.random.default_rng(1)
    scores = _table(rng, ["m"], n_ids=1, n_normal=12, n_anomaly=10, shift={"m": 0.8})
    boot = bootstrap_auc(scores, n_boot=40_000, seed=3)
    g = scores.sort_values("path")
    h = comparison_matrix(
        g.loc[g["label"] == "anomaly", "score"].to_numpy(),
        g.loc[g["label"] == "normal", "score"].to_numpy(),
    )
    na, nn = h.shape
    ew = np.eye(na) + (1 - 1 / na) * np.ones((na, na))
    ev = np.eye(nn) + (1 - 1 / nn) * np.ones((nn, nn))
    auc = h.mean()
    var = np.trace(ew @ h @ ev @ h.T) / (na * nn) ** 2 - auc**2
    rep = boot.replicates[:, 0, -1]
    assert boot.observed[0, -1] == pytest.approx(auc, abs=1e-12)
    assert rep.mean() == pytest.approx(auc, abs=4 * np.sqrt(var / 40_000))  # unbiased
    assert rep.var() == pytest.approx(var, rel=0.04)


def test_means_per_type_and_over_all_ids_match_sklearn():
    rng = np.random.default_rng(2)
    scores = _table(rng, ["a", "b"], n_ids=3, types=("fan", "valve"))
    boot = bootstrap_auc(scores, n_boot=200)
    table = boot.intervals().set_index(["method", "machine_type"])
    for m in ("a", "b"):
        per_id = {
            key: roc_auc_score(g["label"] == "anomaly", g["score"])
            for key, g in scores[scores["method"] == m].groupby(["machine_type", "id"])
        }
        for t in ("fan", "valve"):
            want = np.mean([v for (tt, _), v in per_id.items() if tt == t])
            assert table.loc[(m, t), "auc_mean"] == pytest.approx(want, abs=1e-12)
        assert table.loc[(m, "all IDs"), "auc_mean"] == pytest.approx(
            np.mean(list(per_id.values())), abs=1e-12
        )
    assert (table["low"] <= table["auc_mean"] + 1e-12).all()
    assert (table["auc_mean"] <= table["high"] + 1e-12).all()


def test_perfect_separation_has_no_spread_and_identical_methods_no_difference():
    rng = np.random.default_rng(4)
    scores = _table(rng, ["a"], n_ids=2, shift={"a": 100.0})
    twin = scores.assign(method="twin")
    boot = bootstrap_auc(pd.concat([scores, twin]), n_boot=300)
    ci = boot.intervals()
    assert np.allclose(ci[["auc_mean", "low", "high"]].to_numpy(), 1.0)
    d = boot.difference("a", "twin")
    assert np.allclose(d[["difference_points", "low", "high", "share_higher"]].to_numpy(), 0.0)


def test_a_clearly_better_method_is_higher_in_nearly_every_replicate():
    rng = np.random.default_rng(5)
    scores = _table(rng, ["strong", "weak"], n_ids=4, shift={"strong": 3.0, "weak": 0.3})
    d = bootstrap_auc(scores, n_boot=500).difference("strong", "weak").set_index("machine_type")
    row = d.loc["all IDs"]
    assert row["share_higher"] > 0.99 and row["low"] > 0
    # the pairing: the difference's interval is narrower than if the methods were independent
    boot = bootstrap_auc(scores, n_boot=500)
    rep = boot.replicates[:, :, -1]
    assert np.var(rep[:, 0] - rep[:, 1]) < np.var(rep[:, 0]) + np.var(rep[:, 1])


def test_an_id_with_one_class_is_left_out_and_named():
    rng = np.random.default_rng(7)
    scores = _table(rng, ["a"], n_ids=3)
    drop = (scores["id"] == "id_01") & (scores["label"] == "anomaly")
    boot = bootstrap_auc(scores[~drop], n_boot=200)
    assert boot.excluded == ("fan id_01 (one class only: 15 normal, 0 anomaly)",)
    kept = scores[scores["id"] != "id_01"]
    want = np.mean(
        [roc_auc_score(g["label"] == "anomaly", g["score"]) for _, g in kept.groupby("id")]
    )
    assert boot.observed[0, -1] == pytest.approx(want, abs=1e-12)


def test_bad_tables_are_refused_with_the_id_named():
    rng = np.random.default_rng(6)
    scores = _table(rng, ["a", "b"], n_ids=1)
    partial = scores.drop(scores.index[(scores["method"] == "b")][:1])
    with pytest.raises(ValueError, match=r"fan id_00: methods \['b'\] did not score"):
        bootstrap_auc(partial)
    one_class = scores[scores["label"] == "normal"]
    with pytest.raises(ValueError, match=r"no ID has both .*fan id_00 \(one class only: 15 normal"):
        bootstrap_auc(one_class)
    with pytest.raises(ValueError, match="scored more than once"):
        bootstrap_auc(pd.concat([scores, scores.iloc[:1]]))
    nan = scores.copy()
    nan.loc[nan.index[3], "score"] = np.nan
    with pytest.raises(ValueError, match=r"fan id_00: 1 non-finite scores \(first: 'b' on fan/"):
        bootstrap_auc(nan)
    with pytest.raises(ValueError, match="lacks columns"):
        bootstrap_auc(scores.drop(columns="path"))
    with pytest.raises(ValueError, match="not in the score table"):
        bootstrap_auc(scores, methods=["c"])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_auc(scores, n_boot=10)
    with pytest.raises(ValueError, match="does not match"):
        weighted_auc(np.ones((2, 3)), np.ones(3), np.ones(3))


def test_versus_lines_quote_the_means_and_the_paired_difference():
    rng = np.random.default_rng(8)
    scores = _table(rng, ["net", "base"], n_ids=3, shift={"net": 1.5, "base": 0.5})
    boot = bootstrap_auc(scores, n_boot=400)
    lines = boot.versus_lines("base")
    assert lines[0] == "all IDs, 95 % bootstrap intervals of the test clips:"
    means = {
        m: np.mean([roc_auc_score(g["label"] == "anomaly", g["score"]) for _, g in t.groupby("id")])
        for m, t in scores.groupby("method")
    }
    net, base = lines[1], lines[2]
    assert net.startswith(f"net: mean AUC {100 * means['net']:.1f} [")
    assert f"; minus base {100 * (means['net'] - means['base']):+.1f} [" in net
    assert net.endswith(" % of 400 replicates")
    assert base.startswith(f"base: mean AUC {100 * means['base']:.1f} [") and "minus" not in base
    with pytest.raises(ValueError, match="no scope 'valve'"):
        boot.versus_lines("base", scope="valve")
