"""Synthetic demo federation: three nodes of real DICOM, clinical data and lesion ground truth.

``generate_federation(out, size="small", seed=0)`` writes the layout of the team's data
contract (nodes ``oslo`` (central), ``milano`` and ``leuven`` (federated), each with DICOM,
``clinical.csv``, ``datasets.yaml`` and ``policy.yaml``; ``federation.yaml``,
``ground_truth.csv``, ``broken.csv``, ``README.md`` and ``generation.json``), deterministically
for a seed. :func:`render_lesion` is the documented malignant/benign lesion rule.
"""

from __future__ import annotations

from oncoatlas.demo.generate import DemoError, generate_federation
from oncoatlas.demo.lesions import LESION_RULE, render_lesion

__all__ = ["LESION_RULE", "DemoError", "generate_federation", "render_lesion"]
