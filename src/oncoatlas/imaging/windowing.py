"""Window/level presets for display (greyscale windows in HU, or data percentiles).

Centre/width values follow common radiology practice (e.g. Radiopaedia, "Windowing (CT)");
DICOM's own window is the VOI LUT function of PS3.3 C.11.2.1.2.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["WindowPreset", "apply_window", "window_bounds"]


class WindowPreset(enum.StrEnum):
    """Display windows; accept strings as highdicom's enums do: ``WindowPreset("lung")``."""

    LUNG = "lung"
    MEDIASTINUM = "mediastinum"
    BONE = "bone"
    BRAIN = "brain"
    SOFT_TISSUE = "soft_tissue"
    MAMMOGRAPHY = "mammography"

    @classmethod
    def _missing_(cls, value: object) -> WindowPreset | None:
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_").replace(" ", "_")
            for member in cls:
                if member.value == key:
                    return member
        return None

    @property
    def center_width(self) -> tuple[float, float] | None:
        """``(centre, width)`` in HU, or ``None`` for data-driven windows (mammography)."""
        return _WINDOWS[self]


_WINDOWS: dict[WindowPreset, tuple[float, float] | None] = {
    WindowPreset.LUNG: (-600.0, 1500.0),
    WindowPreset.MEDIASTINUM: (50.0, 350.0),
    WindowPreset.BONE: (400.0, 1800.0),
    WindowPreset.BRAIN: (40.0, 80.0),
    WindowPreset.SOFT_TISSUE: (50.0, 400.0),
    WindowPreset.MAMMOGRAPHY: None,
}


def window_bounds(
    preset: WindowPreset | str | tuple[float, float], data: Any = None
) -> tuple[float, float]:
    """``(low, high)`` display bounds of a preset, a ``(centre, width)`` tuple, or data.

    Data-driven presets (mammography) use the 1st-99.5th percentiles of ``data``.
    """
    if isinstance(preset, tuple):
        c, w = preset
    else:
        cw = WindowPreset(preset).center_width
        if cw is None:
            if data is None:
                raise ValueError(f"preset {WindowPreset(preset).value!r} is data-driven: pass data")
            arr = np.asarray(data, dtype=np.float64)
            lo, hi = np.nanpercentile(arr, [1.0, 99.5])
            return float(lo), float(hi if hi > lo else lo + 1)
        c, w = cw
    return float(c - w / 2.0), float(c + w / 2.0)


def apply_window(
    data: npt.ArrayLike, preset: WindowPreset | str | tuple[float, float]
) -> npt.NDArray[np.float32]:
    """Map values to ``[0, 1]`` through a linear window (clipped)."""
    arr = np.asarray(data, dtype=np.float32)
    lo, hi = window_bounds(preset, arr)
    return np.clip((arr - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
