"""``oncoatlas radiomics extract``: IBSI features of one image and mask to CSV.

``oncoatlas radiomics cohort``: IBSI features of every segmented ROI of a cohort, on Dask.

Heavy imports (numpy, scipy, scikit-image, the imaging readers, dask.distributed) happen
inside the commands.
"""

from __future__ import annotations

import click

__all__ = ["cohort", "extract"]


@click.command(name="extract")
@click.option("--image", "image", required=True, help="Image: NIfTI file or DICOM series folder.")
@click.option(
    "--mask",
    "masks",
    required=True,
    multiple=True,
    help="Mask: NIfTI, SEG or RTSTRUCT, optionally PATH:ROI (ROI name, glob or label). "
    "Repeat for several ROIs; a NIfTI label image without ROI gives one row per label.",
)
@click.option(
    "--settings",
    "settings",
    default="ibsi-phantom",
    show_default=True,
    help="Settings YAML file or preset (ibsi-phantom, ibsi-config-a … e, pyradiomics-default).",
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="CSV to write.")
def extract(image: str, masks: tuple[str, ...], settings: str, out: str) -> None:
    """IBSI features of each ROI: one CSV row per ROI, IBSI tags as columns."""
    import csv
    import io
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    import numpy as np

    from oncoatlas._atomic import write_text_atomic
    from oncoatlas.radiomics.extract import extract_arrays, load_image_mask, to_array
    from oncoatlas.radiomics.settings import SettingsError, load_settings

    s = load_settings(settings)
    if not Path(image).exists():
        raise click.BadParameter(f"image {image} does not exist", param_hint="--image")
    try:
        pkg_version = version("oncoatlas")
    except PackageNotFoundError:
        pkg_version = "unknown"
    rows: list[dict[str, object]] = []
    vol = None
    for spec in masks:
        vol_in = vol if vol is not None else image
        vol, mda, _ = load_image_mask(vol_in, spec)
        img, sp, _ = to_array(vol)
        marr, _, _ = to_array(mda, sp)
        if sp is None:
            raise SettingsError(f"cannot tell the voxel spacing of {image}")
        labels = dict(getattr(mda, "attrs", {}).get("labels", {}) or {})
        present = [int(v) for v in np.unique(np.asarray(marr)) if v != 0]
        if not present:
            raise SettingsError(f"mask {spec} selects no voxel of {image}")
        for lab in present:
            name = str(labels.get(lab, labels.get(str(lab), lab)))
            feats = extract_arrays(
                np.asarray(img, dtype=np.float64), np.asarray(marr) == lab, sp, s
            )
            row: dict[str, object] = {
                "image": image,
                "mask": spec,
                "roi": name,
                "label": lab,
                "settings": s.name,
                "settings_hash": s.hash(),
                "oncoatlas_version": pkg_version,
            }
            row.update(feats)
            rows.append(row)
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    write_text_atomic(out, buf.getvalue())
    click.echo(f"wrote {len(rows)} ROI row(s), {len(fields)} columns to {out}")


@click.command(name="cohort")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option(
    "--catalog",
    "catalogs",
    required=True,
    multiple=True,
    help="Catalog folder holding the series (repeat for one catalog per node).",
)
@click.option(
    "--settings",
    "settings",
    default="pyradiomics-default",
    show_default=True,
    help="Settings YAML file or preset (ibsi-phantom, ibsi-config-a … e, pyradiomics-default).",
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Parquet file to write (failures go to OUT's stem + .failures.csv).")  # fmt: skip
@click.option("--scheduler", default=None, help="dask.distributed scheduler address (tcp://…).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the local Dask cluster (default: CPUs, at most 4).")  # fmt: skip
@click.option("--cache", "cache", default=None, type=click.Path(file_okay=False),
              help="Cache folder: finished cases are reused by later runs.")  # fmt: skip
@click.option("--roi", "rois", multiple=True,
              help="Only segments/ROIs whose name matches this glob (repeatable), e.g. 'GTV*'.")  # fmt: skip
@click.option("--modality", "modalities", multiple=True, help="Only image series of this modality.")
@click.option("--ground-truth", "ground_truth", default=None,
              type=click.Path(dir_okay=False, exists=True),
              help="Demo ground_truth.csv: adds lesion_type and malignant columns.")  # fmt: skip
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def cohort(
    manifest: str, catalogs: tuple[str, ...], settings: str, out: str, scheduler: str | None,
    workers: int | None, cache: str | None, rois: tuple[str, ...], modalities: tuple[str, ...],
    ground_truth: str | None, no_progress: bool,
) -> None:  # fmt: skip
    """IBSI features of every segmented ROI of a cohort MANIFEST, computed on Dask.

    One Parquet row per (series, SEG segment / RTSTRUCT ROI). Cases that fail are listed
    with their reason in OUT's stem + .failures.csv; the run goes on without them.
    """
    import csv
    import io
    from pathlib import Path

    from oncoatlas._atomic import atomic_path, write_text_atomic
    from oncoatlas.cohorts import Manifest
    from oncoatlas.radiomics.cohort import FAILURE_COLUMNS, extract_cohort, join_ground_truth
    from oncoatlas.radiomics.settings import load_settings

    s = load_settings(settings)
    m = Manifest.load(manifest)
    for c in catalogs:
        if not Path(c).is_dir():
            raise click.BadParameter(f"catalog folder {c} does not exist", param_hint="--catalog")
    df = extract_cohort(
        m, list(catalogs), s, scheduler=scheduler, workers=workers, cache=cache,
        roi=list(rois) or None, modality=list(modalities) or None, progress=not no_progress,
    )  # fmt: skip
    failures = list(df.attrs.get("failures", []))
    if ground_truth:
        df = join_ground_truth(df, ground_truth)
    df.attrs = {}
    with atomic_path(out, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    fpath = Path(out).with_name(Path(out).name.removesuffix(".parquet") + ".failures.csv")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(FAILURE_COLUMNS), lineterminator="\n")
    w.writeheader()
    for f in failures:
        w.writerow(f)
    write_text_atomic(fpath, buf.getvalue())
    click.echo(
        f"wrote {len(df)} ROI row(s) to {out}; {len(failures)} failure(s) in {fpath}"
    )
