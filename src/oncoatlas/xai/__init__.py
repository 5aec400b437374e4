"""Explainable AI: small PyTorch/MONAI models, cohort inference, saliency and its quality.

Heavy libraries (torch, MONAI, Captum, highdicom) are imported by the submodules, never
here, so ``import oncoatlas.xai`` stays cheap. The face of the package::

    from oncoatlas.xai.models import nodule_net_3d, window
    from oncoatlas.xai.saliency import explain, saliency_maps
    from oncoatlas.xai.quality import pointing_game, randomization_check
    from oncoatlas.xai.evaluate import evaluate_saliency
"""

from __future__ import annotations

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
