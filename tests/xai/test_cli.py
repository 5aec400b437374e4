from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from oncoatlas.cli import main  # noqa: E402


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_evaluate_without_ground_truth_is_one_clear_line(tmp_path, capsys):
    code, _out, err = _run(["xai", "evaluate", "--catalog", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert code == 1
    assert "no ground_truth.csv" in err and "oncoatlas demo generate" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "report.json").exists()


def test_evaluate_rejects_unknown_method(tmp_path, capsys):
    (tmp_path / "ground_truth.csv").write_text("lesion_id\n")
    code, _out, err = _run(["xai", "evaluate", "--catalog", str(tmp_path), "--out", str(tmp_path / "o"),
                            "--methods", "gradcam,lime"], capsys)
    assert code == 2
    assert "unknown method 'lime'" in err


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    from oncoatlas.demo import generate_federation

    out = tmp_path_factory.mktemp("xai_demo") / "demo"
    generate_federation(out, size="tiny", seed=0, workers=1)
    return out


@pytest.mark.slow
@pytest.mark.torch
def test_train_evaluate_saliency_on_demo(tiny_demo, tmp_path, capsys):
    import pandas as pd
    import pydicom

    bundle = tmp_path / "bundle"
    code, out, err = _run(["xai", "train", "--catalog", str(tiny_demo), "--out", str(bundle), "--epochs", "2"], capsys)
    assert code == 0, err
    assert (bundle / "models" / "model.ts").is_file() and (bundle / "model_card.md").is_file()
    card = json.loads((bundle / "model_card.json").read_text())
    assert len(card["training_manifest_sha256"]) == 64

    rep_dir = tmp_path / "eval"
    code, out, err = _run(["xai", "evaluate", "--catalog", str(tiny_demo), "--out", str(rep_dir),
                           "--model", str(bundle), "--methods", "gradcam,integrated_gradients"], capsys)
    assert code == 0, err
    report = json.loads((rep_dir / "report.json").read_text())
    for name in ("gradcam", "integrated_gradients"):
        r = report["methods"][name]
        for key in ("pointing_game", "energy_in_lesion", "deletion_auc", "insertion_auc", "randomization_spearman", "n_cases"):
            assert key in r, (name, key)
        assert r["n_cases"] == report["n_malignant_lesions"] > 0
    assert (rep_dir / "report.png").stat().st_size > 1000

    gt = pd.read_csv(tiny_demo / "ground_truth.csv")
    lesion = gt[gt.modality == "CT"].iloc[0]
    code, out, err = _run(["xai", "saliency", "--model", str(bundle), "--catalog", str(tiny_demo),
                           "--lesion-id", lesion.lesion_id, "--out", str(tmp_path / "sal")], capsys)
    assert code == 0, err
    paths = json.loads(out.strip().splitlines()[-1])
    pm = pydicom.dcmread(paths["parametric_map"])
    assert pm.ReferencedSeriesSequence[0].SeriesInstanceUID == lesion.series_uid

    preds = tmp_path / "pred.csv"
    code, out, err = _run(["xai", "predict", "--model", str(bundle), "--catalog", str(tiny_demo), "--out", str(preds)], capsys)
    assert code == 0, err
    table = pd.read_csv(preds)
    assert {"lesion_id", "series_uid", "prob_malignant", "predicted"} <= set(table.columns)
    assert set(table.lesion_id) <= set(gt.lesion_id)
