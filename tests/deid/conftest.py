"""Shared fixtures: a key, and one de-identification run of the real STS data."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oncoatlas.deid import ProfileOptions, RunReport, deidentify_folder

STS = Path(__file__).resolve().parents[3] / "shared" / "data" / "sts"
if not STS.is_dir():
    STS = Path("/work/shared/data/sts")

KEY = bytes.fromhex("5f" * 16 + "a3" * 16)
OTHER_KEY = bytes.fromhex("11" * 32)


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` plus its mtime, by relative path."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (
                hashlib.sha256(p.read_bytes()).hexdigest() + f":{st.st_mtime_ns}"
            )
    return out


def write_seg(series: Path, target: Path) -> None:
    """A DICOM SEG (highdicom) with one box segment over the CT series in ``series``."""
    import highdicom as hd
    import numpy as np
    import pydicom
    from pydicom.sr.codedict import codes

    images = [pydicom.dcmread(p) for p in sorted(series.glob("*.dcm"))]
    images.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    mask = np.zeros((len(images), images[0].Rows, images[0].Columns), dtype=bool)
    mask[len(images) // 3 : len(images) // 2, 40:80, 50:90] = True
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="tumour box",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=images,
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=hd.UID(),
        series_number=99,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="oncoatlas tests",
        manufacturer_model_name="deid",
        software_versions="1",
        device_serial_number="SN-TEST-42",
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(target)


@dataclass
class StsRun:
    out: Path
    report: RunReport
    before: dict[str, str]
    after: dict[str, str]
    options: ProfileOptions


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("key") / "key"
    p.write_text(KEY.hex() + "\n")
    return p


@pytest.fixture(scope="session")
def sts_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StsRun]:
    """The five STS patients de-identified with the Basic Profile alone (2 workers)."""
    if not STS.is_dir():
        pytest.skip("shared/data/sts is not available")
    before = tree_digest(STS)
    out = tmp_path_factory.mktemp("sts-basic")
    options = ProfileOptions()
    report = deidentify_folder(STS, out, KEY, options, workers=2)
    yield StsRun(out, report, before, tree_digest(STS), options)


@pytest.fixture(scope="session")
def sts_longitudinal(tmp_path_factory: pytest.TempPathFactory) -> StsRun:
    """STS_001 (copied) with modified dates, clean descriptors and patient characteristics (1 worker)."""
    if not STS.is_dir():
        pytest.skip("shared/data/sts is not available")
    out = tmp_path_factory.mktemp("sts-long")
    options = ProfileOptions(
        retain_longitudinal="modified-dates",  # type: ignore[arg-type]
        clean_descriptors=True,
        retain_patient_characteristics=True,
    )
    src = out.parent / (out.name + "-src")
    import shutil

    shutil.copytree(STS / "STS_001", src / "STS_001")
    write_seg(src / "STS_001" / "CT" / "image", src / "STS_001" / "CT" / "seg" / "SEG.dcm")
    report = deidentify_folder(src, out, KEY, options, workers=1)
    return StsRun(out, report, {}, {}, options)
