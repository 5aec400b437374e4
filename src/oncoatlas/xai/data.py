"""Lesion patches from the demo federation (or any series with lesion ground truth).

``--catalog``/``root`` convention: patches are read from a *demo root* (the folder with
``ground_truth.csv`` and ``nodes/<node>/dicom``). Series files are found through a catalog
when one is given (``oncoatlas.imaging.volume.series_paths``), otherwise by scanning the
patient's folder under ``nodes/<node>/dicom/<patient_id>``.

Patches are sampled on a grid aligned with the patient axes (LPS), centred near the lesion
centroid with a random offset (so that a saliency map cannot win the pointing game by
pointing at the middle), at a spacing proportional to the lesion diameter (scale-normalised
patches: the field of view is ``fov_factor`` diameters, so that the network sees shape and
texture, not size). Masks come from the lesions' DICOM SEG segments.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from oncoatlas.errors import CatalogError, OncoatlasError, OncoatlasWarning

__all__ = [
    "PatchSet",
    "find_demo_root",
    "load_ground_truth",
    "load_patches",
    "patch_array",
    "sample_patch",
]

logger = logging.getLogger(__name__)

LESION_TYPES = {"lung_nodule": 3, "breast_mass": 2}


@dataclass
class PatchSet:
    """Lesion (and normal-tissue) patches with masks, labels and provenance.

    Attributes
    ----------
    images : numpy.ndarray
        ``(n, *shape)`` float32 raw intensities (HU for CT).
    masks : numpy.ndarray
        ``(n, *shape)`` bool lesion masks (empty for normal tissue).
    labels : numpy.ndarray
        ``(n,)`` int64, 1 = malignant.
    table : pandas.DataFrame
        One row per patch: ``lesion_id``, ``patient_id``, ``series_uid``, ``node``,
        ``dataset``, ``kind`` (``lesion`` | ``normal``), ``label``, ``spacing_mm`` and the
        patch ``origin_x/y/z`` (LPS mm of voxel (0, 0, 0)).
    spatial_dims : int
        2 or 3.
    """

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    table: pd.DataFrame
    spatial_dims: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> PatchSet:
        """The patches at positional indices ``idx``."""
        idx = np.asarray(idx)
        return PatchSet(
            self.images[idx], self.masks[idx], self.labels[idx],
            self.table.iloc[idx].reset_index(drop=True), self.spatial_dims, dict(self.extra),
        )

    def model_input(self) -> np.ndarray:
        """``(n, 1, *shape)`` float32 inputs in [0, 1] for the demo networks."""
        from oncoatlas.xai.models import window

        if self.spatial_dims == 3:
            return window(self.images)[:, None]
        return np.clip(self.images, 0.0, 1.0).astype(np.float32)[:, None]


def find_demo_root(path: str | os.PathLike[str]) -> Path:
    """The demo root for ``path``: the folder itself or the nearest parent with ground truth.

    Raises
    ------
    CatalogError
        When neither ``path`` nor a parent holds ``ground_truth.csv``.
    """
    p = Path(path).resolve()
    for cand in (p, *p.parents):
        if (cand / "ground_truth.csv").is_file():
            return cand
    raise CatalogError(
        f"no ground_truth.csv in {p} or its parents; pass the demo federation folder written "
        "by `oncoatlas demo generate --out DIR` (or --demo DIR)"
    )


def load_ground_truth(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``ground_truth.csv`` of a demo root, with ``malignant`` as bool."""
    path = Path(root) / "ground_truth.csv"
    if not path.is_file():
        raise CatalogError(f"{path} does not exist; generate the demo with `oncoatlas demo generate`")
    gt = pd.read_csv(path, dtype={"seg_segment_number": "Int64"})
    need = {"lesion_id", "patient_id", "series_uid", "seg_series_uid", "lesion_type", "malignant"}
    missing = need - set(gt.columns)
    if missing:
        raise CatalogError(f"{path} lacks columns {sorted(missing)}; regenerate the demo federation")
    gt["malignant"] = gt["malignant"].astype(str).str.lower().isin(["true", "1", "yes"])
    return gt


class _Locator:
    """series_uid -> files, through a catalog or by scanning patient folders."""

    def __init__(self, root: Path, catalog: str | os.PathLike[str] | None) -> None:
        self.root = root
        self.catalog = catalog
        self._cache: dict[str, list[str]] = {}
        self._scanned: set[str] = set()

    def _scan(self, node: str, patient_id: str) -> None:
        key = f"{node}/{patient_id}"
        if key in self._scanned:
            return
        self._scanned.add(key)
        import pydicom

        base = self.root / "nodes" / node / "dicom" / patient_id
        if not base.is_dir():
            return
        for folder in sorted(p for p in base.glob("*/*") if p.is_dir()):
            files = sorted(str(f) for f in folder.iterdir() if f.is_file())
            for f in files:
                try:
                    ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
                    uid = str(ds.SeriesInstanceUID)
                except Exception:  # noqa: S112 - unreadable/broken files are skipped by design
                    continue
                self._cache.setdefault(uid, [])
                self._cache[uid] = files
                break

    def files(self, series_uid: str, node: str, patient_id: str, seg: bool = False) -> list[str]:
        if self.catalog is not None:
            from oncoatlas.imaging.volume import series_paths

            return series_paths(series_uid, self.catalog, segmentations=seg)
        if series_uid not in self._cache:
            self._scan(node, patient_id)
        if series_uid not in self._cache:
            raise CatalogError(
                f"series {series_uid} of patient {patient_id} not found under "
                f"{self.root / 'nodes' / node / 'dicom' / patient_id}"
            )
        return self._cache[series_uid]


def sample_patch(
    values: np.ndarray,
    affine: np.ndarray,
    centre: np.ndarray,
    spacing: float,
    size: int,
    order: int = 1,
    cval: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample a cubic patch of a ``(z, y, x)`` volume on an LPS-aligned grid.

    Parameters
    ----------
    values : numpy.ndarray
        Volume values, dims ``(z, y, x)``.
    affine : numpy.ndarray
        4x4 voxel ``(i, j, k) = (x, y, z)`` index → LPS mm (``oncoatlas.imaging`` convention).
    centre : numpy.ndarray
        Patch centre, LPS mm.
    spacing : float
        Patch voxel size, mm.
    size : int
        Patch edge, voxels.
    order : int
        Spline order of the interpolation (1 linear, 0 nearest).
    cval : float
        Value outside the volume.

    Returns
    -------
    tuple of numpy.ndarray
        ``(patch, patch_affine)``: patch dims ``(z, y, x)`` and its 4x4 affine in the same
        convention.
    """
    half = (size - 1) / 2.0
    origin = np.asarray(centre, dtype=np.float64) - half * spacing
    patch_affine = np.eye(4)
    patch_affine[:3, :3] = np.eye(3) * spacing
    patch_affine[:3, 3] = origin
    idx = np.arange(size, dtype=np.float64)
    kk, jj, ii = np.meshgrid(idx, idx, idx, indexing="ij")
    pts = np.stack([ii.ravel(), jj.ravel(), kk.ravel(), np.ones(ii.size)])
    vox = np.linalg.solve(affine, patch_affine @ pts)  # (i, j, k) of the source
    coords = np.stack([vox[2], vox[1], vox[0]])  # (z, y, x) array order
    out = ndimage.map_coordinates(values, coords, order=order, cval=cval, mode="constant")
    return out.reshape(size, size, size).astype(np.float32), patch_affine


def _sample_2d(
    image: np.ndarray, centre_rc: np.ndarray, step_px: np.ndarray, size: int, order: int = 1
) -> np.ndarray:
    half = (size - 1) / 2.0
    idx = np.arange(size, dtype=np.float64) - half
    rr, cc = np.meshgrid(centre_rc[0] + idx * step_px[0], centre_rc[1] + idx * step_px[1], indexing="ij")
    return ndimage.map_coordinates(image, [rr, cc], order=order, cval=0.0, mode="constant").astype(np.float32)


def patch_array(values: np.ndarray, affine: np.ndarray, name: str = "patch") -> xr.DataArray:
    """Wrap a 3D patch as a ``(z, y, x)`` DataArray with LPS mm coordinates and its affine."""
    nz, ny, nx = values.shape
    sp = np.diag(affine)[:3]
    o = affine[:3, 3]
    return xr.DataArray(
        values, dims=("z", "y", "x"),
        coords={"z": o[2] + sp[2] * np.arange(nz), "y": o[1] + sp[1] * np.arange(ny),
                "x": o[0] + sp[0] * np.arange(nx)},
        attrs={"affine": affine, "spacing": tuple(float(s) for s in sp), "origin": tuple(float(v) for v in o)},
        name=name,
    )


def _open(files: list[str]) -> xr.DataArray:
    from oncoatlas.imaging import open_volume

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OncoatlasWarning)
        return open_volume(files, strict="ignore", lazy=False, workers=1)


def _view_file(files: list[str], view: str) -> list[str]:
    """The file of a projection series showing ``view`` (``"L-CC"``: laterality-view)."""
    import pydicom

    lat, _, pos = view.partition("-")
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["ImageLaterality", "Laterality", "ViewPosition"])
        except Exception:  # noqa: S112 - unreadable files are skipped by design
            continue
        f_lat = str(getattr(ds, "ImageLaterality", "") or getattr(ds, "Laterality", ""))
        if f_lat == lat and str(getattr(ds, "ViewPosition", "")) == pos:
            return [f]
    raise OncoatlasError(f"no image with view {view!r} among {len(files)} files of the series")


def _seg_labels_2d(seg_files: list[str], image_file: str, les: pd.DataFrame) -> tuple[np.ndarray, dict[int, str]]:
    """Labels of a 2D image's segments, read with highdicom by source instance."""
    import highdicom as hd
    import pydicom

    sop = str(pydicom.dcmread(image_file, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
    seg = hd.seg.segread(seg_files[0])
    numbers = sorted({int(n) for n in les["seg_segment_number"].dropna()}) or [1]
    px = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[sop], segment_numbers=numbers, combine_segments=False
    )  # (1, rows, cols, n_segments)
    labels = np.zeros(px.shape[1:3], dtype=np.uint16)
    for i, n in enumerate(numbers):
        labels[px[0, :, :, i] > 0] = n
    names = {int(n): str(lid) for n, lid in zip(les["seg_segment_number"], les["lesion_id"], strict=True) if pd.notna(n)}
    return labels[None], names


def _seg_labels(files: list[str], like: xr.DataArray) -> tuple[np.ndarray, dict[int, str]]:
    from oncoatlas.imaging import open_mask

    if len(files) != 1:
        raise OncoatlasError(f"expected one DICOM SEG file, got {len(files)}: {files[:3]}")
    m = open_mask(files[0], like=like)
    return np.asarray(m.values), {int(k): str(v) for k, v in m.attrs.get("labels", {}).items()}


def load_patches(
    root: str | os.PathLike[str],
    lesion_type: str = "lung_nodule",
    size: int | None = None,
    fov_factor: float = 2.5,
    jitter: float = 0.2,
    normals_per_series: int = 1,
    seed: int = 0,
    catalog: str | os.PathLike[str] | None = None,
    progress: bool = False,
    max_series: int | None = None,
) -> PatchSet:
    """Extract lesion patches (and normal-tissue negatives) from a demo federation.

    Parameters
    ----------
    root : path-like
        Demo root (see the module docstring).
    lesion_type : {"lung_nodule", "breast_mass"}
        CT lung nodules (3D patches, HU) or mammography masses (2D patches scaled to [0, 1]).
    size : int, optional
        Patch edge in voxels; 32 (3D) or 64 (2D) by default.
    fov_factor : float
        Patch field of view in lesion diameters.
    jitter : float
        Largest random offset of the lesion from the patch centre, fraction of the patch.
    normals_per_series : int
        Normal-tissue patches (label 0, empty mask) per series, away from every lesion.
    seed : int
        Seed of offsets and normal-tissue positions.
    catalog : path-like, optional
        Catalog resolving series files; the patient folders are scanned otherwise.
    progress : bool
        tqdm progress bar over series.
    max_series : int, optional
        Read at most this many series (quick runs).

    Returns
    -------
    PatchSet

    Raises
    ------
    CatalogError
        Missing ground truth or series.
    ValueError
        Unknown lesion type.
    """
    if lesion_type not in LESION_TYPES:
        raise ValueError(f"lesion_type must be one of {sorted(LESION_TYPES)}, got {lesion_type!r}")
    dims = LESION_TYPES[lesion_type]
    size = size or (32 if dims == 3 else 64)
    root = Path(root)
    gt = load_ground_truth(root)
    gt = gt[gt["lesion_type"] == lesion_type]
    if gt.empty:
        raise CatalogError(f"{root / 'ground_truth.csv'} has no {lesion_type} lesions")
    loc = _Locator(root, catalog)
    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    if dims == 2:
        # a screening series holds one image per view; the ground truth names the view
        gt = gt.assign(_group=gt["series_uid"].astype(str) + "|" + gt["view"].fillna("").astype(str))
    else:
        gt = gt.assign(_group=gt["series_uid"].astype(str))
    groups = list(gt.groupby("_group", sort=True))
    if max_series is not None:
        groups = groups[:max_series]
    it: Any = groups
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(groups, desc=f"patches {lesion_type}", unit="series")
    skipped = 0
    for _group, les in it:
        first = les.iloc[0]
        series_uid = str(first.series_uid)
        try:
            files = loc.files(series_uid, str(first.node), str(first.patient_id))
            if dims == 2:
                files = _view_file(files, str(first.view))
            vol = _open(files)
            seg_files = loc.files(str(first.seg_series_uid), str(first.node), str(first.patient_id), seg=True)
            if dims == 2:
                labels, names = _seg_labels_2d(seg_files, files[0], les)
            else:
                labels, names = _seg_labels(seg_files, vol)
        except (OncoatlasError, OSError) as exc:
            logger.warning("skipping series %s: %s", series_uid, exc)
            skipped += 1
            continue
        values = np.asarray(vol.values, dtype=np.float32)
        affine = np.asarray(vol.attrs["affine"], dtype=np.float64)
        diam_all = les["diameter_mm"].astype(float).to_numpy()
        for _, lesion in les.iterrows():
            label_ids = [k for k, v in names.items() if str(lesion.lesion_id) in v.split()]
            if not label_ids:
                label_ids = [int(lesion.seg_segment_number)] if pd.notna(lesion.seg_segment_number) else []
            lmask = np.isin(labels, label_ids)
            d = float(lesion.diameter_mm)
            spacing = fov_factor * d / size
            offset = rng.uniform(-jitter, jitter, 3) * size * spacing
            base = {
                "lesion_id": lesion.lesion_id, "patient_id": lesion.patient_id,
                "series_uid": series_uid, "node": lesion.node, "dataset": lesion.dataset,
                "kind": "lesion", "label": int(bool(lesion.malignant)), "spacing_mm": spacing,
                "diameter_mm": d,
            }
            if dims == 3:
                centre = np.array([lesion.centroid_x, lesion.centroid_y, lesion.centroid_z], float) + offset
                img, paff = sample_patch(values, affine, centre, spacing, size, cval=-1024.0)
                msk, _ = sample_patch(lmask.astype(np.float32), affine, centre, spacing, size, order=1)
                base.update(origin_x=paff[0, 3], origin_y=paff[1, 3], origin_z=paff[2, 3])
            else:
                px = np.array([affine[0:3, 1] @ affine[0:3, 1], affine[0:3, 0] @ affine[0:3, 0]]) ** 0.5
                rc = np.array([lesion.centroid_y, lesion.centroid_x], float) / px + offset[:2] / px
                step = np.full(2, spacing) / px
                hi = float(np.percentile(values, 99.5)) or 1.0
                img = _sample_2d(values[0] / hi, rc, step, size)
                msk = _sample_2d(lmask[0].astype(np.float32), rc, step, size)
                base.update(origin_x=(rc[1] - (size - 1) / 2 * step[1]) * px[1],
                            origin_y=(rc[0] - (size - 1) / 2 * step[0]) * px[0], origin_z=np.nan)
            images.append(img)
            masks.append(msk >= 0.5)
            rows.append(base)
        # normal tissue away from every lesion of this series
        if dims == 3:
            cents = les[["centroid_x", "centroid_y", "centroid_z"]].astype(float).to_numpy()
        else:
            cents = les[["centroid_x", "centroid_y"]].astype(float).to_numpy()
        for k in range(normals_per_series):
            d = float(rng.choice(diam_all))
            spacing = fov_factor * d / size
            for _try in range(50):
                if dims == 3:
                    ijk = rng.uniform([0, 0, 0], np.array(values.shape[::-1]) - 1)
                    centre = (affine @ np.append(ijk, 1.0))[:3]
                    img, paff = sample_patch(values, affine, centre, spacing, size, cval=-1024.0)
                    tissue = float(np.mean(img > -950)) > 0.9
                    far = np.all(np.linalg.norm(cents - centre, axis=1) > (diam_all * 1.5 + size * spacing * 0.75))
                else:
                    rc = rng.uniform([0, 0], np.array(values.shape[1:]) - 1)
                    px = np.array([affine[0:3, 1] @ affine[0:3, 1], affine[0:3, 0] @ affine[0:3, 0]]) ** 0.5
                    hi = float(np.percentile(values, 99.5)) or 1.0
                    img = _sample_2d(values[0] / hi, rc, np.full(2, spacing) / px, size)
                    tissue = float(np.mean(img > 0.05)) > 0.9
                    far = np.all(np.linalg.norm(cents - rc[::-1] * px[::-1], axis=1) > (diam_all * 1.5 + size * spacing * 0.75))
                if tissue and far:
                    images.append(img)
                    masks.append(np.zeros(img.shape, dtype=bool))
                    rows.append({
                        "lesion_id": f"{first.patient_id}-normal{k + 1}" + (f"-{first.view}" if dims == 2 else ""), "patient_id": first.patient_id,
                        "series_uid": series_uid, "node": first.node, "dataset": first.dataset,
                        "kind": "normal", "label": 0, "spacing_mm": spacing, "diameter_mm": np.nan,
                    })
                    break
    if not rows:
        raise CatalogError(f"no {lesion_type} patches could be read from {root} ({skipped} series skipped)")
    table = pd.DataFrame(rows)
    return PatchSet(
        np.stack(images).astype(np.float32), np.stack(masks), table["label"].to_numpy(np.int64),
        table, dims, {"root": str(root), "skipped_series": skipped, "size": size, "fov_factor": fov_factor},
    )
