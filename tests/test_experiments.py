"""The per-type pipeline on a tiny DCASE-layout set written on the fly: skipping what cannot
be trained, the tables' columns, saved models for notebook 07, and the CLI functions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audioanom.datasets import load_dcase2020
from audioanom.experiments import (
    METHOD_NAMES,
    default_ae_config,
    default_train_config,
    evaluate_all,
    evaluate_scores,
    load_network,
    per_kind_metrics,
    run_dir,
    run_machine_type,
    survey_types,
    threshold_summary,
    train_all,
)
from audioanom.metrics import PER_ID_COLUMNS
from audioanom.scoring import SCORE_COLUMNS

SR = 16000
SECONDS = 2.2  # 69 frames: one 64-frame window and a second one aligned to the end


def _clip(freq: float, anomaly: bool, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.normal(size=t.size)
    if anomaly:
        x += 0.2 * np.sin(2 * np.pi * 3.3 * freq * t)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def dcase_root(tmp_path_factory):
    """fan: 2 IDs with training clips, id_04 test-only; valve: test clips only; slider: one
    ID with training clips; pump id_02: normal test clips only (one class)."""
    root = tmp_path_factory.mktemp("dcase")
    rng = np.random.default_rng(0)
    plan = {
        ("fan", "id_00", 300.0): (4, 2, 2),  # (train, test normal, test anomaly)
        ("fan", "id_02", 700.0): (4, 2, 2),
        ("fan", "id_04", 500.0): (0, 2, 2),
        ("valve", "id_00", 400.0): (0, 1, 1),
        ("slider", "id_00", 250.0): (3, 1, 1),
        ("pump", "id_00", 200.0): (3, 2, 2),
        ("pump", "id_02", 900.0): (3, 2, 0),
    }
    for (mtype, mid, freq), (n_train, n_norm, n_anom) in plan.items():
        files = [("train", "normal", i) for i in range(n_train)]
        files += [("test", "normal", i) for i in range(n_norm)]
        files += [("test", "anomaly", i) for i in range(n_anom)]
        for split, label, i in files:
            path = root / mtype / split / f"{label}_{mid}_{i:08d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, _clip(freq, label == "anomaly", rng), SR, subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def clips(dcase_root):
    return load_dcase2020(dcase_root).clips


@pytest.fixture(autouse=True)
def _dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOANOM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AUDIOANOM_BUILD", str(tmp_path / "build"))


TC = dataclasses.replace(default_train_config(1, smoke=True, device="cpu"), threads=1, batch_size=4)


def test_survey_reports_what_cannot_be_trained(clips):
    s = survey_types(clips).set_index("machine_type")
    assert s.loc["fan", "network"] and s.loc["fan", "train_ids"] == "id_00, id_02"
    assert "id_04" in s.loc["fan", "note"]  # test-only ID: reported, not scored
    assert not s.loc["valve", "network"] and not s.loc["valve", "autoencoder"]
    assert "no normal training clips" in s.loc["valve", "note"]
    assert not s.loc["slider", "network"] and s.loc["slider", "autoencoder"]
    assert "one ID only" in s.loc["slider", "note"]


def test_a_type_without_training_data_is_reported_not_run(clips):
    run = run_machine_type(clips, "valve", "complex", TC, preset="tiny")
    assert run.result is None and run.scores.empty and run.history.empty
    assert "no normal training clips" in run.notes[0]


def test_pipeline_tables_and_saved_models(clips, tmp_path):
    out = tmp_path / "run"
    types = ["fan", "pump", "slider", "valve"]
    training = train_all(
        clips,
        types,
        train_config=TC,
        ae_config=default_ae_config(1, smoke=True),
        preset="tiny",
        out_dir=out,
    )
    assert {k for k in training.histories} == {
        (m, t) for t in ("fan", "pump") for m in ("complex", "magnitude", "autoencoder")
    } | {("autoencoder", "slider")}
    assert any("valve" in n for n in training.notes) and any("slider" in n for n in training.notes)
    assert {"method", "val_acc", "seconds"} <= set(training.summary().columns)
    net = load_network(out, "complex", "fan", clips=clips)
    assert net.classes == ("id_00", "id_02")

    ev = evaluate_all(clips, types, out_dir=out, preset="tiny")
    assert list(ev.per_id.columns) == list(PER_ID_COLUMNS)
    assert set(SCORE_COLUMNS) <= set(ev.scores.columns)
    assert set(ev.per_id["method"]) == set(METHOD_NAMES.values())
    # fan id_04 has no training clips: the networks skip it, the autoencoder scores it.
    fan_ids = ev.per_id[ev.per_id["machine_type"] == "fan"].groupby("method")["id"].apply(set)
    assert fan_ids[METHOD_NAMES["complex"]] == {"id_00", "id_02"}
    assert fan_ids[METHOD_NAMES["autoencoder"]] == {"id_00", "id_02", "id_04"}
    assert any("fan id_04" in n for n in ev.notes)
    # pump id_02 has normal test clips only: reported with a note and no AUC.
    one = ev.per_id[(ev.per_id["machine_type"] == "pump") & (ev.per_id["id"] == "id_02")]
    assert one["auc"].isna().all() and one["note"].str.contains("one class only").all()
    # Summary, comparison with the paper, thresholds.
    assert {"auc_mean", "auc_hmean", "pauc_mean", "pauc_hmean"} <= set(ev.summary.columns)
    assert "Kim et al. 2021 AUC (paper)" in ev.comparison.columns
    assert ev.comparison.loc["fan", "Kim et al. 2021 AUC (paper)"] == pytest.approx(96.40)
    assert {"youden", "train_p90"} <= set(ev.thresholds["rule"])
    assert ev.thresholds.loc[ev.thresholds["rule"] == "youden", "optimistic"].all()
    decisions = threshold_summary(ev.thresholds)
    assert {"precision", "recall", "f1", "tn", "fp", "fn", "tp"} <= set(decisions.columns)
    for name in ("scores", "per_id", "summary", "comparison", "thresholds"):
        assert (out / "tables" / f"{name}.csv").is_file()
    assert (out / "scores" / "complex" / "fan.csv").is_file()


def test_missing_model_says_what_to_run(clips, tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 06"):
        evaluate_all(clips, ["fan"], out_dir=tmp_path / "empty", autoencoder=False)
    # ... unless told to train what is missing (smoke mode of notebook 07).
    ev = evaluate_all(
        clips,
        ["fan"],
        out_dir=tmp_path / "empty",
        autoencoder=False,
        train_missing=TC,
        preset="tiny",
    )
    assert set(ev.per_id["method"]) == {METHOD_NAMES["complex"], METHOD_NAMES["magnitude"]}


def test_evaluate_scores_and_kinds_from_a_score_table():
    rng = np.random.default_rng(0)
    rows = []
    for mid in ("id_00", "id_02"):
        for split, label, kind, n in [
            ("train", "normal", "none", 6),
            ("test", "normal", "none", 5),
            ("test", "anomaly", "leak", 5),
        ]:
            for _ in range(n):
                rows.append(
                    {
                        "path": "x",
                        "machine_type": "pump",
                        "id": mid,
                        "label": label,
                        "split": split,
                        "score": rng.normal() + (2.0 if label == "anomaly" else 0.0),
                        "pred_id": mid,
                        "anomaly_kind": kind,
                        "method": "m",
                    }
                )
    scores = pd.DataFrame(rows)
    ev = evaluate_scores(scores)
    assert len(ev.per_id) == 2 and (ev.per_id["auc"] > 0.7).all()
    kinds = per_kind_metrics(scores)
    assert kinds[["machine_type", "anomaly_kind", "n_ids"]].values.tolist() == [["pump", "leak", 2]]
    with pytest.raises(ValueError, match="method"):
        evaluate_scores(scores.drop(columns="method"))


def test_train_and_score_commands(dcase_root, capsys):
    """``audioanom train`` / ``audioanom score`` through the real argument parser."""
    from audioanom.cli import main

    root = str(dcase_root)
    common = ["--dataset", "dcase2020", "--data-dir", root, "--device", "cpu"]
    code = main(
        ["train", *common, "--machine-type", "fan,valve", "--epochs", "1", "--model", "tiny"]
    )
    out = capsys.readouterr().out
    assert code == 1 and "valve: skipped" in out and "fan complex: best epoch 1" in out
    assert (run_dir("dcase2020") / "models" / "complex" / "fan" / "model.pt").is_file()
    code = main(["score", *common, "--machine-type", "fan"])
    out = capsys.readouterr().out
    assert code == 0 and "fan: 16 clips scored" in out and "complex net" in out
    assert (run_dir("dcase2020") / "scores" / "complex" / "fan.csv").is_file()
    assert main(["score", *common, "--machine-type", "fan", "--variant", "magnitude"]) == 1
    assert "no trained magnitude network" in capsys.readouterr().out
