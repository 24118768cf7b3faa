"""Isolation Forest and PCA scores: direction, per-bin errors, component choice, the fast
eigen-solvers against scikit-learn, the fit/score split, input checks and the exact round trip
from features back to waveforms."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from audioanom.digits.detectors import (
    fit_isolation_forest,
    fit_pca,
    isolation_forest_scores,
    score_with_both,
)
from audioanom.digits.features import FFTConfig, clip_spectra, read_signals, reconstruct_waveform
from tests.conftest import tone


def _low_rank(n=300, d=60, rank=5, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, d))
    return rng.standard_normal((n, rank)) @ basis + noise * rng.standard_normal((n, d))


def test_isolation_forest_scores_outliers_higher():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.standard_normal((200, 8)), 8 + rng.standard_normal((5, 8))])
    s = isolation_forest_scores(fit_isolation_forest(X, seed=0), X)
    assert s.shape == (205,)
    assert s[200:].min() > np.quantile(s[:200], 0.99)
    with pytest.raises(ValueError, match="features"):
        isolation_forest_scores(fit_isolation_forest(X), X[:, :3])


def test_pca_bin_errors_sum_to_the_clip_error_and_flag_off_subspace_rows():
    X = _low_rank()
    model = fit_pca(X, 5)
    odd = X[:3] + np.eye(3, 60) * 3.0  # pushed off the 5-D subspace
    both = np.vstack([X, odd])
    bins = model.bin_errors(both)
    assert bins.shape == both.shape and bins.min() >= 0
    np.testing.assert_allclose(bins.sum(axis=1), model.errors(both), rtol=1e-10)
    e = model.errors(both)
    assert e[-3:].min() > 100 * np.median(e[:300])
    assert np.argmax(bins[-3]) == 0  # the error sits in the bin that was changed


@pytest.mark.parametrize("shape", [(40, 120), (200, 30)], ids=["gram (n<d)", "covariance (n>d)"])
def test_pca_matches_scikit_learn(shape):
    rng = np.random.default_rng(2)
    X = rng.standard_normal(shape) @ np.diag(np.linspace(3, 0.1, shape[1])) + 5.0
    ours = fit_pca(X, 0.9)
    ref = PCA(0.9, svd_solver="full").fit(X)
    assert ours.n_components == ref.n_components_
    np.testing.assert_allclose(ours.explained_variance, ref.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(
        ours.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-8
    )
    ref_rec = ref.inverse_transform(ref.transform(X))
    np.testing.assert_allclose(ours.reconstruct(X), ref_rec, atol=1e-8)
    np.testing.assert_allclose(
        np.abs(ours.components @ ref.components_.T), np.eye(ours.n_components), atol=1e-6
    )


def test_n_components_by_variance_is_the_fewest_that_exceed_it():
    X = _low_rank(rank=8, noise=0.05)
    for fraction in (0.5, 0.9, 0.99):
        model = fit_pca(X, fraction, method="full")
        cum = np.cumsum(fit_pca(X, 59, method="full").explained_variance_ratio)
        k = model.n_components
        assert cum[k - 1] > fraction and (k == 1 or cum[k - 2] <= fraction)
    assert fit_pca(X, 7).n_components == 7


def test_randomized_solver_agrees_with_the_full_one():
    rng = np.random.default_rng(3)
    # A slowly decaying spectrum, the hard case for subspace iteration.
    X = rng.standard_normal((500, 800)) * np.linspace(2.0, 0.2, 800)
    full = fit_pca(X, 0.9, method="full")
    fast = fit_pca(X, 0.9, method="randomized")
    assert abs(fast.n_components - full.n_components) <= 2
    rel = np.abs(fast.errors(X) - full.errors(X)) / full.errors(X)
    assert rel.max() < 0.02
    k = fit_pca(X, 40, method="randomized")
    k_full = fit_pca(X, 40, method="full")
    np.testing.assert_allclose(k.explained_variance, k_full.explained_variance, rtol=2e-2)


def test_full_rank_pca_reconstructs_the_training_rows_exactly():
    X = _low_rank(n=30, d=50, rank=10, noise=0.1)
    model = fit_pca(X, 29)  # min(n - 1, d): every direction the centred rows span
    np.testing.assert_allclose(model.reconstruct(X), X, atol=1e-9)
    assert model.errors(X).max() < 1e-16


def test_fit_on_training_rows_and_score_others():
    X_train = _low_rank(n=200, seed=4)
    rng = np.random.default_rng(5)
    X_new = np.vstack([X_train[:20], 3 * rng.standard_normal((20, 60))])
    res = score_with_both(X_train, X_new, n_components=5, n_estimators=50)
    assert res.isolation_forest.shape == res.pca_error.shape == (40,)
    assert res.pca_bin_errors.shape == (40, 60)
    assert res.pca.n_samples == 200 and res.pca.n_components == 5
    assert res.pca_error[20:].min() > res.pca_error[:20].max()
    assert res.isolation_forest[20:].mean() > res.isolation_forest[:20].mean()
    same = score_with_both(X_train, n_components=5, n_estimators=50)
    assert same.pca_error.shape == (200,)


def test_wrong_inputs_raise_value_errors():
    X = _low_rank(n=20, d=10)
    with pytest.raises(ValueError, match="2-D"):
        fit_pca(X[0], 2)
    with pytest.raises(ValueError, match="between 1 and 10"):
        fit_pca(X, 11)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        fit_pca(X, 1.5)
    with pytest.raises(ValueError, match="int or a float"):
        fit_pca(X, True)
    with pytest.raises(ValueError, match="NaN"):
        fit_pca(np.where(np.eye(20, 10) > 0, np.nan, X), 2)
    with pytest.raises(ValueError, match="zero variance"):
        fit_pca(np.ones((5, 4)), 2)
    model = fit_pca(X, 3)
    with pytest.raises(ValueError, match="features"):
        model.errors(X[:, :5])
    with pytest.raises(ValueError, match="Z must be"):
        model.inverse_transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="X_score has"):
        score_with_both(X, X[:, :4], n_components=2)
    with pytest.raises(ValueError, match="2-D"):
        fit_isolation_forest(np.ones(5))


def test_full_rank_pca_reconstructs_the_waveform_exactly(write_wav):
    config = FFTConfig(target_sr=8000, n_samples=64)  # 33 bins
    files = [
        write_wav(f"t{i}.wav", tone(0.01, 8000, 200.0 + 97 * i) * (1 + 0.3 * i), 8000)
        for i in range(40)
    ]
    spectra = clip_spectra(files, config).astype(np.complex128)  # 40, 33
    X = np.abs(spectra) / np.abs(spectra).max(axis=1, keepdims=True)
    model = fit_pca(X, 33)  # n > d: all 33 directions
    rec = model.reconstruct(X)
    np.testing.assert_allclose(rec, X, atol=1e-10)
    waves = reconstruct_waveform(spectra, rec, config)
    np.testing.assert_allclose(waves, read_signals(files, config), atol=1e-6)
    # With fewer components the waveform changes where the spectrum does.
    approx = reconstruct_waveform(spectra, fit_pca(X, 2).reconstruct(X), config)
    assert np.abs(approx - waves).max() > 1e-3
