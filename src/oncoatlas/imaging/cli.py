"""``oncoatlas volume export``: a catalogued series as a NIfTI file.

Heavy libraries (xarray, nibabel, pydicom) are imported inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["volume_export"]


@click.command(name="export")
@click.argument("series_uid")
@click.option(
    "--catalog",
    "catalog_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Catalog folder written by `oncoatlas index`.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output NIfTI file (.nii or .nii.gz); replaced only when the export succeeds.",
)
@click.option(
    "--strict",
    type=click.Choice(["ignore", "warn", "raise"]),
    default="warn",
    show_default=True,
    help="What irregular slice geometry does.",
)
def volume_export(series_uid: str, catalog_dir: Path, out: Path, strict: str) -> None:
    """Export series SERIES_UID of a catalog as NIfTI (DICOM LPS converted to NIfTI RAS)."""
    import logging
    import warnings

    from oncoatlas.catalog import Catalog
    from oncoatlas.errors import SeriesGeometryWarning
    from oncoatlas.imaging.nifti import write_nifti
    from oncoatlas.imaging.volume import open_volume

    if not str(out).endswith((".nii", ".nii.gz")):
        raise click.BadParameter(
            f"{out}: the output must end in .nii or .nii.gz", param_hint="--out"
        )
    catalog = Catalog.open(catalog_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SeriesGeometryWarning)
        vol = open_volume(series_uid, catalog, lazy=False, strict=strict)  # type: ignore[arg-type]
    for w in caught:
        click.echo(f"oncoatlas: warning: {w.message}", err=True)
    write_nifti(vol, out)
    logging.getLogger(__name__).info("wrote %s", out)
    click.echo(
        f"{out}: {vol.attrs.get('modality', '')} {'x'.join(str(n) for n in vol.shape[::-1])} voxels, "
        f"spacing {', '.join(f'{s:.3f}' for s in vol.oncoatlas.spacing)} mm, units {vol.attrs.get('units', '')}"
    )
