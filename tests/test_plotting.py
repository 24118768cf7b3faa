import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from audioanom.plotting import (  # noqa: E402
    plot_clip_examples,
    plot_counts,
    plot_spectrogram,
    plot_waveform,
    save_figure,
    use_style,
)
from tests.conftest import tone  # noqa: E402


def test_save_figure_writes_png_300dpi_and_pdf_with_stable_names(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOANOM_FIGURES", str(tmp_path))
    use_style()
    fig = plot_waveform(tone(), 16000, title="tone")
    fig.set_size_inches(4.0, 2.5)
    written = save_figure(fig, "sub/test_wave", dataset="toy", caption="a tone")
    where = tmp_path / "toy" / "sub"
    assert written == [where / "test_wave.png", where / "test_wave.pdf"]
    assert all(p.is_file() for p in written)
    from PIL import Image

    with Image.open(written[0]) as im:
        assert im.format == "PNG"
        assert tuple(round(d) for d in im.info["dpi"]) == (300, 300)
    # the style's tight bbox changes the size; without it the PNG is figsize * 300 dpi
    with matplotlib.rc_context({"savefig.bbox": "standard"}):
        (full,) = save_figure(fig, "sub/full", dataset="toy", formats=("png",))
    with Image.open(full) as im:
        assert im.size == (1200, 750) and round(im.info["dpi"][0]) == 300
    first = written[1].read_bytes()
    assert first.startswith(b"%PDF-") and b"/Creator (audioanom)" in first
    save_figure(fig, "sub/test_wave", dataset="toy", caption="a tone")
    assert written[1].read_bytes() == first  # PDF without a creation date: byte-stable
    with pytest.raises(ValueError, match="without extension"):
        save_figure(fig, "x.png", dataset="toy")
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="plain data set name"):
            save_figure(fig, "x", dataset=bad)
    plt.close("all")


def test_figures_of_two_data_sets_coexist_and_the_index_lists_each(tmp_path, monkeypatch):
    """The same notebook's figure on two data sets: two files, neither overwritten; index.md
    has one section per data set with the notebook, a working link and the caption."""
    import json

    from audioanom.plotting import figure_records, write_figure_index

    monkeypatch.setenv("AUDIOANOM_FIGURES", str(tmp_path))
    fig = plot_waveform(tone(), 16000)
    a = save_figure(
        fig, "02_scores", dataset="synthetic-digits", caption="IF | PCA", formats=("png",)
    )
    b = save_figure(fig, "02_scores", dataset="fsdd", caption="on FSDD", formats=("png",))
    assert a[0] != b[0] and a[0].is_file() and b[0].is_file()
    side = json.loads((tmp_path / "fsdd" / "02_scores.json").read_text())
    assert side == {
        "name": "02_scores",
        "notebook": "02",
        "dataset": "fsdd",
        "caption": "on FSDD",
        "files": ["02_scores.png"],
    }
    assert [r["dataset"] for r in figure_records()] == ["fsdd", "synthetic-digits"]
    index = write_figure_index()
    text = index.read_text()
    assert index == tmp_path / "index.md"
    assert "## fsdd" in text and "## synthetic-digits" in text
    assert "| 02 | [02_scores](fsdd/02_scores.png) | on FSDD |" in text
    assert "IF \\| PCA" in text  # a | in a caption does not break the table
    for link in re.findall(r"\]\(([^)]+)\)", text):
        assert (tmp_path / link).is_file(), link
    b[0].unlink()  # a record whose image is gone is not listed
    assert [r["dataset"] for r in figure_records()] == ["synthetic-digits"]
    plt.close("all")


def test_plot_functions_draw_the_given_data_into_given_axes(tmp_path, write_wav):
    fig, (a, b, c) = plt.subplots(1, 3)
    x = tone()  # 0.5 s at 16 kHz: 8,000 samples, drawn sample by sample
    assert plot_waveform(x, 16000, ax=a) is fig
    (line,) = a.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), x)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(8000) / 16000)
    assert (a.get_xlabel(), a.get_ylabel(), a.get_xlim()) == ("time [s]", "amplitude", (0, 0.5))

    assert plot_spectrogram(x, 16000, ax=b, colorbar=False) is fig
    (image,) = b.get_images()
    db = np.asarray(image.get_array())
    assert db.shape[0] == 1024 // 2 + 1 and db.max() == pytest.approx(0.0, abs=1e-6)
    peak_row = int(np.argmax(db.mean(axis=1)))
    assert peak_row * 16000 / 1024 == pytest.approx(440.0, abs=16000 / 1024)  # the 440 Hz tone
    assert image.get_clim() == (-80, 0) and b.get_ylim() == (0, 8000)
    assert (b.get_xlabel(), b.get_ylabel()) == ("time [s]", "frequency [Hz]")
    assert len(fig.axes) == 3  # colorbar=False: no colour-bar axes
    fig_cb = plot_spectrogram(x, 16000)
    assert len(fig_cb.axes) == 2 and fig_cb.axes[1].get_ylabel() == "dB"

    table = pd.DataFrame({"group": ["fan", "fan"], "label": ["normal", "anomaly"], "n": [3, 2]})
    assert plot_counts(table, x="group", hue="label", ax=c) is fig
    bars = {
        legend_text.get_text(): container.patches[0].get_height()
        for legend_text, container in zip(c.get_legend().get_texts(), c.containers, strict=True)
    }
    assert bars == {"anomaly": 2, "normal": 3}
    assert (c.get_xlabel(), c.get_ylabel(), c.get_legend().get_title().get_text()) == (
        "group",
        "clips",
        "label",
    )
    fig2, d = plt.subplots()
    plot_counts(table.assign(group=["fan", "pump"]), x="group", ax=d)
    assert [p.get_height() for p in d.patches] == [3, 2]
    assert [t.get_text() for t in d.get_xticklabels()] == ["fan", "pump"]

    long = tone(1.0)  # 16,000 samples > 2 * 4,000: the min/max envelope, no line
    fig3 = plot_waveform(long, 16000, max_points=4000)
    (envelope,) = fig3.axes[0].collections
    assert fig3.axes[0].get_lines() == []
    ys = envelope.get_paths()[0].vertices[:, 1]
    assert ys.max() == pytest.approx(0.5, abs=1e-3) and ys.min() == pytest.approx(-0.5, abs=1e-3)

    with pytest.raises(ValueError, match="1-D signal"):
        plot_waveform(np.zeros((4, 2)), 16000)
    path = write_wav("a.wav", x)
    clips = pd.DataFrame({"path": [str(path)], "group": ["g"], "id": ["i"], "label": ["normal"]})
    ex = plot_clip_examples(clips)
    assert len(ex.axes) == 2 and ex.axes[0].get_title() == "g / i / normal: a.wav"
    import soundfile as sf

    pcm, _ = sf.read(path, dtype="float32")  # what the file holds (16-bit PCM)
    np.testing.assert_array_equal(ex.axes[0].get_lines()[0].get_ydata(), pcm)
    assert len(ex.axes[1].get_images()) == 1
    plt.close("all")


def test_time_frequency_image_axes_extent_and_colour_bar():
    from audioanom.plotting import time_frequency_image

    fig, ax = plt.subplots()
    values = np.arange(12.0).reshape(3, 4)  # F, T
    assert time_frequency_image(ax, values, extent=(0, 2, 0, 300), vmin=0, vmax=11) is fig
    (image,) = ax.get_images()
    assert image.get_extent() == [0, 2, 0, 300] and image.origin == "lower"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time [s]", "frequency [Hz]")
    assert len(fig.axes) == 1  # no colour bar without a label
    fig2, ax2 = plt.subplots()
    time_frequency_image(
        ax2, values, extent=(0, 2, 0, 300), vmin=0, vmax=11, colorbar_label="dB", max_hz=150
    )
    assert len(fig2.axes) == 2 and fig2.axes[1].get_ylabel() == "dB"
    assert ax2.get_ylim() == (0, 150)
    plt.close("all")


def test_use_style_sets_the_seaborn_theme_then_the_mplstyle_values():
    import seaborn as sns

    from audioanom.plotting import PALETTE, STYLE_FILE

    # the style file, read here as plain "key: value" lines
    lines = STYLE_FILE.read_text().splitlines()
    raw = dict(ln.split(":", 1) for ln in lines if ln.strip() and not ln.startswith("#"))
    raw = {k.strip(): v.strip() for k, v in raw.items()}
    cycle = raw["axes.prop_cycle"].split("[", 1)[1].split("]", 1)[0]
    assert PALETTE == tuple("#" + c.strip(" '") for c in cycle.split(","))
    with matplotlib.rc_context():
        sns.set_theme(context="poster", style="darkgrid", palette="Set2")  # somebody else's
        use_style()
        rc = matplotlib.rcParams
        assert rc["font.size"] == float(raw["font.size"]) == 10.0
        assert rc["axes.titlesize"] == float(raw["axes.titlesize"])
        assert rc["lines.linewidth"] == float(raw["lines.linewidth"])
        assert rc["grid.alpha"] == float(raw["grid.alpha"])
        assert rc["axes.grid"] is True and rc["axes.spines.top"] is False
        assert rc["image.cmap"] == raw["image.cmap"] == "magma"  # not seaborn's "rocket"
        assert rc["legend.frameon"] is False and rc["figure.constrained_layout.use"] is True
        assert list(rc["figure.figsize"]) == [7.0, 4.2] and rc["savefig.dpi"] == 300
        assert [c.upper() for c in rc["axes.prop_cycle"].by_key()["color"]] == list(PALETTE)
        # seaborn's side: its palette is the project palette, and its "ticks" style and
        # "paper" context set what the mplstyle leaves open (white axes, no poster sizes)
        assert sns.color_palette().as_hex() == [c.lower() for c in PALETTE]
        assert rc["axes.facecolor"] == "white" and rc["xtick.direction"] == "out"
        assert rc["xtick.labelsize"] == pytest.approx(11 * 0.8)  # paper = 0.8 x notebook
        use_style()  # idempotent
        assert rc["font.size"] == 10.0
    plt.close("all")


def test_palette_and_label_colours():
    from audioanom.plotting import LABEL_COLORS, PALETTE, label_colors, palette

    assert LABEL_COLORS == {"normal": "#0072B2", "anomaly": "#D55E00"}
    assert palette(3) == list(PALETTE[:3]) and palette(10)[8:] == list(PALETTE[:2])
    colours = label_colors(["none", "anomaly", "click", "hum", "normal"])
    assert colours["none"] == colours["normal"] == PALETTE[0]
    assert colours["anomaly"] == PALETTE[3]
    assert (colours["click"], colours["hum"]) == (PALETTE[1], PALETTE[2])  # the free colours


def test_grouped_bars_draw_every_pair_from_the_aggregated_table():
    from matplotlib.colors import to_hex

    from audioanom.plotting import PALETTE, grouped_bars

    table = pd.DataFrame(
        {
            "kind": ["b", "a", "b", "a", "b"],
            "det": ["IF", "IF", "PCA", "IF", "IF"],
            "auc": [0.6, 0.9, 0.7, 0.5, 0.8],
        }
    )
    fig, ax = plt.subplots()
    wide = grouped_bars(ax, table, cat="kind", value="auc", hue="det", legend_title="detector")
    # first appearance: kinds b, a; detectors IF, PCA; repeated pairs averaged; (a, PCA) none
    assert list(wide.index) == ["b", "a"] and list(wide.columns) == ["IF", "PCA"]
    assert wide.loc["b", "IF"] == pytest.approx((0.6 + 0.8) / 2)
    assert wide.loc["a", "IF"] == pytest.approx((0.9 + 0.5) / 2) and np.isnan(wide.loc["a", "PCA"])
    assert len(ax.patches) == 4  # every pair a bar, no legend proxies
    expected = {"IF": [0.7, 0.7], "PCA": [0.7, 0.0]}
    for container, det, colour in zip(ax.containers, ["IF", "PCA"], PALETTE[:2], strict=True):
        assert [round(p.get_height(), 9) for p in container] == expected[det]
        assert {to_hex(p.get_facecolor()) for p in container} == {colour.lower()}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b", "a"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("kind", "auc")
    assert ax.get_legend().get_title().get_text() == "detector"
    fig, ax = plt.subplots()
    grouped_bars(
        ax, table, cat="kind", value="auc", order=["a", "b"], aggfunc="sum", horizontal=True
    )
    assert [round(p.get_width(), 9) for p in ax.patches] == [1.4, 2.1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"] and ax.get_legend() is None
    with pytest.raises(ValueError, match="lacks columns"):
        grouped_bars(ax, table, cat="kind", value="pauc")
    plt.close("all")


def test_plot_clip_counts_draws_one_bar_per_group_and_split():
    from audioanom.plotting import plot_clip_counts

    clips = pd.DataFrame(
        {
            "group": ["fan"] * 3 + ["pump"] * 2,
            "id": ["id_00", "id_00", "id_02", "id_00", "id_00"],
            "split": ["train", "train", "test", "test", "train"],
            "label": ["normal", "normal", "anomaly", "normal", "normal"],
        }
    )
    fig = plot_clip_counts(clips, title="toy")
    ax = fig.axes[0]
    heights = sorted(round(p.get_height()) for p in ax.patches if p.get_height() > 0)
    assert heights == [1, 1, 1, 2]  # fan id_00 train 2; fan id_02 test 1; pump test 1, train 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fan id_00", "fan id_02", "pump id_00"]
    assert ax.get_title() == "toy"
