"""``oncoatlas demo generate``: write the synthetic demo federation."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["generate"]


@click.command(name="generate")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write (replaced atomically).",
)
@click.option(
    "--size",
    type=click.Choice(["small", "medium", "tiny"]),
    default="small",
    show_default=True,
    help="small: >= 60 patients per node; medium: 10x.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Same seed, same bytes.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes."
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show a progress bar on stderr.",
)
def generate(out: Path, size: str, seed: int, workers: int, progress: bool) -> None:
    """Write the synthetic demo federation (three nodes of DICOM, clinical data, ground truth).

    Prints a JSON summary (per-node counts) on stdout.
    """
    from oncoatlas.demo.generate import generate_federation

    summary = generate_federation(out, size=size, seed=seed, workers=workers, progress=progress)
    brief = {
        "out": str(out),
        "seed": seed,
        "size": size,
        "patients": {k: v["patients"] for k, v in summary["nodes"].items()},
        "lesions": summary["lesions"],
        "broken_cases": summary["broken_cases"],
        "bytes_dicom": summary["bytes_dicom"],
    }
    click.echo(json.dumps(brief, indent=2))
