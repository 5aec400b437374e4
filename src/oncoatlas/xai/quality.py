"""How far a saliency map can be trusted: localisation, faithfulness and sanity.

- :func:`pointing_game`: is the map's maximum inside the lesion (Zhang et al., ECCV 2016)?
- :func:`energy_in_lesion`: fraction of the map's total mass inside the lesion mask
  (the "energy-based pointing game" of Wang et al., Score-CAM, CVPRW 2020).
- :func:`deletion_insertion_auc`: the causal deletion and insertion metrics of Petsiuk,
  Das & Saenko, "RISE", BMVC 2018 (lower deletion AUC and higher insertion AUC are better).
- :func:`randomization_check`: the cascading model-parameter randomisation test of
  Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018: the layers are
  re-initialised from the output towards the input and the Spearman rank correlation
  between the maps of the trained and the randomised model is measured after each step.
  A method whose maps stay similar (high correlation) does not depend on what the model
  learned and fails the check.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage, stats
from torch import nn

from oncoatlas.xai.saliency import SaliencyMethod, saliency_maps

__all__ = [
    "deletion_insertion_auc",
    "energy_in_lesion",
    "pointing_game",
    "randomization_check",
    "spearman_maps",
]

logger = logging.getLogger(__name__)


def pointing_game(saliency: np.ndarray, mask: np.ndarray, tolerance: int = 0) -> np.ndarray:
    """Pointing-game hits: whether each map's maximum falls inside the lesion.

    Parameters
    ----------
    saliency : numpy.ndarray
        ``(n, *spatial)`` maps.
    mask : numpy.ndarray
        ``(n, *spatial)`` boolean lesion masks.
    tolerance : int
        Voxels by which the mask is dilated before the test (Zhang et al. use 15 pixels
        at 224^2); 0 is the strict test.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` bool hits. Cases whose map is constant count as misses.

    References
    ----------
    J. Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016.
    """
    saliency = np.asarray(saliency)
    mask = np.asarray(mask, dtype=bool)
    if saliency.shape != mask.shape:
        raise ValueError(f"saliency shape {saliency.shape} does not match mask shape {mask.shape}")
    hits = np.zeros(len(saliency), dtype=bool)
    for i in range(len(saliency)):
        m = mask[i]
        if tolerance > 0:
            m = ndimage.binary_dilation(m, iterations=tolerance)
        s = saliency[i]
        if float(s.max()) <= float(s.min()):
            continue
        peak = np.unravel_index(int(np.argmax(s)), s.shape)
        hits[i] = bool(m[peak])
    return hits


def energy_in_lesion(saliency: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fraction of each (non-negative) map's total mass that lies inside the lesion mask.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` fractions in [0, 1]; NaN for an all-zero map.
    """
    s = np.clip(np.asarray(saliency, dtype=np.float64), 0.0, None)
    m = np.asarray(mask, dtype=bool)
    if s.shape != m.shape:
        raise ValueError(f"saliency shape {s.shape} does not match mask shape {m.shape}")
    axes = tuple(range(1, s.ndim))
    total = s.sum(axis=axes)
    inside = (s * m).sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def _auc(curve: np.ndarray) -> float:
    xs = np.linspace(0.0, 1.0, len(curve))
    return float(np.sum((curve[1:] + curve[:-1]) * np.diff(xs) / 2.0))


def deletion_insertion_auc(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    saliency: np.ndarray,
    target: int = 1,
    steps: int = 20,
    blur_sigma: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion AUC of each map (Petsiuk et al. 2018).

    Deletion removes voxels in decreasing saliency order (replacing them with the image
    mean) and follows the target probability; insertion starts from a blurred copy of the
    image and puts the original voxels back in the same order. The areas under the curves
    (fraction of voxels on the x axis, in [0, 1]) summarise them: a faithful map gives a
    steep deletion drop (low AUC) and a steep insertion rise (high AUC).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier.
    x : numpy.ndarray or torch.Tensor
        ``(n, channels, *spatial)`` model inputs.
    saliency : numpy.ndarray
        ``(n, *spatial)`` maps.
    target : int
        Class whose probability is followed.
    steps : int
        Number of equal voxel-fraction steps.
    blur_sigma : float
        Gaussian blur (voxels) of the insertion start image.

    Returns
    -------
    tuple of numpy.ndarray
        ``(deletion_auc, insertion_auc)``, each ``(n,)``.

    References
    ----------
    V. Petsiuk, A. Das, K. Saenko, "RISE: Randomized input sampling for explanation of
    black-box models", BMVC 2018.
    """
    xs = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    model.eval()
    n = xs.shape[0]
    spatial = xs.shape[2:]
    nvox = int(np.prod(spatial))
    deletion = np.zeros(n)
    insertion = np.zeros(n)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    for i in range(n):
        order = np.argsort(-np.asarray(saliency[i], dtype=np.float64).ravel(), kind="stable")
        flat_rank = np.empty(nvox, dtype=np.int64)
        flat_rank[order] = np.arange(nvox)
        rank = flat_rank.reshape(spatial)
        img = xs[i]
        fill = np.full_like(img, img.mean())
        blurred = np.stack([ndimage.gaussian_filter(c, blur_sigma) for c in img])
        dele = np.empty((steps + 1, *img.shape), dtype=np.float32)
        ins = np.empty_like(dele)
        for k, f in enumerate(fractions):
            chosen = (rank < round(f * nvox))[None]
            dele[k] = np.where(chosen, fill, img)
            ins[k] = np.where(chosen, img, blurred)
        with torch.no_grad():
            batch = torch.from_numpy(np.concatenate([dele, ins]))
            p = torch.softmax(model(batch), dim=1)[:, target].cpu().numpy()
        deletion[i] = _auc(p[: steps + 1])
        insertion[i] = _auc(p[steps + 1 :])
    return deletion, insertion


def spearman_maps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between paired maps, one value per case.

    A constant map carries no ranking; its correlation with anything is reported as 0.
    """
    out = np.zeros(len(a))
    for i in range(len(a)):
        u, v = np.ravel(a[i]), np.ravel(b[i])
        if np.ptp(u) == 0 or np.ptp(v) == 0:
            out[i] = 0.0
            continue
        out[i] = float(stats.spearmanr(u, v).statistic)
    return out


def _randomise(module: nn.Module, generator: torch.Generator) -> None:
    for sub in module.modules():
        for name, p in list(sub.named_parameters(recurse=False)):
            with torch.no_grad():
                if p.ndim >= 2:
                    fan_in = int(np.prod(p.shape[1:]))
                    p.copy_(torch.randn(p.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                elif name == "weight":
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=generator))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=generator))
        for bname, buf in list(sub.named_buffers(recurse=False)):
            if bname == "running_mean":
                buf.zero_()
            elif bname == "running_var":
                buf.fill_(1.0)


def randomization_check(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method: SaliencyMethod | str,
    target: int = 1,
    layers: Sequence[str] | None = None,
    seed: int = 0,
    reference: np.ndarray | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Cascading model-parameter randomisation test (Adebayo et al. 2018).

    Parameters
    ----------
    model : torch.nn.Module
        The trained classifier (left unchanged; a copy is randomised).
    x : numpy.ndarray or torch.Tensor
        ``(n, channels, *spatial)`` inputs.
    method : SaliencyMethod or str
        The saliency method under test.
    target : int
        Class explained.
    layers : sequence of str, optional
        Sub-module names from the output towards the input; defaults to
        ``model.layer_names_top_down()`` (see :class:`oncoatlas.xai.models.LesionNet`).
    seed : int
        Seed of the random re-initialisation.
    reference : numpy.ndarray, optional
        Maps of the trained model, if already computed.
    **options
        Passed to :func:`oncoatlas.xai.saliency.saliency_maps`.

    Returns
    -------
    pandas.DataFrame
        One row per cascade step: ``step`` (1 = top layer only), ``layer`` (the layer
        randomised at this step), ``spearman`` (mean over cases), ``spearman_sd``,
        ``n_cases``. The last row is the fully randomised model.

    References
    ----------
    J. Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018.
    """
    if layers is None:
        names = getattr(model, "layer_names_top_down", None)
        if names is None:
            raise ValueError(
                "randomization_check needs the layer order: pass layers=[...] from the output "
                "towards the input, or use a model with layer_names_top_down() (LesionNet)"
            )
        layers = list(names())
    ref = reference if reference is not None else saliency_maps(model, x, method, target, **options)
    rand = copy.deepcopy(model)
    modules = dict(rand.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"layers {missing} are not sub-modules of the model; known: {sorted(modules)[:20]}")
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for step, name in enumerate(layers, start=1):
        _randomise(modules[name], gen)
        maps = saliency_maps(rand, x, method, target, **options)
        rho = spearman_maps(ref, maps)
        rows.append(
            {"step": step, "layer": name, "spearman": float(np.mean(rho)),
             "spearman_sd": float(np.std(rho)), "n_cases": len(rho)}
        )
    return pd.DataFrame(rows)
