"""Exchange classes: a harder self-supervised task for the ID networks.

The ID task alone is easy on machine sounds (validation accuracy about 1.0 on the synthetic
set), and an embedding trained on an easy task keeps only what tells the IDs apart. Wilkinghoff
("Self-supervised learning for anomalous sound detection", ICASSP 2024) makes the task harder
with *feature exchange*: parts of two training examples of different classes are swapped and
the result is classified into extra classes, so the network must notice when the parts do not
belong together. Here a training window ``i`` chosen for exchange is combined with a *partner*
window ``j`` of another class in the same batch (of the same machine type when the batch holds
one) in one of two ways (``TrainConfig.exchange``):

``"branches"``
    the fused head sees window ``i``'s magnitude branch with window ``j``'s complex branch (the
    magnitude and complex branches of :class:`audioanom.machines.nn.ComplexNet`); the two branch
    heads still see window ``i``'s own features and keep its class.
``"envelope"``
    window ``i``'s spectral envelope is replaced by window ``j``'s: every bin of the complex
    STFT is scaled by ``sqrt(P_j(f) / P_i(f))``, ``P(f)`` the window's mean power in bin ``f``
    (a real positive scale, so the phase and the fine time structure of ``i`` are kept). Every
    head sees the exchanged window.

With ``K`` ID classes the network has ``2K`` outputs: ``k`` = "a window of class ``k``", ``K +
k`` = "an exchanged window with a part of class ``k``". An exchanged window's target puts half
its weight on ``K + y_i`` and half on ``K + y_j`` (soft targets, so mixup's mixed targets carry
over). Scoring never exchanges anything: the embedding and the ``ce`` score of the true ID
(output ``y < K``) are read as before.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "EXCHANGES",
    "envelope_exchange",
    "exchange_batch",
    "exchange_partners",
    "exchange_targets",
]

#: Values of ``TrainConfig.exchange``.
EXCHANGES = ("none", "branches", "envelope")


def exchange_partners(
    labels: np.ndarray,
    groups: np.ndarray,
    fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Partner of every window of a batch: ``partner[i] = i`` for a window that is not
    exchanged, else the index of a window of another class, drawn uniformly among those of the
    same group (machine type) when there are any, else among all. A share ``fraction`` of the
    windows (rounded down, at random) is exchanged; a window with no partner of another class
    stays unexchanged. ``labels`` ``(B,)`` class indices, ``groups`` ``(B,)`` their groups."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    if labels.ndim != 1 or groups.shape != labels.shape:
        raise ValueError(
            f"exchange_partners: labels {labels.shape} and groups {groups.shape} must be "
            "the same (B,) shape"
        )
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"exchange fraction must be in [0, 1], got {fraction}")
    b = labels.size
    partner = np.arange(b)
    for i in rng.permutation(b)[: int(fraction * b)]:
        other = labels != labels[i]
        same = other & (groups == groups[i])
        pool = np.flatnonzero(same if same.any() else other)
        if pool.size:
            partner[i] = pool[rng.integers(pool.size)]
    return partner


def envelope_exchange(x: Tensor, partner: Tensor) -> Tensor:
    """STFT windows ``(B, 2, F, T)`` ``[Re, Im]`` -> the same with window ``i``'s mean power per
    bin replaced by window ``partner[i]``'s (module docstring): ``x_i * sqrt((P_j + eps) / (P_i +
    eps))``, ``eps`` = 1e-12 of the batch's mean power. Windows with ``partner[i] = i`` are
    returned unchanged."""
    if x.ndim != 4 or x.shape[1] != 2:
        raise ValueError(f"envelope_exchange: expected (B, 2, F, T), got {tuple(x.shape)}")
    if partner.shape != (x.shape[0],):
        raise ValueError(
            f"envelope_exchange: partner {tuple(partner.shape)} must be ({x.shape[0]},)"
        )
    wide = torch.float64 if x.dtype == torch.float64 else torch.float32
    power = x.to(wide).square().sum(dim=1).mean(dim=2)  # B, F
    eps = 1e-12 * float(power.mean()) + 1e-30
    gain = ((power[partner] + eps) / (power + eps)).sqrt()  # B, F
    same = partner == torch.arange(x.shape[0], device=partner.device)
    gain[same] = 1.0
    return x * gain[:, None, :, None].to(x.dtype)  # B, 2, F, T


def exchange_targets(target: Tensor, partner: Tensor) -> Tensor:
    """Class probabilities ``(B, K)`` of the windows before the exchange -> ``(B, 2K)``:
    ``[t_i, 0]`` for a window that is not exchanged, ``[0, (t_i + t_j) / 2]`` for one exchanged
    with window ``j = partner[i]``."""
    if target.ndim != 2 or partner.shape != target.shape[:1]:
        raise ValueError(
            f"exchange_targets: target {tuple(target.shape)} must be (B, K) and partner "
            f"{tuple(partner.shape)} (B,)"
        )
    swapped = (partner != torch.arange(target.shape[0], device=partner.device))[:, None]  # B, 1
    mixed = 0.5 * (target + target[partner])  # B, K
    zeros = torch.zeros_like(target)
    return torch.cat(
        [torch.where(swapped, zeros, target), torch.where(swapped, mixed, zeros)], dim=1
    )  # B, 2K


def exchange_batch(
    x: Tensor, target: Tensor, partner: Tensor, mode: str
) -> tuple[Tensor, Tensor, Tensor]:
    """A training batch with its exchanges: windows ``(B, 2, F, T)`` with class probabilities
    ``(B, K)`` and partners ``(B,)`` (:func:`exchange_partners`) -> ``(windows, targets of the
    branch heads (B, 2K), targets of the fused head (B, 2K))``. ``"envelope"`` changes the
    windows and every head's target; ``"branches"`` leaves the windows to the network (called
    with ``swap=partner``) and moves only the fused head's target."""
    if mode not in EXCHANGES[1:]:
        raise ValueError(f"exchange_batch: mode must be one of {EXCHANGES[1:]}, got {mode!r}")
    swapped = exchange_targets(target, partner)  # B, 2K
    if mode == "envelope":
        return envelope_exchange(x, partner), swapped, swapped
    own = torch.cat([target, torch.zeros_like(target)], dim=1)  # B, 2K
    return x, own, swapped
