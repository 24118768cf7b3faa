"""Training of the ID networks: loss goes down, resume is exact, stopping, loud failures."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from audioanom.machines.model_files import load_trained, save_trained
from audioanom.machines.nn import ComplexNet
from audioanom.machines.training import (
    HISTORY_COLUMNS,
    CheckpointMismatch,
    TrainConfig,
    TrainingDiverged,
    class_key,
    class_mapping,
    crop_loader,
    sample_crops,
    split_train_val,
    train_clips_network,
    train_model,
    training_clips,
)
from audioanom.runtime import fast_bf16_available, resolve_device, resolve_precision
from tests.conftest import tiny_net_config

TINY = tiny_net_config(dropout=0.1)
BASE = TrainConfig(
    epochs=4,
    batch_size=8,
    lr=3e-3,
    crops_per_clip=2,
    val_hop=32,
    threads=1,
    device="cpu",
    precision="fp32",
)


def band_specs(n_per_class: int, n_classes: int = 3, frames: int = 80, seed: int = 0):
    """(2, 129, frames) noise clips whose class sets a loud frequency band."""
    rng = np.random.default_rng(seed)
    specs, labels = [], []
    for c in range(n_classes):
        for _ in range(n_per_class):
            x = rng.normal(0, 0.1, (2, TINY.n_bins, frames)).astype(np.float32)
            lo = 10 + 35 * c
            x[:, lo : lo + 20] += rng.normal(0, 1.0, (2, 20, frames)).astype(np.float32)
            specs.append(x)
            labels.append(c)
    return specs, np.array(labels)


@pytest.fixture(scope="module")
def data():
    train, y_train = band_specs(4, seed=1)
    val, y_val = band_specs(2, seed=2)
    return train, y_train, val, y_val


@pytest.mark.parametrize("variant", ["complex", "magnitude"])
def test_tiny_training_learns_the_classes(data, variant):
    res = train_model(variant, *data, TINY, dataclasses.replace(BASE, epochs=6, patience=None))
    h = res.history
    assert list(h.columns) == list(HISTORY_COLUMNS) and h["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    assert h["train_loss"].iat[-1] < 0.75 * h["train_loss"].iat[0]
    assert h["val_acc"].max() == 1.0  # three loud bands are easy to tell apart
    assert (h["windows_per_s"] > 0).all() and (h["lr"] == BASE.lr).all()
    assert not res.model.training and res.classes == ("0", "1", "2")
    assert res.precision == "fp32" and res.stop_reason == "fixed epochs"


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _crash_and_resume(data, cfg, checkpoint_dir, *, after):
    """Interrupt a run after epoch ``after`` (its checkpoint says so), then resume it."""

    class Crash(RuntimeError):
        pass

    def crash(epoch, row):
        if epoch == after:
            raise Crash

    with pytest.raises(Crash):
        train_model("complex", *data, TINY, cfg, checkpoint_dir=checkpoint_dir, callback=crash)
    assert torch.load(checkpoint_dir / "last.pt", weights_only=True)["epoch"] == after
    return train_model("complex", *data, TINY, cfg, checkpoint_dir=checkpoint_dir, resume=True)


def test_resume_after_a_crash_gives_the_same_result(data, tmp_path):
    cfg = dataclasses.replace(BASE, patience=None, mixup_alpha=0.4)  # dropout and mixup on
    full = train_model("complex", *data, TINY, cfg, checkpoint_dir=tmp_path / "a")
    resumed = _crash_and_resume(data, cfg, tmp_path / "b", after=2)
    a, b = _weights(full.model), _weights(resumed.model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "best"]
    pd.testing.assert_frame_equal(full.history[cols], resumed.history[cols])
    assert pd.read_csv(tmp_path / "b" / "metrics.csv")["epoch"].tolist() == [1, 2, 3, 4]


def test_resume_refuses_other_settings_and_a_damaged_checkpoint(data, tmp_path):
    cfg = dataclasses.replace(BASE, epochs=1, patience=None)
    train_model("complex", *data, TINY, cfg, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointMismatch, match="other settings"):
        other = dataclasses.replace(cfg, lr=1e-3)
        train_model("complex", *data, TINY, other, checkpoint_dir=tmp_path, resume=True)
    more = dataclasses.replace(cfg, epochs=2)
    res = train_model("complex", *data, TINY, more, checkpoint_dir=tmp_path, resume=True)
    assert res.history["epoch"].tolist() == [1, 2]
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"last\.pt: unreadable checkpoint"):
        train_model("complex", *data, TINY, more, checkpoint_dir=tmp_path, resume=True)


def test_early_stopping_keeps_the_best_epoch(data):
    # A learning rate this small cannot lower the validation loss by min_delta after epoch 1.
    cfg = dataclasses.replace(BASE, epochs=6, lr=1e-12, patience=2, min_delta=1e-3)
    res = train_model("complex", *data, TINY, cfg)
    assert res.stop_reason == "early stop" and res.best_epoch == 1 and len(res.history) == 3
    assert res.history["best"].tolist() == [True, False, False]


def test_the_epoch_cap_is_reported_when_the_validation_loss_still_falls(data):
    cfg = dataclasses.replace(BASE, epochs=5, patience=5, min_delta=0.0)
    with pytest.warns(UserWarning, match="epoch cap .* still improving"):
        res = train_model("complex", *data, TINY, cfg)
    assert res.stop_reason == "epoch cap" and res.best_epoch == 5


def _plateau(epochs: int, lr_patience: int) -> TrainConfig:
    """A rate high enough to reach a plateau within a few epochs of the tiny network."""
    return dataclasses.replace(
        BASE,
        epochs=epochs,
        patience=None,
        lr=3e-2,
        lr_schedule="plateau",
        lr_factor=0.5,
        lr_patience=lr_patience,
        min_delta=0.05,
    )


def test_plateau_schedule_lowers_the_rate_after_epochs_without_improvement(data):
    """The rate of every epoch, replayed by hand from the validation losses of the history:
    halved after ``lr_patience`` epochs in a row that do not beat the best by ``min_delta``."""
    cfg = _plateau(7, lr_patience=1)
    res = train_model("complex", *data, TINY, cfg)
    h = res.history
    lr, best, bad, expected = cfg.lr, float("inf"), 0, []
    for loss in h["val_loss"]:
        expected.append(lr)
        if loss < best - cfg.min_delta:
            best, bad = loss, 0
        else:
            bad += 1
            if bad > cfg.lr_patience:
                lr, bad = lr * cfg.lr_factor, 0
    assert h["lr"].tolist() == pytest.approx(expected)
    assert h["lr"].iat[-1] < cfg.lr  # this run does reach a plateau
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(lr_schedule="cosine")


def test_resume_continues_the_schedule_exactly(data, tmp_path):
    cfg = _plateau(5, lr_patience=0)
    full = train_model("complex", *data, TINY, cfg, checkpoint_dir=tmp_path / "a")
    resumed = _crash_and_resume(data, cfg, tmp_path / "b", after=3)
    assert resumed.history["lr"].tolist() == full.history["lr"].tolist()
    a, b = _weights(full.model), _weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_patience_or_plateau_without_validation_clips_is_refused(data):
    train, y, _, _ = data
    with pytest.raises(ValueError, match="needs validation clips"):
        train_model("complex", train, y, [], [], TINY, BASE)
    res = train_model(
        "complex", train, y, [], [], TINY, dataclasses.replace(BASE, epochs=1, patience=None)
    )
    assert res.stop_reason == "no validation" and np.isnan(res.history["val_loss"]).all()
    with pytest.raises(ValueError, match="'plateau' needs validation clips"):
        train_model("complex", train, y, [], [], TINY, _plateau(1, lr_patience=0))


def test_a_diverging_loss_names_the_epoch_and_step(data, monkeypatch):
    calls = {"n": 0}
    real_loss = ComplexNet.loss

    def loss(self, out, target):
        calls["n"] += 1
        value = real_loss(self, out, target)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(ComplexNet, "loss", loss)
    with pytest.raises(TrainingDiverged, match="loss is nan at epoch 1, step 3"):
        train_model("complex", *data, TINY, dataclasses.replace(BASE, patience=None))


def test_bad_inputs_raise_clear_errors(data):
    train, y, val, yv = data
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        train_model("complex", train, y + 1, val, yv, TINY, BASE)
    with pytest.raises(ValueError, match="expected a \\(2, 129, T\\)"):
        train_model("complex", [t[:, :100] for t in train], y, val, yv, TINY, BASE)
    short = dataclasses.replace(BASE, patience=None)
    with pytest.raises(ValueError, match="no training clip holds a window of 64 frames"):
        train_model("complex", [t[..., :40] for t in train], y, [], [], TINY, short)
    one_short = [train[0][..., :40]] + list(train[1:])
    with pytest.raises(ValueError, match="clip 0 has 40 frames, fewer than one window of 64"):
        train_model("complex", one_short, y, [], [], TINY, short)
    with pytest.raises(ValueError, match="variant must be one of"):
        train_model("phase", *data, TINY, BASE)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=1)


def test_classes_are_type_id_pairs_and_the_split_is_per_class_by_clip():
    clips = pd.DataFrame(
        {
            "path": [f"c{i}.wav" for i in range(12)],
            "group": ["fan"] * 6 + ["pump"] * 6,
            "id": ["id_00", "id_02"] * 6,
            "label": ["normal"] * 10 + ["anomaly"] * 2,
            "split": ["train"] * 10 + ["test"] * 2,
        }
    )
    train = training_clips(clips)
    assert len(train) == 10 and set(train["label"]) == {"normal"}
    assert len(training_clips(clips, "pump")) == 4
    keys = [class_key(g, i) for g, i in zip(train["group"], train["id"], strict=True)]
    assert class_mapping(keys) == {"fan/id_00": 0, "fan/id_02": 1, "pump/id_00": 2, "pump/id_02": 3}
    tr, va = split_train_val(train, 0.34, seed=0)
    assert len(va) == 4 and (va.groupby(["group", "id"]).size() == 1).all()
    assert set(tr.index).isdisjoint(va.index)
    tr2, va2 = split_train_val(train, 0.34, seed=0)
    assert va2.index.tolist() == va.index.tolist()


def test_a_set_with_one_class_is_refused(tmp_path):
    clips = pd.DataFrame(
        {
            "path": ["a.wav"],
            "group": ["slider"],
            "id": ["id_00"],
            "label": ["normal"],
            "split": ["train"],
        }
    )
    with pytest.raises(ValueError, match="needs at least 2"):
        train_clips_network(clips, "complex", TINY, BASE, specs_fn=lambda df: [])
    with pytest.raises(ValueError, match="no normal training clips"):
        train_clips_network(clips, "complex", TINY, BASE, groups="fan")


def test_crops_are_seeded_and_inside_the_clips():
    a = sample_crops([70, 100], 3, 64, np.random.default_rng(0))
    b = sample_crops([70, 100], 3, 64, np.random.default_rng(0))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    clip_idx, starts = a
    assert sorted(clip_idx.tolist()) == [0, 0, 0, 1, 1, 1]
    assert all(s + 64 <= n for s, n in zip(starts, np.array([70, 100])[clip_idx], strict=True))


def test_device_and_precision_resolution():
    cpu = resolve_device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else cpu.type) or (
        torch.backends.mps.is_available()
    )
    assert resolve_precision("auto", cpu) == ("bf16" if fast_bf16_available() else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="not supported on the CPU"):
        resolve_precision("fp16", cpu)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable CUDA"):
            resolve_device("cuda")


@pytest.mark.parametrize("variant", ["complex", "magnitude"])
def test_saved_network_loads_with_the_same_outputs(data, tmp_path, variant):
    res = train_model(variant, *data, TINY, dataclasses.replace(BASE, epochs=1, patience=None))
    path = save_trained(res, tmp_path / "model.pt", note="x")
    back, extra = load_trained(path)
    assert extra == {"note": "x"} and back.variant == variant and back.classes == res.classes
    x = torch.from_numpy(data[0][0][None, :, :, :64].copy())
    with torch.no_grad():
        torch.testing.assert_close(back.model(x).embedding, res.model(x).embedding)
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match=r"bad\.pt: unreadable checkpoint"):
        load_trained(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="no trained model"):
        load_trained(tmp_path / "none.pt")
    # files written when the training config held a copy of the window length
    blob = torch.load(path, weights_only=False)
    for window, ok in ((64, True), (32, False)):
        old = json.loads(blob["train_config"])
        blob["train_config"] = json.dumps({**old, "window_frames": window})
        torch.save(blob, tmp_path / "old.pt")
        if ok:
            assert load_trained(tmp_path / "old.pt")[0].config == res.config
        else:
            with pytest.raises(ValueError, match="old.pt: .*windows of 32 frames.* says 64"):
                load_trained(tmp_path / "old.pt")


def test_loader_workers_change_nothing_but_speed(data):
    config = dataclasses.replace(BASE, epochs=2, patience=None)
    a = train_model("complex", *data, TINY, config)
    b = train_model("complex", *data, TINY, dataclasses.replace(config, loader_workers=2))
    np.testing.assert_array_equal(a.history["train_loss"], b.history["train_loss"])
    np.testing.assert_array_equal(a.history["val_loss"], b.history["val_loss"])
    assert a.signature == b.signature  # a run may resume with another number of workers


def test_crop_batches_are_the_crops_in_order(data):
    specs = data[0]
    clip_idx, starts = np.array([2, 0, 1, 2, 1]), np.array([0, 5, 16, 3, 9])
    got = [
        (x.numpy(), i.numpy())
        for x, i in crop_loader(specs, clip_idx, starts, window=8, batch_size=2)
    ]
    assert [len(i) for _, i in got] == [2, 2, 1]
    x = np.concatenate([g[0] for g in got])
    for row, (c, s) in enumerate(zip(clip_idx, starts, strict=True)):
        np.testing.assert_array_equal(x[row], specs[c][:, :, s : s + 8])
    np.testing.assert_array_equal(np.concatenate([g[1] for g in got]), clip_idx)


def test_speed_classes_are_copies_on_the_same_side_of_the_split(tmp_path, monkeypatch, write_wav):
    """Each factor adds one class per real class; a clip's copies land on its side of the split
    (held-out clips stay unseen in every form) and have 1 / factor its samples (by hand)."""
    from audioanom.machines import training
    from audioanom.machines.features import StftConfig

    monkeypatch.setenv("AUDIOANOM_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    n_samples = 16000
    clips = pd.DataFrame(
        {
            "path": [
                str(write_wav(f"c{i}.wav", 0.1 * rng.standard_normal(n_samples))) for i in range(10)
            ],
            "group": ["fan"] * 10,
            "id": ["id_00", "id_02"] * 5,
            "label": ["normal"] * 10,
            "split": ["train"] * 10,
        }
    )
    runs = []
    monkeypatch.setattr(training, "train_model", lambda *a, **kw: runs.append((a, kw)))
    training.train_clips_network(clips, "complex", TINY, BASE)  # STFTs: n_fft 256, hop 128
    training.train_clips_network(clips, "complex", TINY, BASE, speed_classes=(0.8, 1.25))
    (plain, _), (sped, kw) = runs
    _, tr0, y0, va0, yv0, cfg0, _ = plain
    _, tr, y, va, yv, cfg, _ = sped
    assert runs[0][1]["classes"] == ["fan/id_00", "fan/id_02"] and cfg0.n_classes == 2
    assert kw["classes"] == [
        "fan/id_00",
        "fan/id_02",
        "fan/id_00@x0.8",
        "fan/id_02@x0.8",
        "fan/id_00@x1.25",
        "fan/id_02@x1.25",
    ]
    assert cfg.n_classes == 6
    n_tr, n_va = len(tr0), len(va0)
    assert (n_tr, n_va) == (8, 2) and len(tr) == 3 * n_tr and len(va) == 3 * n_va
    np.testing.assert_array_equal(y, np.concatenate([y0, y0 + 2, y0 + 4]))
    np.testing.assert_array_equal(yv, np.concatenate([yv0, yv0 + 2, yv0 + 4]))
    for a, b in zip(va[:n_va], va0, strict=True):  # the real held-out clips are the same
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for k, factor in enumerate((0.8, 1.25), start=1):
        frames = 1 + int(np.ceil(n_samples / factor)) // 128
        assert {s.shape for s in tr[k * n_tr : (k + 1) * n_tr]} == {(2, 129, frames)}
    # the copy of a held-out clip is the held-out clip sped up: same spectrum, moved
    slow = np.hypot(*np.asarray(va[n_va])).mean(axis=1)
    orig = np.hypot(*np.asarray(va0[0])).mean(axis=1)
    assert slow.shape == orig.shape and not np.allclose(slow, orig)
    for bad in ((1.0,), (0.9, 0.9), (-1.0,)):
        with pytest.raises(ValueError, match="speed_classes"):
            training.train_clips_network(clips, "complex", TINY, BASE, speed_classes=bad)
    with pytest.raises(ValueError, match="specs_fn"):
        training.train_clips_network(
            clips,
            "complex",
            TINY,
            BASE,
            specs_fn=lambda t: [],
            speed_classes=(1.1,),
        )
    with pytest.raises(ValueError, match="differ from the network's"):  # hop 512, not 128
        training.train_clips_network(
            clips, "complex", TINY, BASE, stft_config=StftConfig(n_fft=256)
        )


def test_training_cuts_the_networks_windows(data, monkeypatch):
    """Training crops and validation windows are ``window_frames`` of the network's config long
    (the windows it is scored on), not a length of the training config."""
    from audioanom.machines import training

    seen = []

    def spy(real):
        return lambda *a, **kw: seen.append(kw["window"]) or real(*a, **kw)

    monkeypatch.setattr(training, "crop_loader", spy(training.crop_loader))
    monkeypatch.setattr(training, "window_totals", spy(training.window_totals))
    cfg = tiny_net_config(window_frames=48)
    train_model("complex", *data, cfg, dataclasses.replace(BASE, epochs=1, patience=None))
    assert seen and set(seen) == {48}
