"""Training of the complex network: loss goes down, resume is exact, splits and classes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from audioanom.nn import fast_bf16_available
from audioanom.training import (
    HISTORY_COLUMNS,
    CheckpointMismatch,
    TrainConfig,
    augment_batch,
    checkpoint_path,
    class_mapping,
    load_trained,
    resolve_device,
    resolve_precision,
    sample_crops,
    save_trained,
    split_train_val,
    train_machine_type,
    train_model,
    training_clips,
)
from tests.conftest import tiny_net_config

TINY = tiny_net_config(dropout=0.1)
BASE = TrainConfig(
    epochs=4, batch_size=8, lr=3e-3, crops_per_clip=2, val_hop=32, threads=1, device="cpu"
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


def test_tiny_training_lowers_the_loss(data):
    res = train_model(*data, TINY, dataclasses.replace(BASE, epochs=5, patience=None))
    h = res.history
    assert list(h.columns) == list(HISTORY_COLUMNS)
    assert len(h) == 5 and h["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert h["train_loss"].iat[-1] < h["train_loss"].iat[0]
    assert h["val_loss"].min() < h["val_loss"].iat[0]
    assert (h["clips_per_s"] > 0).all() and (h["lr"] == BASE.lr).all()
    assert not res.model.training  # returned in eval mode
    assert res.classes == ("0", "1", "2") and res.precision in ("fp32", "bf16")


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_after_a_crash_gives_the_same_result(data, tmp_path):
    # Dropout, mixup and every augmentation on: all random streams must be restored.
    cfg = dataclasses.replace(
        BASE,
        patience=None,
        mixup_alpha=0.4,
        freq_mask_bins=8,
        time_mask_frames=8,
        noise_level=0.1,
        freq_shift_bins=2,
    )
    full = train_model(*data, TINY, cfg, checkpoint_dir=tmp_path / "a")

    class Crash(RuntimeError):
        pass

    def crash_after_two(epoch, row):
        if epoch == 2:
            raise Crash

    with pytest.raises(Crash):
        train_model(*data, TINY, cfg, checkpoint_dir=tmp_path / "b", callback=crash_after_two)
    assert torch.load(checkpoint_path(tmp_path / "b"), weights_only=True)["epoch"] == 2
    resumed = train_model(*data, TINY, cfg, checkpoint_dir=tmp_path / "b", resume=True)

    a, b = _weights(full.model), _weights(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "best"]
    pd.testing.assert_frame_equal(full.history[cols], resumed.history[cols])
    assert pd.read_csv(tmp_path / "b" / "metrics.csv")["epoch"].tolist() == [1, 2, 3, 4]
    # A finished run resumes to the same result without training again.
    again = train_model(*data, TINY, cfg, checkpoint_dir=tmp_path / "b", resume=True)
    assert all(torch.equal(v, _weights(again.model)[k]) for k, v in b.items())


def test_resume_refuses_other_settings_but_may_add_epochs(data, tmp_path):
    cfg = dataclasses.replace(BASE, epochs=1)
    train_model(*data, TINY, cfg, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointMismatch, match="other settings"):
        train_model(
            *data, TINY, dataclasses.replace(cfg, lr=1e-3), checkpoint_dir=tmp_path, resume=True
        )
    more = dataclasses.replace(cfg, epochs=2)
    res = train_model(*data, TINY, more, checkpoint_dir=tmp_path, resume=True)
    assert res.history["epoch"].tolist() == [1, 2]


def test_early_stopping_keeps_the_best_epoch(data):
    # A learning rate this small cannot change the accuracy: no improvement after epoch 1.
    cfg = dataclasses.replace(BASE, epochs=6, lr=1e-12, patience=2, monitor="val_acc")
    res = train_model(*data, TINY, cfg)
    assert res.stopped_early and res.best_epoch == 1 and len(res.history) == 3
    assert res.history["best"].tolist() == [True, False, False]


def test_bad_inputs_raise_clear_errors(data):
    train, y, val, yv = data
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        train_model(train, y + 1, val, yv, TINY, BASE)
    with pytest.raises(ValueError, match="expected a \\(2, 129, T\\)"):
        train_model([t[:, :100] for t in train], y, val, yv, TINY, BASE)
    with pytest.raises(ValueError, match="fewer than one window"):
        train_model([t[..., :40] for t in train], y, [], [], TINY, BASE)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=1)


def test_class_mapping_and_training_clips():
    assert class_mapping(["id_04", "id_00", "id_02", "id_00"]) == {
        "id_00": 0,
        "id_02": 1,
        "id_04": 2,
    }
    clips = pd.DataFrame(
        {
            "path": [f"/x/{i}.wav" for i in range(6)],
            "group": ["fan", "fan", "fan", "fan", "pump", "fan"],
            "id": ["id_00", "id_02", "id_02", "id_04", "id_00", "id_06"],
            "label": ["normal", "normal", "anomaly", "normal", "normal", "normal"],
            "split": ["train", "train", "test", "test", "train", "train"],
        }
    )
    fan = training_clips(clips, "fan")
    assert fan["path"].tolist() == ["/x/0.wav", "/x/1.wav", "/x/5.wav"]
    assert list(class_mapping(fan["id"])) == ["id_00", "id_02", "id_06"]
    with pytest.raises(ValueError, match="lacks column 'split'"):
        training_clips(clips.drop(columns="split"))


def test_a_type_with_one_id_or_no_training_clips_is_refused():
    clips = pd.DataFrame(
        {
            "path": ["/x/a.wav", "/x/b.wav"],
            "group": ["slider", "slider"],
            "id": ["id_00", "id_00"],
            "label": ["normal", "normal"],
            "split": ["train", "train"],
        }
    )
    with pytest.raises(ValueError, match="needs at least 2"):
        train_machine_type(clips, "slider")
    with pytest.raises(ValueError, match="no normal training clips"):
        train_machine_type(clips, "fan")


def test_split_is_per_id_by_clip_and_seeded():
    ids = ["a"] * 10 + ["b"] * 5 + ["c"]
    clips = pd.DataFrame({"id": ids, "path": [str(i) for i in range(16)]})
    train, val = split_train_val(clips, 0.2, seed=3)
    assert val["id"].value_counts().to_dict() == {"a": 2, "b": 1}  # c has one clip: kept
    assert set(train.index).isdisjoint(val.index) and len(train) + len(val) == 16
    again = split_train_val(clips, 0.2, seed=3)[1]
    assert val.index.tolist() == again.index.tolist()
    assert val.index.tolist() != split_train_val(clips, 0.2, seed=4)[1].index.tolist()
    assert split_train_val(clips, 0.0, seed=0)[1].empty


def test_crops_are_seeded_and_inside_the_clips():
    a = sample_crops([80, 64, 200], 3, 64, np.random.default_rng(0))
    b = sample_crops([80, 64, 200], 3, 64, np.random.default_rng(0))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    clip_idx, starts = a
    assert sorted(np.bincount(clip_idx).tolist()) == [3, 3, 3]
    assert (starts + 64 <= np.array([80, 64, 200])[clip_idx]).all()
    assert (starts[clip_idx == 1] == 0).all()


def test_augmentations_are_seeded_and_change_the_input():
    x = torch.randn(4, 2, 129, 64)
    cfg = TrainConfig(freq_mask_bins=20, time_mask_frames=10, noise_level=0.1, freq_shift_bins=3)
    a = augment_batch(x, cfg, torch.Generator().manual_seed(0))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    assert augment_batch(x, TrainConfig(), torch.Generator()) is x  # all off by default


def test_device_and_precision_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if fast_bf16_available() else "fp32")
    assert resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", cpu)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_saved_network_loads_with_the_same_outputs(data, tmp_path):
    res = train_model(*data, TINY, dataclasses.replace(BASE, epochs=1))
    save_trained(res, tmp_path / "m.pt", machine_type="fan")
    loaded, extra = load_trained(tmp_path / "m.pt")
    assert extra == {"machine_type": "fan"} and loaded.classes == res.classes
    assert loaded.model_config == res.model_config and loaded.config == res.config
    x = torch.from_numpy(data[0][0][None, ..., :64])
    with torch.no_grad():
        assert torch.allclose(res.model(x).fused, loaded.model(x).fused)
    with pytest.raises(FileNotFoundError):
        load_trained(tmp_path / "missing.pt")
