"""Complex layers and channel attention against their real-arithmetic definitions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audioanom.machines.nn import (
    BranchAttention,
    ChannelSoftmaxAttention,
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexConvBlock,
    ComplexPReLU,
    abs2,
    from_stacked,
    same_padding,
    split_parts,
    to_stacked,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: small convolutions on a shared 2-core machine run several times
    faster without OpenMP barriers waiting on a descheduled second thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _randn_complex(*shape: int) -> torch.Tensor:
    return torch.complex(torch.randn(*shape), torch.randn(*shape))


def _layer(method: str, **kw) -> ComplexConv2d:
    torch.manual_seed(0)
    layer = ComplexConv2d(3, 4, (3, 2), stride=(2, 1), method=method, **kw)
    with torch.no_grad():
        layer.bias_re.normal_()
        layer.bias_im.normal_()
    return layer


def test_stacked_round_trip_and_abs2():
    z = _randn_complex(2, 3, 5, 4)
    x = to_stacked(z)
    assert x.shape == (2, 6, 5, 4)
    re, im = split_parts(x)
    assert torch.equal(re, z.real) and torch.equal(im, z.imag)
    assert torch.equal(from_stacked(x), z)
    torch.testing.assert_close(abs2(x), z.abs() ** 2)


def test_stacked_rejects_bad_tensors():
    with pytest.raises(ValueError, match="complex 4-D"):
        to_stacked(torch.randn(2, 3, 5, 4))
    with pytest.raises(ValueError, match="even"):
        split_parts(torch.randn(2, 3, 5, 4))
    with pytest.raises(ValueError, match="4-D"):
        split_parts(torch.randn(6, 5, 4))


@pytest.mark.parametrize(("k", "s"), [(7, 2), (5, 2), (3, 2), (2, 1), (5, 1), (4, 2)])
def test_same_padding_gives_ceil_length(k, s):
    before, after = same_padding(k, s)
    assert before + after == k - 1
    for n in range(1, 40):
        out = (n + before + after - k) // s + 1
        assert out == math.ceil(n / s), n


@pytest.mark.parametrize("method", ["block", "gauss"])
def test_complex_conv_matches_native_complex_conv(method):
    layer = _layer(method)
    z = _randn_complex(2, 3, 9, 7)  # B, C, F, T
    pf, pt = layer.padding_f, layer.padding_t
    assert pt == (0, 1)  # even kernel: the extra frame goes after
    wc = torch.complex(layer.weight_re, layer.weight_im).detach()
    bc = torch.complex(layer.bias_re, layer.bias_im).detach()
    zp = F.pad(z, (pt[0], pt[1], pf[0], pf[1]))
    ref = F.conv2d(zp, wc, bc, stride=(2, 1))  # native complex64 convolution
    with torch.no_grad():
        got = from_stacked(layer(to_stacked(z)))
    assert got.shape == ref.shape == (2, 4, 5, 7)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["block", "gauss"])
def test_complex_conv_matches_four_real_convs(method):
    layer = _layer(method, padding=(1, 0))
    x = torch.randn(2, 6, 9, 7)
    xr, xi = split_parts(x)
    conv = lambda v, w: F.conv2d(v, w, None, (2, 1), (1, 0))  # noqa: E731
    wr, wi = layer.weight_re.detach(), layer.weight_im.detach()
    ref_re = conv(xr, wr) - conv(xi, wi) + layer.bias_re.detach()[None, :, None, None]
    ref_im = conv(xr, wi) + conv(xi, wr) + layer.bias_im.detach()[None, :, None, None]
    with torch.no_grad():
        got_re, got_im = split_parts(layer(x))
    torch.testing.assert_close(got_re, ref_re, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got_im, ref_im, rtol=1e-4, atol=1e-4)


def test_complex_conv_methods_agree_with_channels_last_and_gradients():
    block, gauss = _layer("block"), _layer("gauss")
    x = torch.randn(2, 6, 11, 8, requires_grad=True)
    out_b = block(x)
    out_g = gauss(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out_b, out_g, rtol=1e-4, atol=1e-4)
    (g_b,) = torch.autograd.grad(out_b.square().sum(), block.weight_im)
    (g_g,) = torch.autograd.grad(out_g.square().sum(), gauss.weight_im)
    torch.testing.assert_close(g_b, g_g, rtol=1e-3, atol=1e-3)


def test_complex_conv_rejects_bad_input_and_arguments():
    layer = ComplexConv2d(3, 4, 3)
    with pytest.raises(ValueError, match="6 stacked channels"):
        layer(torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError, match="4-D"):
        layer(torch.randn(6, 8, 8))
    with pytest.raises(ValueError, match="real floating"):
        layer(_randn_complex(1, 6, 8, 8))
    with pytest.raises(ValueError, match="method"):
        ComplexConv2d(3, 4, 3, method="fft")
    with pytest.raises(ValueError, match="padding"):
        ComplexConv2d(3, 4, 3, padding="valid")
    with pytest.raises(ValueError, match="kernel_size"):
        ComplexConv2d(3, 4, (3, 0))


def test_batchnorm_normalises_real_and_imaginary_parts_separately():
    torch.manual_seed(0)
    bn = ComplexBatchNorm2d(3, momentum=1.0)  # running stats = last batch's stats
    re = torch.randn(8, 3, 6, 5) * 10 + 2
    im = torch.randn(8, 3, 6, 5) * 0.1 - 5
    x = torch.cat([re, im], dim=1)
    y = bn.train()(x)
    y_re, y_im = split_parts(y)
    for part in (y_re, y_im):
        torch.testing.assert_close(part.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
        torch.testing.assert_close(
            part.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=3e-3, rtol=0
        )
    mean = bn.bn.running_mean
    torch.testing.assert_close(mean[:3], re.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(mean[3:], im.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(bn.bn.running_var[:3], re.var(dim=(0, 2, 3)), rtol=1e-4, atol=0)
    # eval mode reuses the stored (unbiased) statistics: nearly the same normalisation
    torch.testing.assert_close(bn.eval()(x), y, rtol=1e-2, atol=1e-2)


def test_whitening_batchnorm_decorrelates_parts():
    torch.manual_seed(0)
    bn = ComplexBatchNorm2d(2, whiten=True, momentum=1.0)
    re = torch.randn(16, 2, 8, 8) * 3 + 1
    im = 0.9 * re + 0.3 * torch.randn(16, 2, 8, 8)  # strongly correlated with re
    x = torch.cat([re, im], dim=1)
    with torch.no_grad():
        outputs = (bn.train()(x), bn.eval()(x))
    for y in outputs:
        y_re, y_im = split_parts(y)
        for c in range(2):
            a, b = y_re[:, c].flatten(), y_im[:, c].flatten()
            cov = torch.cov(torch.stack([a, b]), correction=0)
            torch.testing.assert_close(cov, torch.eye(2), atol=2e-3, rtol=0)
            assert abs(float(a.mean())) < 1e-4 and abs(float(b.mean())) < 1e-4
    # split BN would leave the parts correlated
    y = ComplexBatchNorm2d(2).train()(x)
    r = torch.corrcoef(torch.stack([split_parts(y)[0][:, 0].flatten(), y[:, 2].flatten()]))
    assert r[0, 1] > 0.9


def test_whitening_batchnorm_has_gradients():
    bn = ComplexBatchNorm2d(2, whiten=True)
    x = torch.randn(4, 4, 5, 5, requires_grad=True)
    bn(x).pow(3).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert bn.gamma_ri.grad is not None and bn.gamma_ri.grad.abs().sum() > 0


def test_prelu_known_values():
    x = torch.tensor([-2.0, 3.0, -4.0, 1.0]).reshape(1, 4, 1, 1)  # re: -2, 3; im: -4, 1
    shared = ComplexPReLU(2, shared=True, init=0.5)
    assert shared.weight.numel() == 2
    torch.testing.assert_close(shared(x).flatten(), torch.tensor([-1.0, 3.0, -2.0, 1.0]))
    split = ComplexPReLU(2, shared=False)
    assert split.weight.numel() == 4
    with torch.no_grad():
        split.weight.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    torch.testing.assert_close(split(x).flatten(), torch.tensor([-0.2, 3.0, -1.2, 1.0]))
    with pytest.raises(ValueError, match="4 stacked channels"):
        shared(torch.randn(1, 6, 2, 2))


def test_conv_block_shapes():
    block = ComplexConvBlock(1, 5, (7, 5), (2, 2))
    y = block(torch.randn(3, 2, 513, 64))
    assert y.shape == (3, 10, 257, 32)
    assert block[0].bias_re is None  # the batch norm shift replaces the bias


def test_branch_attention_weighs_the_two_branches():
    torch.manual_seed(0)
    att = BranchAttention(4)
    fm, fc = torch.randn(3, 4, 5, 6), torch.randn(3, 4, 5, 6)
    a = att.weights(fm, fc)
    assert a.shape == (3, 2)
    torch.testing.assert_close(a.sum(dim=1), torch.ones(3))
    # by hand: GAP of both branches -> FC1 -> ReLU -> FC2 -> softmax over two entries
    g = torch.cat([fm.mean(dim=(2, 3)), fc.mean(dim=(2, 3))], dim=1)
    logits = torch.relu(g @ att.fc1.weight.T + att.fc1.bias) @ att.fc2.weight.T + att.fc2.bias
    expected = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    torch.testing.assert_close(a, expected)
    y = att(fm, fc)
    assert y.shape == fm.shape
    torch.testing.assert_close(
        y, expected[:, :1, None, None] * fm + expected[:, 1:, None, None] * fc
    )


def test_branch_attention_can_choose_one_branch():
    att = BranchAttention(2)
    for p in att.parameters():
        torch.nn.init.zeros_(p)
    fm, fc = torch.randn(2, 2, 3, 3), torch.randn(2, 2, 3, 3)
    torch.testing.assert_close(att(fm, fc), 0.5 * fm + 0.5 * fc)  # zero weights: equal halves
    with torch.no_grad():
        att.fc2.bias.copy_(torch.tensor([-30.0, 30.0]))  # all weight on the complex branch
    torch.testing.assert_close(att(fm, fc), fc, atol=1e-6, rtol=0)


def test_channel_softmax_attention_is_residual_over_both_branches():
    att = ChannelSoftmaxAttention(3)
    for p in att.parameters():
        torch.nn.init.zeros_(p)
    fm, fc = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(att.weights(fm, fc), torch.full((2, 6), 1 / 6))
    torch.testing.assert_close(att(fm, fc), torch.cat([fm, fc], dim=1) * (1 + 1 / 6))
