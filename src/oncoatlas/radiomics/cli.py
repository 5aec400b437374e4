"""``oncoatlas radiomics extract``: IBSI features of one image and mask to CSV.

Heavy imports (numpy, scipy, scikit-image, the imaging readers) happen inside the command.
``radiomics cohort`` is a later task and deliberately not defined here.
"""

from __future__ import annotations

import click

__all__ = ["extract"]


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
