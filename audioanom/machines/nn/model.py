"""The self-supervised complex network for machine-sound anomaly detection.

Kim, Ho and Kang, "Self-supervised Complex Network for Machine Sound Anomaly Detection",
EUSIPCO 2021. Trained on NORMAL sounds only to tell which machine ID a window of the complex
STFT comes from. The paper scores a clip by the cross-entropy of its true ID; here the network
is also a *front-end*: its embedding (the layer before the classifier) is scored against the
normal training embeddings of the same ID by a back-end (:mod:`audioanom.machines.backends`).

Input
-----
``(B, 2, F, T)`` real float: the raw complex STFT ``[Re X, Im X]`` (16 kHz, ``n_fft`` 1024,
hop 512, Hann window, centred frames: ``F = 513`` bins), ``T = 64``-frame windows (2 s). The
network normalises it itself with buffers fitted on the normal training clips
(:meth:`ComplexNet.fit_input_norm`) and saved in its ``state_dict``:
``x_f = s_f X_f`` with ``s_f = 1 / sqrt(mean |X_f|^2)`` per frequency bin (a real positive
scale: phase is kept), then the optional magnitude compression
``x -> x |x|^(alpha - 1)`` (``compression = alpha``; 1 = none; also phase-preserving).

Architecture (every size a field of :class:`ComplexNetConfig`; paper symbols in brackets)::

    x: B, 2, 513, 64                        normalised complex STFT window
    5 x [ComplexConv2d -> ComplexBatchNorm2d -> ComplexPReLU]    complex channels
        45, 90, 90, 90, 45; kernels (7,5) (7,5) (5,3) (5,3) (5,2); strides 2,2,2,2,(2,1)
    Z: B, 2*45, 17, 4                       complex bottleneck (stacked re/im)
    magnitude branch [F_m]: |Z|      (B, 45, 17, 4) -> Conv (5,1)/(2,1)-BN-PReLU -> B, Cb, 9, 4
    complex branch   [F_c]: Re, Im Z (B, 90, 17, 4) -> Conv (5,1)/(2,1)-BN-PReLU -> B, Cb, 9, 4
    attention fusion [F_t]:
        "branch":  a = softmax_2(FC(GAP F_m, GAP F_c));  F_t = a_m F_m + a_c F_c   (B, Cb, 9, 4)
        "channel": A = softmax_2Cb(FC(GAP [F_m, F_c]));  F_t = A [F_m, F_c] + [F_m, F_c]
    total conv: 1x1 Conv-BN-PReLU -> B, E, 9, 4
    pooling: "time": mean over time, frequency kept -> embedding (B, E * 9)
             "stats": mean and standard deviation over time, frequency kept -> (B, 2 * E * 9)
             "global": mean over frequency and time (the paper) -> embedding (B, E)
    heads: Linear(GAP F_m), Linear(GAP F_c), Linear(embedding) -> logits (B, K) each

The loss is the sum of the three heads' cross-entropies (the paper); the fused head's logits
are the ``ce`` score's and its input is the embedding.

Fidelity notes. The attention of the earlier version was a softmax over 128 channels, so every
weight was about 1/128 and ``A F + F`` almost the identity; here it weighs the two branches
against each other (``"branch"``, default) or, as the public re-implementation does, reduces each
branch to a few channels (``branch_channels=4``: 8 channels under the softmax,
``attention="channel"``). ``pooling="time"`` keeps the frequency axis in the embedding: on the
synthetic machines the frequency-resolved embedding gave the back-ends far more to work with
than the paper's global average (measured in the README). Choices where the paper gives no
detail: "same"-like padding (:func:`audioanom.machines.nn.complex.same_padding`), no biases before
batch norm, split complex batch norm, split PReLU with one slope per complex channel, ``|Z|`` (not
``|Z|^2``) on the magnitude branch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..features import StftConfig
from .complex import CONV_METHODS, ComplexConvBlock, abs2, same_padding

__all__ = [
    "ATTENTION_MODES",
    "POOLING_MODES",
    "ArcMarginHead",
    "BranchAttention",
    "ChannelSoftmaxAttention",
    "ComplexNet",
    "ComplexNetConfig",
    "NetOutput",
    "anomaly_scores",
    "complex_to_input",
    "count_parameters",
    "real_block",
    "stft_input",
]

Pair = tuple[int, int]
ATTENTION_MODES = ("branch", "channel")
POOLING_MODES = ("time", "stats", "global")


def _as_pair(value: int | Sequence[int], name: str) -> Pair:
    if isinstance(value, int):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) and v >= 1 for v in value):
        raise ValueError(f"{name}: expected a positive int or a pair of them, got {value!r}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class ComplexNetConfig:
    """Every size of :class:`ComplexNet` and of the magnitude-only ablation
    (:class:`audioanom.machines.nn.magnitude.MagnitudeNet`); defaults: the paper's trunk.

    ``channels`` are COMPLEX channel counts (the ablation uses ``round(sqrt(2) c)`` real
    channels, which gives it about the same number of weights). ``strides`` accept ints or
    ``(freq, time)`` pairs; lists (from JSON) are stored as tuples, so
    ``ComplexNetConfig(**asdict(cfg))`` round-trips. ``branch_*`` size the Conv-BN-PReLU of
    each branch, ``embedding_channels`` the 1x1 "total" convolution after the fusion.
    ``compression`` is the magnitude exponent applied to the normalised input (module
    docstring). ``conv_method``: how complex convolutions are computed (``"gauss"``: 3 real
    convolutions, ``"block"``: one block-weight convolution; ``"auto"``: gauss for layers with
    at least 32 complex channels in and out). ``margin`` > 0 trains the fused head as an
    ArcFace head (additive angular margin, Deng et al. 2019) with scale ``margin_scale``;
    0 = a plain linear head. ``stats_bands`` > 0 adds the spectral-statistics target (module
    docstring) with ``stats_bands`` mel bands and loss weight ``stats_weight``; 0 = off.
    """

    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 512
    window_frames: int = 64
    window_hop: int = 32
    n_classes: int = 4
    channels: tuple[int, ...] = (45, 90, 90, 90, 45)
    kernels: tuple[Pair, ...] = ((7, 5), (7, 5), (5, 3), (5, 3), (5, 2))
    strides: tuple[Pair, ...] = ((2, 2), (2, 2), (2, 2), (2, 2), (2, 1))
    branch_channels: int = 8
    branch_kernel: Pair = (5, 1)
    branch_stride: Pair = (2, 1)
    attention: str = "branch"
    embedding_channels: int = 32
    pooling: str = "time"
    compression: float = 1.0
    dropout: float = 0.0
    margin: float = 0.0
    margin_scale: float = 16.0
    stats_bands: int = 64
    stats_weight: float = 1.0
    prelu_shared: bool = True
    whiten_bn: bool = False
    conv_method: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        n = len(self.channels)
        if n < 1 or not all(isinstance(c, int) and c >= 1 for c in self.channels):
            raise ValueError(f"channels: expected positive ints, got {self.channels!r}")
        if len(self.kernels) != n or len(self.strides) != n:
            raise ValueError(
                f"channels, kernels and strides need the same length, got {n}, "
                f"{len(self.kernels)}, {len(self.strides)}"
            )
        object.__setattr__(self, "kernels", tuple(_as_pair(k, "kernels") for k in self.kernels))
        object.__setattr__(self, "strides", tuple(_as_pair(s, "strides") for s in self.strides))
        for name in ("branch_kernel", "branch_stride"):
            object.__setattr__(self, name, _as_pair(getattr(self, name), name))
        if self.attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {self.attention!r}")
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
        if self.conv_method not in ("auto", *CONV_METHODS):
            raise ValueError(
                f"conv_method must be 'auto' or one of {CONV_METHODS}, got {self.conv_method!r}"
            )
        for name in (
            "sample_rate",
            "n_fft",
            "hop_length",
            "window_frames",
            "window_hop",
            "branch_channels",
            "embedding_channels",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.compression <= 1.0:
            raise ValueError(f"compression must be in (0, 1], got {self.compression}")
        if self.margin < 0 or self.margin_scale <= 0:
            raise ValueError(f"need margin >= 0 and margin_scale > 0: {self}")
        if self.stats_bands < 0 or self.stats_weight < 0:
            raise ValueError(f"need stats_bands >= 0 and stats_weight >= 0: {self}")
        if self.window_frames < self.time_stride:
            raise ValueError(
                f"window_frames {self.window_frames} is shorter than the trunk's time stride "
                f"{self.time_stride}"
            )

    @property
    def n_bins(self) -> int:
        """Frequency bins of the input STFT: ``n_fft // 2 + 1`` (513)."""
        return self.n_fft // 2 + 1

    @property
    def stft(self) -> StftConfig:
        """The STFT the network reads (rate, ``n_fft``, ``hop_length``; centred frames,
        reflect padding, as :func:`stft_input`): training and scoring compute their cached
        STFTs with it, so a network never sees frames of another hop than it was built for."""
        return StftConfig(self.sample_rate, self.n_fft, self.hop_length)

    @property
    def time_stride(self) -> int:
        """Total downsampling of the time axis by the trunk (16)."""
        return math.prod(s[1] for s in self.strides)

    def layer_conv_method(self, in_channels: int, out_channels: int) -> str:
        """The convolution method of a trunk layer (resolves ``"auto"``)."""
        if self.conv_method != "auto":
            return self.conv_method
        return "gauss" if min(in_channels, out_channels) >= 32 else "block"

    def bottleneck_size(self, n_bins: int | None = None, n_frames: int | None = None) -> Pair:
        """``(F', T')`` of the trunk output for an ``(F, T)`` input (``ceil`` per layer)."""
        f = self.n_bins if n_bins is None else n_bins
        t = self.window_frames if n_frames is None else n_frames
        for sf, st in self.strides:
            f, t = -(-f // sf), -(-t // st)
        return f, t

    @property
    def branch_bins(self) -> int:
        """Frequency bins after a branch convolution (9 for the defaults)."""
        f, _ = self.bottleneck_size()
        return -(-f // self.branch_stride[0])

    @property
    def embedding_dim(self) -> int:
        """Length of the embedding: ``E * branch_bins`` (``pooling="time"``), twice that
        (``"stats"``) or ``E`` (``"global"``)."""
        e = self.embedding_channels
        if self.pooling == "global":
            return e
        return e * self.branch_bins * (2 if self.pooling == "stats" else 1)


class NetOutput(NamedTuple):
    """Logits of the heads ``(B, K)`` and the embedding ``(B, D)``. ``cplx`` is None in the
    magnitude-only ablation, whose only head is ``fused`` (its logits are the scoring ones).
    ``stats`` / ``stats_target``: the predicted and the true standardised log-mel statistics
    of the window ``(B, 2M)`` (None when the target is off)."""

    mag: Tensor | None
    cplx: Tensor | None
    fused: Tensor
    embedding: Tensor
    stats: Tensor | None = None
    stats_target: Tensor | None = None


def anomaly_scores(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of the true ID per item (higher = more anomalous), in float32.

    ``logits`` ``(..., K)``, ``target`` integer ``(...)`` -> ``(...)``.
    """
    if logits.ndim < 1 or logits.shape[:-1] != target.shape:
        raise ValueError(
            f"anomaly_scores: logits {tuple(logits.shape)} must be target {tuple(target.shape)} "
            "plus a class axis"
        )
    k = logits.shape[-1]
    ce = F.cross_entropy(logits.float().reshape(-1, k), target.reshape(-1), reduction="none")
    return ce.reshape(target.shape)


def complex_to_input(z: Tensor) -> Tensor:
    """Native complex STFT ``(B, F, T)`` -> network input ``(B, 2, F, T)`` = ``[Re, Im]``."""
    if not torch.is_complex(z) or z.ndim != 3:
        raise ValueError(
            f"complex_to_input: expected a complex (B, F, T) tensor, got {z.dtype} "
            f"of shape {tuple(z.shape)}"
        )
    return torch.stack([z.real, z.imag], dim=1).float()  # B, 2, F, T


def stft_input(wave: Tensor | np.ndarray, config: ComplexNetConfig) -> Tensor:
    """Waveform(s) ``(N,)`` or ``(B, N)`` at ``config.sample_rate`` -> input ``(B, 2, F, T)``:
    ``torch.stft`` with a periodic Hann window of ``n_fft``, hop ``hop_length``, centred frames
    (reflect padding), unscaled; the same as :func:`audioanom.machines.features.complex_stft`
    (checked against ``librosa.stft(..., pad_mode="reflect")`` in the tests)."""
    w = torch.as_tensor(wave, dtype=torch.float32)
    if w.ndim == 1:
        w = w[None]  # 1, N
    if w.ndim != 2 or w.shape[1] < config.n_fft:
        raise ValueError(
            f"stft_input: expected (N,) or (B, N) with N >= n_fft={config.n_fft}, "
            f"got shape {tuple(w.shape)}"
        )
    z = torch.stft(
        w,
        config.n_fft,
        config.hop_length,
        window=torch.hann_window(config.n_fft),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )  # B, F, T
    return complex_to_input(z)  # B, 2, F, T


def real_block(cin: int, cout: int, kernel: Pair, stride: Pair = (1, 1)) -> nn.Sequential:
    """``Conv2d (no bias, "same"-like padding) -> BatchNorm2d -> PReLU`` on real maps."""
    pf, pt = same_padding(kernel[0]), same_padding(kernel[1])
    return nn.Sequential(
        nn.ZeroPad2d((pt[0], pt[1], pf[0], pf[1])),
        nn.Conv2d(cin, cout, kernel, stride, bias=False),
        nn.BatchNorm2d(cout),
        nn.PReLU(cout),
    )


class BranchAttention(nn.Module):
    """Two-way softmax attention over the branches: ``a = softmax(FC2(ReLU(FC1([GAP F_m,
    GAP F_c]))))`` ``(B, 2)``, output ``a_m F_m + a_c F_c``. The weights are exposed by
    :meth:`weights` (how much a window relies on the complex branch)."""

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or 2 * channels
        self.fc1 = nn.Linear(2 * channels, hidden)
        self.fc2 = nn.Linear(hidden, 2)

    def weights(self, fm: Tensor, fc: Tensor) -> Tensor:
        """``(B, C, F, T)`` twice -> ``(B, 2)`` weights ``[a_m, a_c]``, rows summing to 1."""
        g = torch.cat([fm.mean(dim=(2, 3)), fc.mean(dim=(2, 3))], dim=1)  # B, 2C
        return torch.softmax(self.fc2(torch.relu(self.fc1(g))).float(), dim=1)  # B, 2

    def forward(self, fm: Tensor, fc: Tensor) -> Tensor:
        a = self.weights(fm, fc).to(fm.dtype)  # B, 2
        return a[:, 0, None, None, None] * fm + a[:, 1, None, None, None] * fc  # B, C, F, T


class ChannelSoftmaxAttention(nn.Module):
    """Residual channel attention of the public re-implementation: ``A = softmax_c(FC2(ReLU(
    FC1(GAP F))))`` over the ``2C`` channels of ``F = [F_m, F_c]``, output ``A F + F``."""

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or 4 * 2 * channels
        self.fc1 = nn.Linear(2 * channels, hidden)
        self.fc2 = nn.Linear(hidden, 2 * channels)

    def weights(self, fm: Tensor, fc: Tensor) -> Tensor:
        """``(B, 2C)`` channel weights, rows summing to 1."""
        g = torch.cat([fm.mean(dim=(2, 3)), fc.mean(dim=(2, 3))], dim=1)  # B, 2C
        return torch.softmax(self.fc2(torch.relu(self.fc1(g))).float(), dim=1)  # B, 2C

    def forward(self, fm: Tensor, fc: Tensor) -> Tensor:
        f = torch.cat([fm, fc], dim=1)  # B, 2C, F, T
        a = self.weights(fm, fc).to(f.dtype)  # B, 2C
        return f * (1.0 + a[:, :, None, None])  # B, 2C, F, T


class ArcMarginHead(nn.Module):
    """ArcFace head: logits ``s cos(theta_k + m [k = y])`` in training (``s cos theta_k`` at
    evaluation), ``cos theta_k`` between the L2-normalised input and class weight ``k``."""

    def __init__(self, dims: int, n_classes: int, margin: float, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, dims))
        nn.init.xavier_uniform_(self.weight)
        self.margin, self.scale = margin, scale

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        cos = F.linear(F.normalize(x.float(), dim=1), F.normalize(self.weight.float(), dim=1))
        if target is None:
            return self.scale * cos  # B, K
        theta = torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6))  # B, K
        onehot = F.one_hot(target, cos.shape[1]).to(cos.dtype)  # B, K
        return self.scale * torch.cos(theta + self.margin * onehot)  # B, K


class _IdNetwork(nn.Module):
    """What the complex network and its ablation share: input checks, the frozen config, the
    input-normalisation buffers, heads and loss."""

    config: ComplexNetConfig

    def __init__(self, config: ComplexNetConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("norm_fitted", torch.zeros((), dtype=torch.bool))
        m = config.stats_bands
        if m:
            import librosa

            fb = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=m)
            self.register_buffer("stats_fb", torch.from_numpy(fb).float())  # M, F
            self.register_buffer("stats_mean", torch.zeros(2 * m))
            self.register_buffer("stats_std", torch.ones(2 * m))
            self.stats_head: nn.Module | None = nn.Linear(config.embedding_dim, 2 * m)
        else:
            self.stats_head = None

    def window_stats(self, x: Tensor) -> Tensor:
        """Raw STFT windows ``(B, 2, F, T)`` -> ``[mean_t, std_t]`` of ``log10`` mel power
        ``(B, 2M)`` (not standardised)."""
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        with torch.autocast(x.device.type, enabled=False):
            power = x.to(dtype).square().sum(dim=1)  # B, F, T
            mel = torch.einsum("mf,bft->bmt", self.stats_fb.to(dtype), power)  # B, M, T
            logmel = torch.log10(mel + 1e-10)
            return torch.cat([logmel.mean(dim=2), logmel.std(dim=2)], dim=1)  # B, 2M

    @torch.no_grad()
    def _fit_stats(self, specs: Sequence[np.ndarray]) -> None:
        """Standardisation of the statistics target over the non-overlapping windows of the
        training clips."""
        if self.stats_head is None:
            return
        w = self.config.window_frames
        chunks, pending = [], []  # statistics of 256 windows at a time; windows not kept

        def flush() -> None:
            chunks.append(self.window_stats(torch.stack(pending)))  # 256, 2M
            pending.clear()

        for s in specs:
            for j in range(0, s.shape[2] - w + 1, w):
                pending.append(torch.from_numpy(np.array(s[:, :, j : j + w], dtype=np.float32)))
                if len(pending) == 256:
                    flush()
        if pending:
            flush()
        if not chunks:
            raise ValueError(f"no training clip holds a window of {w} frames")
        stats = torch.cat(chunks)  # N, 2M
        self.stats_mean.copy_(stats.mean(dim=0))
        self.stats_std.copy_(
            stats.std(dim=0).clamp_min(1e-3) if len(stats) > 1 else torch.ones_like(self.stats_std)
        )

    def _stats_outputs(self, x: Tensor, e: Tensor) -> tuple[Tensor | None, Tensor | None]:
        if self.stats_head is None:
            return None, None
        target = (self.window_stats(x) - self.stats_mean) / self.stats_std  # B, 2M
        return self.stats_head(e), target

    def check_input(self, x: Tensor) -> Tensor:
        """Validate ``x`` and return it as ``(B, 2, F, T)`` float (a complex ``(B, F, T)``
        is converted). ValueError on a wrong rank, not 2 parts, ``F != n_bins``, a window
        shorter than the trunk's time stride, or unfitted input normalisation."""
        if torch.is_complex(x):
            x = complex_to_input(x)  # B, 2, F, T
        if not torch.is_floating_point(x):
            raise ValueError(f"{type(self).__name__}: expected a float tensor, got {x.dtype}")
        if x.ndim != 4 or x.shape[1] != 2:
            raise ValueError(
                f"{type(self).__name__}: expected (B, 2, F, T) input [real, imaginary] (or "
                f"complex (B, F, T)), got shape {tuple(x.shape)}"
            )
        if x.shape[2] != self.config.n_bins:
            raise ValueError(
                f"{type(self).__name__}: expected F = {self.config.n_bins} frequency bins "
                f"(n_fft {self.config.n_fft}), got {x.shape[2]}"
            )
        if x.shape[0] < 1 or x.shape[3] < self.config.time_stride:
            raise ValueError(
                f"{type(self).__name__}: need a batch and at least {self.config.time_stride} "
                f"frames, got shape {tuple(x.shape)}"
            )
        if not bool(self.norm_fitted):
            raise ValueError(
                f"{type(self).__name__}: input normalisation not fitted: call "
                "fit_input_norm(training STFTs) before training"
            )
        return x

    def _make_heads(self, branch_dims: int, two_branches: bool) -> None:
        cfg = self.config
        k, d = cfg.n_classes, cfg.embedding_dim
        self.drop = nn.Dropout(cfg.dropout)
        self.mag_head = nn.Linear(branch_dims, k) if two_branches else None
        self.cplx_head = nn.Linear(branch_dims, k) if two_branches else None
        if cfg.margin > 0:
            self.fused_head: nn.Module = ArcMarginHead(d, k, cfg.margin, cfg.margin_scale)
        else:
            self.fused_head = nn.Linear(d, k)

    def _embed(self, t: Tensor) -> Tensor:
        """Total-conv output ``(B, E, F'', T')`` -> embedding ``(B, D)`` per ``pooling``."""
        if self.config.pooling == "time":
            return t.mean(dim=3).flatten(1)  # B, E * F''
        if self.config.pooling == "stats":
            mean = t.mean(dim=3)  # B, E, F''
            std = (t - mean[..., None]).square().mean(dim=3).add(1e-6).sqrt()  # B, E, F''
            return torch.cat([mean.flatten(1), std.flatten(1)], dim=1)  # B, 2 * E * F''
        return t.mean(dim=(2, 3))  # B, E

    def _fused_logits(self, e: Tensor, target: Tensor | None) -> Tensor:
        if isinstance(self.fused_head, ArcMarginHead):
            return self.fused_head(self.drop(e), target if self.training else None)
        return self.fused_head(self.drop(e))  # B, K

    def loss(self, out: NetOutput, target: Tensor, fused_target: Tensor | None = None) -> Tensor:
        """Sum of the heads' mean cross-entropies, plus ``stats_weight`` times the mean squared
        error of the statistics prediction when that target is on (float32). ``target``: class
        indices ``(B,)`` or class probabilities ``(B, K)``; ``fused_target`` (same forms; default
        ``target``): the fused head's own target (branch exchange gives it other classes)."""
        fused_target = target if fused_target is None else fused_target
        for t in (target, fused_target):
            if t.shape not in ((out.fused.shape[0],), tuple(out.fused.shape)):
                raise ValueError(
                    f"loss: logits {tuple(out.fused.shape)} do not match target {tuple(t.shape)}"
                )
        total = out.fused.new_zeros((), dtype=torch.float32)
        for logits, t in ((out.mag, target), (out.cplx, target), (out.fused, fused_target)):
            if logits is not None:
                total = total + F.cross_entropy(logits.float(), t)
        if out.stats is not None:
            total = total + self.config.stats_weight * F.mse_loss(
                out.stats.float(), out.stats_target
            )
        return total


class ComplexNet(_IdNetwork):
    """Self-supervised complex network: machine-ID classifier and embedding front-end on the
    complex STFT (module docstring). ``forward(x, target=None)`` takes the raw STFT window
    ``(B, 2, F, T)`` (or complex ``(B, F, T)``); ``target`` is only needed for an ArcFace head
    in training mode; ``swap`` ``(B,)`` (training with branch exchange,
    :mod:`audioanom.machines.exchange`) fuses window ``i``'s magnitude branch with window
    ``swap[i]``'s complex branch (the branch heads still see their own window). Call
    :meth:`fit_input_norm` once before training."""

    def __init__(self, config: ComplexNetConfig | None = None) -> None:
        cfg = config if config is not None else ComplexNetConfig()
        super().__init__(cfg)
        self.register_buffer("input_scale", torch.ones(cfg.n_bins))
        blocks, cin = [], 1
        for c, k, s in zip(cfg.channels, cfg.kernels, cfg.strides, strict=True):
            blocks.append(
                ComplexConvBlock(
                    cin,
                    c,
                    k,
                    s,
                    "same",
                    whiten=cfg.whiten_bn,
                    prelu_shared=cfg.prelu_shared,
                    method=cfg.layer_conv_method(cin, c),
                )
            )
            cin = c
        self.trunk = nn.Sequential(*blocks)
        c, cb = cfg.channels[-1], cfg.branch_channels
        self.mag_branch = real_block(c, cb, cfg.branch_kernel, cfg.branch_stride)
        self.cplx_branch = real_block(2 * c, cb, cfg.branch_kernel, cfg.branch_stride)
        if cfg.attention == "branch":
            self.attention: nn.Module = BranchAttention(cb)
            fused = cb
        else:
            self.attention = ChannelSoftmaxAttention(cb)
            fused = 2 * cb
        self.total = real_block(fused, cfg.embedding_channels, (1, 1))
        self._make_heads(cb, two_branches=True)

    @torch.no_grad()
    def fit_input_norm(self, specs: Sequence[np.ndarray]) -> ComplexNet:
        """Fit the per-frequency scale ``1 / sqrt(mean |X_f|^2)`` on normal training STFTs
        ``(2, F, T)`` (all frames of all clips); returns self. ValueError for no clips, a wrong
        shape, or a bin that is silent in every clip."""
        power = _mean_power(specs, self.config.n_bins)  # F
        self.input_scale.copy_(torch.from_numpy(1.0 / np.sqrt(power)).float())
        self._fit_stats(specs)
        self.norm_fitted.fill_(True)
        return self

    def normalise(self, x: Tensor) -> Tensor:
        """Raw STFT ``(B, 2, F, T)`` -> scaled (and compressed) ``(B, 2, F, T)``."""
        x = x * self.input_scale.to(x.dtype)[None, None, :, None]  # B, 2, F, T
        alpha = self.config.compression
        if alpha != 1.0:
            p = x.square().sum(dim=1, keepdim=True)  # B, 1, F, T
            x = x * (p + 1e-12).pow((alpha - 1.0) / 2.0)  # B, 2, F, T
        return x

    def forward(
        self, x: Tensor, target: Tensor | None = None, swap: Tensor | None = None
    ) -> NetOutput:
        raw = self.check_input(x)  # B, 2, F, T
        z = self.trunk(self.normalise(raw))  # B, 2C, F', T'
        fm = self.mag_branch(abs2(z).clamp_min(1e-12).sqrt())  # B, Cb, F'', T'
        fc = self.cplx_branch(z)  # B, Cb, F'', T'
        fused_c = fc  # the complex features the fusion sees
        if swap is not None:  # branch exchange (training): window i fuses F_m[i] with F_c[swap[i]]
            if swap.shape != (fc.shape[0],):
                raise ValueError(
                    f"swap: expected ({fc.shape[0]},) window indices, got {tuple(swap.shape)}"
                )
            fused_c = fc[swap]  # B, Cb, F'', T'
        t = self.total(self.attention(fm, fused_c))  # B, E, F'', T'
        e = self._embed(t)  # B, D
        mag = self.mag_head(self.drop(fm.mean(dim=(2, 3))))  # B, K
        cplx = self.cplx_head(self.drop(fc.mean(dim=(2, 3))))  # B, K
        return NetOutput(mag, cplx, self._fused_logits(e, target), e, *self._stats_outputs(raw, e))

    def attention_weights(self, x: Tensor) -> Tensor:
        """Attention weights of windows ``(B, 2, F, T)``: ``(B, 2)`` ``[a_m, a_c]`` (branch
        attention) or ``(B, 2Cb)`` channel weights."""
        x = self.normalise(self.check_input(x))
        z = self.trunk(x)
        fm = self.mag_branch(abs2(z).clamp_min(1e-12).sqrt())
        return self.attention.weights(fm, self.cplx_branch(z))


def _mean_power(specs: Sequence[np.ndarray], n_bins: int) -> np.ndarray:
    """Mean ``|X_f|^2`` per bin over every frame of every ``(2, F, T)`` STFT (float64)."""
    if len(specs) == 0:
        raise ValueError("input normalisation needs at least one training STFT")
    total, frames = np.zeros(n_bins), 0
    for i, s in enumerate(specs):
        if s.ndim != 3 or s.shape[0] != 2 or s.shape[1] != n_bins:
            raise ValueError(f"clip {i}: expected a (2, {n_bins}, T) STFT, got {tuple(s.shape)}")
        a = np.asarray(s, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"clip {i} holds NaN or Inf values: the input cannot be normalised")
        total += (a[0] ** 2 + a[1] ** 2).sum(axis=1)
        frames += a.shape[2]
    power = total / frames
    silent = np.flatnonzero(~(power > 0))
    if silent.size:
        raise ValueError(
            f"{silent.size} frequency bins (first: {silent[0]}) are silent in every training "
            "clip: the input cannot be normalised"
        )
    return power


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
