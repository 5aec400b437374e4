"""Volumes from a real catalog, and `oncoatlas volume export`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from oncoatlas.errors import CatalogError
from oncoatlas.imaging import open_mask, open_volume


@pytest.fixture(scope="module")
def catalog(sts_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from oncoatlas.catalog import Catalog

    out = tmp_path_factory.mktemp("cat") / "catalog"
    Catalog.index([sts_root / "STS_001" / "PET"], out, "oslo", workers=1)
    return out


def _pet_uid(catalog: Path) -> str:
    from oncoatlas.catalog import Catalog

    df = Catalog.open(catalog).sql("SELECT series_uid FROM series WHERE modality = 'PT'")
    return str(df["series_uid"].iloc[0])


def test_open_volume_and_mask_by_uid(catalog: Path, sts_root: Path) -> None:
    from oncoatlas.catalog import Catalog

    cat = Catalog.open(catalog)
    uid = _pet_uid(catalog)
    vol = open_volume(uid, cat)
    ref = open_volume(sts_root / "STS_001" / "PET" / "image")
    np.testing.assert_array_equal(vol.values, ref.values)
    assert vol.attrs["series_uid"] == uid
    seg = cat.sql("SELECT seg_series_uid FROM segmentations")
    mask = open_mask(str(seg["seg_series_uid"].iloc[0]), like=vol, catalog=cat)
    assert int((mask.values > 0).sum()) > 100
    with pytest.raises(CatalogError, match=r"series 1\.2\.3\.4 is not in the catalog"):
        open_volume("1.2.3.4", cat)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oncoatlas", "volume", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_volume_export(catalog: Path, sts_root: Path, tmp_path: Path) -> None:
    uid = _pet_uid(catalog)
    out = tmp_path / "pet.nii.gz"
    res = _cli(uid, "--catalog", str(catalog), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "units SUV" in res.stdout
    img = nib.load(out)
    vol = open_volume(sts_root / "STS_001" / "PET" / "image")
    np.testing.assert_allclose(img.affine, np.diag([-1, -1, 1, 1]) @ vol.attrs["affine"], atol=1e-4)
    np.testing.assert_allclose(np.asarray(img.dataobj).transpose(2, 1, 0), vol.values)
    # an unknown UID: one clear line, exit 1, the good file left in place
    before = out.read_bytes()
    bad = _cli("1.2.3.999", "--catalog", str(catalog), "--out", str(out))
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0
    assert "series 1.2.3.999 is not in the catalog" in bad.stderr
    assert out.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    wrong = _cli(uid, "--catalog", str(catalog), "--out", str(tmp_path / "x.png"))
    assert wrong.returncode == 2 and ".nii or .nii.gz" in wrong.stderr
