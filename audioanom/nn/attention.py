"""Channel attention of the self-supervised complex network (Kim, Ho and Kang, 2021).

``F_out = A(F) * F + F`` with ``A(F) = softmax_c(FC2(ReLU(FC1(GAP(F)))))``: a squeeze-and-
excitation style gate whose weights are a softmax over the channels (they sum to 1), used as
a residual re-weighting. GAP is the global average over the frequency and time axes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ChannelAttention"]


class ChannelAttention(nn.Module):
    """Residual softmax channel attention on a real ``(B, C, F, T)`` map.

    ``FC1: C -> max(1, C // reduction)``, ``FC2: -> C`` (both with bias). With all FC weights
    and biases zero, ``A`` is uniform (``1/C``) and the output is ``F * (1 + 1/C)``.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}")
        self.channels = channels
        self.reduction = reduction
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def weights(self, x: Tensor) -> Tensor:
        """Attention weights ``A(F)``: ``(B, C, F, T) -> (B, C)``, each row summing to 1."""
        self._check(x)
        g = x.mean(dim=(2, 3))  # B, C
        h = torch.relu(self.fc1(g))  # B, C // r
        return torch.softmax(self.fc2(h).float(), dim=1)  # B, C (float32 softmax)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, F, T) -> (B, C, F, T)``: ``A(F) * F + F``."""
        a = self.weights(x).to(x.dtype)  # B, C
        return x * (1.0 + a[:, :, None, None])  # B, C, F, T

    def _check(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"ChannelAttention: expected a (B, {self.channels}, F, T) tensor, "
                f"got shape {tuple(x.shape)}"
            )

    def extra_repr(self) -> str:
        return f"{self.channels}, reduction={self.reduction}"
