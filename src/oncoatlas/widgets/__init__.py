"""Notebook widgets and Panel components: volume viewers and the cohort builder.

Presentation only: everything shown is computed by the library (imaging, cohorts, xai).
Names are imported on first use so that ``import oncoatlas.widgets`` does not import Panel,
ipywidgets or ipyniivue.

- :func:`view` — a notebook viewer (ipyniivue, bundled JavaScript, works offline):
  multiplanar and 3D render, window presets, label and heat-map overlays.
- :class:`SliceViewer` — the Panel component (axial, coronal, sagittal HoloViews/Bokeh
  views linked by a crosshair, presets, overlays, optional 3D ``VTKVolume``), used by the
  Volume Viewer dashboard and usable in notebooks.
- :class:`CohortBuilder` — filters with live per-node counts and attrition; saves a spec.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CohortBuilder", "SliceViewer", "view"]

_LAZY = {
    "view": "oncoatlas.widgets.niivue",
    "SliceViewer": "oncoatlas.widgets.slice_viewer",
    "CohortBuilder": "oncoatlas.widgets.cohort_builder",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
