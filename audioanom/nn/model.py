"""The self-supervised complex network for machine-sound anomaly detection.

Kim, Ho and Kang, "Self-supervised Complex Network for Machine Sound Anomaly Detection",
EUSIPCO 2021. The network is trained on NORMAL sounds only, to classify which machine ID
(of one machine type) a window of the complex STFT comes from; a clip's anomaly score is
the cross-entropy of its true ID (an unfamiliar sound makes the classifier unsure).

Input layout
------------
``(B, 2, F, T)`` real float: channel 0 is the real part, channel 1 the imaginary part of the
complex STFT (16 kHz, ``n_fft`` 1024, hop 512, Hann window, centred frames), so ``F = 513``
frequency bins and, for training, ``T = 64``-frame windows (about 2 s). A native complex
``(B, F, T)`` STFT is accepted too (see :func:`complex_to_input`); :func:`stft_input` computes
the input from waveforms. This is the "stacked" layout of :mod:`audioanom.nn.complex` with one
complex channel.

Architecture (every size a field of :class:`ComplexNetConfig`)::

    x: B, 2, 513, T
    5 x [ComplexConv2d -> ComplexBatchNorm2d -> ComplexPReLU]   (complex channels
        45, 90, 90, 90, 45; kernels (7,5) (7,5) (5,3) (5,3) (5,2); strides 2,2,2,2,(2,1))
    Z: B, 2*45, 17, ceil(T/16)                                  (bottleneck, stacked)
    magnitude branch: |Z|^2 (B, 45, 17, T')  -> Conv-BN-PReLU -> M (B, 64, 17, T')
    complex branch:   [Re Z, Im Z] (B, 90, 17, T') -> Conv-BN-PReLU -> C (B, 64, 17, T')
    fusion: [M, C] (B, 128, 17, T') -> channel attention -> GAP
    heads: Linear on GAP(M) (magnitude), GAP(C) (complex), fused features  -> logits

Padding is "same"-like (:func:`audioanom.nn.complex.same_padding`: ``k - 1`` zeros split
``(k-1)//2`` before and the rest after, so every layer maps length ``n`` to
``ceil(n / stride)`` and bottleneck frame ``j`` is aligned with input frame ``16 j``). The
paper does not pin this detail down; this choice is what lets :meth:`ComplexNet.window_logits`
run the convolution trunk ONCE over a whole clip and slice the windows out of the bottleneck.

``use_complex_branch=False`` is the magnitude-only ablation: no complex branch, no fusion;
the loss is the magnitude head's cross-entropy and scoring uses the magnitude logits.

Choices made here where the paper gives no detail: "same"-like padding (above); no
convolution biases before batch norm; split complex batch norm (real and imaginary parts
separately; 2x2 whitening optional); split PReLU with one slope per complex channel; one
3x3 Conv-BN-PReLU block of 64 channels per branch; the magnitude branch takes ``|Z|^2``
as is (no log); softmax channel attention with reduction 4; dropout 0.2 before each head;
the loss is the plain sum of the three heads' cross-entropies.

Run-once versus separate windows: bottleneck frame ``j`` sees input frames
``[16 j - 18, 16 j + 34]`` (53 frames), so all 4 bottleneck frames of a 64-frame window
reach past its edges, where a separate window sees zeros and the whole clip sees audio.
Measured on the paper-size network after 10 training steps on synthetic two-ID data: max
|logit difference| 0.94 against a logit std of 2.2, window-score correlation 0.89; a small
network trained longer (45-60 steps) reached a correlation of 0.999. ``exact=True`` in
:meth:`ComplexNet.window_logits` gives the paper's separate windows at 1.6x the cost.

Speed (``benchmarks/bench_complex_net_speed.py``): ~1.55 G multiply-adds per 64-frame
window forward, 75% of them in the second layer. On a CPU without AMX or AVX512-BF16,
bf16 autocast is emulated and about 2-3x SLOWER than fp32 (see :func:`fast_bf16_available`);
``channels_last`` (:meth:`ComplexNet.set_channels_last`) helps inference modestly.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import ChannelAttention
from .complex import CONV_METHODS, ComplexConvBlock, abs2, same_padding

__all__ = [
    "ComplexNet",
    "ComplexNetConfig",
    "ComplexNetOutput",
    "anomaly_scores",
    "autocast_bf16",
    "complex_to_input",
    "count_parameters",
    "fast_bf16_available",
    "scoring_logits",
    "split_windows",
    "stft_input",
    "window_starts",
]

Pair = tuple[int, int]


def _as_pair(value: int | Pair | list[int], name: str) -> Pair:
    if isinstance(value, int):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) and v >= 1 for v in value):
        raise ValueError(f"{name}: expected a positive int or a pair of them, got {value!r}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class ComplexNetConfig:
    """Every size of :class:`ComplexNet` (defaults: the paper's network, 4 machine IDs).

    ``channels`` are COMPLEX channel counts (each is two real channels in the stacked
    layout). ``strides`` accept ints or ``(freq, time)`` pairs and are stored as pairs;
    lists (e.g. from JSON) are stored as tuples, so ``ComplexNetConfig(**asdict(cfg))``
    round-trips through JSON.
    ``padding`` must be ``"same"`` (see the module docstring; the window slicing of
    :meth:`ComplexNet.window_logits` relies on it). ``branch_*`` size the small real
    Conv-BN-PReLU block on each branch (odd kernels, symmetric padding). ``dropout`` is
    applied before each linear head. ``conv_method`` picks how the complex convolutions are
    computed (``"gauss"``: 3 real convolutions, ``"block"``: one block-weight convolution;
    same maths, see :class:`audioanom.nn.complex.ComplexConv2d`; ``"auto"``: gauss for layers
    with at least 32 complex channels in and out, block otherwise -- measured fastest on an
    AVX-512 CPU, where gauss cut the paper network's training step by ~15-20% and block won
    for narrow layers such as the 1-channel input layer). ``whiten_bn`` switches the
    complex batch norms to full 2x2 whitening. ``prelu_shared``: one PReLU slope per complex
    channel for both parts.
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
    padding: str = "same"
    branch_channels: int = 64
    branch_kernel: Pair = (3, 3)
    use_complex_branch: bool = True
    attention_reduction: int = 4
    dropout: float = 0.2
    prelu_shared: bool = True
    whiten_bn: bool = False
    conv_method: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))  # lists from JSON
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
        object.__setattr__(self, "branch_kernel", _as_pair(self.branch_kernel, "branch_kernel"))
        if any(k % 2 == 0 for k in self.branch_kernel):
            raise ValueError(f"branch_kernel must be odd, got {self.branch_kernel}")
        if self.padding != "same":
            raise ValueError(f"padding: only 'same' is supported, got {self.padding!r}")
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
            "attention_reduction",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def n_bins(self) -> int:
        """Frequency bins of the input STFT: ``n_fft // 2 + 1`` (513)."""
        return self.n_fft // 2 + 1

    @property
    def time_stride(self) -> int:
        """Total downsampling of the time axis by the trunk (16)."""
        return math.prod(s[1] for s in self.strides)

    @property
    def freq_stride(self) -> int:
        """Total downsampling of the frequency axis by the trunk (32)."""
        return math.prod(s[0] for s in self.strides)

    def layer_conv_method(self, in_channels: int, out_channels: int) -> str:
        """The convolution method of a trunk layer (resolves ``"auto"``)."""
        if self.conv_method != "auto":
            return self.conv_method
        return "gauss" if min(in_channels, out_channels) >= 32 else "block"

    def bottleneck_size(self, n_bins: int, n_frames: int) -> Pair:
        """``(F', T')`` of the bottleneck for an ``(F, T)`` input (``ceil`` per layer)."""
        f, t = n_bins, n_frames
        for sf, st in self.strides:
            f, t = -(-f // sf), -(-t // st)
        return f, t


class ComplexNetOutput(NamedTuple):
    """Logits of the three heads, ``(B, n_classes)`` each (``(B, W, n_classes)`` from
    :meth:`ComplexNet.window_logits`); ``cplx`` and ``fused`` are None in the magnitude-only
    ablation."""

    mag: Tensor
    cplx: Tensor | None
    fused: Tensor | None


def scoring_logits(out: ComplexNetOutput) -> Tensor:
    """The logits used for anomaly scores: the fused head, or the magnitude head if ablated."""
    return out.fused if out.fused is not None else out.mag


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
    """Waveform(s) ``(N,)`` or ``(B, N)`` at ``config.sample_rate`` -> input ``(B, 2, F, T)``.

    Hann window of ``n_fft`` samples, hop ``hop_length``, centred frames (reflect padding):
    a 10-s clip at 16 kHz gives ``T = 313`` frames. No scaling is applied (the first
    convolution has no bias and is followed by batch norm).
    """
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
        return_complex=True,
    )  # B, F, T
    return complex_to_input(z)  # B, 2, F, T


def window_starts(n_frames: int, window: int, hop: int) -> list[int]:
    """Start frames of the windows ``[s, s + window)`` that fit in ``n_frames`` (no padding;
    up to ``hop - 1`` frames at the end are left out)."""
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be >= 1, got {window}, {hop}")
    if n_frames < window:
        raise ValueError(f"clip of {n_frames} frames is shorter than one window of {window}")
    return list(range(0, n_frames - window + 1, hop))


def split_windows(x: Tensor, window: int, hop: int) -> Tensor:
    """``(B, 2, F, T)`` -> ``(B, W, 2, F, window)`` windows at :func:`window_starts` (a view)."""
    if x.ndim != 4:
        raise ValueError(f"split_windows: expected (B, 2, F, T), got shape {tuple(x.shape)}")
    window_starts(x.shape[3], window, hop)  # validates
    return x.unfold(3, window, hop).permute(0, 3, 1, 2, 4)  # B, W, 2, F, window


def _real_block(cin: int, cout: int, kernel: Pair) -> nn.Sequential:
    pad = (same_padding(kernel[0])[0], same_padding(kernel[1])[0])  # odd kernels: symmetric
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=pad, bias=False),
        nn.BatchNorm2d(cout),
        nn.PReLU(cout),
    )


class ComplexNet(nn.Module):
    """Self-supervised complex network: machine-ID classifier on the complex STFT.

    ``forward(x)`` takes ``(B, 2, F=513, T)`` (any ``T >= 1``; training uses 64-frame
    windows) or a complex ``(B, F, T)`` and returns :class:`ComplexNetOutput`.
    """

    def __init__(self, config: ComplexNetConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else ComplexNetConfig()
        self.config = cfg
        blocks, cin = [], 1
        for c, k, s in zip(cfg.channels, cfg.kernels, cfg.strides, strict=True):
            blocks.append(
                ComplexConvBlock(
                    cin,
                    c,
                    k,
                    s,
                    cfg.padding,
                    whiten=cfg.whiten_bn,
                    prelu_shared=cfg.prelu_shared,
                    method=cfg.layer_conv_method(cin, c),
                )
            )
            cin = c
        self.trunk = nn.Sequential(*blocks)
        c, cb, k = cfg.channels[-1], cfg.branch_channels, cfg.n_classes
        self.mag_branch = _real_block(c, cb, cfg.branch_kernel)
        self.mag_head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cb, k))
        self.cplx_branch: nn.Module | None = None
        self.cplx_head: nn.Module | None = None
        self.attention: ChannelAttention | None = None
        self.fused_head: nn.Module | None = None
        if cfg.use_complex_branch:
            self.cplx_branch = _real_block(2 * c, cb, cfg.branch_kernel)
            self.cplx_head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cb, k))
            self.attention = ChannelAttention(2 * cb, cfg.attention_reduction)
            self.fused_head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(2 * cb, k))
        self._memory_format = torch.contiguous_format

    # -- layout -------------------------------------------------------------------------
    def set_channels_last(self, enabled: bool = True) -> ComplexNet:
        """Store weights and run inputs in ``channels_last`` (faster on CPU); returns self."""
        self._memory_format = torch.channels_last if enabled else torch.contiguous_format
        return self.to(memory_format=self._memory_format)

    def prepare_input(self, x: Tensor) -> Tensor:
        """Validate ``x`` and return it as ``(B, 2, F, T)`` float in the model's memory format.

        A complex ``(B, F, T)`` tensor is converted with :func:`complex_to_input`.
        ValueError on a wrong rank, not 2 parts, or ``F != config.n_bins``.
        """
        if torch.is_complex(x):
            x = complex_to_input(x)  # B, 2, F, T
        if not torch.is_floating_point(x):
            raise ValueError(f"ComplexNet: expected a floating or complex tensor, got {x.dtype}")
        if x.ndim != 4:
            raise ValueError(
                f"ComplexNet: expected (B, 2, F, T) input (or complex (B, F, T)), "
                f"got rank {x.ndim} shape {tuple(x.shape)}"
            )
        if x.shape[1] != 2:
            raise ValueError(
                f"ComplexNet: axis 1 must hold 2 parts (real, imaginary), got {x.shape[1]}"
            )
        if x.shape[2] != self.config.n_bins:
            raise ValueError(
                f"ComplexNet: expected F = {self.config.n_bins} frequency bins "
                f"(n_fft {self.config.n_fft}), got {x.shape[2]}"
            )
        if x.shape[0] < 1 or x.shape[3] < 1:
            raise ValueError(f"ComplexNet: empty batch or time axis, shape {tuple(x.shape)}")
        return x.contiguous(memory_format=self._memory_format)

    # -- network --------------------------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        """Input ``(B, 2, F, T)`` -> stacked bottleneck ``Z`` ``(B, 2C, F', ceil(T/16))``."""
        x = self.prepare_input(x)  # B, 2, F, T
        return self.trunk(x)  # B, 2C, F', T'

    def heads(self, z: Tensor) -> ComplexNetOutput:
        """Stacked bottleneck ``(B, 2C, F', T')`` -> logits of the heads."""
        m = self.mag_branch(abs2(z))  # B, Cb, F', T'
        mag = self.mag_head(m.mean(dim=(2, 3)))  # B, K
        if self.cplx_branch is None:
            return ComplexNetOutput(mag, None, None)
        c = self.cplx_branch(z)  # B, Cb, F', T'
        cplx = self.cplx_head(c.mean(dim=(2, 3)))  # B, K
        fused = self.attention(torch.cat([m, c], dim=1))  # B, 2Cb, F', T'
        fused = self.fused_head(fused.mean(dim=(2, 3)))  # B, K
        return ComplexNetOutput(mag, cplx, fused)

    def forward(self, x: Tensor) -> ComplexNetOutput:
        """``(B, 2, F, T)`` (or complex ``(B, F, T)``) -> :class:`ComplexNetOutput`."""
        z = self.encode(x)  # B, 2C, F', T'
        return self.heads(z)  # B, K per head

    def loss(self, out: ComplexNetOutput, target: Tensor) -> Tensor:
        """Sum of the heads' mean cross-entropies (magnitude head only when ablated).

        Logits ``(B, K)`` with ``target`` ``(B,)``, or per-window logits ``(B, W, K)`` (from
        :meth:`window_logits`) with ``target`` ``(B, W)`` or ``(B,)`` (one ID per clip).
        """
        mag = out.mag
        if mag.ndim == 3 and target.shape == mag.shape[:1]:
            target = target[:, None].expand(mag.shape[:2])  # B, W
        if mag.shape[:-1] != target.shape:
            raise ValueError(
                f"loss: logits {tuple(mag.shape)} do not match target {tuple(target.shape)}"
            )
        k = mag.shape[-1]
        target = target.reshape(-1)  # N
        total = mag.new_zeros((), dtype=torch.float32)
        for logits in out:
            if logits is not None:
                total = total + F.cross_entropy(logits.float().reshape(-1, k), target)
        return total

    def scoring_logits(self, out: ComplexNetOutput) -> Tensor:
        """See :func:`scoring_logits`."""
        return scoring_logits(out)

    def window_logits(
        self,
        x: Tensor,
        *,
        window: int | None = None,
        hop: int | None = None,
        exact: bool = False,
    ) -> ComplexNetOutput:
        """Per-window logits of whole clips, running the convolution trunk ONCE per clip.

        ``x``: ``(B, 2, F, T)`` (or complex ``(B, F, T)``) whole clips (e.g. ``T = 313`` for
        10 s). Windows are ``[s, s + window)`` for ``s`` in :func:`window_starts` (defaults:
        ``config.window_frames`` and ``config.window_hop``); unless ``exact``, both must be
        multiples of ``config.time_stride`` (16), so a window is the bottleneck frames
        ``[s/16, (s + window)/16)``. The branches, attention and heads then run on each
        window's bottleneck slice, exactly as for a separate window.

        The result differs from running each window separately at the window edges, where the
        full-clip trunk sees the neighbouring audio and a separate window sees zero padding;
        a bottleneck frame's receptive field is 53 input frames, so with 64-frame windows every
        frame reaches an edge (see the module docstring for measured differences).
        ``exact=True`` instead runs every window separately (one batch of ``B * W`` windows:
        the paper's procedure, about ``W * window / T`` times the trunk cost, 1.6x for 10-s
        clips with hop 32).
        Returns :class:`ComplexNetOutput` with ``(B, W, n_classes)`` tensors.

        Scoring uses eval mode. In training mode the batch norms use the statistics of the
        whole clips, not of separate windows: that is run-once TRAINING (e.g. on random crops
        of 128 frames, 5 windows at hop 16 for twice the trunk cost of one window), which makes
        training and run-once scoring see the same window edges; :meth:`loss` accepts the
        ``(B, W, K)`` logits.
        """
        window = self.config.window_frames if window is None else window
        hop = self.config.window_hop if hop is None else hop
        ts = self.config.time_stride
        if not exact and (window % ts or hop % ts or window < ts):
            raise ValueError(
                f"window ({window}) and hop ({hop}) must be positive multiples of the trunk's "
                f"time stride {ts} (or use exact=True)"
            )
        x = self.prepare_input(x)  # B, 2, F, T
        b = x.shape[0]
        n_win = len(window_starts(x.shape[3], window, hop))
        if exact:
            win = split_windows(x, window, hop)  # B, W, 2, F, window
            out = self(win.reshape(b * n_win, *win.shape[2:]))  # B*W, K per head
            return ComplexNetOutput(
                *(None if o is None else o.reshape(b, n_win, -1) for o in out)  # B, W, K
            )
        z = self.trunk(x)  # B, 2C, F', T'
        zw = z.unfold(3, window // ts, hop // ts)[:, :, :, :n_win]  # B, 2C, F', W, w'
        zw = zw.permute(0, 3, 1, 2, 4).reshape(b * n_win, z.shape[1], z.shape[2], window // ts)
        zw = zw.contiguous(memory_format=self._memory_format)  # B*W, 2C, F', w'
        out = self.heads(zw)  # B*W, K per head
        return ComplexNetOutput(
            *(None if o is None else o.reshape(b, n_win, -1) for o in out)  # B, W, K
        )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fast_bf16_available() -> bool:
    """True when this CPU runs bf16 convolutions natively (AMX tiles or AVX512-BF16).

    Without either, oneDNN emulates bf16 and ``autocast_bf16`` is SLOWER than float32
    (measured 3x slower on an AVX-512 Skylake server).
    """
    if not torch.backends.mkldnn.is_available():
        return False
    cpu = torch.cpu
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def autocast_bf16(enabled: bool = True) -> AbstractContextManager:
    """``torch.autocast("cpu", dtype=torch.bfloat16)`` (a no-op context when disabled)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)
