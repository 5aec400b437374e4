"""``oncoatlas xai train|predict|saliency|evaluate``.

``--catalog DIR`` is the demo federation folder written by ``oncoatlas demo generate`` (the
folder with ``ground_truth.csv``), or a catalog folder inside it (e.g.
``DIR/nodes/oslo/catalog``): the ground truth is then found in its nearest parent, or given
with ``--demo DIR``. Series files are found by scanning ``nodes/<node>/dicom/<patient>``
of the demo root. Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

__all__ = ["evaluate", "predict", "saliency", "train"]

_LESION = click.Choice(["lung_nodule", "breast_mass"])


def _root(catalog: Path, demo: Path | None) -> Path:
    from oncoatlas.xai.data import find_demo_root

    return find_demo_root(demo if demo is not None else catalog)


def _torch() -> None:
    import torch

    torch.set_num_threads(2)


def _load_eager(model_path: Path) -> tuple[Any, dict[str, Any]]:
    from oncoatlas.xai.io import load_model

    return load_model(model_path)


def _write_bundle(dm: Any, out: Path) -> None:
    import torch

    from oncoatlas._atomic import atomic_dir

    out = Path(out)
    ps = dm.patches
    example = torch.as_tensor(ps.model_input()[:1])
    with atomic_dir(out) as tmp:
        (tmp / "configs").mkdir()
        (tmp / "models").mkdir()
        meta = {"version": "0.1.0", "name": dm.card.name, "task": dm.card.task,
                "spatial_dims": ps.spatial_dims, "lesion_type": dm.card.extra.get("lesion_type"),
                "patch_size": ps.extra.get("size"), "fov_factor": ps.extra.get("fov_factor"),
                "preprocessing": "lung window (-600, 1500) to [0, 1]" if ps.spatial_dims == 3 else "99.5th percentile to [0, 1]",
                "model_card": dm.card.to_dict()}
        (tmp / "configs" / "metadata.json").write_text(json.dumps(meta, indent=2, default=float), encoding="utf-8")
        inference = {"network_def": {"_target_": "oncoatlas.xai.models.LesionNet", "spatial_dims": ps.spatial_dims}}
        (tmp / "configs" / "inference.json").write_text(json.dumps(inference, indent=2), encoding="utf-8")
        torch.save(dm.model.state_dict(), tmp / "models" / "model.pt")
        with torch.no_grad():
            torch.jit.save(torch.jit.trace(dm.model, example), str(tmp / "models" / "model.ts"))
        dm.card.write(tmp)
        import pandas as pd

        pd.concat(
            [ps.table.iloc[dm.train_idx].assign(split="train"), ps.table.iloc[dm.test_idx].assign(split="test")]
        ).to_csv(tmp / "split.csv", index=False)


@click.command("train")
@click.option("--catalog", "catalog", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Demo federation folder (or a catalog folder inside it).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output MONAI bundle folder (model.ts, model.pt, model card).")
@click.option("--demo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Demo root holding ground_truth.csv, when --catalog is not inside it.")
@click.option("--lesion-type", type=_LESION, default="lung_nodule", show_default=True)
@click.option("--epochs", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def train(catalog: Path, out: Path, demo: Path | None, lesion_type: str, epochs: int, seed: int) -> None:
    """Train the demo model and write it as a MONAI bundle with its model card."""
    _torch()
    from oncoatlas.xai.evaluate import train_demo

    dm = train_demo(_root(catalog, demo), lesion_type, epochs=epochs, seed=seed, progress=True)
    _write_bundle(dm, out)
    auc = dm.card.metrics["auc"]
    click.echo(json.dumps({"out": str(out), "auc": auc, "train_seconds": dm.train_seconds}, default=float))


@click.command("predict")
@click.option("--model", "model_path", type=click.Path(exists=True, path_type=Path), required=True,
              help="Bundle folder from `oncoatlas xai train` or a TorchScript file.")
@click.option("--catalog", "catalog", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV or Parquet file.")
@click.option("--demo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--lesion-type", type=_LESION, default="lung_nodule", show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=32, show_default=True)
def predict(model_path: Path, catalog: Path, out: Path, demo: Path | None, lesion_type: str, batch_size: int) -> None:
    """Predict malignancy for every lesion of a cohort (one row per lesion patch)."""
    _torch()
    from oncoatlas._atomic import atomic_path
    from oncoatlas.xai.data import load_patches
    from oncoatlas.xai.inference import predict_patches

    model, _meta = _load_eager(model_path)
    ps = load_patches(_root(catalog, demo), lesion_type, normals_per_series=0, progress=True)
    table = predict_patches(model, ps, batch_size=batch_size, progress=True)
    with atomic_path(out, suffix=out.suffix) as tmp:
        if out.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    click.echo(json.dumps({"out": str(out), "rows": len(table)}))


@click.command("saliency")
@click.option("--model", "model_path", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--catalog", "catalog", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--lesion-id", required=True, help="A lesion_id of ground_truth.csv (CT lung nodules).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--demo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--method", type=click.Choice(["gradcam", "gradcampp", "occlusion", "integrated_gradients", "smoothgrad"]),
              default="gradcam", show_default=True)
def saliency(model_path: Path, catalog: Path, lesion_id: str, out: Path, demo: Path | None, method: str) -> None:
    """Saliency of one CT lesion as NIfTI (patch) and DICOM Parametric Map (source grid)."""
    _torch()
    import numpy as np

    from oncoatlas.errors import CatalogError
    from oncoatlas.xai.data import _Locator, _open, load_ground_truth, patch_array, sample_patch
    from oncoatlas.xai.export import saliency_to_nifti, saliency_to_parametric_map
    from oncoatlas.xai.models import window
    from oncoatlas.xai.saliency import explain

    root = _root(catalog, demo)
    gt = load_ground_truth(root)
    row = gt[gt["lesion_id"] == lesion_id]
    if row.empty:
        raise CatalogError(f"lesion {lesion_id!r} is not in {root / 'ground_truth.csv'}; pick a lesion_id from it")
    les = row.iloc[0]
    if les.modality != "CT":
        raise click.BadParameter(f"lesion {lesion_id} is {les.modality}; saliency export supports CT lesions", param_hint="--lesion-id")
    model, meta = _load_eager(model_path)
    size = int(meta.get("patch_size") or 32)
    fov = float(meta.get("fov_factor") or 2.5)
    files = _Locator(root, None).files(str(les.series_uid), str(les.node), str(les.patient_id))
    vol = _open(files)
    centre = np.array([les.centroid_x, les.centroid_y, les.centroid_z], dtype=float)
    img, aff = sample_patch(np.asarray(vol.values), np.asarray(vol.attrs["affine"]), centre, fov * float(les.diameter_mm) / size, size, cval=-1024.0)
    sal = explain(model, patch_array(img, aff), method, transform=window)
    out.mkdir(parents=True, exist_ok=True)
    nii = saliency_to_nifti(sal, out / f"{lesion_id}_{method}.nii.gz")
    pm = saliency_to_parametric_map(sal, files, out / f"{lesion_id}_{method}_pm.dcm")
    click.echo(json.dumps({"nifti": str(nii), "parametric_map": str(pm)}))


@click.command("evaluate")
@click.option("--catalog", "catalog", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Demo federation folder (or a catalog folder inside it).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--demo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--model", "model_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Bundle folder from `oncoatlas xai train`; trains the demo model when omitted.")
@click.option("--lesion-type", type=_LESION, default="lung_nodule", show_default=True)
@click.option("--epochs", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--methods", default="gradcam,gradcampp,occlusion,integrated_gradients,smoothgrad", show_default=True)
def evaluate(catalog: Path, out: Path, demo: Path | None, model_path: Path | None, lesion_type: str,
             epochs: int, seed: int, methods: str) -> None:
    """Measure saliency quality on held-out malignant lesions; write report.json and report.png."""
    _torch()
    import numpy as np

    from oncoatlas.xai.data import load_patches
    from oncoatlas.xai.evaluate import evaluate_saliency, train_demo, write_report
    from oncoatlas.xai.saliency import SaliencyMethod

    names = [m.strip() for m in methods.split(",") if m.strip()]
    for n in names:
        try:
            SaliencyMethod(n)
        except ValueError:
            raise click.BadParameter(f"unknown method {n!r}; choose from {[m.value for m in SaliencyMethod]}",
                                     param_hint="--methods") from None
    root = _root(catalog, demo)
    ps = load_patches(root, lesion_type, seed=seed, progress=True)
    if model_path is None:
        dm = train_demo(root, lesion_type, epochs=epochs, seed=seed, patches=ps, progress=True)
        model, test = dm.model, ps.subset(dm.test_idx)
        model_info: dict[str, Any] = {"trained": True, "card": dm.card.to_dict()}
        _write_bundle(dm, out / "model")
    else:
        model, meta = _load_eager(model_path)
        split_csv = Path(model_path) / "split.csv"
        if split_csv.is_file():
            import pandas as pd

            test_ids = set(pd.read_csv(split_csv).query("split == 'test'")["lesion_id"].astype(str))
            test = ps.subset(np.flatnonzero(ps.table["lesion_id"].astype(str).isin(test_ids).to_numpy()))
        else:
            test = ps
        model_info = {"trained": False, "path": str(model_path), "metadata": meta}
    report = evaluate_saliency(model, test, names, seed=seed, progress=True)
    report.update({"demo_root": str(root), "lesion_type": lesion_type, "model": model_info,
                   "randomization_pass_threshold": 0.5})
    path = write_report(report, out, model, test)
    summary = {k: {m: v.get(m) for m in ("pointing_game", "energy_in_lesion", "deletion_auc", "insertion_auc",
                                          "randomization_spearman", "n_cases", "error") if m in v}
               for k, v in report["methods"].items()}
    click.echo(json.dumps({"report": str(path), "methods": summary}, default=float))
