"""Benchmark: ``oncoatlas deid`` throughput on generated CT-like files.

Generates N small CT-like instances (256x256 int16, realistic header with PHI, a private
block, nested sequences) with pydicom, then measures files/s of the folder run with 1 and
2 worker processes. Baseline, measured in the same run: a plain pydicom copy
(``dcmread`` + ``save_as`` of every file, one process), i.e. the floor cost of touching
each file at all. Target: >= 300 files/s with 2 workers on 2 cores.

Usage: ``python benchmarks/bench_deid.py [--files 300] [--full]`` (``--full``: 3000 files).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from oncoatlas.deid import ProfileOptions, deidentify_folder

KEY = bytes(range(32))


def generate(folder: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    pixels = rng.integers(-1000, 2000, size=(256, 256), dtype=np.int16)
    for i in range(n):
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240131"
        ds.StudyTime = ds.SeriesTime = "101010"
        ds.AccessionNumber = "ACC000123"
        ds.Modality = "CT"
        ds.Manufacturer = "ACME"
        ds.InstitutionName = "Oslo University Hospital"
        ds.ReferringPhysicianName = "House^Gregory"
        ds.StationName = "CT01"
        ds.StudyDescription = "CT THORAX"
        ds.SeriesDescription = "Lung 1.25"
        ds.OperatorsName = "Smith^Anna"
        ds.PatientName = "Doe^John"
        ds.PatientID = "PID0001"
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "M"
        ds.PatientAge = "064Y"
        ds.SliceThickness = "1.25"
        ds.KVP = "120"
        ds.DeviceSerialNumber = "SN12345"
        ds.ProtocolName = "Thorax routine"
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.StudyID = "1"
        ds.SeriesNumber = "2"
        ds.InstanceNumber = str(i + 1)
        ds.ImagePositionPatient = [-160.0, -160.0, -1.25 * i]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID = frame
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = str(-1.25 * i)
        ref = Dataset()
        ref.ReferencedSOPClassUID = CTImageStorage
        ref.ReferencedSOPInstanceUID = generate_uid()
        ds.ReferencedImageSequence = Sequence([ref])
        block = ds.private_block(0x0009, "ACME 1.1", create=True)
        block.add_new(0x01, "LO", "Doe John scan")
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = 256
        ds.PixelSpacing = [1.25, 1.25]
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
        ds.PixelData = pixels.tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / f"{i:06d}.dcm", enforce_file_format=True)


def baseline_copy(src: Path, dst: Path) -> float:
    dst.mkdir(parents=True)
    files = sorted(src.glob("*.dcm"))
    t = time.perf_counter()
    for p in files:
        pydicom.dcmread(p).save_as(dst / p.name, enforce_file_format=True)
    return len(files) / (time.perf_counter() - t)


def run(src: Path, dst: Path, workers: int) -> float:
    options = ProfileOptions(retain_longitudinal="modified-dates", clean_descriptors=True)  # type: ignore[arg-type]
    t = time.perf_counter()
    report = deidentify_folder(src, dst, KEY, options, workers=workers)
    elapsed = time.perf_counter() - t
    assert report.counts()["deidentified"] == len(report.records)
    return len(report.records) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--full", action="store_true", help="3000 files")
    args = parser.parse_args()
    n = 3000 if args.full else args.files
    tmp = Path(tempfile.mkdtemp(prefix="bench-deid-"))
    try:
        src = tmp / "src"
        src.mkdir()
        t = time.perf_counter()
        generate(src, n)
        print(f"generated {n} CT-like files (256x256 int16) in {time.perf_counter() - t:.1f} s")
        base = baseline_copy(src, tmp / "copy")
        one = run(src, tmp / "out1", 1)
        two = run(src, tmp / "out2", 2)
        print(f"baseline  pydicom read+write copy, 1 process : {base:7.0f} files/s  (1.00x)")
        print(f"oncoatlas deid, 1 worker                     : {one:7.0f} files/s  ({one / base:.2f}x baseline)")
        print(f"oncoatlas deid, 2 workers                    : {two:7.0f} files/s  ({two / base:.2f}x baseline, {two / one:.2f}x 1 worker)")
        print(f"target >= 300 files/s with 2 workers: {'met' if two >= 300 else 'NOT met'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
