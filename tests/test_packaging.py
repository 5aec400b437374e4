"""Packaging: pyproject, conda environment and Binder files agree; package face is curated."""

from __future__ import annotations

import importlib
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _python_version(env: dict) -> str:
    for dep in env["dependencies"]:
        if isinstance(dep, str) and dep.startswith("python="):
            return dep.split("=", 1)[1]
    raise AssertionError("no python= pin in environment file")


def _pip_section(env: dict) -> list[str]:
    for dep in env["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return list(dep["pip"])
    return []


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_conda_environment_matches_pyproject(path: str) -> None:
    env = yaml.safe_load((ROOT / path).read_text())
    assert "conda-forge" in env["channels"]
    version = _python_version(env)
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert tuple(int(p) for p in version.split(".")) >= tuple(int(p) for p in minimum.split("."))
    pip = _pip_section(env)
    # torch is pinned to a CPU build source, as the Makefile does.
    ai = PYPROJECT["project"]["optional-dependencies"]["ai"]
    torch_req = next(r for r in ai if r.startswith("torch"))
    assert torch_req in pip
    assert any("download.pytorch.org/whl/cpu" in p for p in pip)


def test_top_level_environment_installs_package_with_all_extras() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "-e .[all]" in _pip_section(env)
    assert "all" in PYPROJECT["project"]["optional-dependencies"]


def test_binder_postbuild_installs_and_generates_demo() -> None:
    post = (ROOT / "binder" / "postBuild").read_text()
    assert post.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in post
    assert 'pip install --no-cache-dir -e ".[all]"' in post
    assert "oncoatlas demo generate" in post
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111


def test_ci_runs_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "set -euo pipefail" in ci
    assert "make test" in ci
    assert "make test" in readme and "make demo" in readme


def test_console_script_and_jupyter_proxy_entry_points() -> None:
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("oncoatlas") == "oncoatlas.cli:main"
    proxies = {ep.name: ep for ep in entry_points(group="jupyter_serverproxy_servers")}
    assert "oncoatlas" in proxies
    config = proxies["oncoatlas"].load()()
    assert "{port}" in " ".join(config["command"])
    assert config["launcher_entry"]["enabled"] is True


SUBPACKAGES = [
    p.name
    for p in (ROOT / "src" / "oncoatlas").iterdir()
    if p.is_dir() and (p / "__init__.py").exists()
]


@pytest.mark.parametrize("name", ["oncoatlas", *[f"oncoatlas.{n}" for n in SUBPACKAGES]])
def test_every_package_has_curated_all(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"
