"""Render one planned patient: images, lesions, SEG files and ground-truth rows.

:func:`render_patient` is a pure function of a :class:`~oncoatlas.demo.plan.PatientPlan`
(it seeds its own generator from the plan), so the generator can run patients in worker
processes in any order and still write the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from scipy import ndimage

from oncoatlas.demo.anatomy import Grid, breast_mammogram, chest_ct, prostate_mr
from oncoatlas.demo.ct import write_ct_series, write_enhanced_ct
from oncoatlas.demo.dicom import Equipment, StudyInfo
from oncoatlas.demo.lesions import render_lesion
from oncoatlas.demo.mammography import VIEWS, write_mammogram
from oncoatlas.demo.mr import write_mr_series
from oncoatlas.demo.nodes import NODES, NodeSpec
from oncoatlas.demo.plan import LesionPlan, PatientPlan
from oncoatlas.demo.seg import SegmentSpec, write_seg
from oncoatlas.demo.uids import derive_uid

__all__ = ["GT_COLUMNS", "PatientResult", "SeriesRecord", "render_patient"]

logger = logging.getLogger(__name__)

#: Columns of ``ground_truth.csv`` (team data contract).
GT_COLUMNS: tuple[str, ...] = (
    "lesion_id",
    "node",
    "dataset",
    "patient_id",
    "study_uid",
    "series_uid",
    "seg_series_uid",
    "seg_segment_number",
    "modality",
    "view",
    "lesion_type",
    "centroid_x",
    "centroid_y",
    "centroid_z",
    "diameter_mm",
    "malignant",
)

CT_SHAPE = (64, 128, 128)
MR_SHAPE = (20, 96, 96)
MG_SHAPE = (256, 200)
MG_SPACING = 0.9


@dataclass
class SeriesRecord:
    """A written series: folder relative to the node folder, file names, modality."""

    folder: str
    files: list[str]
    modality: str
    series_uid: str


@dataclass
class PatientResult:
    """What rendering a patient produced."""

    patient_id: str
    node: str
    study_uid: str
    series: list[SeriesRecord] = field(default_factory=list)
    ground_truth: list[dict[str, str]] = field(default_factory=list)


class _Ids:
    """Deterministic UIDs for one patient."""

    def __init__(self, seed: int, plan: PatientPlan) -> None:
        self.base = (seed, plan.node, plan.patient_id)

    def __call__(self, *parts: object) -> str:
        return derive_uid(*self.base, *parts)


def _node(name: str) -> NodeSpec:
    return next(n for n in NODES if n.name == name)


def _study(plan: PatientPlan, ids: _Ids, description: str) -> StudyInfo:
    return StudyInfo(
        patient_id=plan.patient_id,
        sex=plan.clinical["sex"],
        age=int(plan.clinical["age_at_diagnosis"]),
        study_uid=ids("study"),
        study_date=plan.study_date,
        study_time=plan.study_time,
        accession=f"{plan.patient_id.replace('-', '')}{plan.study_date[2:]}",
        study_id="1",
        description=description,
    )


def _place(
    depth: NDArray[np.float64],
    spacing: tuple[float, ...],
    diameter_mm: float,
    taken: list[tuple[NDArray[np.float64], float]],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Pick a lesion centre (voxel index) where ``depth`` (the distance in mm to the outside
    of the region, :func:`_depth`) allows, clear of earlier lesions.

    ``taken`` holds (centre, diameter_mm) of lesions already placed; centres stay apart by
    the sum of both reaches (spicules reach 2.4 radii) so that masks never touch.
    """
    for need in (0.6 * diameter_mm, 0.35 * diameter_mm, 0.0):
        ok = depth > max(need, 1e-6)
        idx = np.argwhere(ok)
        if taken and len(idx):
            sp = np.asarray(spacing)
            far = np.ones(len(idx), dtype=bool)
            for c, d in taken:
                far &= np.sqrt((((idx - c) * sp) ** 2).sum(axis=1)) > 1.2 * (d + diameter_mm) + 4.0
            idx = idx[far]
        if len(idx):
            return idx[int(rng.integers(0, len(idx)))].astype(float)
    return np.asarray(np.unravel_index(int(np.argmax(depth)), depth.shape), dtype=float)


def _depth(region: NDArray[np.bool_], spacing: tuple[float, ...]) -> NDArray[np.float64]:
    """Distance (mm) of each voxel of ``region`` to its outside."""
    return np.asarray(ndimage.distance_transform_edt(region, sampling=spacing), dtype=np.float64)


def _row(
    plan: PatientPlan,
    lesion_id: str,
    study_uid: str,
    series_uid: str,
    seg_uid: str,
    number: int,
    modality: str,
    view: str,
    lesion_type: str,
    centroid: tuple[float, float, float | None],
    lesion: LesionPlan,
) -> dict[str, str]:
    x, y, z = centroid
    return {
        "lesion_id": lesion_id,
        "node": plan.node,
        "dataset": plan.dataset,
        "patient_id": plan.patient_id,
        "study_uid": study_uid,
        "series_uid": series_uid,
        "seg_series_uid": seg_uid,
        "seg_segment_number": str(number),
        "modality": modality,
        "view": view,
        "lesion_type": lesion_type,
        "centroid_x": f"{x:.2f}",
        "centroid_y": f"{y:.2f}",
        "centroid_z": "" if z is None else f"{z:.2f}",
        "diameter_mm": f"{lesion.diameter_mm:.1f}",
        "malignant": "true" if lesion.malignant else "false",
    }


def _slab(
    datasets: list[Dataset], masks: list[NDArray[np.bool_]]
) -> tuple[list[Dataset], list[NDArray[np.bool_]]]:
    """Restrict SEG source images to the slices that hold any lesion voxel."""
    union = np.any(np.stack(masks), axis=0)
    ks = np.flatnonzero(union.any(axis=(1, 2)))
    lo, hi = int(ks.min()), int(ks.max()) + 1
    return datasets[lo:hi], [m[lo:hi] for m in masks]


def _render_ct(plan: PatientPlan, seed: int, dicom: Path, result: PatientResult) -> None:
    node = _node(plan.node)
    rng = np.random.default_rng(plan.seed)
    ids = _Ids(seed, plan)
    study = _study(plan, ids, "CT THORAX")
    dxy = round(float(rng.uniform(2.5, 2.9)), 3)
    dz = 2.5
    nz, ny, nx = CT_SHAPE
    grid = Grid(
        CT_SHAPE,
        (dz, dxy, dxy),
        (-dxy * (nx - 1) / 2, -dxy * (ny - 1) / 2, -round(float(rng.uniform(120, 180)), 1)),
    )
    hu, lungs = chest_ct(grid, rng, noise_hu=node.ct_noise_hu)
    lung_depth = _depth(lungs, grid.spacing) if plan.lesions else lungs.astype(np.float64)
    masks: list[NDArray[np.bool_]] = []
    taken: list[tuple[NDArray[np.float64], float]] = []
    for lesion in plan.lesions:
        centre = _place(lung_depth, grid.spacing, lesion.diameter_mm, taken, rng)
        taken.append((centre, lesion.diameter_mm))
        diam_vox = tuple(lesion.diameter_mm / s for s in grid.spacing)
        delta, mask = render_lesion(hu.shape, centre, diam_vox, lesion.malignant, rng)
        hu += delta * (40.0 - np.minimum(hu, 40.0))
        masks.append(mask)
    study_dir = dicom / plan.patient_id / f"{plan.study_date}_{study.accession}"
    series_uid, frame_uid = ids("series", "ct"), ids("frame", "ct")
    folder = study_dir / f"002_CT_{'enhanced' if plan.enhanced else 'axial'}"
    if plan.enhanced:
        write_enhanced_ct(
            hu,
            grid,
            study,
            node.ct,
            series_uid=series_uid,
            frame_uid=frame_uid,
            sop_instance_uid=ids("ct", 1),
            dimension_uid=ids("dimension", "ct"),
            series_number=2,
            description=node.ct_description + " (enhanced)",
            path=folder / "0001.dcm",
            syntax="explicit",
        )
        result.series.append(SeriesRecord(_rel(folder, dicom), ["0001.dcm"], "CT", series_uid))
        return
    datasets = write_ct_series(
        hu,
        grid,
        study,
        node.ct,
        series_uid=series_uid,
        frame_uid=frame_uid,
        instance_uid=lambda n: ids("ct", n),
        series_number=2,
        description=node.ct_description,
        folder=folder,
        syntax=node.syntax["CT"],
    )
    result.series.append(
        SeriesRecord(_rel(folder, dicom), [f"{k + 1:04d}.dcm" for k in range(nz)], "CT", series_uid)
    )
    if masks:
        _write_volume_seg(
            plan,
            seed,
            ids,
            study,
            node.ct,
            datasets,
            masks,
            grid,
            "lung_nodule",
            "N",
            "CT",
            study_dir,
            dicom,
            result,
            series_uid,
        )


def _write_volume_seg(
    plan: PatientPlan,
    seed: int,
    ids: _Ids,
    study: StudyInfo,
    equipment: Equipment,
    datasets: list[Dataset],
    masks: list[NDArray[np.bool_]],
    grid: Grid,
    lesion_type: str,
    letter: str,
    modality: str,
    study_dir: Path,
    dicom: Path,
    result: PatientResult,
    series_uid: str,
) -> None:
    seg_uid = ids("series", "seg", modality)
    specs = []
    for lesion, mask in zip(plan.lesions, masks, strict=True):
        lesion_id = f"{plan.patient_id}-{letter}{lesion.number}"
        specs.append(SegmentSpec(lesion_id, lesion_type, lesion.malignant, mask))
        centre = np.argwhere(mask).mean(axis=0)
        x, y, z = grid.to_mm(centre)
        result.ground_truth.append(
            _row(
                plan,
                lesion_id,
                study.study_uid,
                series_uid,
                seg_uid,
                lesion.number,
                modality,
                "",
                lesion_type,
                (x, y, z),
                lesion,
            )
        )
    sources, cropped = _slab(datasets, [s.mask for s in specs])
    specs = [
        SegmentSpec(s.lesion_id, s.lesion_type, s.malignant, m)
        for s, m in zip(specs, cropped, strict=True)
    ]
    folder = study_dir / f"300_SEG_{modality.lower()}_lesions"
    write_seg(
        sources,
        specs,
        study,
        equipment,
        series_uid=seg_uid,
        sop_instance_uid=ids("seg", modality, 1),
        dimension_uid=ids("dimension", "seg", modality),
        tracking_uids=[ids("tracking", s.lesion_id) for s in specs],
        series_number=300,
        path=folder / "0001.dcm",
    )
    result.series.append(SeriesRecord(_rel(folder, dicom), ["0001.dcm"], "SEG", seg_uid))


def _render_mr(plan: PatientPlan, seed: int, dicom: Path, result: PatientResult) -> None:
    node = _node(plan.node)
    rng = np.random.default_rng(plan.seed)
    ids = _Ids(seed, plan)
    study = _study(plan, ids, "MR PROSTATE mpMRI")
    dxy = round(float(rng.uniform(1.5, 1.7)), 3)
    dz = 3.6
    nz, ny, nx = MR_SHAPE
    zc = round(float(rng.uniform(-40, 0)), 1)
    grid = Grid(
        MR_SHAPE,
        (dz, dxy, dxy),
        (-dxy * (nx - 1) / 2, 8.0 - dxy * (ny - 1) / 2, zc - dz * (nz - 1) / 2),
    )
    t2, adc, pz, tz = prostate_mr(grid, rng)
    zone_depth: dict[str, NDArray[np.float64]] = {}
    masks: list[NDArray[np.bool_]] = []
    taken: list[tuple[NDArray[np.float64], float]] = []
    for lesion in plan.lesions:
        if lesion.zone not in zone_depth:
            zone_depth[lesion.zone] = _depth(pz if lesion.zone == "PZ" else tz, grid.spacing)
        centre = _place(zone_depth[lesion.zone], grid.spacing, lesion.diameter_mm, taken, rng)
        taken.append((centre, lesion.diameter_mm))
        diam_vox = tuple(lesion.diameter_mm / s for s in grid.spacing)
        delta, mask = render_lesion(t2.shape, centre, diam_vox, lesion.malignant, rng)
        t2_target, adc_target = (380.0, 750.0) if lesion.malignant else (760.0, 1150.0)
        t2 += delta * (t2_target - t2)
        adc += delta * (adc_target - adc)
        masks.append(mask)
    study_dir = dicom / plan.patient_id / f"{plan.study_date}_{study.accession}"
    frame_uid = ids("frame", "mr")
    t2_uid, adc_uid = ids("series", "t2w"), ids("series", "adc")
    t2_folder = study_dir / "003_MR_t2w"
    datasets = write_mr_series(
        np.maximum(t2, 0),
        grid,
        study,
        node.mr,
        kind="T2W",
        series_uid=t2_uid,
        frame_uid=frame_uid,
        instance_uid=lambda n: ids("t2w", n),
        series_number=3,
        description=node.t2_description,
        folder=t2_folder,
        syntax=node.syntax["MR"],
    )
    adc_folder = study_dir / "005_MR_adc"
    write_mr_series(
        np.maximum(adc, 0),
        grid,
        study,
        node.mr,
        kind="ADC",
        series_uid=adc_uid,
        frame_uid=frame_uid,
        instance_uid=lambda n: ids("adc", n),
        series_number=5,
        description=node.adc_description,
        folder=adc_folder,
        syntax=node.syntax["MR"],
    )
    names = [f"{k + 1:04d}.dcm" for k in range(nz)]
    result.series.append(SeriesRecord(_rel(t2_folder, dicom), names, "MR", t2_uid))
    result.series.append(SeriesRecord(_rel(adc_folder, dicom), list(names), "MR", adc_uid))
    if masks:
        _write_volume_seg(
            plan,
            seed,
            ids,
            study,
            node.mr,
            datasets,
            masks,
            grid,
            "prostate_lesion",
            "P",
            "MR",
            study_dir,
            dicom,
            result,
            t2_uid,
        )


def _render_mg(plan: PatientPlan, seed: int, dicom: Path, result: PatientResult) -> None:
    node = _node(plan.node)
    rng = np.random.default_rng(plan.seed)
    ids = _Ids(seed, plan)
    study = _study(plan, ids, "MAMMO SCREENING BILATERAL")
    study_dir = dicom / plan.patient_id / f"{plan.study_date}_{study.accession}"
    series_uid = ids("series", "mg")
    folder = study_dir / "001_MG_screening"
    rows, cols = MG_SHAPE
    # where each lesion sits: depth fraction from the chest wall and offset fraction
    anchors = {les.number: (rng.uniform(0.25, 0.7), rng.uniform(-0.5, 0.5)) for les in plan.lesions}
    names: list[str] = []
    for number, (lat, view) in enumerate(VIEWS, start=1):
        img, tissue = breast_mammogram(rows, cols, MG_SPACING, view, rng)
        here = [les for les in plan.lesions if les.laterality == lat]
        masks: list[NDArray[np.bool_]] = []
        for les in here:
            depth_frac, off = anchors[les.number]
            col_lim = np.flatnonzero(tissue.any(axis=0))
            col = depth_frac * (col_lim.max() if len(col_lim) else cols / 2)
            region = tissue & (np.abs(np.arange(cols)[None, :] - col) < 6)
            rws = np.flatnonzero(region.any(axis=1))
            target_row = (
                (rws.min() + rws.max()) / 2 + off * (rws.max() - rws.min()) / 2
                if len(rws)
                else rows / 2
            )
            region &= np.abs(np.arange(rows)[:, None] - target_row) < 12
            centre = _place(
                _depth(region if region.any() else tissue, (MG_SPACING, MG_SPACING)),
                (MG_SPACING, MG_SPACING),
                les.diameter_mm * 0.5,
                [],
                rng,
            )
            delta, mask = render_lesion(
                img.shape, centre, les.diameter_mm / MG_SPACING, les.malignant, rng
            )
            img += 650.0 * delta
            masks.append(mask)
        if lat == "R":
            img = img[:, ::-1]
            masks = [m[:, ::-1] for m in masks]
        name = f"{number:04d}.dcm"
        ds = write_mammogram(
            np.ascontiguousarray(img),
            MG_SPACING,
            study,
            node.mg,
            laterality=lat,
            view=view,
            series_uid=series_uid,
            sop_instance_uid=ids("mg", number),
            series_number=1,
            instance_number=number,
            description=node.mg_description,
            path=folder / name,
            syntax=node.syntax["MG"],
        )
        names.append(name)
        if not masks:
            continue
        seg_uid = ids("series", "seg", lat, view)
        specs = []
        for k, (les, mask) in enumerate(zip(here, masks, strict=True), start=1):
            lesion_id = f"{plan.patient_id}-M{les.number}-{lat}-{view}"
            specs.append(
                SegmentSpec(
                    lesion_id, "breast_mass", les.malignant, np.ascontiguousarray(mask)[None]
                )
            )
            r, c = np.argwhere(mask).mean(axis=0)
            result.ground_truth.append(
                _row(
                    plan,
                    lesion_id,
                    study.study_uid,
                    series_uid,
                    seg_uid,
                    k,
                    "MG",
                    f"{lat}-{view}",
                    "breast_mass",
                    (c * MG_SPACING, r * MG_SPACING, None),
                    les,
                )
            )
        seg_folder = study_dir / f"{300 + number:03d}_SEG_mg_{lat}{view}"
        write_seg(
            [ds],
            specs,
            study,
            node.mg,
            series_uid=seg_uid,
            sop_instance_uid=ids("seg", lat, view),
            dimension_uid=ids("dimension", "seg", lat, view),
            tracking_uids=[ids("tracking", s.lesion_id) for s in specs],
            series_number=300 + number,
            path=seg_folder / "0001.dcm",
        )
        result.series.append(SeriesRecord(_rel(seg_folder, dicom), ["0001.dcm"], "SEG", seg_uid))
    result.series.insert(0, SeriesRecord(_rel(folder, dicom), names, "MG", series_uid))


def _rel(folder: Path, dicom: Path) -> str:
    return folder.relative_to(dicom.parent).as_posix()


def render_patient(plan: PatientPlan, seed: int, node_dir: str) -> PatientResult:
    """Render ``plan`` into ``node_dir/dicom`` and return its series and ground truth.

    Parameters
    ----------
    plan : PatientPlan
        The planned patient (kind, clinical row, lesions, own seed).
    seed : int
        The federation seed (part of every UID).
    node_dir : str
        The node folder (``OUT/nodes/<node>`` inside the temporary output).

    Returns
    -------
    PatientResult
        Written series (folders relative to ``node_dir``) and ground-truth rows.
    """
    dicom = Path(node_dir) / "dicom"
    result = PatientResult(plan.patient_id, plan.node, _Ids(seed, plan)("study"))
    if plan.modality == "CT":
        _render_ct(plan, seed, dicom, result)
    elif plan.modality == "MR":
        _render_mr(plan, seed, dicom, result)
    else:
        _render_mg(plan, seed, dicom, result)
    logger.debug(
        "rendered %s (%d series, %d lesions)",
        plan.patient_id,
        len(result.series),
        len(result.ground_truth),
    )
    return result
