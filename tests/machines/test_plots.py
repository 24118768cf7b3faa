"""Machine-sound figures (audioanom.machines.plots): what is drawn equals what the tables hold,
recomputed here by hand or with scikit-learn, for the single plots and notebook 07's grids."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from audioanom.machines.plots import (  # noqa: E402
    plot_auc_bars,
    plot_auc_intervals,
    plot_decision_confusion,
    plot_decision_grid,
    plot_id_confusion,
    plot_id_confusion_grid,
    plot_score_distributions,
    plot_score_grid,
    plot_scores_by_method,
)
from audioanom.plotting import LABEL_COLORS, PALETTE  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def scores() -> pd.DataFrame:
    """Two methods x (fan id_00, fan id_02, pump id_00) test clips with known scores, predicted
    IDs and a few training rows (not drawn)."""
    rows = []
    spec = {
        ("fan", "id_00"): ([0.1, 0.2, 0.3, 0.35], [0.8, 0.9, 0.25]),
        ("fan", "id_02"): ([1.0, 2.0, 3.0], [2.5, 4.0]),
        ("pump", "id_00"): ([0.5, 0.6], [0.55, 0.9, 1.1]),
    }
    for method, scale in (("net", 1.0), ("base", 10.0)):
        for (mtype, mid), (normal, anomaly) in spec.items():
            for label, values in (("normal", normal), ("anomaly", anomaly)):
                for k, v in enumerate(values):
                    # every third clip of a fan ID is mistaken for the other fan ID
                    other = "id_02" if mid == "id_00" else "id_00"
                    pred = other if mtype == "fan" and k % 3 == 2 else mid
                    rows.append((method, mtype, mid, label, "test", scale * v, pred))
        rows.append((method, "fan", "id_00", "normal", "train", 99.0, "id_00"))
    return pd.DataFrame(
        rows, columns=["method", "machine_type", "id", "label", "split", "score", "pred_id"]
    )


def _points(ax) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]


def _segments(ax) -> list[np.ndarray]:
    """Every horizontal segment drawn by hlines, as (x0, x1, y)."""
    out = []
    for c in ax.collections:
        if isinstance(c, LineCollection):
            out += [(s[0, 0], s[1, 0], s[0, 1]) for s in c.get_segments()]
    return out


def _cell_texts(ax) -> dict[tuple[int, int], str]:
    """Heatmap annotations by cell (row, column): text centres sit at (column + 0.5, row + 0.5)."""
    return {(int(t.get_position()[1]), int(t.get_position()[0])): t.get_text() for t in ax.texts}


def test_score_strips_draw_each_clip_in_its_id_and_class_with_medians_and_thresholds():
    table = scores()
    net = table[table["method"] == "net"]
    fig, ax = plt.subplots()
    thresholds = {"fan id_00": 0.5, "id_02": 2.2}  # "<type> <id>" and bare-ID keys
    assert (
        plot_score_distributions(net, type_col="machine_type", thresholds=thresholds, ax=ax) is fig
    )
    names = ["fan id_00", "fan id_02", "pump id_00"]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    test = net[net["split"] == "test"]
    points = _points(ax)
    assert len(points) == 6  # one strip per (ID, class); the training row is not drawn
    seen = set()
    for coll in points:
        xy = np.asarray(coll.get_offsets())
        i = int(np.rint(xy[:, 0].mean()))
        offset = xy[:, 0].mean() - i
        label = "normal" if offset < 0 else "anomaly"
        assert abs(offset) == pytest.approx(0.2, abs=0.08)  # dodged left / right of the ID
        assert np.all(np.abs(xy[:, 0] - (i + np.sign(offset) * 0.2)) <= 0.08)  # jitter
        mtype, mid = names[i].split()
        expected = test[(test["machine_type"] == mtype) & (test["id"] == mid)]
        expected = expected.loc[expected["label"] == label, "score"]
        np.testing.assert_array_equal(np.sort(xy[:, 1]), np.sort(expected.to_numpy()))
        assert to_hex(coll.get_facecolor()[0]) == LABEL_COLORS[label].lower()
        seen.add((i, label))
    assert len(seen) == 6
    segs = _segments(ax)
    for i, name in enumerate(names):
        mtype, mid = name.split()
        g = test[(test["machine_type"] == mtype) & (test["id"] == mid)]
        for label, off in (("normal", -0.2), ("anomaly", 0.2)):
            med = float(np.median(g.loc[g["label"] == label, "score"]))
            x0, x1 = i + off - 0.12, i + off + 0.12
            assert any(np.allclose(seg, (x0, x1, med)) for seg in segs), (name, label)
    # thresholds: fan id_00 by its full name, fan id_02 by its bare ID; pump id_00 has none
    dotted = [s for s in segs if s[1] - s[0] == pytest.approx(0.8)]
    assert sorted((round(s[0] + 0.4), s[2]) for s in dotted) == [(0, 0.5), (1, 2.2)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["normal", "anomaly", "threshold"]
    # the jitter is seeded: the same seed draws the same points, another seed others
    fig2, ax2 = plt.subplots()
    plot_score_distributions(net, type_col="machine_type", ax=ax2, seed=0)
    fig3, ax3 = plt.subplots()
    plot_score_distributions(net, type_col="machine_type", ax=ax3, seed=1)
    a, b, c = (np.concatenate([p.get_offsets() for p in _points(x)]) for x in (ax, ax2, ax3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[:, 0], c[:, 0])
    np.testing.assert_array_equal(a[:, 1], c[:, 1])


def test_confusion_heatmaps_annotate_every_cell_with_the_hand_counted_matrix():
    true = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "b", "a", "b", "b", "a"]
    fig = plot_id_confusion(true, pred, title="ids")
    ax = fig.axes[0]
    counts = np.zeros((3, 3), int)
    for t, p in zip(true, pred, strict=True):
        counts["abc".index(t), "abc".index(p)] += 1
    fractions = counts / counts.sum(axis=1, keepdims=True)
    expected = {
        (i, j): f"{fractions[i, j]:.2f}\n({counts[i, j]})" for i in range(3) for j in range(3)
    }
    assert _cell_texts(ax) == expected
    (mesh,) = ax.collections
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(3, 3), fractions)
    assert mesh.get_clim() == (0, 1)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted", "true", "ids")
    assert len(fig.axes) == 2  # the colour bar

    fig, ax = plt.subplots()
    plot_decision_confusion(np.array([[7, 2], [1, 4]]), ax=ax, title="t")
    assert _cell_texts(ax) == {(0, 0): "7", (0, 1): "2", (1, 0): "1", (1, 1): "4"}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["normal", "anomaly"]


def test_auc_bars_are_the_table_values_with_na_marks_and_a_bar_per_method():
    per_id = pd.DataFrame(
        {
            "method": ["net", "net", "net", "base", "base", "base", "other"],
            "machine_type": ["pump", "fan", "fan", "fan", "pump", "fan", "fan"],
            "speaker": ["id_00", "id_02", "id_00", "id_00", "id_00", "id_02", "id_00"],
            "auc": [0.7, np.nan, 0.9, 0.6, 0.8, 0.65, 0.1],
        }
    )
    fig, ax = plt.subplots()
    out = plot_auc_bars(per_id, id_col="speaker", methods=["base", "net"], ax=ax, title="t")
    assert out is fig
    names = ["fan\nid_00", "fan\nid_02", "pump\nid_00"]  # sorted by (type, ID)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["net", "base"]  # table order
    assert len(ax.patches) == 6  # 3 IDs x 2 methods, no legend proxies
    for container, method in zip(ax.containers, ["net", "base"], strict=True):
        rows = per_id[per_id["method"] == method]
        for bar, name in zip(container, names, strict=True):
            mtype, sid = name.split("\n")
            v = rows.loc[(rows["machine_type"] == mtype) & (rows["speaker"] == sid), "auc"]
            assert bar.get_height() == (0.0 if np.isnan(v.iat[0]) else v.iat[0])
            assert to_hex(bar.get_facecolor()) == PALETTE[["net", "base"].index(method)].lower()
    (na,) = [t for t in ax.texts if t.get_text() == "n/a"]  # net on fan id_02
    bar = ax.containers[0][1]
    assert na.get_position()[0] == pytest.approx(bar.get_x() + bar.get_width() / 2)
    assert ax.get_ylim() == (0, 1.05) and ax.get_ylabel() == "AUC"
    assert [ln.get_ydata()[0] for ln in ax.get_lines()] == [0.5]  # chance level
    with pytest.raises(ValueError, match="lacks column 'id'"):
        plot_auc_bars(per_id)
    with pytest.raises(ValueError, match="no rows"):
        plot_auc_bars(per_id, id_col="speaker", methods=["nope"])


def test_auc_intervals_draw_the_table_values_top_down():
    table = pd.DataFrame(
        {
            "method": ["net", "base", "net", "base"],
            "machine_type": ["all IDs", "all IDs", "fan", "fan"],
            "auc_mean": [0.9, 0.88, 0.7, 0.8],
            "low": [0.87, 0.85, 0.6, 0.7],
            "high": [0.93, 0.91, 0.8, 0.9],
        }
    )
    fig, ax = plt.subplots()
    out = plot_auc_intervals(table, methods=["base", "net"], ax=ax, target=0.93, title="t")
    assert out is fig
    labels = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert labels["base"] > labels["net"]  # the first method on top
    (segments,) = ax.collections
    drawn = {tuple(np.round(seg[:, 1], 6))[0]: seg[:, 0] for seg in segments.get_segments()}
    assert np.allclose(drawn[labels["base"]], [0.85, 0.91])
    assert np.allclose(drawn[labels["net"]], [0.87, 0.93])
    dots = ax.get_lines()[0]
    assert np.allclose(dots.get_xdata(), [0.88, 0.9]) and np.allclose(dots.get_ydata(), [1, 0])
    assert [ln.get_xdata()[0] for ln in ax.get_lines()[1:]] == [0.93]  # the target
    assert sorted(t.get_text() for t in ax.texts) == ["88.0", "90.0"]
    plt.close(fig)
    fig = plot_auc_intervals(table, scope="fan")  # table order: net on top
    ax = fig.axes[0]
    ticks = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks(), strict=True))
    assert ticks["net"] > ticks["base"]
    assert np.allclose(ax.get_lines()[0].get_xdata(), [0.7, 0.8])
    with pytest.raises(ValueError, match=r"no 'all IDs' intervals for methods \['x'\]"):
        plot_auc_intervals(table, methods=["x"])
    with pytest.raises(ValueError, match="lacks column 'low'"):
        plot_auc_intervals(table.drop(columns="low"))


def test_roc_grid_one_panel_per_type_with_the_sklearn_auc_of_each_id():
    table = scores()
    fig = plot_score_grid(table, method="net", type_col="machine_type", ncols=4)
    panels = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in panels] == ["fan: net", "pump: net"]
    assert fig.get_size_inches() == pytest.approx((2 * 4.0, 3.8))
    test = table[(table["method"] == "net") & (table["split"] == "test")]
    for ax, mtype in zip(panels, ["fan", "pump"], strict=True):
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        ids = sorted(test.loc[test["machine_type"] == mtype, "id"].unique())
        for mid in ids:
            g = test[(test["machine_type"] == mtype) & (test["id"] == mid)]
            auc = roc_auc_score(g["label"] == "anomaly", g["score"])
            assert f"{mid} (AUC {auc:.3f})" in labels
    assert [a.get_title() for a in plot_score_grid(table, type_col="machine_type").axes] == [
        "fan",
        "pump",
    ]


def test_score_panels_per_method_draw_each_methods_thresholds():
    table = scores()
    fan = table[table["machine_type"] == "fan"]
    thresholds = pd.DataFrame(
        {
            "method": ["net", "net", "base", "base"],
            "machine_type": ["fan"] * 4,
            "id": ["id_00", "id_02", "id_00", "id_02"],
            "threshold": [0.5, 2.2, 5.0, np.nan],
        }
    )
    fig = plot_scores_by_method(fan, thresholds=thresholds, label="fan")
    panels = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in panels] == ["fan: net", "fan: base"]  # the table's order
    assert fig.get_size_inches() == pytest.approx((2 * 4.4, 3.4))
    for ax, method in zip(panels, ["net", "base"], strict=True):
        drawn = sorted(s[1] for s in _point_values(ax))
        expected = fan[(fan["method"] == method) & (fan["split"] == "test")]["score"]
        np.testing.assert_array_equal(drawn, np.sort(expected.to_numpy()))
        dotted = [s for s in _segments(ax) if s[1] - s[0] == pytest.approx(0.8)]
        rows = thresholds[(thresholds["method"] == method) & thresholds["threshold"].notna()]
        positions = rows["id"].map({"id_00": 0, "id_02": 1})
        expected = sorted(zip(positions, rows["threshold"], strict=True))
        assert sorted((round(s[0] + 0.4), s[2]) for s in dotted) == expected
    only = plot_scores_by_method(fan, methods=["base"], ncols=2, panel_size=(4.5, 3.4))
    assert [a.get_title() for a in only.axes if a.get_visible()] == ["base"]


def _point_values(ax) -> list[tuple[float, float]]:
    return [tuple(xy) for c in _points(ax) for xy in np.asarray(c.get_offsets())]


def test_decision_grid_one_panel_per_summary_row_with_its_counts_and_scores_in_the_title():
    decisions = pd.DataFrame(
        {
            "method": ["net", "net"],
            "machine_type": ["fan", "fan"],
            "rule": ["train_p90", "youden"],
            "tn": [8, 9],
            "fp": [2, 1],
            "fn": [3, 0],
            "tp": [5, 8],
            "precision": [5 / 7, 8 / 9],
            "recall": [5 / 8, 1.0],
            "f1": [2 / 3, 16 / 17],
            "optimistic": [False, True],
        }
    )
    fig = plot_decision_grid(decisions)
    panels = [a for a in fig.axes if a.get_visible() and a.get_title()]
    assert [a.get_title() for a in panels] == [
        "fan train_p90\nP 0.71 R 0.62 F1 0.67",
        "fan youden\nP 0.89 R 1.00 F1 0.94 (optimistic)",
    ]
    for ax, r in zip(panels, decisions.itertuples(), strict=True):
        assert _cell_texts(ax) == {
            (0, 0): str(r.tn),
            (0, 1): str(r.fp),
            (1, 0): str(r.fn),
            (1, 1): str(r.tp),
        }


@pytest.mark.filterwarnings("ignore:A single label was found")  # pump has one ID only
def test_id_confusion_grid_normal_then_anomaly_panels_per_type():
    table = scores()
    net = table[table["method"] == "net"]
    fig = plot_id_confusion_grid(net, machine_types=["fan", "pump"], title="net")
    panels = [a for a in fig.axes if a.get_visible() and a.get_title()]
    assert [a.get_title() for a in panels] == [
        "fan: normal test clips",
        "fan: anomaly test clips",
        "pump: normal test clips",
        "pump: anomaly test clips",
    ]
    assert fig.get_suptitle() == "net"
    test = net[net["split"] == "test"]
    for ax, (mtype, label) in zip(
        panels,
        [("fan", "normal"), ("fan", "anomaly"), ("pump", "normal"), ("pump", "anomaly")],
        strict=True,
    ):
        ids = sorted(test.loc[test["machine_type"] == mtype, "id"].unique())
        g = test[(test["machine_type"] == mtype) & (test["label"] == label)]
        counts = np.array(
            [[int(((g["id"] == t) & (g["pred_id"] == p)).sum()) for p in ids] for t in ids]
        )
        rows = counts.sum(axis=1, keepdims=True)
        frac = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
        expected = {
            (i, j): f"{frac[i, j]:.2f}\n({counts[i, j]})"
            for i in range(len(ids))
            for j in range(len(ids))
        }
        assert _cell_texts(ax) == expected


def test_training_grid_draws_each_history_with_the_right_axes():
    from audioanom.machines.plots import plot_training_grid

    net = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [3.0, 2.0, 1.5],
            "val_loss": [3.1, 2.2, 1.9],
            "val_acc": [0.2, 0.5, 0.7],
            "best": [False, False, True],
        }
    )
    ae = pd.DataFrame({"epoch": [1, 2], "train_loss": [10.0, 5.0], "val_loss": [11.0, 6.0]})
    fig = plot_training_grid(
        {("complex", "all"): net, ("autoencoder", "fan"): ae}, names={"complex": "complex net"}
    )
    by_title = {a.get_title(): a for a in fig.axes if a.get_title()}
    ax_net, ax_ae = by_title["complex net: all"], by_title["autoencoder: fan"]
    twin = [a for a in fig.axes if a is not ax_net and a.bbox.bounds == ax_net.bbox.bounds][0]
    lines = {ln.get_label(): ln.get_ydata().tolist() for ln in ax_net.get_lines()}
    assert lines == {"train_loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.2, 1.9]}
    assert twin.get_lines()[0].get_ydata().tolist() == [0.2, 0.5, 0.7]  # accuracy, right axis
    assert ax_ae.get_yscale() == "log" and ax_net.get_yscale() == "linear"
    assert [ln.get_ydata().tolist() for ln in ax_ae.get_lines()] == [[10.0, 5.0], [11.0, 6.0]]
    with pytest.raises(ValueError, match="no training histories"):
        plot_training_grid({})


def test_mean_spectra_draw_one_line_per_id_without_the_dc_bin():
    from audioanom.machines.stft_plots import plot_id_mean_spectra, plot_type_mean_spectra

    table = pd.DataFrame(
        {
            "id": ["id_00"] * 3 + ["id_02"] * 3,
            "freq_hz": [0.0, 100.0, 200.0] * 2,
            "db": [0.0, -10.0, -20.0, -5.0, -15.0, -25.0],
        }
    )
    fig = plot_id_mean_spectra(table, title="fan")
    ax = fig.axes[0]
    got = {ln.get_label(): (ln.get_xdata().tolist(), ln.get_ydata().tolist()) for ln in ax.lines}
    assert got == {
        "id_00": ([100.0, 200.0], [-10.0, -20.0]),
        "id_02": ([100.0, 200.0], [-15.0, -25.0]),
    }
    assert ax.get_xscale() == "log" and ax.get_title() == "fan"
    grid = plot_type_mean_spectra({"fan": table, "pump": table.assign(db=table["db"] - 1)})
    assert [a.get_title() for a in grid.axes if a.get_visible()] == ["fan", "pump"]
    assert grid.axes[1].lines[0].get_ydata().tolist() == [-11.0, -21.0]
    with pytest.raises(ValueError, match="lacks columns"):
        plot_id_mean_spectra(table.drop(columns="db"))
