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
    written = save_figure(fig, "sub/test_wave")
    assert written == [tmp_path / "sub" / "test_wave.png", tmp_path / "sub" / "test_wave.pdf"]
    assert all(p.is_file() for p in written)
    from PIL import Image

    with Image.open(written[0]) as im:
        assert im.format == "PNG"
        assert tuple(round(d) for d in im.info["dpi"]) == (300, 300)
    # the style's tight bbox changes the size; without it the PNG is figsize * 300 dpi
    with matplotlib.rc_context({"savefig.bbox": "standard"}):
        (full,) = save_figure(fig, "sub/full", formats=("png",))
    with Image.open(full) as im:
        assert im.size == (1200, 750) and round(im.info["dpi"][0]) == 300
    first = written[1].read_bytes()
    assert first.startswith(b"%PDF-") and b"/Creator (audioanom)" in first
    save_figure(fig, "sub/test_wave")
    assert written[1].read_bytes() == first  # PDF without a creation date: byte-stable
    with pytest.raises(ValueError, match="without extension"):
        save_figure(fig, "x.png")
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
