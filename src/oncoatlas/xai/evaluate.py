"""Train the demo model and measure how far its saliency maps can be trusted.

:func:`train_demo` trains a :class:`~oncoatlas.xai.models.LesionNet` on the demo
federation's lesions (patient-level split, deterministic seed) and returns it with its
model card. :func:`evaluate_saliency` scores every saliency method on the held-out
malignant lesions: pointing game and energy inside the lesion mask (localisation),
deletion and insertion AUC (faithfulness, Petsiuk 2018) and the cascading model
randomisation test (Adebayo 2018); :func:`write_report` writes ``report.json`` and a
figure.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from oncoatlas._atomic import atomic_path, write_text_atomic
from oncoatlas.xai import quality
from oncoatlas.xai.data import PatchSet, load_patches
from oncoatlas.xai.model_card import ModelCard, file_sha256, manifest_sha256
from oncoatlas.xai.models import LesionNet
from oncoatlas.xai.saliency import SaliencyMethod, saliency_maps
from oncoatlas.xai.train import (
    TrainConfig,
    bootstrap_ci,
    classification_metrics,
    patient_split,
    seed_everything,
    train_model,
)

__all__ = [
    "RANDOMIZATION_PASS",
    "DemoModel",
    "evaluate_saliency",
    "train_demo",
    "write_report",
]

logger = logging.getLogger(__name__)

#: A method passes the randomisation check when the mean Spearman correlation between the
#: maps of the trained and the fully randomised model is below this.
RANDOMIZATION_PASS = 0.5

#: Most cases per method for the expensive measures (occlusion runs hundreds of passes).
DEFAULT_CAPS: dict[str, int] = {"occlusion": 6, "occlusion_randomization": 3, "randomization": 8, "faithfulness": 12}


@dataclass
class DemoModel:
    """A demo model with its data, split and card (see :func:`train_demo`)."""

    model: nn.Module
    patches: PatchSet
    train_idx: np.ndarray
    test_idx: np.ndarray
    card: ModelCard
    train_seconds: float


def train_demo(
    root: str | os.PathLike[str],
    lesion_type: str = "lung_nodule",
    epochs: int = 20,
    seed: int = 0,
    catalog: str | os.PathLike[str] | None = None,
    progress: bool = False,
    patches: PatchSet | None = None,
    test_fraction: float = 0.3,
) -> DemoModel:
    """Train the demo classifier for ``lesion_type`` on a demo federation.

    Parameters
    ----------
    root : path-like
        Demo root (``ground_truth.csv`` and ``nodes/``).
    lesion_type : {"lung_nodule", "breast_mass"}
        3D CT nodules or 2D mammography masses.
    epochs, seed : int
        Training length and seed (same seed, same model).
    catalog : path-like, optional
        Catalog resolving series files.
    progress : bool
        tqdm bars.
    patches : PatchSet, optional
        Reuse patches already extracted.
    test_fraction : float
        Held-out fraction of patients.

    Returns
    -------
    DemoModel
    """
    ps = patches if patches is not None else load_patches(root, lesion_type, seed=seed, catalog=catalog, progress=progress)
    train_idx, test_idx = patient_split(ps.table, test_fraction, seed)
    x = ps.model_input()
    seed_everything(seed)  # the initial weights depend on the seed too
    model = LesionNet(spatial_dims=ps.spatial_dims)
    cfg = TrainConfig(epochs=epochs, seed=seed)
    t0 = time.perf_counter()
    train_model(model, x[train_idx], ps.labels[train_idx], cfg, progress=progress)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        prob = torch.softmax(model(torch.as_tensor(x[test_idx])), dim=1)[:, 1].numpy()
    metrics = classification_metrics(ps.labels[test_idx], prob, seed=seed)
    gt = Path(root) / "ground_truth.csv"
    card = ModelCard(
        name=f"oncoatlas-demo-{lesion_type}",
        task=f"{lesion_type} malignancy (benign/normal = 0, malignant = 1) from "
        + ("3D CT patches (lung window)" if ps.spatial_dims == 3 else "2D mammography patches"),
        architecture=f"LesionNet(spatial_dims={ps.spatial_dims}), {sum(p.numel() for p in model.parameters())} parameters",
        training_manifest_sha256=manifest_sha256(ps.table.iloc[train_idx]),
        ground_truth_sha256=file_sha256(gt) if gt.is_file() else None,
        n_train=len(train_idx),
        n_test=len(test_idx),
        metrics=metrics,
        hyperparameters={**cfg.as_dict(), "patch_size": ps.extra.get("size"), "fov_factor": ps.extra.get("fov_factor")},
        extra={"train_seconds": seconds, "lesion_type": lesion_type, "spatial_dims": ps.spatial_dims,
               "final_train_loss": cfg.history[-1]["loss"] if cfg.history else None},
    )
    return DemoModel(model, ps, train_idx, test_idx, card, seconds)


def _mean_ci(values: np.ndarray, seed: int) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    lo, hi = bootstrap_ci(v, v, lambda a, _b: float(np.mean(a)), n_boot=500, seed=seed)
    return {"value": float(np.mean(v)), "ci_low": lo, "ci_high": hi}


def evaluate_saliency(
    model: nn.Module,
    patches: PatchSet,
    methods: list[str] | None = None,
    caps: dict[str, int] | None = None,
    seed: int = 0,
    progress: bool = False,
    tolerance: int | None = None,
) -> dict[str, Any]:
    """Score saliency methods on the malignant lesions of ``patches``.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (an eager module for Grad-CAM; TorchScript cannot be hooked).
    patches : PatchSet
        Held-out patches; the malignant lesions (label 1 with a non-empty mask) are used.
    methods : list of str, optional
        Names of :class:`~oncoatlas.xai.saliency.SaliencyMethod` (all by default).
    caps : dict, optional
        Most cases for ``occlusion`` (all measures), ``occlusion_randomization``,
        ``randomization`` and ``faithfulness`` (deletion/insertion); see :data:`DEFAULT_CAPS`.
    seed : int
        Seed of bootstrap CIs and randomisation.
    progress : bool
        tqdm over methods.
    tolerance : int, optional
        Pointing-game tolerance in voxels (default: 15/224 of the patch edge, the
        tolerance of Zhang et al. 2016); ``pointing_game_strict`` is reported as well.

    Returns
    -------
    dict
        ``{"methods": {name: {pointing_game, energy_in_lesion, deletion_auc, insertion_auc,
        randomization_spearman, randomization_passes, randomization_curve, n_cases,
        n_cases_faithfulness, n_cases_randomization, *_ci, seconds}}, "baselines": ...}``;
        a method that fails to run has ``{"error": message}``.
    """
    caps = {**DEFAULT_CAPS, **(caps or {})}
    names = methods or [m.value for m in SaliencyMethod]
    sel = np.flatnonzero((patches.labels == 1) & (patches.masks.reshape(len(patches), -1).any(axis=1)))
    x = patches.model_input()[sel]
    masks = patches.masks[sel]
    # Zhang et al. (2016) count a hit within 15 pixels of the object on 224-pixel images;
    # the same fraction of our patch edge (2 voxels for 32), and the strict test too.
    tol = round(15 / 224 * masks.shape[1]) if tolerance is None else tolerance
    out: dict[str, Any] = {"methods": {}, "n_malignant_lesions": len(sel), "pointing_game_tolerance_voxels": tol}
    # baselines: a map peaked at the patch centre, and the mask's volume fraction (what a
    # uniform map puts inside the lesion)
    shape = masks.shape[1:]
    grids = np.meshgrid(*[np.arange(s) - (s - 1) / 2 for s in shape], indexing="ij")
    centre = np.exp(-sum(g**2 for g in grids) / (2 * (shape[0] / 6) ** 2))
    centre_maps = np.broadcast_to(centre, masks.shape)
    out["baselines"] = {
        "centre_pointing_game": float(quality.pointing_game(centre_maps, masks).mean()) if len(sel) else None,
        "uniform_energy_in_lesion": float(masks.reshape(len(sel), -1).mean(axis=1).mean()) if len(sel) else None,
    }
    it: Any = names
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(names, desc="saliency methods", unit="method")
    for name in it:
        t0 = time.perf_counter()
        try:
            method = SaliencyMethod(name)
            n_loc = min(len(sel), caps["occlusion"]) if method is SaliencyMethod.OCCLUSION else len(sel)
            maps = saliency_maps(model, x[:n_loc], method, seed=seed)
            hits = quality.pointing_game(maps, masks[:n_loc], tolerance=tol).astype(float)
            strict = quality.pointing_game(maps, masks[:n_loc]).astype(float)
            energy = quality.energy_in_lesion(maps, masks[:n_loc])
            n_f = min(n_loc, caps["faithfulness"])
            dele, ins = quality.deletion_insertion_auc(model, x[:n_f], maps[:n_f])
            n_r = min(n_loc, caps["randomization"])
            if method is SaliencyMethod.OCCLUSION:
                n_r = min(n_r, caps["occlusion_randomization"])
            curve = quality.randomization_check(model, x[:n_r], method, seed=seed, reference=maps[:n_r])
            final = float(curve["spearman"].iloc[-1])
            pg, en = _mean_ci(hits, seed), _mean_ci(energy, seed)
            de, ie = _mean_ci(dele, seed), _mean_ci(ins, seed)
            out["methods"][method.value] = {
                "pointing_game": pg["value"], "pointing_game_ci": [pg["ci_low"], pg["ci_high"]],
                "pointing_game_strict": float(np.mean(strict)) if len(strict) else float("nan"),
                "energy_in_lesion": en["value"], "energy_in_lesion_ci": [en["ci_low"], en["ci_high"]],
                "deletion_auc": de["value"], "deletion_auc_ci": [de["ci_low"], de["ci_high"]],
                "insertion_auc": ie["value"], "insertion_auc_ci": [ie["ci_low"], ie["ci_high"]],
                "randomization_spearman": final,
                "randomization_passes": bool(final < RANDOMIZATION_PASS),
                "randomization_curve": curve[["step", "layer", "spearman", "spearman_sd"]].to_dict("records"),
                "n_cases": int(n_loc), "n_cases_faithfulness": int(n_f), "n_cases_randomization": int(n_r),
                "seconds": time.perf_counter() - t0,
            }
        except Exception as exc:  # one failing method must not sink the report
            logger.warning("saliency method %s failed: %s", name, exc)
            out["methods"][str(name)] = {"error": f"{type(exc).__name__}: {exc}", "n_cases": 0}
    out["randomization_failures"] = [
        k for k, v in out["methods"].items() if "error" not in v and not v["randomization_passes"]
    ]
    return out


def _figure(model: nn.Module, patches: PatchSet, methods: list[str], path: Path, n_cases: int = 3) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = np.flatnonzero((patches.labels == 1) & patches.masks.reshape(len(patches), -1).any(axis=1))[:n_cases]
    if len(sel) == 0:
        return
    x = patches.model_input()[sel]
    cols = ["image", *methods]
    fig, axes = plt.subplots(len(sel), len(cols), figsize=(2.2 * len(cols), 2.2 * len(sel)), squeeze=False)
    maps = {}
    for m in methods:
        try:
            maps[m] = saliency_maps(model, x, m)
        except Exception:  # noqa: S112 - a failing method leaves an empty panel
            continue
    for r, i in enumerate(sel):
        mask = patches.masks[i]
        if patches.spatial_dims == 3:
            k = int(np.argmax(mask.sum(axis=(1, 2))))
            img, msk = x[r, 0, k], mask[k]
        else:
            k, img, msk = 0, x[r, 0], mask
        for c, name in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(img, cmap="gray")
            if name in maps:
                sal = maps[name][r][k] if patches.spatial_dims == 3 else maps[name][r]
                ax.imshow(sal, cmap="inferno", alpha=0.5, vmin=0, vmax=1)
            ax.contour(msk, levels=[0.5], colors="cyan", linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def write_report(
    report: dict[str, Any],
    out: str | os.PathLike[str],
    model: nn.Module | None = None,
    patches: PatchSet | None = None,
) -> Path:
    """Write ``report.json`` (and ``report.png`` when model and patches are given) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if model is not None and patches is not None:
        methods = [k for k, v in report.get("methods", {}).items() if "error" not in v]
        _figure(model, patches, methods, out / "report.png")
        report["figure"] = "report.png"
    path = out / "report.json"
    write_text_atomic(path, json.dumps(report, indent=2, default=_json_default))
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
