"""The DCASE 2020 baseline autoencoder (audioanom.machines.autoencoder), toy data and the real
samples."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from audioanom.machines import autoencoder as ae  # noqa: E402
from audioanom.machines import features as mf  # noqa: E402
from audioanom.machines.plots import plot_training_curves  # noqa: E402
from tests.conftest import shared  # noqa: E402

SMALL = ae.AutoencoderConfig(epochs=2, batch_size=128)


def toy_vectors(n: int = 1024, seed: int = 0) -> np.ndarray:
    """Vectors near a 4-dim subspace of R^640 (what a bottleneck of 8 can learn)."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((4, 640))
    return (rng.standard_normal((n, 4)) @ basis + 0.05 * rng.standard_normal((n, 640))).astype(
        np.float32
    )


def test_architecture_matches_the_keras_baseline():
    cfg = ae.AutoencoderConfig()
    assert cfg.layer_sizes == (640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640)
    model = ae.DenseAutoencoder(cfg)
    linears = [m for m in model.net if isinstance(m, torch.nn.Linear)]
    norms = [m for m in model.net if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(linears) == 10 and len(norms) == 9  # BN + ReLU after every hidden layer
    assert norms[4].num_features == 8 and norms[0].eps == 1e-3 and norms[0].momentum == 0.01
    assert isinstance(model.net[-1], torch.nn.Linear)  # linear output
    model.eval()
    assert model(torch.zeros(3, 640)).shape == (3, 640)
    with pytest.raises(ValueError, match=r"\(B, 640\)"):
        model(torch.zeros(3, 64))
    with pytest.raises(ValueError, match="val_fraction"):
        ae.AutoencoderConfig(val_fraction=1.0)


def test_loss_decreases_on_toy_data_and_history_has_the_documented_columns():
    cfg = ae.AutoencoderConfig(hidden=64, epochs=8, batch_size=32, lr=3e-3)
    model, hist = ae.fit_autoencoder(toy_vectors(320), cfg)
    assert list(hist.columns) == ["epoch", "train_loss", "val_loss", "seconds"]
    assert list(hist["epoch"]) == list(range(1, 9))
    assert hist["train_loss"].iat[-1] < 0.5 * hist["train_loss"].iat[0]
    assert hist["val_loss"].iat[-1] < 0.7 * hist["val_loss"].iat[0]
    # Keras' validation_split: the last 10 % of the rows
    assert (hist.attrs["n_train"], hist.attrs["n_val"]) == (288, 32)
    assert not model.training


def test_training_is_deterministic_with_a_seed_and_leaves_the_global_rng_alone():
    x = toy_vectors(512)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    m1, h1 = ae.fit_autoencoder(x, SMALL)
    assert torch.equal(torch.rand(3), expected_next)
    m2, h2 = ae.fit_autoencoder(x, SMALL)
    pd.testing.assert_frame_equal(h1.drop(columns="seconds"), h2.drop(columns="seconds"))
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    m3, _ = ae.fit_autoencoder(x, ae.AutoencoderConfig(epochs=2, batch_size=128, seed=1))
    assert not torch.equal(m1.net[0].weight, m3.net[0].weight)


def test_per_clip_lists_hold_out_whole_clips():
    clips = [toy_vectors(50, seed=s) for s in range(10)]
    _, hist = ae.fit_autoencoder(clips, SMALL)
    assert (hist.attrs["n_train"], hist.attrs["n_val"]) == (450, 50)  # one clip of ten
    with pytest.raises(ValueError, match=r"train_vectors\[1\]"):
        ae.fit_autoencoder([toy_vectors(5), np.zeros((5, 64), np.float32)], SMALL)


def test_score_is_the_mean_reconstruction_error_of_the_clip(tmp_path):
    model, _ = ae.fit_autoencoder(toy_vectors(512), SMALL)
    clips = [toy_vectors(30, seed=1), toy_vectors(7, seed=2), 5 * toy_vectors(12, seed=3)]
    scores = ae.score_clips(model, clips)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    for s, c in zip(scores, clips, strict=True):
        x = torch.from_numpy(c)
        with torch.no_grad():
            expected = float(((model(x) - x) ** 2).mean())
        assert s == pytest.approx(expected, rel=1e-5)
    assert scores[2] > scores[0]  # far-off vectors reconstruct worse
    with pytest.raises(ValueError, match="clip 1"):
        ae.score_clips(model, [clips[0], np.zeros((0, 640), np.float32)])
    loaded = ae.load_autoencoder(ae.save_autoencoder(model, tmp_path / "m.pt"))
    np.testing.assert_array_equal(ae.score_clips(loaded, clips), scores)


def test_score_of_a_known_model_output_is_the_hand_computed_mse():
    """The output layer zeroed with bias 1: the model outputs 1 everywhere, whatever the input,
    so a vector of constant value v has error (v - 1)**2 and a clip the mean of those."""
    model = ae.DenseAutoencoder(ae.AutoencoderConfig())
    with torch.no_grad():
        model.net[-1].weight.zero_()
        model.net[-1].bias.fill_(1.0)
    clip_a = np.repeat(np.array([0.0, 1.0, 2.0, 3.0], np.float32)[:, None], 640, axis=1)
    clip_b = np.zeros((2, 640), np.float32)
    clip_b[0, :320] = 3.0  # half the dims off by 2, half by 1: (320 * 4 + 320 * 1) / 640
    np.testing.assert_allclose(ae.reconstruction_errors(model, clip_a), [1.0, 0.0, 1.0, 4.0])
    scores = ae.score_clips(model, [clip_a, clip_b])
    # clip a: mean(1, 0, 1, 4) = 1.5; clip b: mean(2.5, 1.0) = 1.75
    np.testing.assert_allclose(scores, [1.5, 1.75], rtol=1e-6)


def test_a_clear_anomaly_is_ranked_above_every_normal_clip():
    """Normal clips lie near the training subspace; anomalous clips are normal ones plus
    isotropic noise of three times their RMS, which a 4-dim bottleneck cannot reconstruct
    (error >= about 9x the clip's mean square): AUC 1 and pAUC 1 (every anomaly scored above
    every normal clip), and the AUC is scikit-learn's on the same scores."""
    from audioanom.metrics import auc_pauc

    model, _ = ae.fit_autoencoder(
        toy_vectors(512), ae.AutoencoderConfig(hidden=64, epochs=8, batch_size=32, lr=3e-3)
    )
    normal = [toy_vectors(20, seed=10 + i) for i in range(6)]
    rng = np.random.default_rng(99)
    scale = float(np.sqrt((normal[0] ** 2).mean()))
    anomaly = [
        (toy_vectors(20, seed=20 + i) + 3 * scale * rng.standard_normal((20, 640))).astype(
            np.float32
        )
        for i in range(4)
    ]
    scores = ae.score_clips(model, normal + anomaly)
    labels = ["normal"] * 6 + ["anomaly"] * 4
    assert scores[6:].min() > scores[:6].max()
    auc, pauc = auc_pauc(labels, scores)
    assert (auc, pauc) == (1.0, 1.0)
    y = np.r_[np.zeros(6), np.ones(4)]
    assert auc == roc_auc_score(y, scores)
    assert pauc == roc_auc_score(y, scores, max_fpr=0.1)


def test_pipeline_over_a_clip_table(tmp_path, write_wav):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        p = write_wav(f"fan/train/normal_id_00_{i:08d}.wav", 0.1 * rng.standard_normal(16000))
        rows.append((str(p), "fan", "id_00", "normal", "train"))
    for i, label in enumerate(["normal", "anomaly"]):
        p = write_wav(f"fan/test/{label}_id_00_{i:08d}.wav", 0.3 * rng.standard_normal(16000))
        rows.append((str(p), "fan", "id_00", label, "test"))
    p = write_wav("pump/test/normal_id_00_00000000.wav", 0.1 * rng.standard_normal(16000))
    rows.append((str(p), "pump", "id_00", "normal", "test"))
    clips = pd.DataFrame(rows, columns=["path", "group", "id", "label", "split"])
    run = ae.run_autoencoder_baseline(clips, config=SMALL, cache_root=tmp_path / "cache")
    assert len(run.scores) == 6 and np.isfinite(run.scores["score"]).all()
    assert set(run.models) == {"fan"} and run.notes == ("pump: no training clips, not scored",)
    assert run.histories["fan"].attrs["n_val"] == 28  # one whole clip of 28 vectors
    with pytest.raises(ValueError, match="pump"):
        ae.run_autoencoder_baseline(clips, config=SMALL, machine_types=["pump"])
    fig = plot_training_curves(run.histories["fan"])
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train_loss", "val_loss"]
    csv = tmp_path / "metrics.csv"
    run.histories["fan"].assign(val_accuracy=0.5).to_csv(csv, index=False)
    assert len(plot_training_curves(csv).axes) == 2  # accuracy on a right-hand axis
    plt.close("all")


@pytest.mark.realdata
def test_real_slider_id_00_check(tmp_path):
    root = shared("mimii_dcase2020_samples")
    cfg = ae.AutoencoderConfig(epochs=1)
    check = ae.real_data_check(root, config=cfg, cache_root=tmp_path)
    assert (check.n_train, check.n_normal, check.n_anomaly) == (75, 5, 4)
    test = check.scores[check.scores["split"] == "test"]
    assert len(test) == 9 and np.isfinite(check.scores["score"]).all()
    # the reported AUC/pAUC are scikit-learn's on the test clips' own scores (1 = anomaly)
    y = (test["label"] == "anomaly").to_numpy().astype(int)
    assert y.sum() == 4
    assert check.auc == pytest.approx(roc_auc_score(y, test["score"]), abs=1e-12)
    assert check.pauc == pytest.approx(roc_auc_score(y, test["score"], max_fpr=0.1), abs=1e-12)
    assert len(check.history) == 1 and np.isfinite(check.history["val_loss"]).all()
    # determinism on real vectors (from the feature cache just filled): same seed, same model
    train = check.scores[check.scores["split"] == "train"].head(8)
    vectors = mf.vectors_table(train, cache_root=tmp_path)
    assert all(v.shape == (309, 640) for v in vectors)
    small = ae.AutoencoderConfig(epochs=1, batch_size=256)
    s1 = ae.score_clips(ae.fit_autoencoder(vectors, small)[0], vectors)
    s2 = ae.score_clips(ae.fit_autoencoder(vectors, small)[0], vectors)
    np.testing.assert_array_equal(s1, s2)
