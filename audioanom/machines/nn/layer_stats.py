"""Band statistics of the trunk's first layers: what a window sounds like before the ID task.

The embedding is what the network learnt to tell the machines apart with; trained on normal
sounds to be invariant to everything that does not help that, it can be deaf to a faint extra
sound (a leak's hiss in the quiet phase of a valve) that changes no ID cue. The first layers of
the trunk are a learnt filterbank that still hears it. Their band statistics are a second
look at the same window, from the same network, in the spirit of Rippel et al., "Modeling the
distribution of normal data in pre-trained deep features for anomaly detection" (ICPR 2020):
a Gaussian per layer, the layers' distances summed
(:class:`audioanom.machines.backends.LayerGaussianBackend`).

Statistics of trunk layer ``l`` (1-based) for one window: the layer's output power per
channel (``|z|^2`` of a complex channel, ``h^2`` of a real one), averaged over ``bands``
equal-width frequency bands, ``log10(. + POWER_FLOOR)``, then the mean and the standard
deviation (population) over the layer's time steps: ``C_l * bands * 2`` values, ordered
``[means (C, bands) flattened, stds (C, bands) flattened]``.

:class:`TrunkTaps` hooks the layers so that the statistics come out of the same forward pass
that gives the embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .complex import abs2

__all__ = ["POWER_FLOOR", "TrunkTaps", "band_log_stats", "layer_stats_dims"]

#: Floor of the band power before the log (the layers' outputs are batch-normalised: O(1)).
POWER_FLOOR = 1e-6


def band_log_stats(power: Tensor, bands: int) -> Tensor:
    """``(B, C, F, T)`` power -> ``(B, 2 * C * bands)`` (module docstring). Band ``k`` holds
    bins ``floor(k F / bands) .. floor((k + 1) F / bands) - 1``; ValueError for fewer bins
    than bands or a tensor of another rank."""
    if power.ndim != 4:
        raise ValueError(f"band_log_stats: expected (B, C, F, T) power, got {tuple(power.shape)}")
    n_bins = power.shape[2]
    if not 1 <= bands <= n_bins:
        raise ValueError(f"band_log_stats: {bands} bands for {n_bins} frequency bins")
    edges = np.linspace(0, n_bins, bands + 1).astype(int)
    p = power.float()
    banded = torch.stack(
        [p[:, :, a:b].mean(dim=2) for a, b in zip(edges[:-1], edges[1:], strict=True)], 2
    )
    lp = torch.log10(banded + POWER_FLOOR)  # B, C, bands, T
    mean = lp.mean(dim=3)  # B, C, bands
    std = (lp - mean[..., None]).square().mean(dim=3).sqrt()  # B, C, bands
    return torch.cat([mean.flatten(1), std.flatten(1)], dim=1)  # B, 2 * C * bands


def _is_complex_trunk(model: nn.Module) -> bool:
    from .model import ComplexNet

    return isinstance(model, ComplexNet)


def layer_stats_dims(model: nn.Module, layers: Sequence[int], bands: int) -> tuple[int, ...]:
    """Length of each layer's statistics: ``2 * C_l * bands`` (``C_l`` complex channels of a
    complex trunk layer, real channels of the ablation's)."""
    from .magnitude import real_channels

    cfg = model.config
    channels = cfg.channels if _is_complex_trunk(model) else real_channels(cfg.channels)
    for layer in layers:
        if not 1 <= layer <= len(channels):
            raise ValueError(f"trunk layer {layer}: the trunk has layers 1..{len(channels)}")
    return tuple(2 * channels[layer - 1] * bands for layer in layers)


class TrunkTaps:
    """Context manager: while active, every forward pass of ``model`` appends the statistics
    of trunk ``layers`` (:func:`band_log_stats`) to ``self.stats``: one ``(B, sum of
    layer_stats_dims)`` float32 tensor per pass, the layers in the order given."""

    def __init__(self, model: nn.Module, layers: Sequence[int], bands: int = 16) -> None:
        self.dims = layer_stats_dims(model, layers, bands)
        self.model, self.layers, self.bands = model, tuple(layers), bands
        self.stats: list[Tensor] = []
        self._pending: dict[int, Tensor] = {}
        self._handles: list = []

    def _hook(self, layer: int):
        complex_trunk = _is_complex_trunk(self.model)

        def hook(module, inputs, output):
            power = abs2(output) if complex_trunk else output.square()  # B, C, F, T
            self._pending[layer] = band_log_stats(power, self.bands)
            if len(self._pending) == len(self.layers):
                self.stats.append(torch.cat([self._pending[k] for k in self.layers], dim=1))
                self._pending = {}

        return hook

    def __enter__(self) -> TrunkTaps:
        self._handles = [
            self.model.trunk[layer - 1].register_forward_hook(self._hook(layer))
            for layer in self.layers
        ]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
