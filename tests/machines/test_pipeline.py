"""The machine-sound pipeline: it detects strong anomalies, its tables equal an independent
recomputation from the per-clip CSVs, saved models are reused only when they match, and the
train/score commands."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.metrics import roc_auc_score

from audioanom.audio import AudioError
from audioanom.datasets import load_dcase2020
from audioanom.machines.baselines import BASELINE_NAME
from audioanom.machines.pipeline import (
    default_ae_config,
    evaluate_all,
    model_config,
    run_dir,
    select_types,
    survey_types,
    train_all,
    train_autoencoder_type,
    train_network,
)
from audioanom.machines.tables import SCORE_COLUMNS, method_name, method_slug
from audioanom.machines.training import TrainConfig

SR = 16000
SECONDS = 2.2  # 69 frames: one 64-frame window and a second one aligned to the end
TINY = model_config("tiny")
TC = TrainConfig(
    epochs=2,
    batch_size=4,
    crops_per_clip=1,
    patience=None,
    threads=1,
    device="cpu",
    precision="fp32",
)


def _clip(freq: float, anomaly: bool, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.normal(size=t.size)
    if anomaly:
        x += 0.2 * np.sin(2 * np.pi * 3.3 * freq * t)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def dcase_root(tmp_path_factory):
    """fan: 2 IDs with training clips, id_04 test-only; valve: test clips only; pump id_02:
    normal test clips only (one class)."""
    root = tmp_path_factory.mktemp("dcase")
    rng = np.random.default_rng(0)
    plan = {
        ("fan", "id_00", 300.0): (4, 2, 2),  # (train, test normal, test anomaly)
        ("fan", "id_02", 700.0): (4, 2, 2),
        ("fan", "id_04", 500.0): (0, 2, 2),
        ("valve", "id_00", 400.0): (0, 1, 1),
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


def test_survey_reports_what_cannot_be_trained(clips):
    s = survey_types(clips).set_index("machine_type")
    assert bool(s.loc["fan", "network"]) and "id_04" in s.loc["fan", "note"]
    assert (
        not s.loc["valve", "autoencoder"] and "no normal training clips" in s.loc["valve", "note"]
    )


def test_tables_equal_a_recomputation_from_the_score_csvs(clips, tmp_path):
    out = tmp_path / "run"
    run = train_all(
        clips,
        ["fan", "pump"],
        train_config=TC,
        config=TINY,
        ae_config=dataclasses.replace(default_ae_config(smoke=True), epochs=1),
        out_dir=out,
    )
    assert set(run.results) == {("complex", "all"), ("magnitude", "all")}
    assert run.results[("complex", "all")].classes == (
        "fan/id_00",
        "fan/id_02",
        "pump/id_00",
        "pump/id_02",
    )
    ev = evaluate_all(clips, ["fan", "pump"], out_dir=out)
    assert any("fan/id_04: no normal training clips" in n for n in ev.notes)
    backends = ("ce", "knn", "gauss", "layers")
    methods = {method_name(v, b) for v in ("complex", "magnitude") for b in backends}
    assert set(ev.scores["method"]) == methods | {"autoencoder", BASELINE_NAME}
    for method in set(ev.scores["method"]):
        csv = pd.read_csv(out / "scores" / f"{method_slug(method)}.csv")
        assert list(csv.columns[: len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
        test = csv[csv["split"] == "test"]
        for (t, i), g in test.groupby(["machine_type", "id"]):
            row = ev.per_id[
                (ev.per_id["method"] == method)
                & (ev.per_id["machine_type"] == t)
                & (ev.per_id["id"] == i)
            ].iloc[0]
            if g["label"].nunique() < 2:  # pump id_02: no anomaly clip
                assert np.isnan(row["auc"]) and "one class only" in row["note"]
                continue
            y = (g["label"] == "anomaly").to_numpy()
            assert row["auc"] == pytest.approx(roc_auc_score(y, g["score"]), abs=1e-12)
            assert row["pauc"] == pytest.approx(
                roc_auc_score(y, g["score"], max_fpr=0.1), abs=1e-12
            )
    # the baseline is in every table: here it separates the extra tone perfectly
    base = ev.per_id[(ev.per_id["method"] == BASELINE_NAME) & ev.per_id["auc"].notna()]
    assert (base["auc"] == 1.0).all()
    assert (out / "tables" / "comparison.csv").is_file()


def test_saved_models_are_reused_only_when_they_match(clips, tmp_path):
    out, lines = tmp_path / "run", []
    a = train_network(clips, "complex", ["fan"], TC, TINY, out_dir=out, scope_name="fan")
    b = train_network(
        clips, "complex", ["fan"], TC, TINY, out_dir=out, scope_name="fan", log=lines.append
    )
    assert lines == [] and b.signature == a.signature  # reused as it is
    other = dataclasses.replace(TC, lr=2e-3)
    c = train_network(
        clips, "complex", ["fan"], other, TINY, out_dir=out, scope_name="fan", log=lines.append
    )
    assert len(lines) == 1 and "other settings or clips; training anew" in lines[0]
    assert c.config.lr == 2e-3
    sped = [
        train_network(
            clips,
            "complex",
            ["fan"],
            other,
            TINY,
            out_dir=out,
            scope_name="fan",
            log=lines.append,
            speed_classes=(0.8,),
        )
        for _ in range(2)
    ]  # speed classes are another training: trained anew once, then reused
    assert len(lines) == 2 and "training anew" in lines[1]
    assert sped[0].classes == ("fan/id_00", "fan/id_02", "fan/id_00@x0.8", "fan/id_02@x0.8")
    assert sped[1].signature == sped[0].signature != c.signature
    with pytest.raises(AudioError, match=r"00000000\.wav \(x1\.25\): too short"):
        train_network(clips, "complex", ["fan"], TC, TINY, speed_classes=(1.25,))  # 2.2 -> 1.76 s
    (out / "models" / "complex" / "fan" / "model.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"model\.pt: unreadable checkpoint"):
        train_network(clips, "complex", ["fan"], TC, TINY, out_dir=out, scope_name="fan")
    ae, msgs = default_ae_config(smoke=True), []
    train_autoencoder_type(clips, "fan", ae, out_dir=out)
    train_autoencoder_type(clips, "fan", ae, out_dir=out, log=msgs.append)
    assert msgs == []
    train_autoencoder_type(
        clips, "fan", dataclasses.replace(ae, lr=2e-3), out_dir=out, log=msgs.append
    )
    assert len(msgs) == 1 and "training anew" in msgs[0]


def test_missing_models_say_what_to_run(clips, tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 06"):
        evaluate_all(clips, ["fan"], out_dir=tmp_path / "empty")


@pytest.mark.slow
def test_a_cpu_budget_training_detects_strong_anomalies(tmp_path):
    """The yardstick generator with strong anomalies (severity 4), 2 types x 4 IDs, 12
    training clips of 4 s per ID: the tiny complex network, trained for under a minute on one
    core, detects them with the default back-end (mean AUC >= 0.9 over the 8 IDs)."""
    from audioanom.datasets.synthetic import load_synthetic_machines
    from audioanom.machines.pipeline import DEFAULT_BACKEND, network_scores
    from audioanom.synth.machines import generate_machines

    root = tmp_path / "strong"
    generate_machines(
        root,
        seed=1,
        train_per_id=12,
        test_per_id=8,
        seconds=4.0,
        severity=4.0,
        machine_types=("pump", "valve"),
        progress=False,
    )
    clips = load_synthetic_machines(root).clips
    tc = dataclasses.replace(TC, epochs=8, batch_size=16, crops_per_clip=4, lr=3e-3)
    res = train_network(clips, "complex", None, tc, TINY)
    assert res.seconds < 60, res.seconds
    scores, _, _ = network_scores(res, clips, backends=(DEFAULT_BACKEND,))
    test = scores[scores["split"] == "test"]
    aucs = [
        roc_auc_score(g["label"] == "anomaly", g["score"])
        for _, g in test.groupby(["machine_type", "id"])
    ]
    assert len(aucs) == 8 and np.mean(aucs) >= 0.9, aucs


def test_train_and_score_commands(dcase_root, capsys):
    """``audioanom train`` / ``audioanom score`` through the real argument parser: the printed
    per-ID AUCs are those of the per-clip CSVs."""
    from audioanom.cli import main

    common = [
        "--dataset",
        "dcase2020",
        "--data-dir",
        str(dcase_root),
        "--device",
        "cpu",
        "--machine-type",
        "fan,pump",
        "--smoke",
    ]
    assert main(["train", *common, "--variant", "complex", "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "complex net" in out and "fixed epochs" in out
    assert main(["score", *common, "--variant", "magnitude", "--precision", "fp32"]) == 1
    assert "no trained magnitude network" in capsys.readouterr().err
    assert main(["score", *common, "--variant", "complex", "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    folder = run_dir("dcase2020", smoke=True)
    csv = pd.read_csv(folder / "scores" / "complex_net_gauss.csv")
    g = csv[(csv["split"] == "test") & (csv["machine_type"] == "fan") & (csv["id"] == "id_00")]
    auc = roc_auc_score(g["label"] == "anomaly", g["score"])
    per_id = pd.read_csv(folder / "tables" / "per_id.csv")
    row = per_id[
        (per_id["method"] == "complex net (gauss)")
        & (per_id["id"] == "id_00")
        & (per_id["machine_type"] == "fan")
    ]
    assert row["auc"].iat[0] == pytest.approx(auc, abs=1e-12)
    assert "complex net (gauss)" in out and BASELINE_NAME in out
    # the mean AUC over the IDs with both classes, with its bootstrap interval
    scored = per_id[(per_id["method"] == "complex net (gauss)") & per_id["auc"].notna()]
    (line,) = [ln for ln in out.splitlines() if ln.startswith("complex net (gauss): mean AUC")]
    assert line.startswith(f"complex net (gauss): mean AUC {100 * scored['auc'].mean():.1f} [")
    assert f"minus {BASELINE_NAME} " in line
    intervals = pd.read_csv(folder / "tables" / "auc_intervals.csv")
    overall = intervals[intervals["machine_type"] == "all IDs"].set_index("method")
    assert overall.loc["complex net (gauss)", "auc_mean"] == pytest.approx(
        scored["auc"].mean(), abs=1e-12
    )


def test_select_types_keeps_order_reports_absent_types_and_refuses_typos():
    clips = pd.DataFrame(
        {
            "path": [f"{i}.wav" for i in range(5)],
            "group": ["fan", "pump", "fan", "valve", "pump"],
            "id": ["id_00"] * 5,
        }
    )
    sel = select_types(clips, "pump, fan,slider")
    assert sel.types == ("pump", "fan") and sel.absent == ("slider",)
    assert sel.clips["path"].tolist() == ["0.wav", "1.wav", "2.wav", "4.wav"]  # row order kept
    assert "not in this data set: slider" in sel.note()
    assert select_types(clips, ["valve"]).clips["path"].tolist() == ["3.wav"]
    with pytest.raises(ValueError, match=r"unknown machine type\(s\) \['fna'\].*'fan'"):
        select_types(clips, "fna,pump")
    with pytest.raises(ValueError, match="none of the machine types"):
        select_types(clips, "ToyCar")


def test_cli_train_stops_on_a_misspelled_machine_type(capsys):
    from audioanom.cli import main

    with pytest.raises(SystemExit, match=r"unknown machine type\(s\) \['fna'\]"):
        main(["train", "--smoke", "--machine-type", "fna"])


def test_example_clips_take_the_first_test_clip_of_each_label_by_path():
    from audioanom.machines.clips import example_clips

    clips = pd.DataFrame(
        {
            "path": ["b.wav", "a.wav", "c.wav", "d.wav", "e.wav"],
            "group": ["fan"] * 4 + ["pump"],
            "id": ["id_00", "id_02", "id_00", "id_04", "id_00"],
            "label": ["normal", "normal", "anomaly", "anomaly", "normal"],
            "split": ["test", "test", "test", "train", "test"],
            "anomaly_kind": ["", "", "imbalance", "leak", ""],
        }
    )
    ex = example_clips(clips, ["fan", "pump"])
    assert ex["path"].tolist() == ["a.wav", "c.wav", "e.wav"]  # pump has no anomalous test clip
    assert ex["title"].tolist() == [
        "fan id_02: normal",
        "fan id_00: anomaly (imbalance)",
        "pump id_00: normal",
    ]


def test_parameter_counts_count_every_trainable_weight():
    import torch

    from audioanom.machines.nn import ComplexNet, MagnitudeNet
    from audioanom.machines.pipeline import default_model_config, parameter_counts

    table = parameter_counts(("tiny",), n_classes=5)
    config = default_model_config("tiny", n_classes=5)
    for column, cls in (("complex net", ComplexNet), ("magnitude-only", MagnitudeNet)):
        model: torch.nn.Module = cls(config)
        by_hand = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert table.loc["tiny", column] == by_hand > 0


def test_baseline_verdicts_say_plainly_who_beats_the_baseline():
    from audioanom.machines.tables import baseline_verdicts

    auc = {"complex net (gauss)": 0.902, "autoencoder": 0.638, BASELINE_NAME: 0.896}
    lines = baseline_verdicts(
        auc,
        ["complex net (gauss)", "autoencoder", "absent", BASELINE_NAME],
        pauc={"complex net (gauss)": 0.831},
    )
    assert [s.strip() for s in lines] == [
        "complex net (gauss): mean AUC 90.2, pAUC 83.1 -- beats the log-mel Gaussian (89.6)",
        "autoencoder: mean AUC 63.8 -- does NOT beat the log-mel Gaussian (89.6)",
    ]
    assert "does NOT beat" in baseline_verdicts({"a": 0.5, BASELINE_NAME: 0.5}, ["a"])[0]  # a tie
    with pytest.raises(KeyError, match="nothing to compare"):
        baseline_verdicts({"a": 0.5}, ["a"])
