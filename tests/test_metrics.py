"""AUC/pAUC per ID, means, thresholds and comparison tables (audioanom.metrics) + score plots."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from audioanom import metrics as m  # noqa: E402
from audioanom.machines.plots import (  # noqa: E402
    plot_auc_bars,
    plot_decision_confusion,
    plot_id_confusion,
    plot_roc_curves,
    plot_score_distributions,
    plot_score_grid,
)


def known_case():
    """10 normal clips scored 0..9 and 4 anomalies scored 9.5, 8.5, 3.5, 0.5."""
    normal = np.arange(10.0)
    anomaly = np.array([9.5, 8.5, 3.5, 0.5])
    labels = ["normal"] * 10 + ["anomaly"] * 4
    return labels, np.concatenate([normal, anomaly])


def scores_table() -> pd.DataFrame:
    """Two machine types: fan id_00 perfectly separated, fan id_02 the known case, pump id_02
    without anomaly clips; train normals for fan id_00."""
    rows = []
    for s in (0.1, 0.2, 0.3):
        rows.append(("fan", "id_00", "normal", "test", s))
    for s in (0.8, 0.9):
        rows.append(("fan", "id_00", "anomaly", "test", s))
    labels, scores = known_case()
    rows += [("fan", "id_02", lab, "test", s) for lab, s in zip(labels, scores, strict=True)]
    rows += [("pump", "id_02", "normal", "test", s) for s in (0.4, 0.5)]
    rows += [("pump", "id_00", "normal", "test", 0.1), ("pump", "id_00", "anomaly", "test", 0.2)]
    rows += [("fan", "id_00", "normal", "train", float(s)) for s in range(1, 11)]
    return pd.DataFrame(rows, columns=["group", "id", "label", "split", "score"])


def test_roc_auc_on_known_inputs_and_the_one_class_policy():
    """The one AUC helper: hand-counted pairs; one class is an error or NaN as asked."""
    y = np.array([0, 0, 1, 1])
    assert m.roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert m.roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert m.roc_auc(y, [0.1, 0.8, 0.2, 0.9]) == 0.75  # 3 of 4 (normal, anomaly) pairs right
    assert m.roc_auc([False, False, True, True], [0.1, 0.8, 0.2, 0.9]) == 0.75
    assert np.isnan(m.roc_auc([False, False], [0.1, 0.2], one_class="nan"))
    assert all(np.isnan(m.auc_pauc([0, 0], [0.1, 0.2], one_class="nan")))
    with pytest.raises(ValueError, match="2 normal, 0 anomaly"):
        m.roc_auc([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        m.roc_auc(y, [np.nan, 1, 2, 3], one_class="nan")
    with pytest.raises(ValueError, match="same length"):
        m.roc_auc(y, [1, 2, 3])
    with pytest.raises(ValueError, match="0 \\(normal\\) or 1"):
        m.roc_auc([0, 1, 2, 1], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="one_class"):
        m.roc_auc(y, [1, 2, 3, 4], one_class="zero")


def test_perfect_separation_gives_auc_and_pauc_one():
    auc, pauc = m.auc_pauc(["normal"] * 3 + ["anomaly"] * 2, np.array([0.1, 0.2, 0.3, 0.8, 0.9]))
    assert auc == 1.0 and pauc == 1.0
    auc, pauc = m.auc_pauc([0, 0, 1, 1], np.array([0.9, 0.8, 0.1, 0.2]))  # reversed
    assert auc == 0.0


def test_known_case_matches_hand_computation():
    labels, scores = known_case()
    auc, pauc = m.auc_pauc(labels, scores)
    # pairs (anomaly > normal): 10 + 9 + 4 + 1 of 40
    assert auc == pytest.approx(24 / 40)
    # ROC up to FPR 0.1: (0, 0) -> (0, 0.25) -> (0.1, 0.25): raw area 0.025;
    # McClish: 0.5 * (1 + (0.025 - 0.005) / (0.1 - 0.005))
    assert pauc == pytest.approx(0.5 * (1 + 0.02 / 0.095))
    roc = m.roc_points(labels, scores)
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert (roc["fpr"].iat[0], roc["tpr"].iat[0]) == (0.0, 0.0)
    assert (roc["fpr"].iat[-1], roc["tpr"].iat[-1]) == (1.0, 1.0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="one class only: 2 normal, 0 anomaly"):
        m.auc_pauc(["normal", "normal"], np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="'normal' or 'anomaly'"):
        m.binary_labels(["normal", "abnormal"])
    with pytest.raises(ValueError, match="NaN"):
        m.auc_pauc([0, 1], np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="same length"):
        m.auc_pauc([0, 1, 1], np.array([0.1, 0.2]))


def test_per_id_rows_one_class_id_and_means():
    per_id = m.per_id_metrics(scores_table(), method="toy")
    assert list(per_id.columns) == list(m.PER_ID_COLUMNS)
    assert len(per_id) == 4  # train rows ignored; 4 (type, id) pairs
    row = per_id.set_index(["machine_type", "id"])
    assert row.loc[("fan", "id_00"), "auc"] == 1.0
    assert (row.loc[("fan", "id_00"), "n_normal"], row.loc[("fan", "id_00"), "n_anomaly"]) == (3, 2)
    assert row.loc[("fan", "id_02"), "auc"] == pytest.approx(0.6)
    one = row.loc[("pump", "id_02")]
    assert np.isnan(one["auc"]) and np.isnan(one["pauc"])
    assert one["note"] == "one class only: 2 normal, 0 anomaly"
    summary = m.summarize(per_id).set_index(["method", "machine_type"])
    fan = summary.loc[("toy", "fan")]
    assert fan["auc_mean"] == pytest.approx((1.0 + 0.6) / 2)
    assert fan["auc_hmean"] == pytest.approx(2 / (1 / 1.0 + 1 / 0.6))
    pauc2 = 0.5 * (1 + 0.02 / 0.095)
    assert fan["pauc_hmean"] == pytest.approx(2 / (1 / 1.0 + 1 / pauc2))
    pump = summary.loc[("toy", "pump")]
    assert pump["n_ids"] == 2 and pump["n_scored"] == 1
    assert pump["auc_mean"] == 1.0  # id_02 excluded from the mean
    assert "id_02 (one class only" in pump["excluded"]
    everything = summary.loc[("toy", "all IDs")]
    assert everything["n_scored"] == 3
    assert everything["auc_mean"] == pytest.approx((1.0 + 0.6 + 1.0) / 3)
    assert "pump id_02" in everything["excluded"]


def test_harmonic_mean_refuses_auc_at_or_below_zero_and_names_the_id():
    # hand: hmean(0.5, 1.0) = 2 / (1/0.5 + 1/1.0) = 2/3; NaN entries (one-class IDs) skipped
    assert m.harmonic_mean([0.5, 1.0, np.nan], ["a", "b", "c"]) == pytest.approx(2 / 3)
    assert np.isnan(m.harmonic_mean([np.nan], ["a"]))
    with pytest.raises(ValueError, match=r"AUC <= 0 for fan id_02 \(AUC 0\)"):
        m.harmonic_mean([0.9, 0.0], ["fan id_00", "fan id_02"])
    with pytest.raises(ValueError, match=r"pump id_04 \(pAUC -0.1\)"):
        m.harmonic_mean([-0.1], ["pump id_04"], "pAUC")
    # fan id_00 perfectly reversed (AUC 0), fan id_02 the known case (AUC 0.6)
    table = scores_table()
    reverse = (table["id"] == "id_00") & (table["group"] == "fan")
    table.loc[reverse, "score"] = -table.loc[reverse, "score"]
    per_id = m.per_id_metrics(table, method="toy")
    assert per_id.set_index(["machine_type", "id"]).loc[("fan", "id_00"), "auc"] == 0.0
    with pytest.raises(ValueError, match=r"'toy' fan id_00 \(AUC 0\)"):
        m.summarize(per_id, strict=True)
    with pytest.warns(RuntimeWarning, match=r"harmonic mean set to NaN.*'toy' fan id_00"):
        summary = m.summarize(per_id)
    fan = summary.set_index(["method", "machine_type"]).loc[("toy", "fan")]
    assert np.isnan(fan["auc_hmean"])  # never 0.0
    assert "'toy' fan id_00 (AUC 0)" in fan["hmean_note"]
    assert fan["auc_mean"] == pytest.approx((0.0 + 0.6) / 2)  # arithmetic mean unaffected
    # pAUC of a reversed ranking: raw area 0 -> McClish 0.5 * (1 - 0.005 / 0.095) > 0, defined
    p_rev, p_known = 0.5 * (1 - 0.005 / 0.095), 0.5 * (1 + 0.02 / 0.095)
    assert fan["pauc_hmean"] == pytest.approx(2 / (1 / p_rev + 1 / p_known))
    pump = summary.set_index(["method", "machine_type"]).loc[("toy", "pump")]
    assert pump["hmean_note"] == "" and pump["auc_hmean"] == 1.0


def test_youden_threshold_on_a_toy_is_labelled_optimistic():
    labels = ["normal"] * 4 + ["anomaly"] * 3
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.35, 0.5, 0.6])
    res = m.youden_threshold(labels, scores)
    # J at 0.5: 2/3 - 0; at 0.35: 1 - 1/4 (best)
    assert res.threshold == pytest.approx(0.35)
    assert res.optimistic is True and res.fitted_on == "test labels"
    np.testing.assert_array_equal(res.confusion, [[3, 1], [0, 3]])
    assert (res.precision, res.recall) == (0.75, 1.0)
    assert res.f1 == pytest.approx(2 * 0.75 / 1.75)
    row = res.as_row()
    assert (row["tn"], row["fp"], row["fn"], row["tp"]) == (3, 1, 0, 3)


def test_precision_recall_f1_on_a_toy():
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    scores = np.array([0.1, 0.2, 0.7, 0.9, 0.3, 0.6, 0.8, 0.95])
    p, r, f, cm = m.decision_metrics(labels, scores, 0.5)  # flags 0.7, 0.9, 0.6, 0.8, 0.95
    assert p == pytest.approx(3 / 5) and r == pytest.approx(3 / 4)
    assert f == pytest.approx(2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4))
    np.testing.assert_array_equal(cm, [[2, 2], [1, 3]])
    p, r, f, _ = m.decision_metrics(labels, scores, 2.0)  # nothing flagged
    assert (p, r, f) == (0.0, 0.0, 0.0)


def test_training_threshold_uses_only_normal_training_scores():
    assert m.train_threshold(np.arange(1.0, 11.0)) == pytest.approx(9.1)
    s = np.array([1.0, 2.0, 3.0])
    assert m.train_threshold(s, rule="mean_std", k=1.0) == pytest.approx(2 + np.std(s))
    with pytest.raises(ValueError, match="non-empty"):
        m.train_threshold(np.array([]))
    table = scores_table()
    res = m.evaluate_thresholds(table, method="toy")
    fan0 = res[(res["machine_type"] == "fan") & (res["id"] == "id_00")].set_index("rule")
    assert fan0.loc["train_p90", "threshold"] == pytest.approx(9.1)
    assert not fan0.loc["train_p90", "optimistic"]
    assert fan0.loc["train_p90", "fitted_on"] == "normal training scores (n=10)"
    assert fan0.loc["youden", "optimistic"]
    # test scores, and anomalous or other-ID training rows, do not move the training threshold
    other = pd.concat(
        [
            table.assign(
                score=np.where(table["split"] == "test", table["score"] * 100, table["score"])
            ),
            pd.DataFrame(
                [
                    ("fan", "id_00", "anomaly", "train", 1e6),
                    ("fan", "id_02", "normal", "train", 1e6),
                ],
                columns=table.columns,
            ),
        ]
    )
    res2 = m.evaluate_thresholds(other, method="toy")
    fan0b = res2[(res2["machine_type"] == "fan") & (res2["id"] == "id_00")].set_index("rule")
    assert fan0b.loc["train_p90", "threshold"] == pytest.approx(9.1)
    # IDs without training clips or with one class get a row with NaN and the reason
    notes = res.set_index(["machine_type", "id", "rule"])["note"]
    assert notes[("fan", "id_02", "train_p90")] == "no training clips"
    assert notes[("pump", "id_02", "youden")].startswith("one class only")


def test_comparison_table_with_the_paper_column():
    a = m.per_id_metrics(scores_table(), method="complex")
    b = a.assign(method="autoencoder", auc=a["auc"] * 0.5, pauc=a["pauc"] * 0.5)
    table = m.comparison_table(pd.concat([a, b]))
    assert list(table.index) == ["fan", "pump", "mean"]
    assert table.loc["fan", "complex AUC"] == pytest.approx(80.0)
    assert table.loc["fan", "autoencoder AUC"] == pytest.approx(40.0)
    assert table.loc["pump", "complex AUC"] == pytest.approx(100.0)  # one-class ID skipped
    assert table.loc["fan", "Kim et al. 2021 AUC (paper)"] == 96.40
    assert table.loc["mean", "complex AUC"] == pytest.approx(90.0)
    assert m.PAPER_KIM2021_AUC["mean"] == pytest.approx(
        np.mean([m.PAPER_KIM2021_AUC[t] for t in ("fan", "pump", "slider", "valve")]), abs=0.01
    )
    assert "EUSIPCO 2021" in m.PAPER_CITATION


def test_score_plots_return_figures():
    table = scores_table()
    per_id = m.per_id_metrics(table, method="toy")
    fig = plot_roc_curves(table, title="toy")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("one class only" in t for t in labels)
    assert any("AUC 0.600" in t for t in labels)
    fig, ax = plt.subplots()
    assert plot_score_distributions(table, ax=ax, thresholds={"fan id_00": 0.5}) is fig
    assert plot_score_grid(table) is not None
    assert plot_id_confusion(["id_00", "id_02", "id_02"], ["id_00", "id_00", "id_02"]) is not None
    res = m.youden_threshold(["normal", "anomaly", "anomaly"], np.array([0.1, 0.2, 0.3]))
    fig = plot_decision_confusion(res)
    assert "optimistic" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="2 x 2"):
        plot_decision_confusion(np.zeros((3, 3)))
    assert plot_auc_bars(pd.concat([per_id, per_id.assign(method="other")])) is not None
    plt.close("all")
