"""``oncoatlas screening simulate``: triage scenarios and AI accuracy for an exam table.

pandas, numpy and the analysis modules are imported inside the command so that the
``oncoatlas`` command table stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["simulate"]


@click.command(name="simulate")
@click.option(
    "--exams",
    "exams_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Exam table (CSV or Parquet) with the columns documented in docs/screening.md.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder for the CSV/JSON tables, decisions.parquet and summary.json.",
)
@click.option(
    "--scenarios",
    multiple=True,
    default=("all",),
    show_default=True,
    help="Built-in scenario names (comma separated), 'all', or NAME=LO-HI:PATH,... "
    "(PATH: none|single|double|ai_second; options score=COL, rule=consensus|any|both, "
    "ai_flag=X). Repeatable.",
)
@click.option(
    "--bootstrap",
    "n_boot",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Woman-level bootstrap replicates for the confidence intervals (0: none).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@click.option(
    "--level",
    default=0.95,
    show_default=True,
    type=click.FloatRange(0.5, 0.999),
    help="Confidence level.",
)
@click.option("--plots/--no-plots", default=False, help="Also write workload.png and roc.png.")
def simulate(
    exams_path: Path,
    out: Path,
    scenarios: tuple[str, ...],
    n_boot: int,
    seed: int,
    level: float,
    plots: bool,
) -> None:
    """Simulate AI triage scenarios on a screening exam table and write the tables.

    Prints a JSON summary (programme figures, files written) on stdout.
    """
    from oncoatlas.screening.report import analyse, write_report
    from oncoatlas.screening.schema import read_exams
    from oncoatlas.screening.triage import parse_scenarios

    try:
        parsed = parse_scenarios(scenarios)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenarios") from None
    exams = read_exams(exams_path)
    for s in parsed:
        s.assign(exams)  # fail early, with the scenario's name, on a missing column or band gap
    report = analyse(exams, parsed, n_boot=n_boot, seed=seed, level=level)
    written = write_report(report, out, source=str(exams_path))
    if plots:
        from oncoatlas._atomic import atomic_path
        from oncoatlas.screening.plots import roc_plot, workload_plot

        figures = {
            "workload.png": workload_plot(report.tables["rule_out_sweep"], report.tables["triage"]),
            "roc.png": roc_plot(exams, operating_points=report.tables["reader_operating_points"]),
        }
        for name, fig in figures.items():
            with atomic_path(out / name, suffix=".png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
            written.append(out / name)
    click.echo(
        json.dumps(
            {
                "out": str(out),
                "programme": report.summary["programme"],
                "files": [p.name for p in written],
            },
            default=float,
        )
    )
