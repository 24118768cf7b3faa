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
    written = save_figure(fig, "sub/test_wave")
    assert [p.name for p in written] == ["test_wave.png", "test_wave.pdf"]
    from PIL import Image

    with Image.open(written[0]) as im:
        assert round(im.info["dpi"][0]) == 300
    first = written[1].read_bytes()
    save_figure(fig, "sub/test_wave")
    assert written[1].read_bytes() == first  # PDF without a creation date: byte-stable
    with pytest.raises(ValueError, match="without extension"):
        save_figure(fig, "x.png")
    plt.close("all")


def test_plot_functions_draw_into_given_axes_and_return_the_figure(tmp_path, write_wav):
    fig, (a, b, c) = plt.subplots(1, 3)
    assert plot_waveform(tone(), 16000, ax=a) is fig
    assert plot_spectrogram(tone(), 16000, ax=b, colorbar=False) is fig
    table = pd.DataFrame({"group": ["fan", "fan"], "label": ["normal", "anomaly"], "n": [3, 2]})
    assert plot_counts(table, x="group", hue="label", ax=c) is fig
    with pytest.raises(ValueError, match="1-D signal"):
        plot_waveform(np.zeros((4, 2)), 16000)
    path = write_wav("a.wav", tone())
    clips = pd.DataFrame({"path": [str(path)], "group": ["g"], "id": ["i"], "label": ["normal"]})
    ex = plot_clip_examples(clips)
    assert len(ex.axes) == 2 and "a.wav" in ex.axes[0].get_title()
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
