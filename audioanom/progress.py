"""The library's progress bars: tqdm, as text when a notebook is run by papermill.

Inside Jupyter, ``tqdm.auto`` draws a widget; an executed notebook stores the widget's first
text form ("0%|"), so a finished run shows bars that never moved. The runner
(:func:`audioanom.runner.run_notebooks`) sets :data:`TEXT_ENV` for the kernels it starts, and
:func:`tqdm` then draws plain-text bars, whose final state is what the executed notebook (and
its HTML) shows. Elsewhere it is ``tqdm.auto.tqdm``: widgets in JupyterLab, text in a terminal.
"""

from __future__ import annotations

import os

__all__ = ["TEXT_ENV", "text_bars", "tqdm", "trange"]

#: environment variable: set (to anything but "" or "0") for plain-text bars
TEXT_ENV = "AUDIOANOM_TEXT_PROGRESS"


def text_bars() -> bool:
    """Whether bars are drawn as text (:data:`TEXT_ENV` set)."""
    return os.environ.get(TEXT_ENV, "").strip() not in ("", "0")


def tqdm(iterable=None, **kwargs):
    """A tqdm bar (same arguments as :class:`tqdm.tqdm`): plain text when :func:`text_bars`,
    else ``tqdm.auto``'s choice."""
    if text_bars():
        from tqdm.std import tqdm as bar
    else:
        from tqdm.auto import tqdm as bar
    return bar(iterable, **kwargs)


def trange(*args, **kwargs):
    """``tqdm(range(*args), **kwargs)``."""
    return tqdm(range(*args), **kwargs)
