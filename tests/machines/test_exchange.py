"""Exchange classes (audioanom.machines.exchange): partners, the exchanged windows and targets,
and training with them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audioanom.machines.exchange import envelope_exchange, exchange_partners, exchange_targets
from audioanom.machines.nn import ComplexNet
from audioanom.machines.training import TrainConfig, train_model
from tests.conftest import tiny_net_config
from tests.machines.test_training import BASE, band_specs


def test_partners_are_of_another_class_and_of_the_same_type_when_there_is_one():
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    groups = np.array(["fan", "fan", "fan", "fan", "pump", "pump", "pump", "pump"])
    for seed in range(20):
        p = exchange_partners(labels, groups, 0.5, np.random.default_rng(seed))
        moved = np.flatnonzero(p != np.arange(8))
        assert moved.size == 4  # floor(0.5 * 8), and every window here has a partner
        assert (labels[p[moved]] != labels[moved]).all()
        assert (groups[p[moved]] == groups[moved]).all()
    # a type with one class in the batch: the partner comes from another type
    two_types = np.array(["fan", "pump"])
    p = exchange_partners(np.array([0, 1]), two_types, 1.0, np.random.default_rng(0))
    assert p.tolist() == [1, 0]
    # no window of another class: nothing is exchanged
    p = exchange_partners(np.array([2, 2, 2]), np.array(["a"] * 3), 1.0, np.random.default_rng(0))
    assert p.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="fraction"):
        exchange_partners(labels, groups, 1.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="same"):
        exchange_partners(labels, groups[:3], 0.5, np.random.default_rng(0))


def test_envelope_exchange_takes_the_partners_power_and_keeps_the_phase():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 17, 10)) + 1j * rng.normal(size=(3, 17, 10))  # B, F, T
    z[1] *= np.linspace(0.1, 5.0, 17)[:, None]  # another spectral envelope
    x = torch.from_numpy(np.stack([z.real, z.imag], axis=1))  # B, 2, F, T (float64)
    out = envelope_exchange(x, torch.tensor([1, 1, 0])).numpy()
    w = out[:, 0] + 1j * out[:, 1]  # B, F, T
    power = (np.abs(z) ** 2).mean(axis=2)  # B, F: by hand
    np.testing.assert_allclose((np.abs(w[0]) ** 2).mean(axis=1), power[1], rtol=1e-9)
    np.testing.assert_allclose((np.abs(w[2]) ** 2).mean(axis=1), power[0], rtol=1e-9)
    np.testing.assert_allclose(np.angle(w[0]), np.angle(z[0]), atol=1e-12)  # phase kept
    # the shape in time is kept: each bin is one real gain over its frames
    gain = np.broadcast_to(np.sqrt(power[1] / power[0])[:, None], z[0].shape)
    np.testing.assert_allclose(np.abs(w[0]) / np.abs(z[0]), gain)
    np.testing.assert_array_equal(out[1], x[1].numpy())  # its own partner: unchanged
    with pytest.raises(ValueError, match="partner"):
        envelope_exchange(x, torch.tensor([0, 1]))


def test_exchange_targets_move_an_exchanged_window_to_the_extra_classes():
    t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.25, 0.75], [0.0, 0.0, 1.0]])
    out = exchange_targets(t, torch.tensor([1, 1, 0]))
    expected = [
        [0, 0, 0, 0.5, 0.125, 0.375],  # window 0 with window 1: half of each target
        [0, 0.25, 0.75, 0, 0, 0],  # not exchanged
        [0, 0, 0, 0.5, 0, 0.5],
    ]
    np.testing.assert_allclose(out.numpy(), expected)
    np.testing.assert_allclose(out.sum(dim=1).numpy(), 1.0)


def test_soft_targets_give_the_mixture_of_the_hard_cross_entropies():
    torch.manual_seed(0)
    net = ComplexNet(tiny_net_config(n_classes=4, stats_bands=0)).eval()
    specs, _ = band_specs(1, n_classes=2, frames=16)
    net.fit_input_norm(specs)
    with torch.no_grad():
        out = net(torch.from_numpy(np.stack(specs)))
    soft = torch.tensor([[0.0, 0.0, 0.3, 0.7], [1.0, 0.0, 0.0, 0.0]])
    by_hand = 0.0
    for logits in (out.mag, out.cplx, out.fused):
        lp = torch.log_softmax(logits.double(), dim=1)
        by_hand += float(-(soft.double() * lp).sum(dim=1).mean())
    assert float(net.loss(out, soft)) == pytest.approx(by_hand, rel=1e-5)
    # the fused head with a target of its own: the branch heads keep theirs
    hard = torch.tensor([1, 0])
    expected = sum(
        float(F.cross_entropy(lg.double(), t))
        for lg, t in ((out.mag, hard), (out.cplx, hard), (out.fused, torch.tensor([3, 2])))
    )
    assert float(net.loss(out, hard, torch.tensor([3, 2]))) == pytest.approx(expected, rel=1e-5)


@torch.no_grad()
def test_branch_swap_changes_only_the_fused_path():
    torch.manual_seed(0)
    net = ComplexNet(tiny_net_config(n_classes=4, stats_bands=0)).eval()
    specs, _ = band_specs(1, n_classes=2, frames=16)
    net.fit_input_norm(specs)
    x = torch.from_numpy(np.stack(specs))  # 2, 2, F, T
    plain = net(x)
    same = net(x, swap=torch.tensor([0, 1]))
    torch.testing.assert_close(same.fused, plain.fused)
    swapped = net(x, swap=torch.tensor([1, 0]))
    torch.testing.assert_close(swapped.mag, plain.mag)  # the branch heads see their own window
    torch.testing.assert_close(swapped.cplx, plain.cplx)
    assert not torch.allclose(swapped.fused, plain.fused)
    # window 0's fused output from its magnitude branch and window 1's complex branch (eval
    # mode: each window is computed on its own), built from the network's parts
    z = net.trunk(net.normalise(x))
    re, im = z[:, : z.shape[1] // 2], z[:, z.shape[1] // 2 :]  # B, C, F', T' each
    fm = net.mag_branch((re.square() + im.square()).sqrt())
    fc = net.cplx_branch(z)
    t = net.total(net.attention(fm[:1], fc[1:]))
    torch.testing.assert_close(swapped.embedding[:1], t.mean(dim=3).flatten(1))
    with pytest.raises(ValueError, match="swap"):
        net(x, swap=torch.tensor([0]))


@pytest.mark.parametrize("exchange", ["branches", "envelope"])
def test_training_with_exchange_classes_learns_the_id_classes(exchange):
    train, y_train = band_specs(4, seed=1)
    val, y_val = band_specs(2, seed=2)
    cfg = tiny_net_config(n_classes=6)  # 3 ID classes + 3 exchange classes
    tc = dataclasses.replace(BASE, epochs=12, patience=None, exchange=exchange)
    res = train_model("complex", train, y_train, val, y_val, cfg, tc)
    h = res.history
    assert np.isfinite(h["train_loss"]).all()
    assert h["train_loss"].iat[-1] < 0.9 * h["train_loss"].iat[0]
    assert h["val_acc"].iat[-1] == 1.0  # the ID classes are still learnt
    x = torch.from_numpy(np.stack([v[:, :, :64] for v in val]))  # 6, 2, F, 64
    with torch.inference_mode():
        out = res.model(x)
        assert out.fused.shape == (len(val), 6)
        assert (out.fused.argmax(dim=1).numpy() == y_val).all()  # never an exchange class
        if exchange == "branches":  # and it has learnt what an exchanged window is
            swapped = res.model(x, swap=torch.tensor([2, 3, 4, 5, 0, 1])).fused
            extra = lambda logits: torch.softmax(logits, dim=1)[:, 3:].sum(dim=1)  # noqa: E731
            assert (extra(swapped) > extra(out.fused)).all()


def test_exchange_settings_are_checked():
    train, y_train = band_specs(2, seed=1)
    tc = dataclasses.replace(BASE, epochs=1, patience=None, exchange="branches")
    with pytest.raises(ValueError, match="even n_classes"):
        train_model("complex", train, y_train, [], [], tiny_net_config(n_classes=3), tc)
    with pytest.raises(ValueError, match="complex network"):
        train_model("magnitude", train, y_train, [], [], tiny_net_config(n_classes=6), tc)
    with pytest.raises(ValueError, match="ArcFace"):
        train_model("complex", train, y_train, [], [], tiny_net_config(n_classes=6, margin=0.2), tc)
    with pytest.raises(ValueError, match="labels must be in 0..2"):  # ID labels: first half
        train_model("complex", train, y_train + 3, [], [], tiny_net_config(n_classes=6), tc)
    with pytest.raises(ValueError, match="exchange must be"):
        TrainConfig(exchange="features")
    with pytest.raises(ValueError, match="exchange_fraction"):
        TrainConfig(exchange="envelope", exchange_fraction=0.0)


def test_signatures_without_exchange_keep_the_fields_of_models_saved_before_it():
    """Models saved before the option existed are reused: its fields join a signature only
    when it is on."""
    from audioanom.machines.training_config import signature_drop

    before = {  # TrainConfig's fields before the exchange option, by hand
        "epochs", "batch_size", "lr", "weight_decay", "crops_per_clip", "val_fraction",
        "val_hop", "patience", "min_delta", "seed", "device", "precision", "threads",
        "mixup_alpha", "lr_schedule", "lr_factor", "lr_patience",
    }  # fmt: skip
    fields = set(dataclasses.asdict(TrainConfig()))
    assert fields - set(signature_drop(TrainConfig())) == before
    on = TrainConfig(exchange="envelope")
    assert fields - set(signature_drop(on)) == before | {"exchange", "exchange_fraction"}
