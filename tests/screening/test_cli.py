from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncoatlas.cli import main
from oncoatlas.screening import simulate_programme
from oncoatlas.screening.report import TABLES

from .conftest import tiny_table


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


@pytest.fixture(scope="module")
def exams_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("screening") / "exams.csv"
    simulate_programme(1500, seed=2).to_csv(path, index=False)
    return path


def test_simulate_writes_tables(
    exams_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rc = _run(
        [
            "screening",
            "simulate",
            "--exams",
            str(exams_csv),
            "--out",
            str(out),
            "--bootstrap",
            "30",
            "--seed",
            "3",
        ]
    )
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["programme"]["exams"] == len(pd.read_csv(exams_csv))
    for name in TABLES:
        csv = pd.read_csv(out / f"{name}.csv")
        js = pd.DataFrame(json.loads((out / f"{name}.json").read_text()))
        assert len(csv) == len(js) > 0
        assert list(csv.columns) == list(js.columns)
    triage = pd.read_csv(out / "triage.csv")
    assert len(triage) == 9 and triage.loc[0, "scenario"] == "double"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"] == {
        "n_boot": 30,
        "seed": 3,
        "level": 0.95,
        "resampling_unit": "woman_id",
    }
    assert "decisions.parquet" in summary["files"]
    # independent recomputation from the per-exam decisions
    dec = pd.read_parquet(out / "decisions.parquet")
    for row in triage.itertuples():
        d = dec[dec["scenario"] == row.scenario]
        assert len(d) == row.exams
        assert 100 * d["recall"].mean() == pytest.approx(row.recall_pct)
        det = ((d["recall"] == 1) & (d["screen_detected_cancer"] == 1)).sum()
        assert 1000 * det / len(d) == pytest.approx(row.cdr_per_1000)
        assert 100 * (1 - d["reads"].sum() / (2 * len(d))) == pytest.approx(row.reads_saved_pct)


def test_simulate_custom_scenarios_and_plots(
    exams_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rc = _run(
        [
            "screening",
            "simulate",
            "--exams",
            str(exams_csv),
            "--out",
            str(out),
            "--bootstrap",
            "0",
            "--scenarios",
            "double",
            "--scenarios",
            "half=1-7:single,8-10:double",
            "--plots",
        ]
    )
    assert rc == 0
    triage = pd.read_csv(out / "triage.csv")
    assert triage["scenario"].tolist() == ["double", "half"]
    assert "recall_pct_low" not in triage.columns
    assert (out / "workload.png").stat().st_size > 1000
    assert (out / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert np.isnan(pd.read_csv(out / "auc.csv")["ci_low"]).all()


def test_bad_file_exits_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "exams.csv"
    tiny_table().drop(columns=["reader2"]).to_csv(path, index=False)
    out = tmp_path / "out"
    assert _run(["screening", "simulate", "--exams", str(path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "reader2" in err and str(path) in err
    assert not out.exists()


def test_bad_value_keeps_previous_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exams.csv"
    out = tmp_path / "out"
    tiny_table().to_csv(path, index=False)
    assert (
        _run(["screening", "simulate", "--exams", str(path), "--out", str(out), "--bootstrap", "5"])
        == 0
    )
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tiny_table()
    bad.loc[3, "ai_score"] = -1
    bad.to_csv(path, index=False)
    assert _run(["screening", "simulate", "--exams", str(path), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'ai_score'" in err[0] and "row 4 (exam_id E4)" in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        _run(
            [
                "screening",
                "simulate",
                "--exams",
                str(tmp_path / "no.csv"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "does not exist" in capsys.readouterr().err


def test_bad_scenario_is_a_usage_error(
    exams_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = _run(
        [
            "screening",
            "simulate",
            "--exams",
            str(exams_csv),
            "--out",
            str(tmp_path / "o"),
            "--scenarios",
            "bogus",
        ]
    )
    assert rc == 2
    assert "unknown scenario 'bogus'" in capsys.readouterr().err
