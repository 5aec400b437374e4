"""Synthetic demo federation: three nodes of real DICOM, clinical data and lesion ground truth.

``generate_federation(out, size="small", seed=0)`` writes the layout of the team's data
contract (nodes ``oslo`` (central), ``milano`` and ``leuven`` (federated), each with DICOM,
``clinical.csv``, ``datasets.yaml`` and ``policy.yaml``; ``federation.yaml``,
``ground_truth.csv``, ``broken.csv``, ``README.md`` and ``generation.json``), deterministically
for a seed. :func:`render_lesion` is the documented malignant/benign lesion rule.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoatlas.demo.generate import DemoError, generate_federation
    from oncoatlas.demo.lesions import LESION_RULE, render_lesion

__all__ = ["LESION_RULE", "DemoError", "generate_federation", "render_lesion"]

# Names are imported on first use (PEP 562) so that ``oncoatlas demo generate --help`` does
# not load pydicom, SciPy and highdicom.
_HOMES = {
    "DemoError": "oncoatlas.demo.generate",
    "generate_federation": "oncoatlas.demo.generate",
    "LESION_RULE": "oncoatlas.demo.lesions",
    "render_lesion": "oncoatlas.demo.lesions",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
