"""The ``oncoatlas`` command.

Every subcommand lives next to the code it drives (``oncoatlas/<subpackage>/cli.py``) and is
imported only when it is invoked, so that ``oncoatlas --help``, ``oncoatlas query`` and
``oncoatlas search`` start in a fraction of a second (``python -X importtime -m oncoatlas
--help`` is the check). The table below is the command contract of DESIGN.md.

Exit codes: 0 success, 1 bad input or a failed operation (one line on stderr), 2 usage
errors and capabilities that are not built yet.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from oncoatlas.errors import OncoatlasError

__all__ = ["COMMANDS", "main"]

# name -> (target, short help); target is "module:attribute" or a nested table.
Table = dict[str, tuple[Any, str]]

COMMANDS: Table = {
    "demo": (
        {
            "generate": ("oncoatlas.demo.cli:generate", "Write the synthetic demo federation."),
            "scale-catalog": (
                "oncoatlas.catalog.cli:scale_catalog",
                "Write a metadata-only catalog of EU-atlas scale for benchmarks.",
            ),
            "up": (
                "oncoatlas.federation.cli:demo_up",
                "Index the demo federation, start its nodes and dashboards.",
            ),
        },
        "The synthetic demo federation.",
    ),
    "index": ("oncoatlas.catalog.cli:index", "Index DICOM folders into a node's catalog."),
    "clinical": (
        {"import": ("oncoatlas.catalog.cli:clinical_import", "Validate and import clinical CSV.")},
        "Clinical data of the common data model.",
    ),
    "query": ("oncoatlas.catalog.cli:query", "Run SQL on a catalog."),
    "cohort": (
        {
            "build": ("oncoatlas.cohorts.cli:build", "Build a cohort and freeze its manifest."),
            "check": ("oncoatlas.cohorts.cli:check", "Replay a manifest and report changes."),
        },
        "Cohorts: specs, manifests, replays.",
    ),
    "node": (
        {"serve": ("oncoatlas.federation.cli:node_serve", "Serve a catalog as a federation node.")},
        "Federation node servers.",
    ),
    "search": ("oncoatlas.federation.cli:search", "Count a cohort spec across a federation."),
    "audit": (
        {"verify": ("oncoatlas.federation.cli:audit_verify", "Verify a node's audit log chain.")},
        "Node audit logs.",
    ),
    "volume": (
        {"export": ("oncoatlas.imaging.cli:volume_export", "Export a series as NIfTI.")},
        "DICOM series as volumes.",
    ),
    "radiomics": (
        {
            "extract": ("oncoatlas.radiomics.cli:extract", "IBSI features for one image and mask."),
            "cohort": ("oncoatlas.radiomics.cli:cohort", "IBSI features for a whole cohort."),
        },
        "IBSI radiomics.",
    ),
    "xai": (
        {
            "train": ("oncoatlas.xai.cli:train", "Train a demo model."),
            "predict": ("oncoatlas.xai.cli:predict", "Run a model over a cohort."),
            "saliency": ("oncoatlas.xai.cli:saliency", "Compute saliency maps."),
            "evaluate": ("oncoatlas.xai.cli:evaluate", "Measure saliency quality."),
        },
        "AI models and saliency.",
    ),
    "screening": (
        {"simulate": ("oncoatlas.screening.cli:simulate", "Triage scenarios for a programme.")},
        "Screening-programme analytics.",
    ),
    "deid": ("oncoatlas.deid.cli:deid", "De-identify DICOM (PS3.15 Annex E)."),
    "serve": ("oncoatlas.dashboards.cli:serve", "Serve the Panel dashboards."),
}


def _not_built(name: str, what: str) -> click.Command:
    @click.command(
        name=name,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        help=f"(not built yet) {what}",
    )
    def stub() -> None:
        click.echo(f"oncoatlas {name}: not built yet: {what}", err=True)
        sys.exit(2)

    return stub


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked."""

    def __init__(self, *args: Any, table: Table, path: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table
        self.path = path

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.table)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.table:
            return None
        target, short = self.table[cmd_name]
        full = f"{self.path} {cmd_name}".strip()
        if isinstance(target, dict):
            return LazyGroup(name=cmd_name, table=target, path=full, help=short)
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                return _not_built(cmd_name, f"{full} ({short})")
            raise
        command = getattr(module, attr, None)
        if command is None:
            return _not_built(cmd_name, f"{full} ({short})")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.table[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, table=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oncoatlas")
def cli() -> None:
    """oncoatlas: the researcher's workbench for a federation of cancer-imaging archives."""


def main(argv: list[str] | None = None) -> None:
    """Run the command; bad input ends with one line on stderr and exit status 1."""
    try:
        cli.main(args=argv, prog_name="oncoatlas", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OncoatlasError as exc:
        click.echo(f"oncoatlas: error: {exc}", err=True)
        sys.exit(1)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        click.echo(f"oncoatlas: error: {exc}", err=True)
        sys.exit(1)
    sys.exit(0)
