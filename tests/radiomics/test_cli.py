from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.radiomics.conftest import PHANTOM, reference_values


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oncoatlas", *args], capture_output=True, text=True, timeout=120
    )


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from oncoatlas.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code or 0), capsys.readouterr().err


@pytest.fixture(scope="module")
def phantom_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not PHANTOM.exists():
        pytest.skip(f"IBSI phantom not found at {PHANTOM}")
    out = tmp_path_factory.mktemp("cli") / "phantom.csv"
    r = _run(
        "radiomics", "extract",
        "--image", str(PHANTOM / "image.nii.gz"),
        "--mask", str(PHANTOM / "mask.nii.gz"),
        "--settings", "ibsi-phantom",
        "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out


def test_extract_writes_one_row_with_ibsi_tags(phantom_csv: Path) -> None:
    rows = list(csv.DictReader(phantom_csv.open()))
    assert len(rows) == 1
    row = rows[0]
    from oncoatlas.radiomics import load_settings

    assert row["settings_hash"] == load_settings("ibsi-phantom").hash()
    assert row["oncoatlas_version"]
    for tag, (ref, tol) in reference_values().items():
        assert abs(float(row[tag]) - ref) <= tol + 1e-12, tag


def test_bad_settings_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    out.write_text("previous good result\n")
    code, err = _main(
        capsys,
        "radiomics", "extract",
        "--image", str(PHANTOM / "image.nii.gz"),
        "--mask", str(PHANTOM / "mask.nii.gz"),
        "--settings", "no-such-preset",
        "--out", str(out),
    )  # fmt: skip
    assert code == 1
    assert "no-such-preset" in err
    assert "presets:" in err
    assert len(err.strip().splitlines()) == 1
    assert out.read_text() == "previous good result\n"


def test_missing_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _main(
        capsys,
        "radiomics", "extract", "--image", str(tmp_path / "nope.nii.gz"),
        "--mask", str(tmp_path / "m.nii.gz"), "--out", str(tmp_path / "o.csv"),
    )  # fmt: skip
    assert code != 0
    assert "nope.nii.gz" in err


def test_cohort_with_a_missing_manifest_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _main(
        capsys, "radiomics", "cohort", str(tmp_path / "m.json"), "--catalog", str(tmp_path),
        "--settings", "ibsi-config-c", "--out", str(tmp_path / "f.parquet"),
    )
    assert code == 1
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f.parquet").exists()


def test_label_image_gives_one_row_per_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nib = pytest.importorskip("nibabel")
    import numpy as np

    rng = np.random.default_rng(0)
    img = rng.integers(-100, 200, (12, 10, 9)).astype(np.int16)
    lab = np.zeros_like(img, dtype=np.uint8)
    lab[2:5, 2:6, 2:6] = 1
    lab[6:10, 3:8, 2:7] = 2
    aff = np.diag([0.8, 0.8, 2.5, 1.0])
    nib.save(nib.Nifti1Image(img, aff), tmp_path / "img.nii.gz")
    nib.save(nib.Nifti1Image(lab, aff), tmp_path / "lab.nii.gz")
    out = tmp_path / "f.csv"
    code, err = _main(
        capsys,
        "radiomics", "extract",
        "--image", str(tmp_path / "img.nii.gz"),
        "--mask", str(tmp_path / "lab.nii.gz"),
        "--settings", "pyradiomics-default",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert [r["label"] for r in rows] == ["1", "2"]
    assert all(r["roi"] for r in rows)
    voxel_mm3 = 0.8 * 0.8 * 2.5
    assert float(rows[0]["morph_vol_approx"]) == pytest.approx(3 * 4 * 4 * voxel_mm3)
    assert float(rows[1]["morph_vol_approx"]) == pytest.approx(4 * 5 * 5 * voxel_mm3)
