"""Radiomics benchmark: oncoatlas vs PyRadiomics 3.0.1, measured in the same run.

Figures (printed as ratios against the baseline):
1. Whole-ROI extraction on a 128^3 image with a ~130,000-voxel ROI, PyRadiomics' default
   feature classes (shape, firstorder, glcm, glrlm, glszm, gldm, ngtdm; bin width 25) vs
   oncoatlas' ``pyradiomics-default`` preset.
2. Voxel map of one GLCM feature (contrast, kernel radius 1) over a 64^3 region vs
   PyRadiomics' voxel-based mode. By default PyRadiomics runs on a smaller region (--voxel-side,
   24^3) and its time is extrapolated per voxel to 64^3 (it needs ~GBs for 64^3 at once);
   ``--full`` runs it on the whole 64^3 region.

Times are CPU times (``time.process_time``, best of ``--repeat``) of single-threaded code on
both sides, so that a busy shared machine does not distort the ratios.

PyRadiomics runs in its own virtualenv (``--pyradiomics-python``, default
``/tmp/pyrad/bin/python``): it does not install on Python >= 3.12 with NumPy 2. Without it,
the script prints oncoatlas' timings and says the baseline is missing.

Usage: ``python benchmarks/bench_radiomics.py [--full] [--pyradiomics-python PATH]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PYRAD_SCRIPT = r"""
import json, sys, time, logging
import SimpleITK as sitk
import radiomics
from radiomics import featureextractor
radiomics.logger.setLevel(logging.ERROR)
img_path, mask_path, mode, out_npy, repeat = sys.argv[1:6]
img = sitk.ReadImage(img_path); mask = sitk.ReadImage(mask_path)
if mode == "roi":
    ex = featureextractor.RadiomicsFeatureExtractor(binWidth=25)
    ex.disableAllFeatures()
    for c in ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]:
        ex.enableFeatureClassByName(c)
    dt = wall = float("inf")
    for _ in range(int(repeat)):
        t = time.process_time(); w = time.perf_counter(); res = ex.execute(img, mask)
        dt = min(dt, time.process_time() - t); wall = min(wall, time.perf_counter() - w)
    out = {k: float(v) for k, v in res.items() if k.startswith("original_")}
else:
    ex = featureextractor.RadiomicsFeatureExtractor(binWidth=25, kernelRadius=1, maskedKernel=True, voxelBatch=2000)
    ex.disableAllFeatures()
    ex.enableFeaturesByName(glcm=["Contrast"])
    dt = wall = float("inf")
    for _ in range(int(repeat)):
        t = time.process_time(); w = time.perf_counter(); res = ex.execute(img, mask, voxelBased=True)
        dt = min(dt, time.process_time() - t); wall = min(wall, time.perf_counter() - w)
    arr = sitk.GetArrayFromImage(res["original_glcm_Contrast"])
    import numpy as np
    np.save(out_npy, arr)
    out = {}
print(json.dumps({"seconds": dt, "wall": wall, "features": out}))
"""


def make_case(n: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A CT-like 128^3 image (integer HU) and an irregular ROI of ~130,000 voxels."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=(n, n, n)), 2.0)
    img = np.rint(40 + 400 * noise + rng.normal(0, 20, (n, n, n)))
    z, y, x = np.mgrid[:n, :n, :n].astype(np.float64) - (n - 1) / 2
    r = np.sqrt((z / 1.1) ** 2 + (y / 0.95) ** 2 + (x / 0.95) ** 2)
    wobble = 3.0 * ndimage.gaussian_filter(rng.normal(size=(n, n, n)), 4.0) / 0.02
    mask = r + np.clip(wobble, -4, 4) < 31.0
    img = np.clip(img, -100, 300)
    # make the ROI minimum a multiple of 25 so both tools use the same bin edges
    img[tuple(np.argwhere(mask)[0])] = -100
    return img.astype(np.float64), mask


def write_nifti(arr: np.ndarray, path: Path, spacing: float = 1.0) -> None:
    import nibabel as nib

    aff = np.diag([spacing, spacing, spacing, 1.0])
    nib.save(nib.Nifti1Image(np.transpose(arr, (2, 1, 0)).astype(np.int16), aff), str(path))


def run_pyradiomics(
    python: str, img: Path, mask: Path, mode: str, out_npy: Path | None = None, repeat: int = 1
) -> dict:
    script = Path(tempfile.mkdtemp()) / "pyrad_bench.py"
    script.write_text(PYRAD_SCRIPT)
    cmd = [python, str(script), str(img), str(mask), mode, str(out_npy or "-"), str(repeat)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best CPU time and best wall time over ``repeat`` runs, and the last result."""
    cpu, wall, res = float("inf"), float("inf"), None
    for _ in range(max(repeat, 1)):
        t0, w0 = time.process_time(), time.perf_counter()
        res = fn()
        cpu = min(cpu, time.process_time() - t0)
        wall = min(wall, time.perf_counter() - w0)
    return cpu, wall, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--full", action="store_true", help="PyRadiomics voxel mode on the whole 64^3 region"
    )
    ap.add_argument(
        "--voxel-side", type=int, default=24, help="side of PyRadiomics' voxel-mode region"
    )
    ap.add_argument("--pyradiomics-python", default="/tmp/pyrad/bin/python")
    ap.add_argument("--repeat", type=int, default=2, help="repetitions of each timing (best kept)")
    args = ap.parse_args()

    from oncoatlas.radiomics import extract, feature_map, load_settings
    from oncoatlas.radiomics.names import pyradiomics_to_ibsi

    have_pyrad = Path(args.pyradiomics_python).exists()
    if have_pyrad:
        chk = subprocess.run(
            [args.pyradiomics_python, "-c", "import radiomics"], capture_output=True
        )
        have_pyrad = chk.returncode == 0
    img, mask = make_case()
    print(f"case: image {img.shape}, ROI {int(mask.sum())} voxels, spacing 1 mm")
    settings = load_settings("pyradiomics-default")

    # 1. whole-ROI extraction
    extract(
        img[:32, :32, :32], mask[:32, :32, :32] | True, settings=settings, spacing=(1, 1, 1)
    )  # warm-up
    best, wall, res = timed(
        lambda: extract(img, mask, settings=settings, spacing=(1.0, 1.0, 1.0)), args.repeat
    )
    feats: dict[str, float] = res  # type: ignore[assignment]
    print(
        f"[1] oncoatlas extract (pyradiomics-default preset, {len(feats)} features): "
        f"{best:.2f} s CPU ({wall:.2f} s wall)"
    )

    # 2. voxel map over a 64^3 region (a 1-voxel border of background around it:
    #    PyRadiomics refuses a mask without background)
    def region(side: int) -> tuple[np.ndarray, np.ndarray]:
        s0 = 64 - side // 2 - 1
        sl = slice(s0, s0 + side + 2)
        m = np.zeros((side + 2,) * 3, dtype=bool)
        m[1:-1, 1:-1, 1:-1] = True
        sub = img[sl, sl, sl].copy()
        # a multiple of 25 at the ROI minimum: PyRadiomics' bin edges then equal IBSI's
        sub[1, 1, 1] = np.floor(sub[m].min() / 25) * 25
        return sub, m

    sub_img, sub_mask = region(64)
    t_map, w_map, _ = timed(
        lambda: feature_map(sub_img, sub_mask, "cm_contrast", settings, spacing=(1, 1, 1)),
        args.repeat,
    )
    print(
        f"[2] oncoatlas voxel map cm_contrast over 64^3 ({64**3} voxels): "
        f"{t_map:.2f} s CPU ({w_map:.2f} s wall)"
    )
    side = 64 if args.full else args.voxel_side
    v_img, v_mask = region(side)
    t_gen, _, _ = timed(
        lambda: feature_map(v_img, v_mask, "cm_joint_entr", settings, spacing=(1, 1, 1)), 1
    )
    t_gen64 = t_gen / side**3 * 64**3
    print(
        f"    oncoatlas voxel map cm_joint_entr (non-linear, sparse matrices) over {side}^3: "
        f"{t_gen:.2f} s CPU ({t_gen64:.1f} s per 64^3, extrapolated)"
    )

    if not have_pyrad:
        print(
            f"baseline missing: PyRadiomics 3.0.1 not importable with {args.pyradiomics_python}; "
            "install it in a separate venv (see the module docstring) for the ratios"
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_nifti(img, d / "img.nii.gz")
        write_nifti(mask.astype(np.int16), d / "mask.nii.gz")
        r = run_pyradiomics(
            args.pyradiomics_python, d / "img.nii.gz", d / "mask.nii.gz", "roi", repeat=args.repeat
        )
        t_py = r["seconds"]
        print(
            f"[1] PyRadiomics 3.0.1 execute (default classes, {len(r['features'])} values): "
            f"{t_py:.2f} s CPU ({r['wall']:.2f} s wall)"
        )
        print(
            f"[1] speed-up oncoatlas vs PyRadiomics: {t_py / best:.1f}x CPU, "
            f"{r['wall'] / wall:.1f}x wall (target >= 5x)"
        )
        agree, differ = 0, []
        for name, v in r["features"].items():
            tag = pyradiomics_to_ibsi(name)
            if tag is None or tag not in feats:
                continue
            ours = feats[tag] + (3.0 if tag == "stat_kurt" else 0.0)
            if np.isclose(ours, v, rtol=1e-3, atol=1e-9):
                agree += 1
            else:
                differ.append(f"{name}={v:.6g} vs {tag}={ours:.6g}")
        print(f"    mapped features agreeing within 0.1%: {agree}; differing: {len(differ)}")
        for line in differ:
            print(f"      {line}")

        write_nifti(v_img, d / "vimg.nii.gz")
        write_nifti(v_mask.astype(np.int16), d / "vmask.nii.gz")
        rv = run_pyradiomics(
            args.pyradiomics_python,
            d / "vimg.nii.gz",
            d / "vmask.nii.gz",
            "voxel",
            d / "v.npy",
            repeat=args.repeat,
        )
        t_pv = rv["seconds"]
        t_pv64 = t_pv / side**3 * 64**3
        how = "measured" if side == 64 else f"extrapolated per voxel from {side}^3 ({t_pv:.1f} s)"
        print(f"[2] PyRadiomics voxel mode glcm Contrast over 64^3: {t_pv64:.1f} s ({how})")
        print(
            f"[2] speed-up oncoatlas vs PyRadiomics voxel mode: {t_pv64 / t_map:.0f}x "
            "(target >= 100x)"
        )
        print(
            "    non-linear GLCM feature (cm_joint_entr) vs PyRadiomics voxel mode: "
            f"{t_pv64 / t_gen64:.1f}x"
        )
        theirs = np.load(d / "v.npy")
        ours_map = feature_map(
            v_img, v_mask, "cm_contrast", settings, radius=1, spacing=(1, 1, 1)
        ).values
        inside = v_mask
        if theirs.shape == ours_map.shape:
            rel = np.abs(theirs[inside] - ours_map[inside]) / np.maximum(
                np.abs(theirs[inside]), 1e-9
            )
            print(
                f"    voxel map max relative difference to PyRadiomics (inside the mask): {rel.max():.2e}"
            )
        else:
            print(f"    PyRadiomics map shape {theirs.shape} differs from ours {ours_map.shape}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
