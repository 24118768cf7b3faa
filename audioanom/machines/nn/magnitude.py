"""The magnitude-only ablation: a real-valued network of the same depth that never sees phase.

Same input as :class:`audioanom.machines.nn.model.ComplexNet` (the raw complex STFT window
``(B, 2, F, T)``, so the two are trained and scored by the same code), but its first operation is
``log10(|X|^2 + 1e-10)``, standardised per frequency bin with a mean and standard deviation
fitted on the normal training clips (buffers, saved with the model). Nothing after that depends
on the phase: replacing the phase of the input leaves every output unchanged (tested).

Architecture: the complex network with every complex layer replaced by a real one and the
complex branch and fusion removed::

    x: B, 2, 513, 64  ->  log-power, standardised per bin  (B, 1, 513, 64)
    5 x [Conv2d -> BatchNorm2d -> PReLU]   real channels round(sqrt(2) c) for the complex
        network's c (about the same number of weights: a complex c_in -> c_out layer has
        2 c_in c_out k weights), same kernels and strides          -> B, 64, 17, 4
    branch: Conv (5,1)/(2,1)-BN-PReLU                              -> B, Cb, 9, 4
    total conv: 1x1 Conv-BN-PReLU -> pooling -> embedding          -> B, D
    head: Linear(embedding) -> logits (B, K)                       (the ``fused`` slot)

Depth (5 + 1 + 1 convolutions), embedding size and pooling equal the complex network's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .model import ComplexNetConfig, NetOutput, _IdNetwork, real_block

__all__ = ["LOG_FLOOR", "MagnitudeNet", "real_channels"]

#: Power floor of the log: ``log10(|X|^2 + LOG_FLOOR)`` (-100 dB re 1).
LOG_FLOOR = 1e-10


def real_channels(complex_channels: Sequence[int]) -> tuple[int, ...]:
    """Real channel counts with about the weights of the complex ones: ``round(sqrt(2) c)``."""
    return tuple(max(1, round(math.sqrt(2) * c)) for c in complex_channels)


class MagnitudeNet(_IdNetwork):
    """Real-valued ID network on the standardised log-power STFT (module docstring); the
    same ``forward(x, target=None) -> NetOutput`` as :class:`ComplexNet` with ``mag`` and
    ``cplx`` None."""

    def __init__(self, config: ComplexNetConfig | None = None) -> None:
        cfg = config if config is not None else ComplexNetConfig()
        super().__init__(cfg)
        self.register_buffer("log_mean", torch.zeros(cfg.n_bins))
        self.register_buffer("log_std", torch.ones(cfg.n_bins))
        blocks, cin = [], 1
        for c, k, s in zip(real_channels(cfg.channels), cfg.kernels, cfg.strides, strict=True):
            blocks.append(real_block(cin, c, k, s))
            cin = c
        self.trunk = nn.Sequential(*blocks)
        self.branch = real_block(cin, cfg.branch_channels, cfg.branch_kernel, cfg.branch_stride)
        self.total = real_block(cfg.branch_channels, cfg.embedding_channels, (1, 1))
        self._make_heads(cfg.branch_channels, two_branches=False)

    @torch.no_grad()
    def fit_input_norm(self, specs: Sequence[np.ndarray]) -> MagnitudeNet:
        """Fit the per-bin mean and standard deviation of ``log10(|X|^2 + LOG_FLOOR)`` over
        every frame of the normal training STFTs ``(2, F, T)``; returns self."""
        n = self.config.n_bins
        if len(specs) == 0:
            raise ValueError("input normalisation needs at least one training STFT")
        s1, s2, frames = np.zeros(n), np.zeros(n), 0
        for i, s in enumerate(specs):
            if s.ndim != 3 or s.shape[0] != 2 or s.shape[1] != n:
                raise ValueError(f"clip {i}: expected a (2, {n}, T) STFT, got {tuple(s.shape)}")
            a = np.asarray(s, dtype=np.float64)
            if not np.isfinite(a).all():
                raise ValueError(
                    f"clip {i} holds NaN or Inf values: the input cannot be normalised"
                )
            lp = np.log10(a[0] ** 2 + a[1] ** 2 + LOG_FLOOR)  # F, T
            s1 += lp.sum(axis=1)
            s2 += (lp**2).sum(axis=1)
            frames += lp.shape[1]
        mean = s1 / frames
        std = np.sqrt(np.maximum(s2 / frames - mean**2, 0.0))
        self.log_mean.copy_(torch.from_numpy(mean).float())
        self.log_std.copy_(torch.from_numpy(np.maximum(std, 1e-3)).float())
        self._fit_stats(specs)
        self.norm_fitted.fill_(True)
        return self

    def normalise(self, x: Tensor) -> Tensor:
        """Raw STFT ``(B, 2, F, T)`` -> standardised log-power ``(B, 1, F, T)``."""
        x = x if x.dtype == torch.float64 else x.float()  # float64 for reference runs
        lp = torch.log10(x.square().sum(dim=1, keepdim=True) + LOG_FLOOR)  # B, 1, F, T
        return (lp - self.log_mean[None, None, :, None]) / self.log_std[None, None, :, None]

    def forward(self, x: Tensor, target: Tensor | None = None) -> NetOutput:
        raw = self.check_input(x)  # B, 2, F, T
        h = self.branch(self.trunk(self.normalise(raw)))  # B, Cb, F'', T'
        e = self._embed(self.total(h))  # B, D
        return NetOutput(None, None, self._fused_logits(e, target), e, *self._stats_outputs(raw, e))
