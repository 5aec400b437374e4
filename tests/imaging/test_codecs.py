"""Compressed series decode identical to the uncompressed originals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from oncoatlas.imaging import open_volume

from ._synth import compress_series, write_series


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    root = tmp_path_factory.mktemp("codecs")
    rng = np.random.default_rng(3)
    stack = rng.integers(-1000, 2500, size=(4, 64, 48)).astype(np.int16)
    files, _ = write_series(root / "plain", [(0.0, 0.0, 2.5 * k) for k in range(4)], volume=stack)
    return files, root


@pytest.mark.parametrize(
    "syntax", [JPEG2000Lossless, RLELossless, JPEGLSLossless], ids=["j2k", "rle", "jpegls"]
)
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_compressed_equals_uncompressed(
    plain: tuple[list[Path], Path], syntax: str, lazy: bool
) -> None:
    files, root = plain
    out = root / f"c-{syntax}-{lazy}"
    compress_series(files, out, syntax)
    ref = open_volume(root / "plain")
    vol = open_volume(out, lazy=lazy)
    np.testing.assert_array_equal(vol.values, ref.values)
    np.testing.assert_array_equal(vol.attrs["affine"], ref.attrs["affine"])


def test_worker_processes_decode_like_this_process(tmp_path: Path) -> None:
    import threading

    from oncoatlas.imaging import series

    rng = np.random.default_rng(11)
    stack = rng.integers(-1000, 2500, size=(series.PROCESS_MIN_FRAMES + 2, 64, 48)).astype(np.int16)
    files, _ = write_series(
        tmp_path / "plain", [(0.0, 0.0, 1.0 * k) for k in range(len(stack))], volume=stack
    )
    compress_series(files, tmp_path / "rle", RLELossless)
    serial = open_volume(tmp_path / "rle", workers=1)
    parallel = open_volume(tmp_path / "rle", workers=2)
    np.testing.assert_array_equal(parallel.values, serial.values)
    np.testing.assert_array_equal(serial.values, stack.astype(np.float32) - 1024)
    if threading.active_count() == 1:
        assert series._POOL is not None  # the worker pool really ran
