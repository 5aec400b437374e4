"""A mammogram's DICOM SEG opens on the view it segments (projection images: no volume)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncoatlas.catalog import Catalog
from oncoatlas.errors import SeriesGeometryError
from oncoatlas.imaging import open_mask, open_volume


def test_mammography_seg_on_its_view(demo_root: Path) -> None:
    cat = Catalog.open(demo_root / "nodes" / "oslo" / "catalog")
    segs = cat.sql(
        "SELECT s.seg_series_uid, s.referenced_series_uid, s.path FROM segmentations s "
        "JOIN series r ON r.series_uid = s.referenced_series_uid WHERE r.modality = 'MG' "
        "ORDER BY s.seg_series_uid LIMIT 3"
    )
    assert len(segs) > 0
    truth = pd.read_csv(demo_root / "ground_truth.csv")
    for row in segs.itertuples():
        matched = 0
        for path in cat.files([row.referenced_series_uid])["path"]:
            vol = open_volume(path)
            try:
                mask = open_mask(row.path, like=vol)
            except SeriesGeometryError as exc:
                assert "not the image in `like`" in str(exc)
                continue
            matched += 1
            assert mask.shape == vol.shape and mask.attrs["labels"]
            inside = np.asarray(mask.values) > 0
            assert inside.sum() > 10
            # the mass is denser than the breast around it
            assert vol.values[inside].mean() > vol.values[~inside].mean()
            gt = truth[truth["seg_series_uid"] == row.seg_series_uid]
            assert f"{vol.attrs['laterality']}-{vol.attrs['view']}" in set(gt["view"])
        assert matched == 1, f"{row.path} should segment exactly one view of its series"


def test_projection_seg_refuses_another_image(demo_root: Path) -> None:
    cat = Catalog.open(demo_root / "nodes" / "oslo" / "catalog")
    seg = cat.sql(
        "SELECT s.path FROM segmentations s JOIN series r ON r.series_uid = s.referenced_series_uid "
        "WHERE r.modality = 'MG' LIMIT 1"
    )["path"].iloc[0]
    other = cat.sql(
        "SELECT i.path FROM instances i JOIN series s ON s.series_uid = i.series_uid "
        "WHERE s.modality = 'MG' AND s.patient_id <> (SELECT r.patient_id FROM segmentations g "
        "JOIN series r ON r.series_uid = g.referenced_series_uid WHERE g.path = ?) LIMIT 1",
        [seg],
    )["path"].iloc[0]
    with pytest.raises(SeriesGeometryError, match="open the view the segmentation refers to"):
        open_mask(seg, like=open_volume(other))
