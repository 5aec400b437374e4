"""``oncoatlas deid SRC DST --key KEYFILE``: de-identify a DICOM folder (PS3.15 Annex E)."""

from __future__ import annotations

import json

import click

from oncoatlas.errors import OncoatlasError

__all__ = ["DeidRunError", "deid"]


class DeidRunError(OncoatlasError, RuntimeError):
    """A de-identification run finished, but some files failed."""


@click.command(name="deid")
@click.argument("src", type=click.Path(exists=True, file_okay=False, dir_okay=True))
@click.argument("dst", type=click.Path(file_okay=False, dir_okay=True))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="File with >= 32 bytes of secret (e.g. 64 hex digits); keep it at the hospital.",
)
@click.option(
    "--profile",
    type=click.Choice(["basic"]),
    default="basic",
    show_default=True,
    help="Confidentiality profile: the Basic Application Level Confidentiality Profile.",
)
@click.option(
    "--retain-longitudinal",
    type=click.Choice(["off", "modified-dates", "full"]),
    default="off",
    show_default=True,
    help="Dates: removed (off), shifted by a keyed per-patient offset, or kept.",
)
@click.option(
    "--retain-patient-characteristics", is_flag=True, help="Keep sex, age, size, weight..."
)
@click.option(
    "--clean-descriptors", is_flag=True, help="Keep descriptions, cleaned of identifying values."
)
@click.option("--retain-device-identity", is_flag=True, help="Keep station name, serial numbers...")
@click.option(
    "--retain-institution-identity", is_flag=True, help="Keep institution name and address."
)
@click.option("--retain-uids", is_flag=True, help="Keep original UIDs (not recommended).")
@click.option("--retain-safe-private", is_flag=True, help="Keep the documented safe private tags.")
@click.option(
    "--conformance",
    type=click.Choice(["keep", "minimal"]),
    default="keep",
    show_default=True,
    help="Combined actions (X/Z, X/D...): keep IODs conformant, or remove the most.",
)
@click.option("--allow-burned-in", is_flag=True, help="Write images at risk of burned-in text.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where report.csv/json go (default DST/.deid; it maps outputs to source paths).",
)
@click.option("--progress/--no-progress", default=False, help="Show a progress bar.")
def deid(
    src: str,
    dst: str,
    key_file: str,
    profile: str,
    retain_longitudinal: str,
    retain_patient_characteristics: bool,
    clean_descriptors: bool,
    retain_device_identity: bool,
    retain_institution_identity: bool,
    retain_uids: bool,
    retain_safe_private: bool,
    conformance: str,
    allow_burned_in: bool,
    workers: int,
    report_dir: str | None,
    progress: bool,
) -> None:
    """De-identify the DICOM files under SRC into DST (DICOM PS3.15 Annex E).

    Prints a JSON summary; exits 1 with one line on stderr when the key is bad or when
    any file failed (the run still goes through every file; see the report).
    """
    from oncoatlas.deid.keys import load_key
    from oncoatlas.deid.profile import ProfileOptions
    from oncoatlas.deid.run import deidentify_folder

    key = load_key(key_file)
    options = ProfileOptions(
        retain_longitudinal=retain_longitudinal,  # type: ignore[arg-type]  # converted in __post_init__
        retain_patient_characteristics=retain_patient_characteristics,
        clean_descriptors=clean_descriptors,
        retain_device_identity=retain_device_identity,
        retain_institution_identity=retain_institution_identity,
        retain_uids=retain_uids,
        retain_safe_private=retain_safe_private,
        conformance=conformance,  # type: ignore[arg-type]  # converted in __post_init__
    )
    try:
        report = deidentify_folder(
            src,
            dst,
            key,
            options,
            allow_burned_in=allow_burned_in,
            workers=workers,
            report_dir=report_dir,
            progress=progress,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DST") from None
    counts = report.counts()
    click.echo(
        json.dumps(
            {
                "files": len(report.records),
                **counts,
                "seconds": round(report.seconds, 3),
                "report": str(report.report_dir / "report.csv"),
            }
        )
    )
    if counts["failed"]:
        raise DeidRunError(
            f"{counts['failed']} of {len(report.records)} files failed; "
            f"see {report.report_dir / 'report.csv'}"
        )
