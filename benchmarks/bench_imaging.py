"""Benchmark: loading a CT series with open_volume vs SimpleITK's ImageSeriesReader.

Writes a synthetic 512 x 512 x N CT series (uncompressed and JPEG 2000 lossless) into a
temporary folder, then times, on the same files and in the same run:

* ``oncoatlas.imaging.open_volume(folder, lazy=False)`` (folder → sorted, rescaled float32
  array, decoding in a thread pool), and
* SimpleITK (``GetGDCMSeriesFileNames`` + ``ImageSeriesReader.Execute`` +
  ``GetArrayFromImage``), the baseline.

Prints the median of ``--repeats`` runs and the ratio (SimpleITK time / oncoatlas time;
above 1 means oncoatlas is faster). Default ``--slices 60``; ``--slices 300`` is the full
size of the issue's figure.

Usage::

    python benchmarks/bench_imaging.py [--slices 60] [--repeats 3] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid


def _phantom(n: int, size: int, seed: int = 0) -> np.ndarray:
    """A body-like CT phantom in stored values (HU + 1024): ellipse, organs, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    body = (xx / 0.42) ** 2 + (yy / 0.32) ** 2 < 1
    lung_l = ((xx + 0.18) / 0.12) ** 2 + (yy / 0.18) ** 2 < 1
    lung_r = ((xx - 0.18) / 0.12) ** 2 + (yy / 0.18) ** 2 < 1
    base = np.where(body, 1064.0, 24.0)
    base = np.where(lung_l | lung_r, 174.0, base)
    out = np.empty((n, size, size), np.int16)
    for k in range(n):
        spine = ((xx) / 0.05) ** 2 + ((yy - 0.22 - 0.01 * np.sin(k / 9)) / 0.05) ** 2 < 1
        img = np.where(spine, 1824.0, base) + rng.normal(0, 12, (size, size))
        out[k] = np.clip(img, 0, 4095).astype(np.int16)
    return out


def write_series(folder: Path, stack: np.ndarray, syntax: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()

    def one(k: int) -> None:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID = "CT", "BENCH"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-250.0, -250.0, -400.0 + 1.25 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.9765625, 0.9765625]
        ds.SliceThickness = 1.25
        ds.Rows, ds.Columns = stack.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = stack[k].tobytes()
        if syntax is not None:
            ds.compress(syntax)
        # shuffled names: the readers must sort by position
        ds.save_as(folder / f"{(k * 7919) % 100003:06d}.dcm", enforce_file_format=True)

    if syntax is None:
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            list(pool.map(one, range(stack.shape[0])))
    else:  # pylibjpeg-openjpeg's encoder is not thread-safe (segfaults under threads)
        for k in range(stack.shape[0]):
            one(k)


def _time(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], np.empty(0)
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=60, help="number of slices (300: full size)")
    parser.add_argument("--size", type=int, default=512, help="rows and columns")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-j2k", action="store_true", help="only the uncompressed series")
    args = parser.parse_args()

    import SimpleITK as sitk

    from oncoatlas.imaging import open_volume

    def sitk_read(folder: Path) -> np.ndarray:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
        return sitk.GetArrayFromImage(reader.Execute())

    def onco_read(folder: Path) -> np.ndarray:
        return np.asarray(open_volume(folder, lazy=False).values)

    print(
        f"CT series {args.size} x {args.size} x {args.slices}, {os.cpu_count()} CPU(s), "
        f"pydicom {pydicom.__version__}, SimpleITK {sitk.Version.VersionString()}"
    )
    stack = _phantom(args.slices, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("uncompressed", None)] + (
            [] if args.skip_j2k else [("JPEG 2000 lossless", JPEG2000Lossless)]
        )
        for label, syntax in cases:
            folder = Path(tmp) / label.replace(" ", "_")
            t = time.perf_counter()
            write_series(folder, stack, syntax)
            mb = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
            print(f"\n{label}: wrote {mb:.0f} MB in {time.perf_counter() - t:.1f} s")
            sitk_read(folder), onco_read(folder)  # warm the page cache and imports
            t_sitk, a_sitk = _time(lambda f=folder: sitk_read(f), args.repeats)
            t_onco, a_onco = _time(lambda f=folder: onco_read(f), args.repeats)
            if not np.array_equal(a_sitk.astype(np.float32), a_onco):
                raise SystemExit(f"{label}: voxel values differ between SimpleITK and oncoatlas")
            print(
                f"  SimpleITK ImageSeriesReader : {t_sitk:7.3f} s  ({args.slices / t_sitk:6.0f} slices/s)"
            )
            print(
                f"  oncoatlas open_volume       : {t_onco:7.3f} s  ({args.slices / t_onco:6.0f} slices/s)"
            )
            print(
                f"  ratio SimpleITK/oncoatlas   : {t_sitk / t_onco:7.2f}x  (>1: oncoatlas faster)"
            )


if __name__ == "__main__":
    main()
