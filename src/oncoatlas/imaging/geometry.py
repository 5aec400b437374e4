"""Slice geometry: sorting, spacing checks and the voxel-to-patient affine.

Conventions (used throughout :mod:`oncoatlas.imaging`)
------------------------------------------------------
* Patient coordinates are DICOM LPS (PS3.3 C.7.6.2.1.1), in millimetres.
* Voxel indices are written ``(i, j, k) = (x, y, z)``: ``i`` the column, ``j`` the row,
  ``k`` the slice, as ITK and NIfTI do. A volume's array has dims ``(z, y, x)``, so the
  voxel ``(i, j, k)`` is ``array[k, j, i]``.
* The affine is a 4x4 matrix mapping ``(i, j, k, 1)`` to ``(L, P, S, 1)``. Its first three
  columns are ``direction * spacing`` (the direction cosines of the column, row and slice
  axes, scaled), its last column the centre of the first voxel (ImagePositionPatient of the
  first slice). With gantry tilt the third column is the true slice step, which is not
  perpendicular to the image plane (a sheared affine).

References
----------
DICOM PS3.3 section C.7.6.2 (Image Plane Module): ImagePositionPatient,
ImageOrientationPatient, PixelSpacing, and the equation relating pixel indices to patient
coordinates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from oncoatlas.errors import SeriesGeometryError

__all__ = [
    "Geometry",
    "SliceInfo",
    "affine_from_components",
    "components_from_affine",
    "stack_slices",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: orientation cosines closer than this are "the same orientation"
ORIENTATION_TOL = 1e-4
#: a position difference (mm) below this along the normal is a duplicated position
DUPLICATE_TOL = 1e-3
#: relative tolerance of slice spacing (fraction of the typical spacing)
SPACING_RTOL = 0.01
#: absolute tolerance of slice spacing (mm)
SPACING_ATOL = 1e-3


@dataclass
class SliceInfo:
    """What the geometry needs to know about one 2D frame of a series."""

    label: str
    """How messages name the slice: file name (and frame number for multi-frame files)."""
    position: tuple[float, float, float] | None
    """ImagePositionPatient (LPS mm) of the first transmitted pixel, or ``None``."""
    orientation: tuple[float, float, float, float, float, float] | None
    """ImageOrientationPatient (row then column direction cosines), or ``None``."""
    pixel_spacing: tuple[float, float]
    """PixelSpacing (between rows, between columns) in mm."""
    instance_number: int | None = None
    frame_of_reference_uid: str | None = None
    slice_thickness: float | None = None


@dataclass
class Geometry:
    """The geometry of a stack of slices on a regular grid.

    Attributes
    ----------
    affine
        4x4 voxel index ``(i, j, k)`` to LPS mm.
    order
        Permutation that sorts the input slices along the slice normal.
    positions
        Position (mm) of each sorted slice along the slice normal.
    regular
        ``False`` when slices are missing or spacing is non-uniform; the affine then uses
        the typical spacing and ``positions`` holds the acquired positions.
    messages
        Human-readable descriptions of irregularities (for warnings).
    """

    affine: FloatArray
    order: list[int]
    positions: FloatArray
    regular: bool = True
    tilted: bool = False
    messages: list[str] = field(default_factory=list)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel spacing (x, y, z) in mm: the lengths of the affine's columns."""
        s = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(s[0]), float(s[1]), float(s[2]))

    @property
    def origin(self) -> tuple[float, float, float]:
        """LPS position (mm) of the centre of voxel (0, 0, 0)."""
        o = self.affine[:3, 3]
        return (float(o[0]), float(o[1]), float(o[2]))

    @property
    def direction(self) -> FloatArray:
        """3x3 matrix whose columns are the unit directions of the i, j, k axes (ITK)."""
        return components_from_affine(self.affine)[2]


def affine_from_components(
    origin: Sequence[float], spacing: Sequence[float], direction: npt.ArrayLike
) -> FloatArray:
    """Build a 4x4 affine from origin, spacing (x, y, z) and a 3x3 direction matrix.

    ``direction`` has the unit axis directions as columns (ITK's ``GetDirection``
    reshaped row-major to 3x3).
    """
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    a = np.eye(4)
    a[:3, :3] = d * np.asarray(spacing, dtype=np.float64)[None, :]
    a[:3, 3] = np.asarray(origin, dtype=np.float64)
    return a


def components_from_affine(
    affine: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Split a 4x4 affine into ``(origin, spacing, direction)`` (ITK conventions)."""
    a = np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(a[:3, :3], axis=0)
    spacing = np.where(spacing == 0, 1.0, spacing)
    return a[:3, 3].copy(), spacing, a[:3, :3] / spacing[None, :]


def _fmt_pos(p: float) -> str:
    return f"{p:.3f}"


def _group_labels(labels: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" … (+{len(labels) - limit} more)" if len(labels) > limit else "")


def stack_slices(slices: Sequence[SliceInfo]) -> Geometry:
    """Sort slices along their normal, check them, and return the volume geometry.

    Parameters
    ----------
    slices
        The frames of one series, in any order.

    Returns
    -------
    Geometry
        Sorting order, affine, acquired positions, and messages describing missing slices,
        non-uniform spacing or gantry tilt (the caller turns them into
        :class:`~oncoatlas.errors.SeriesGeometryWarning`).

    Raises
    ------
    SeriesGeometryError
        Mixed orientations, several frames of reference, several pixel spacings or
        duplicated positions, with the slices involved and how to fix it.
    """
    if not slices:
        raise SeriesGeometryError("a series with no image slices cannot form a volume")
    n = len(slices)
    # frames of reference
    fors = {s.frame_of_reference_uid for s in slices if s.frame_of_reference_uid}
    if len(fors) > 1:
        groups = {
            uid: [s.label for s in slices if s.frame_of_reference_uid == uid]
            for uid in sorted(fors)
        }
        detail = "; ".join(f"{uid}: {_group_labels(ls)}" for uid, ls in groups.items())
        raise SeriesGeometryError(
            f"the series mixes {len(fors)} frames of reference ({detail}); its slices are not "
            "in one coordinate system. Split the series by FrameOfReferenceUID and load each part."
        )
    # orientation
    oris = [s.orientation for s in slices]
    if any(o is None for o in oris) or any(s.position is None for s in slices):
        if n == 1:
            return _single_slice_no_geometry(slices[0])
        missing = [s.label for s in slices if s.orientation is None or s.position is None]
        raise SeriesGeometryError(
            f"slices {_group_labels(missing)} lack ImagePositionPatient/ImageOrientationPatient; "
            "a multi-slice volume cannot be placed in patient space. Load them one at a time."
        )
    ori = np.array(oris, dtype=np.float64)
    ref = ori[0]
    bad = np.abs(ori - ref[None, :]).max(axis=1) > ORIENTATION_TOL
    if bad.any():
        distinct: dict[tuple[float, ...], list[str]] = {}
        for s, o in zip(slices, ori, strict=True):
            distinct.setdefault(tuple(np.round(o, 4)), []).append(s.label)
        detail = "; ".join(
            f"[{', '.join(f'{v:g}' for v in k)}]: {_group_labels(ls)}" for k, ls in distinct.items()
        )
        raise SeriesGeometryError(
            f"the series mixes {len(distinct)} ImageOrientationPatient values ({detail}); "
            "e.g. a localiser or a reformat stored in the same series. Remove those slices or "
            "split the series by orientation."
        )
    row = ref[:3] / np.linalg.norm(ref[:3])
    col = ref[3:] / np.linalg.norm(ref[3:])
    normal = np.cross(row, col)
    # pixel spacing
    spacings = {tuple(np.round(s.pixel_spacing, 6)) for s in slices}
    if len(spacings) > 1:
        raise SeriesGeometryError(
            f"the series mixes pixel spacings {sorted(spacings)}; resample its slices to one "
            "grid or split the series."
        )
    dy, dx = slices[0].pixel_spacing
    pos = np.array([s.position for s in slices], dtype=np.float64)
    along = pos @ normal
    inst = [s.instance_number if s.instance_number is not None else 0 for s in slices]
    order = sorted(range(n), key=lambda i: (along[i], inst[i]))
    pos = pos[order]
    along = along[order]
    labels = [slices[i].label for i in order]
    messages: list[str] = []
    # duplicates
    if n > 1:
        d = np.diff(along)
        dup = np.nonzero(np.abs(d) < DUPLICATE_TOL)[0]
        if dup.size:
            pairs = [f"{labels[i]} and {labels[i + 1]} at {_fmt_pos(along[i])} mm" for i in dup]
            raise SeriesGeometryError(
                f"the series has {dup.size} duplicated slice position(s): {_group_labels(pairs, 4)}. "
                "It probably holds several acquisitions, echoes or time points; split it by "
                "AcquisitionNumber/EchoNumbers/TemporalPositionIdentifier, or remove the duplicates."
            )
    if n == 1:
        thick = slices[0].slice_thickness or 1.0
        step = normal * float(thick)
        affine = _affine(pos[0], row, col, dx, dy, step)
        return Geometry(affine=affine, order=order, positions=along)
    d = np.diff(along)
    typical = _typical_spacing(d)
    tol = max(SPACING_ATOL, SPACING_RTOL * typical)
    regular = True
    irregular = np.nonzero(np.abs(d - typical) > tol)[0]
    if irregular.size:
        regular = False
        missing, uneven = [], []
        for i in irregular:
            ratio = d[i] / typical
            desc = (
                f"{labels[i]} ({_fmt_pos(along[i])} mm) -> {labels[i + 1]} ({_fmt_pos(along[i + 1])} mm): "
                f"gap {d[i]:.3f} mm"
            )
            if ratio > 1.5 and abs(ratio - round(ratio)) * typical <= tol:
                missing.append(f"{desc}, {round(ratio) - 1} slice(s) missing")
            else:
                uneven.append(desc)
        if missing:
            messages.append(
                f"missing slices (spacing {typical:.3f} mm): {_group_labels(missing, 4)}"
            )
        if uneven:
            messages.append(
                f"non-uniform slice spacing (typical {typical:.3f} mm): {_group_labels(uneven, 4)}"
            )
    # gantry tilt: the stacking direction is not the image normal
    total = pos[-1] - pos[0]
    step_len = along[-1] - along[0]
    stack_dir = total / np.linalg.norm(total)
    tilted = False
    step = normal * typical
    if abs(float(stack_dir @ normal)) < 1 - 1e-6:
        off = total - (total @ normal) * normal
        if np.linalg.norm(off) > max(SPACING_ATOL * 10, 1e-3 * abs(step_len)):
            tilted = True
            step = stack_dir * typical / float(stack_dir @ normal)
            angle = float(np.degrees(np.arccos(min(1.0, abs(float(stack_dir @ normal))))))
            messages.append(
                f"gantry tilt of {angle:.2f} degrees (slices {labels[0]} … {labels[-1]} are stacked "
                "obliquely to the image plane); represented by a sheared affine"
            )
    affine = _affine(pos[0], row, col, dx, dy, step)
    return Geometry(
        affine=affine,
        order=order,
        positions=along,
        regular=regular,
        tilted=tilted,
        messages=messages,
    )


def _typical_spacing(d: FloatArray) -> float:
    """The most common slice spacing (robust to a few missing or uneven gaps)."""
    rounded = np.round(d, 2)
    values, counts = np.unique(rounded, return_counts=True)
    best = values[counts == counts.max()]
    mode = float(best.min())
    close = d[np.abs(d - mode) <= max(SPACING_ATOL, SPACING_RTOL * mode)]
    return float(close.mean()) if close.size else float(np.median(d))


def _affine(
    origin: FloatArray, row: FloatArray, col: FloatArray, dx: float, dy: float, step: FloatArray
) -> FloatArray:
    a = np.eye(4)
    a[:3, 0] = row * dx
    a[:3, 1] = col * dy
    a[:3, 2] = step
    a[:3, 3] = origin
    return a


def _single_slice_no_geometry(s: SliceInfo) -> Geometry:
    dy, dx = s.pixel_spacing
    a = np.eye(4)
    a[0, 0], a[1, 1], a[2, 2] = dx, dy, float(s.slice_thickness or 1.0)
    if s.position is not None:
        a[:3, 3] = s.position
    return Geometry(affine=a, order=[0], positions=np.zeros(1))
