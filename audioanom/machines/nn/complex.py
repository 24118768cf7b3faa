"""Complex-valued layers on real tensors (the "stacked" layout).

Layout
------
A complex feature map with ``C`` channels is stored as ONE real 4-D tensor of shape
``(B, 2C, F, T)``: channels ``0 .. C-1`` hold the real parts, channels ``C .. 2C-1`` the
imaginary parts of the same complex channels (``[Re z_0 .. Re z_{C-1}, Im z_0 .. Im z_{C-1}]``).

Why not native ``torch.complex64`` tensors: autocast (bf16) and ``channels_last`` do not cover
complex dtypes, and a complex convolution written as four real ones launches four kernels.
In the stacked layout the complex convolution ``(a + ib) * (c + id)`` is a single real
``conv2d`` with the block weight ``[[Wr, -Wi], [Wi, Wr]]``; batch norm of the two parts
separately is a plain ``BatchNorm2d(2C)``; split PReLU is a plain ``prelu`` over 2C channels.
Everything is a 4-D real tensor, so ``channels_last`` and CPU bf16 autocast apply unchanged.

Convert with :func:`to_stacked` / :func:`from_stacked` (native complex <-> stacked) and
:func:`split_parts` (stacked -> ``(re, im)`` views).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONV_METHODS = ("block", "gauss")

__all__ = [
    "CONV_METHODS",
    "ComplexBatchNorm2d",
    "ComplexConv2d",
    "ComplexConvBlock",
    "ComplexPReLU",
    "abs2",
    "from_stacked",
    "same_padding",
    "split_parts",
    "to_stacked",
]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``, ``(3, 2) -> (3, 2)``; anything else (or a value < 1) is a ValueError."""
    if isinstance(value, int):
        pair = (value, value)
    else:
        pair = tuple(value)
        if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return pair  # type: ignore[return-value]


def _check_stacked(x: Tensor, channels: int | None, what: str) -> None:
    """ValueError unless ``x`` is a real 4-D ``(B, 2C, F, T)`` tensor (with ``C == channels``)."""
    if x.ndim != 4:
        raise ValueError(f"{what}: expected a 4-D (B, 2C, F, T) tensor, got shape {tuple(x.shape)}")
    if torch.is_complex(x) or not torch.is_floating_point(x):
        raise ValueError(f"{what}: expected a real floating tensor, got dtype {x.dtype}")
    if x.shape[1] % 2:
        raise ValueError(f"{what}: channel axis must be even (re and im), got {x.shape[1]}")
    if channels is not None and x.shape[1] != 2 * channels:
        raise ValueError(
            f"{what}: expected {2 * channels} stacked channels ({channels} complex), "
            f"got {x.shape[1]}"
        )


def to_stacked(z: Tensor) -> Tensor:
    """Native complex ``(B, C, F, T)`` -> real stacked ``(B, 2C, F, T)`` = ``[Re z, Im z]``."""
    if not torch.is_complex(z) or z.ndim != 4:
        raise ValueError(
            f"to_stacked: expected a complex 4-D (B, C, F, T) tensor, got {z.dtype} "
            f"of shape {tuple(z.shape)}"
        )
    return torch.cat([z.real, z.imag], dim=1)  # B, 2C, F, T


def split_parts(x: Tensor) -> tuple[Tensor, Tensor]:
    """Stacked ``(B, 2C, F, T)`` -> ``(re, im)``, each ``(B, C, F, T)`` (views, no copy)."""
    _check_stacked(x, None, "split_parts")
    c = x.shape[1] // 2
    return x[:, :c], x[:, c:]  # B, C, F, T each


def from_stacked(x: Tensor) -> Tensor:
    """Real stacked ``(B, 2C, F, T)`` -> native complex ``(B, C, F, T)``."""
    re, im = split_parts(x)
    return torch.complex(re.float(), im.float())  # B, C, F, T (complex64)


def abs2(x: Tensor) -> Tensor:
    """Squared modulus ``Re^2 + Im^2`` of a stacked ``(B, 2C, F, T)`` map -> ``(B, C, F, T)``."""
    re, im = split_parts(x)
    return re * re + im * im  # B, C, F, T


def same_padding(kernel_size: int, stride: int = 1) -> tuple[int, int]:
    """``(before, after)`` zero padding of one axis for a "same"-like convolution.

    Total padding ``k - 1`` split as ``before = (k - 1) // 2``, ``after = k - 1 - before``.
    The output length is then ``ceil(n / stride)`` for every input length ``n`` and -- unlike
    TensorFlow's "same" -- the padding does not depend on ``n``. That keeps output frame ``j``
    aligned with input frame ``j * stride`` for clips of any length, which is what lets a
    network run once over a whole clip and then be sliced into windows. ``stride`` is accepted
    for symmetry with the convolution call and does not change the result.
    """
    if kernel_size < 1 or stride < 1:
        raise ValueError(f"kernel_size and stride must be >= 1, got {kernel_size}, {stride}")
    before = (kernel_size - 1) // 2
    return before, kernel_size - 1 - before


class ComplexConv2d(nn.Module):
    """Complex 2-D convolution on stacked maps: ``(B, 2*in, F, T) -> (B, 2*out, F', T')``.

    With complex input ``x = x_re + i x_im`` and weight ``W = Wr + i Wi``::

        out_re = Wr * x_re - Wi * x_im + b_re
        out_im = Wi * x_re + Wr * x_im + b_im

    ``method="block"`` computes this as ONE real convolution with the block weight
    ``[[Wr, -Wi], [Wi, Wr]]`` (``2*out x 2*in`` channels), i.e. the four real products in one
    kernel launch. ``method="gauss"`` uses Gauss's three-multiplication trick,
    ``k1 = Wr*(x_re + x_im)``, ``k2 = (Wi - Wr)*x_re``, ``k3 = (Wr + Wi)*x_im``,
    ``out_re = k1 - k3``, ``out_im = k1 + k2``: three ``out x in`` convolutions, 3/4 of the
    multiply-adds (worth it for wide layers; the same result up to float rounding).

    ``padding="same"`` pads each axis with :func:`same_padding` (output length
    ``ceil(n / stride)``; an even kernel pads one more frame after than before); an int or a
    pair gives symmetric zero padding as in ``nn.Conv2d``.

    Initialisation: ``Wr`` and ``Wi`` each get ``nn.Conv2d``'s default (Kaiming-uniform,
    ``a = sqrt(5)``) scaled by ``1/sqrt(2)``, so the complex weight has the variance of a real
    ``nn.Conv2d`` weight; biases start at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: str | int | Sequence[int] = "same",
        bias: bool = True,
        method: str = "block",
    ) -> None:
        super().__init__()
        if method not in CONV_METHODS:
            raise ValueError(f"method must be one of {CONV_METHODS}, got {method!r}")
        self.method = method
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"channel counts must be >= 1, got {in_channels}, {out_channels}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        if padding == "same":
            pf = same_padding(self.kernel_size[0])
            pt = same_padding(self.kernel_size[1])
        elif isinstance(padding, str):
            raise ValueError(f"padding must be 'same', an int or a pair, got {padding!r}")
        else:
            p = (padding, padding) if isinstance(padding, int) else tuple(padding)
            if len(p) != 2 or min(p) < 0:
                raise ValueError(f"padding must be >= 0 (int or pair), got {padding!r}")
            pf, pt = (p[0], p[0]), (p[1], p[1])
        self.padding_f, self.padding_t = pf, pt
        # Symmetric part goes into conv2d; an asymmetric remainder is padded explicitly.
        self._conv_padding = (min(pf), min(pt))
        extra = (pt[0] - min(pt), pt[1] - min(pt), pf[0] - min(pf), pf[1] - min(pf))
        self._extra_pad = extra if any(extra) else None

        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight_re = nn.Parameter(torch.empty(shape))
        self.weight_im = nn.Parameter(torch.empty(shape))
        if bias:
            self.bias_re = nn.Parameter(torch.zeros(out_channels))
            self.bias_im = nn.Parameter(torch.zeros(out_channels))
        else:
            self.register_parameter("bias_re", None)
            self.register_parameter("bias_im", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform parts scaled by ``1/sqrt(2)``; zero biases (see class docstring)."""
        for w in (self.weight_re, self.weight_im):
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            with torch.no_grad():
                w.mul_(1.0 / math.sqrt(2.0))
        if self.bias_re is not None:
            nn.init.zeros_(self.bias_re)
            nn.init.zeros_(self.bias_im)

    def block_weight(self) -> Tensor:
        """The real ``(2*out, 2*in, kF, kT)`` weight ``[[Wr, -Wi], [Wi, Wr]]``."""
        top = torch.cat([self.weight_re, -self.weight_im], dim=1)  # out, 2in, kF, kT
        bottom = torch.cat([self.weight_im, self.weight_re], dim=1)  # out, 2in, kF, kT
        return torch.cat([top, bottom], dim=0)  # 2out, 2in, kF, kT

    def block_bias(self) -> Tensor | None:
        """The real ``(2*out,)`` bias ``[b_re, b_im]`` (None without bias)."""
        if self.bias_re is None:
            return None
        return torch.cat([self.bias_re, self.bias_im])  # 2out

    def forward(self, x: Tensor) -> Tensor:
        """Stacked ``(B, 2*in, F, T)`` -> stacked ``(B, 2*out, F', T')``."""
        _check_stacked(x, self.in_channels, "ComplexConv2d")
        if self._extra_pad is not None:
            x = F.pad(x, self._extra_pad)  # B, 2in, F + pad, T + pad
        if self.method == "block":
            return F.conv2d(
                x, self.block_weight(), self.block_bias(), self.stride, self._conv_padding
            )  # B, 2out, F', T'
        re, im = x[:, : self.in_channels], x[:, self.in_channels :]  # B, in, F, T each
        wr, wi = self.weight_re, self.weight_im
        conv = lambda v, w: F.conv2d(v, w, None, self.stride, self._conv_padding)  # noqa: E731
        k1 = conv(re + im, wr)  # B, out, F', T'
        k2 = conv(re, wi - wr)  # B, out, F', T'
        k3 = conv(im, wr + wi)  # B, out, F', T'
        out = torch.cat([k1 - k3, k1 + k2], dim=1)  # B, 2out, F', T'
        bias = self.block_bias()
        if bias is not None:
            out = out + bias.to(out.dtype)[None, :, None, None]  # B, 2out, F', T'
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding_f={self.padding_f}, padding_t={self.padding_t}, "
            f"bias={self.bias_re is not None}, method={self.method!r}"
        )


class ComplexBatchNorm2d(nn.Module):
    """Batch norm of a stacked complex map ``(B, 2C, F, T)``.

    ``whiten=False`` (default, "naive"/split complex BN): the real and imaginary parts are
    normalised separately, each with its own mean, variance, scale and shift -- exactly a
    ``BatchNorm2d(2C)`` on the stacked tensor (the module wraps one, so it keeps that layer's
    fused fast kernels and its behaviour under autocast).

    ``whiten=True`` (Trabelsi et al., "Deep Complex Networks", ICLR 2018): each complex channel
    is centred and whitened with the inverse square root of its 2x2 covariance
    ``[[Vrr, Vri], [Vri, Vii]]`` (closed form), then transformed by a learned symmetric 2x2
    ``gamma = [[g_rr, g_ri], [g_ri, g_ii]]`` and shifted by ``(beta_re, beta_im)``.
    ``gamma`` starts at the identity (Trabelsi use ``1/sqrt(2)`` on the diagonal; identity
    keeps unit variance per part, like the split mode). Running mean/covariance are tracked
    with ``momentum`` and used in eval mode. Computed in float32 even under autocast.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        whiten: bool = False,
    ) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        self.num_features = num_features
        self.whiten = whiten
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        if not whiten:
            self.bn = nn.BatchNorm2d(2 * num_features, eps=eps, momentum=momentum, affine=affine)
            return
        c = num_features
        if affine:
            self.gamma_rr = nn.Parameter(torch.ones(c))
            self.gamma_ii = nn.Parameter(torch.ones(c))
            self.gamma_ri = nn.Parameter(torch.zeros(c))
            self.beta = nn.Parameter(torch.zeros(2, c))
        self.register_buffer("running_mean", torch.zeros(2, c))
        self.register_buffer("running_vrr", torch.ones(c))
        self.register_buffer("running_vii", torch.ones(c))
        self.register_buffer("running_vri", torch.zeros(c))

    def forward(self, x: Tensor) -> Tensor:
        """Stacked ``(B, 2C, F, T)`` -> normalised stacked ``(B, 2C, F, T)``."""
        _check_stacked(x, self.num_features, "ComplexBatchNorm2d")
        if not self.whiten:
            return self.bn(x)  # B, 2C, F, T
        with torch.autocast(x.device.type, enabled=False):
            return self._whiten(x.float())

    def _whiten(self, x: Tensor) -> Tensor:
        b, c2, f, t = x.shape
        c = c2 // 2
        parts = x.reshape(b, 2, c, f, t)  # B, 2, C, F, T
        if self.training:
            if b * f * t < 2:
                raise ValueError("ComplexBatchNorm2d(whiten=True) needs > 1 value per channel")
            mean = parts.mean(dim=(0, 3, 4))  # 2, C
            centred = parts - mean[None, :, :, None, None]  # B, 2, C, F, T
            re, im = centred[:, 0], centred[:, 1]  # B, C, F, T each
            vrr = (re * re).mean(dim=(0, 2, 3))  # C
            vii = (im * im).mean(dim=(0, 2, 3))  # C
            vri = (re * im).mean(dim=(0, 2, 3))  # C
            with torch.no_grad():
                m = self.momentum
                n = b * f * t
                unbias = n / (n - 1)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_vrr.lerp_(vrr.detach() * unbias, m)
                self.running_vii.lerp_(vii.detach() * unbias, m)
                self.running_vri.lerp_(vri.detach() * unbias, m)
        else:
            mean = self.running_mean
            centred = parts - mean[None, :, :, None, None]  # B, 2, C, F, T
            re, im = centred[:, 0], centred[:, 1]  # B, C, F, T each
            vrr, vii, vri = self.running_vrr, self.running_vii, self.running_vri
        vrr = vrr + self.eps
        vii = vii + self.eps
        # Inverse square root of [[vrr, vri], [vri, vii]]: with s = sqrt(det), t = sqrt(tr + 2s),
        # V^(-1/2) = [[vii + s, -vri], [-vri, vrr + s]] / (s * t).
        s = torch.sqrt(vrr * vii - vri * vri)  # C
        tt = torch.sqrt(vrr + vii + 2.0 * s)  # C
        inv = 1.0 / (s * tt)  # C
        wrr, wii, wri = (vii + s) * inv, (vrr + s) * inv, -vri * inv  # C each
        e = lambda v: v[None, :, None, None]  # noqa: E731  C -> 1, C, 1, 1
        out_re = e(wrr) * re + e(wri) * im  # B, C, F, T
        out_im = e(wri) * re + e(wii) * im  # B, C, F, T
        if self.affine:
            g_rr, g_ii, g_ri = e(self.gamma_rr), e(self.gamma_ii), e(self.gamma_ri)
            out_re, out_im = (
                g_rr * out_re + g_ri * out_im + e(self.beta[0]),
                g_ri * out_re + g_ii * out_im + e(self.beta[1]),
            )
        return torch.cat([out_re, out_im], dim=1)  # B, 2C, F, T

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, whiten={self.whiten}"
        )


class ComplexPReLU(nn.Module):
    """Split PReLU on a stacked map: ``PReLU(Re z) + i PReLU(Im z)``, ``(B, 2C, F, T)``.

    ``shared=True`` (default): one learned slope per complex channel, used for both its real
    and imaginary part (``C`` parameters). ``shared=False``: separate slopes for the real and
    the imaginary part (``2C`` parameters, i.e. a plain ``PReLU(2C)``). Slopes start at
    ``init`` (0.25, as ``nn.PReLU``).
    """

    def __init__(self, num_features: int, shared: bool = True, init: float = 0.25) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        self.num_features = num_features
        self.shared = shared
        n = num_features if shared else 2 * num_features
        self.weight = nn.Parameter(torch.full((n,), float(init)))

    def slopes(self) -> Tensor:
        """Per stacked channel slopes ``(2C,)``."""
        return self.weight.repeat(2) if self.shared else self.weight  # 2C

    def forward(self, x: Tensor) -> Tensor:
        """Stacked ``(B, 2C, F, T)`` -> stacked ``(B, 2C, F, T)``."""
        _check_stacked(x, self.num_features, "ComplexPReLU")
        return F.prelu(x, self.slopes().to(x.dtype))  # B, 2C, F, T

    def extra_repr(self) -> str:
        return f"{self.num_features}, shared={self.shared}"


class ComplexConvBlock(nn.Sequential):
    """``ComplexConv2d -> ComplexBatchNorm2d -> ComplexPReLU`` on stacked maps.

    The convolution has no bias (the batch norm's shift replaces it).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: str | int | Sequence[int] = "same",
        *,
        whiten: bool = False,
        prelu_shared: bool = True,
        method: str = "block",
    ) -> None:
        super().__init__(
            ComplexConv2d(
                in_channels, out_channels, kernel_size, stride, padding, bias=False, method=method
            ),
            ComplexBatchNorm2d(out_channels, whiten=whiten),
            ComplexPReLU(out_channels, shared=prelu_shared),
        )
