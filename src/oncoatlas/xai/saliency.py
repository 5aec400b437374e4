"""Saliency maps for 2D and 3D classifiers, returned as xarray aligned with the input.

Methods (:class:`SaliencyMethod`):

- ``gradcam``: Grad-CAM (Selvaraju et al., ICCV 2017), MONAI ``monai.visualize.GradCAM``.
- ``gradcampp``: Grad-CAM++ (Chattopadhyay et al., WACV 2018), MONAI ``GradCAMpp``.
- ``occlusion``: occlusion sensitivity (Zeiler & Fergus, ECCV 2014); the map is the drop
  of the target probability when a box around the voxel is filled with the image mean
  (batched; MONAI's ``OcclusionSensitivity`` computes the same one case at a time).
- ``integrated_gradients``: Sundararajan et al., ICML 2017 (Captum), with a black baseline.
- ``smoothgrad``: SmoothGrad (Smilkov et al. 2017) over plain gradients (Captum
  ``NoiseTunnel``).

Every map is non-negative and scaled to [0, 1] per case (attribution magnitudes for the
gradient methods), so that the quality measures of :mod:`oncoatlas.xai.quality` compare
methods on the same footing.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

__all__ = ["SaliencyMethod", "explain", "saliency_maps"]

logger = logging.getLogger(__name__)


class SaliencyMethod(enum.StrEnum):
    """Saliency methods; the values are the names used in reports and on the command line."""

    GRADCAM = "gradcam"
    GRADCAMPP = "gradcampp"
    OCCLUSION = "occlusion"
    INTEGRATED_GRADIENTS = "integrated_gradients"
    SMOOTHGRAD = "smoothgrad"


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


_CAM_METHODS = (SaliencyMethod.GRADCAM, SaliencyMethod.GRADCAMPP)


def _normalise(maps: np.ndarray) -> np.ndarray:
    """Scale each case to [0, 1] (a constant map becomes all zeros)."""
    out = np.asarray(maps, dtype=np.float32).copy()
    for i in range(out.shape[0]):
        m = out[i]
        lo, hi = float(m.min()), float(m.max())
        out[i] = (m - lo) / (hi - lo) if hi > lo else 0.0
    return out


def _occlusion(model: nn.Module, x: torch.Tensor, target: int, size: int, batch: int = 64) -> np.ndarray:
    """Occlusion sensitivity of one case: mean drop of the target probability per voxel.

    A box of edge ``size`` filled with the image mean slides with stride ``size // 2``;
    every voxel gets the average drop over the boxes that cover it (Zeiler & Fergus 2014).
    MONAI's ``OcclusionSensitivity`` computes the same quantity one case at a time; this
    version batches the occluded copies and avoids its indexing deprecation warnings.
    """
    spatial = tuple(int(s) for s in x.shape[2:])
    stride = max(1, size // 2)
    starts = [sorted({*range(0, max(1, s - size + 1), stride), max(0, s - size)}) for s in spatial]
    corners = np.stack(np.meshgrid(*starts, indexing="ij"), -1).reshape(-1, len(spatial))
    fill = float(x.mean())
    drop = np.zeros(spatial, dtype=np.float64)
    count = np.zeros(spatial, dtype=np.float64)
    with torch.no_grad():
        base = float(torch.softmax(model(x), dim=1)[0, target])
        for b0 in range(0, len(corners), batch):
            chunk = corners[b0 : b0 + batch]
            xb = x.repeat(len(chunk), *([1] * (x.ndim - 1)))
            for j, c in enumerate(chunk):
                box = [slice(int(ci), int(ci) + size) for ci in c]
                xb[j, :][(slice(None), *box)] = fill
            p = torch.softmax(model(xb), dim=1)[:, target].cpu().numpy()
            for j, c in enumerate(chunk):
                sl = tuple(slice(int(ci), int(ci) + size) for ci in c)
                drop[sl] += base - p[j]
                count[sl] += 1
    return np.clip(drop / np.maximum(count, 1), 0.0, None).astype(np.float32)


class _CentredLogits(nn.Module):
    """Logits minus their mean over classes: the same softmax, a contrastive target score.

    For two classes the explained score becomes half the log-odds ``(l1 - l0) / 2``. Raw
    logits of one class can be negative everywhere while the other class's are more
    negative, which leaves Grad-CAM's ReLU with an empty map; explaining the contrast
    avoids that and matches what the softmax decision depends on.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        centred: torch.Tensor = out - out.mean(dim=1, keepdim=True)
        return centred


def _cam_layer(model: nn.Module, layer: str | None) -> str:
    if layer is not None:
        return layer
    name = getattr(model, "cam_layer", None)
    if not isinstance(name, str):
        raise ValueError(
            "Grad-CAM needs a target layer: pass layer='<module name>' (for example "
            "'features.block2'), or use a model with a 'cam_layer' attribute such as LesionNet."
        )
    return name


def saliency_maps(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    method: SaliencyMethod | str,
    target: int = 1,
    *,
    layer: str | None = None,
    occlusion_mask: int | None = None,
    ig_steps: int = 24,
    smoothgrad_samples: int = 16,
    smoothgrad_sigma: float = 0.15,
    seed: int = 0,
    contrastive: bool = True,
) -> np.ndarray:
    """Compute saliency maps for a batch.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier returning logits ``(batch, classes)``; it is put in eval mode.
    x : torch.Tensor or numpy.ndarray
        Model input ``(batch, channels, *spatial)``, already preprocessed.
    method : SaliencyMethod or str
        See :class:`SaliencyMethod`.
    target : int
        Class whose score is explained (1 = malignant in the demo models).
    layer : str, optional
        Grad-CAM target layer name; defaults to ``model.cam_layer``.
    occlusion_mask : int, optional
        Occluding box edge in voxels; defaults to a quarter of the smallest spatial size.
    ig_steps : int
        Riemann steps of integrated gradients.
    smoothgrad_samples, smoothgrad_sigma : int, float
        Number of noisy copies and the noise standard deviation (input units).
    seed : int
        Seed of SmoothGrad's noise.
    contrastive : bool
        Explain the target logit minus the mean logit (the decision the softmax makes)
        rather than the raw target logit; see ``_CentredLogits``.

    Returns
    -------
    numpy.ndarray
        ``(batch, *spatial)`` float32 maps in [0, 1].

    References
    ----------
    R. R. Selvaraju et al., "Grad-CAM: Visual explanations from deep networks via
    gradient-based localization", ICCV 2017.
    M. Sundararajan, A. Taly, Q. Yan, "Axiomatic attribution for deep networks", ICML 2017.
    D. Smilkov et al., "SmoothGrad: removing noise by adding noise", arXiv:1706.03825, 2017.
    """
    method = SaliencyMethod(method)
    xt = torch.as_tensor(np.asarray(x) if isinstance(x, np.ndarray) else x, dtype=torch.float32)
    model.eval()
    cam_layer = _cam_layer(model, layer) if method in _CAM_METHODS else ""
    if contrastive:
        model = _CentredLogits(model).eval()
        cam_layer = f"model.{cam_layer}"
    if method in (SaliencyMethod.GRADCAM, SaliencyMethod.GRADCAMPP):
        from monai.visualize import GradCAM, GradCAMpp

        cls = GradCAM if method is SaliencyMethod.GRADCAM else GradCAMpp
        # MONAI's default post-processing maps (min, max) to (1, 0), i.e. it flips the
        # magnitudes; keep the raw map and scale it with _normalise like every other method.
        cam = cls(nn_module=model, target_layers=cam_layer, postprocessing=_identity)
        if method is SaliencyMethod.GRADCAM:
            raw = cam(xt, class_idx=target).detach().cpu().numpy()[:, 0]
        else:
            # MONAI 1.6 GradCAMpp broadcasts the class score (batch,) against the gradient
            # (batch, channels, *spatial) and so only supports one case per call.
            raw = np.concatenate(
                [cam(xt[i : i + 1], class_idx=target).detach().cpu().numpy()[:, 0] for i in range(len(xt))]
            )
    elif method is SaliencyMethod.OCCLUSION:
        size = occlusion_mask or max(2, min(xt.shape[2:]) // 4)
        raw = np.stack([_occlusion(model, xt[i : i + 1], target, size) for i in range(len(xt))])
    elif method is SaliencyMethod.INTEGRATED_GRADIENTS:
        from captum.attr import IntegratedGradients

        ig = IntegratedGradients(model)
        attr = ig.attribute(
            xt.clone().requires_grad_(True), baselines=torch.zeros_like(xt), target=target,
            n_steps=ig_steps, internal_batch_size=max(8, xt.shape[0] * 4),
        )
        raw = attr.detach().abs().sum(dim=1).cpu().numpy()
    elif method is SaliencyMethod.SMOOTHGRAD:
        from captum.attr import NoiseTunnel, Saliency

        torch.manual_seed(seed)
        nt = NoiseTunnel(Saliency(model))
        attr = nt.attribute(
            xt.clone().requires_grad_(True), nt_type="smoothgrad", nt_samples=smoothgrad_samples,
            stdevs=smoothgrad_sigma, target=target, nt_samples_batch_size=smoothgrad_samples,
        )
        raw = attr.detach().abs().sum(dim=1).cpu().numpy()
    else:  # pragma: no cover - the enum is exhaustive
        raise ValueError(f"unknown saliency method {method!r}")
    return _normalise(raw)


def explain(
    model: nn.Module,
    image: xr.DataArray | np.ndarray,
    method: SaliencyMethod | str = SaliencyMethod.GRADCAM,
    target: int = 1,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    **options: Any,
) -> xr.DataArray:
    """Saliency map of one image, aligned with it for overlay in the viewers.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier.
    image : xarray.DataArray or numpy.ndarray
        One 2D or 3D image without channel axis (e.g. a CT patch in HU with dims
        ``("z", "y", "x")``, mm coordinates and the affine in ``attrs``).
    method : SaliencyMethod or str
        The saliency method.
    target : int
        Class explained.
    transform : callable, optional
        Preprocessing from image values to model input (for the demo CT model,
        :func:`oncoatlas.xai.models.window`).
    **options
        Passed to :func:`saliency_maps`.

    Returns
    -------
    xarray.DataArray
        Same dims, coords and attrs as ``image`` (a plain array gets dims ``z, y, x`` or
        ``y, x``), named ``saliency``, with ``attrs["saliency_method"]`` and
        ``attrs["target_class"]`` added.

    Examples
    --------
    >>> sal = explain(model, patch, "gradcam", transform=window)  # doctest: +SKIP
    >>> sal.plot.imshow(alpha=0.4)  # doctest: +SKIP
    """
    values = np.asarray(image.values if isinstance(image, xr.DataArray) else image, dtype=np.float32)
    if values.ndim not in (2, 3):
        raise ValueError(
            f"explain() takes one 2D or 3D image without channel axis, got shape {values.shape}; "
            "use saliency_maps() for batches"
        )
    x = transform(values) if transform is not None else values
    maps = saliency_maps(model, np.asarray(x, dtype=np.float32)[None, None], method, target, **options)
    if isinstance(image, xr.DataArray):
        out = xr.DataArray(maps[0], dims=image.dims, coords=image.coords, attrs=dict(image.attrs))
    else:
        dims = ("z", "y", "x") if values.ndim == 3 else ("y", "x")
        out = xr.DataArray(maps[0], dims=dims)
    out.name = "saliency"
    out.attrs["saliency_method"] = SaliencyMethod(method).value
    out.attrs["target_class"] = int(target)
    return out
