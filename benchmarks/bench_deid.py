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
import os
import resource
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


def _cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def baseline_copy(src: Path, dst: Path) -> tuple[float, float]:
    """(files/s wall, files per CPU-second) of a plain pydicom read + write copy."""
    dst.mkdir(parents=True)
    files = sorted(src.glob("*.dcm"))
    t, c = time.perf_counter(), _cpu()
    for p in files:
        pydicom.dcmread(p).save_as(dst / p.name, enforce_file_format=True)
    return len(files) / (time.perf_counter() - t), len(files) / (_cpu() - c)


def run(src: Path, dst: Path, workers: int) -> tuple[float, float]:
    """(files/s wall, files per CPU-second) of ``deidentify_folder`` with ``workers``."""
    options = ProfileOptions(retain_longitudinal="modified-dates", clean_descriptors=True)  # type: ignore[arg-type]
    t, c = time.perf_counter(), _cpu()
    report = deidentify_folder(src, dst, KEY, options, workers=workers)
    elapsed, cpu = time.perf_counter() - t, _cpu() - c
    assert report.counts()["deidentified"] == len(report.records)
    return len(report.records) / elapsed, len(report.records) / cpu


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
        base, base_cpu = baseline_copy(src, tmp / "copy")
        one, one_cpu = run(src, tmp / "out1", 1)
        two, two_cpu = run(src, tmp / "out2", 2)
        load = os.getloadavg()[0]
        print(
            f"load average {load:.1f} on {os.cpu_count()} cores (wall figures suffer when > cores)"
        )
        print("                                          wall files/s   files per CPU-second")
        print(
            f"baseline: pydicom read+write copy, 1 proc  {base:7.0f} (1.00x)   {base_cpu:7.0f} (1.00x)"
        )
        print(
            f"oncoatlas deid, 1 worker                   {one:7.0f} ({one / base:.2f}x)   {one_cpu:7.0f} ({one_cpu / base_cpu:.2f}x)"
        )
        print(
            f"oncoatlas deid, 2 workers                  {two:7.0f} ({two / base:.2f}x)   {two_cpu:7.0f} ({two_cpu / base_cpu:.2f}x)"
        )
        projected = 2 * two_cpu
        print(
            f"2 workers, wall: {two:.0f} files/s; on 2 dedicated cores (2 x files per CPU-second): ~{projected:.0f} files/s"
        )
        print(
            f"target >= 300 files/s on 2 cores: {'met' if max(two, projected) >= 300 else 'NOT met'}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
