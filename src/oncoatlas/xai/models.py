"""Small PyTorch/MONAI classification networks for the demo's lesion-malignancy tasks.

Two factories: :func:`nodule_net_3d` (lung nodules on CT patches) and :func:`mass_net_2d`
(masses on mammography patches). Both are :class:`LesionNet`: a few MONAI
``Convolution`` blocks (conv-norm-activation), global average pooling and a linear head
with two logits (benign, malignant). They are deliberately small so that the demo model
trains on two CPU cores in well under three minutes.

The named sub-modules are the hooks of the saliency methods: ``features.block{i}`` are the
convolutional stages (``LesionNet.cam_layer`` is the last one, the Grad-CAM target of
Selvaraju et al. 2017) and ``head`` the linear classifier.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.networks.blocks import Convolution
from torch import nn

__all__ = ["HU_WINDOW", "LesionNet", "mass_net_2d", "nodule_net_3d", "window"]

logger = logging.getLogger(__name__)

#: Lung window (level, width) in HU used to scale CT patches to [0, 1].
HU_WINDOW: tuple[float, float] = (-600.0, 1500.0)


def window(
    x: np.ndarray, level: float = HU_WINDOW[0], width: float = HU_WINDOW[1]
) -> np.ndarray:
    """Scale intensities to [0, 1] with a display window (level, width), clipping outside.

    Parameters
    ----------
    x : numpy.ndarray
        Intensities (Hounsfield units for CT).
    level, width : float
        Window centre and width, as DICOM Window Center / Window Width (PS3.3 C.11.2).

    Returns
    -------
    numpy.ndarray
        float32 array in [0, 1].
    """
    lo = level - width / 2.0
    return np.clip((np.asarray(x, dtype=np.float32) - lo) / width, 0.0, 1.0).astype(np.float32)


class LesionNet(nn.Module):
    """A small CNN classifying a lesion patch as benign (0) or malignant (1).

    Parameters
    ----------
    spatial_dims : int
        2 (mammography) or 3 (CT).
    in_channels : int
        Input channels.
    channels : sequence of int
        Output channels of each convolution (3^d kernel, activation ReLU); all but the first
        and the last halve the spatial size with stride 2, so four stages map a 32^3 patch to
        an 8^3 Grad-CAM grid.
    num_classes : int
        Number of logits.
    dropout : float
        Dropout before the linear head.
    norm : str or tuple, optional
        MONAI normalisation layer spec (batch normalisation by default; training recalibrates
        its running statistics at the end, see :func:`oncoatlas.xai.train.train_model`).

    Notes
    -----
    Input intensities are expected in [0, 1] (see :func:`window`).
    """

    cam_layer: str

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        channels: Sequence[int] = (8, 16, 32, 32),
        num_classes: int = 2,
        dropout: float = 0.1,
        norm: str | tuple[str, dict[str, Any]] | None = "BATCH",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        self.spatial_dims = spatial_dims
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = in_channels
        for i, c_out in enumerate(channels):
            stride = 2 if 0 < i < len(channels) - 1 else 1
            blocks[f"block{i}"] = Convolution(
                spatial_dims, c_in, c_out, strides=stride, kernel_size=3, act="RELU", norm=norm,
                bias=norm is None,
            )
            c_in = c_out
        self.features = nn.Sequential(blocks)
        pool: nn.Module = nn.AdaptiveAvgPool3d(1) if spatial_dims == 3 else nn.AdaptiveAvgPool2d(1)
        self.pool = pool
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, num_classes)
        self.cam_layer = f"features.block{len(channels) - 1}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(batch, num_classes)`` for input ``(batch, channels, *spatial)``."""
        h = self.features(x)
        h = torch.flatten(self.pool(h), 1)
        logits: torch.Tensor = self.head(self.dropout(h))
        return logits

    def layer_names_top_down(self) -> list[str]:
        """Names of the parameterised stages from the output towards the input.

        The order of the cascading model-randomisation test of Adebayo et al. (2018).
        """
        names = ["head"]
        names += [f"features.{n}" for n in reversed(list(self.features._modules))]
        return names


def nodule_net_3d(channels: Sequence[int] = (8, 16, 32, 32)) -> LesionNet:
    """The demo 3D CNN for lung-nodule malignancy on windowed CT patches (e.g. 32^3)."""
    return LesionNet(spatial_dims=3, channels=channels)


def mass_net_2d(channels: Sequence[int] = (8, 16, 32, 32)) -> LesionNet:
    """The demo 2D CNN for mammography-mass malignancy on normalised MG patches (e.g. 64^2)."""
    return LesionNet(spatial_dims=2, channels=channels)
