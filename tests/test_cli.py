"""The `oncoatlas` command: contract table, fast start, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from oncoatlas.cli import COMMANDS, LazyGroup, cli

# The command contract of DESIGN.md: every command name must stay.
CONTRACT = {
    ("demo", "generate"),
    ("demo", "scale-catalog"),
    ("index",),
    ("clinical", "import"),
    ("query",),
    ("cohort", "build"),
    ("cohort", "check"),
    ("node", "serve"),
    ("search",),
    ("audit", "verify"),
    ("volume", "export"),
    ("radiomics", "extract"),
    ("radiomics", "cohort"),
    ("xai", "train"),
    ("xai", "predict"),
    ("xai", "saliency"),
    ("xai", "evaluate"),
    ("screening", "simulate"),
    ("deid",),
    ("serve",),
}


def _paths(table: dict, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for name, (target, _help) in table.items():
        if isinstance(target, dict):
            out |= _paths(target, (*prefix, name))
        else:
            out.add((*prefix, name))
    return out


def test_contract_commands_present() -> None:
    assert CONTRACT <= _paths(COMMANDS)


@pytest.mark.parametrize("path", sorted(CONTRACT))
def test_every_command_resolves_with_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_help_lists_commands_without_importing_them() -> None:
    code = (
        "import sys\n"
        "from oncoatlas.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'monai', 'panel', 'holoviews', 'highdicom',"
        " 'distributed', 'pandas', 'duckdb', 'pydicom') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "radiomics" in out.stdout and "deid" in out.stdout
    assert "HEAVY []" in out.stdout


def test_unknown_command_is_a_usage_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "oncoatlas", "no-such-command"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "No such command" in out.stderr


def test_not_built_stub_exits_2_with_message() -> None:
    group = LazyGroup(name="t", table={"x": ("oncoatlas.no_such_module:cmd", "Something")})
    result = CliRunner().invoke(group, ["x"])
    assert result.exit_code == 2
    assert "not built yet" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "0.1.0" in result.output
