"""Explainable AI: small PyTorch/MONAI models, cohort inference, saliency and its quality.

Heavy libraries (torch, MONAI, Captum, highdicom) load only when a name below is first
used (PEP 562 module ``__getattr__``), so ``import oncoatlas.xai`` stays cheap::

    from oncoatlas.xai import explain, nodule_net_3d, window
    sal = explain(model, patch, "gradcam", transform=window)   # xarray aligned with patch

Modules: ``models`` (networks), ``data`` (demo patches), ``train`` (split, training,
metrics with CIs), ``saliency`` (Grad-CAM, Grad-CAM++, occlusion, integrated gradients,
SmoothGrad), ``quality`` (pointing game, energy, deletion/insertion, randomisation check),
``evaluate`` (demo training and the saliency report), ``inference``, ``io`` (TorchScript,
MONAI bundles), ``model_card``, ``export`` (DICOM Parametric Map, NIfTI), ``cli``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__all__ = [
    "LesionNet",
    "ModelCard",
    "PatchSet",
    "SaliencyMethod",
    "deletion_insertion_auc",
    "energy_in_lesion",
    "evaluate_saliency",
    "explain",
    "load_model",
    "load_patches",
    "mass_net_2d",
    "nodule_net_3d",
    "pointing_game",
    "predict_patches",
    "randomization_check",
    "saliency_maps",
    "saliency_to_nifti",
    "saliency_to_parametric_map",
    "train_demo",
    "train_model",
    "window",
]

_WHERE = {
    "LesionNet": "models", "mass_net_2d": "models", "nodule_net_3d": "models", "window": "models",
    "ModelCard": "model_card", "PatchSet": "data", "load_patches": "data",
    "SaliencyMethod": "saliency", "explain": "saliency", "saliency_maps": "saliency",
    "deletion_insertion_auc": "quality", "energy_in_lesion": "quality", "pointing_game": "quality",
    "randomization_check": "quality", "evaluate_saliency": "evaluate", "train_demo": "evaluate",
    "load_model": "io", "predict_patches": "inference", "train_model": "train",
    "saliency_to_nifti": "export", "saliency_to_parametric_map": "export",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"oncoatlas.xai.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'oncoatlas.xai' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
