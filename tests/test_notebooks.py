"""The curated notebooks: each runs top to bottom on the small demo federation.

Every notebook in ``notebooks/`` is executed with nbclient (kernel ``python3``, working
directory ``notebooks/``) with ``ONCOATLAS_DEMO`` set to the cached demo federation and
``ONCOATLAS_FEDERATION`` to a federation.yaml whose nodes are served by real node
processes; any cell error fails the test. A second test checks what git should hold:
outputs stripped, kernelspec and language_info set, the data-location cell first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
CELL_TIMEOUT_S = 240


def test_there_are_notebooks() -> None:
    assert PATHS, f"no numbered notebooks in {NOTEBOOKS}"
    numbers = [p.name[:2] for p in PATHS]
    assert len(set(numbers)) == len(numbers), f"two notebooks share a number: {numbers}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_stripped_and_has_kernelspec(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    spec = nb["metadata"].get("kernelspec", {})
    assert spec.get("name") == "python3", spec
    assert spec.get("display_name") == "Python 3 (oncoatlas)", spec
    assert nb["metadata"].get("language_info", {}).get("name") == "python"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs: strip them"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
    first = "".join(code[0]["source"])
    assert 'os.environ.get("ONCOATLAS_DEMO", "../data/demo")' in first, path.name
    assert 'os.environ.get("ONCOATLAS_FEDERATION", DEMO / "federation.yaml")' in first, path.name
    assert nb["cells"][0]["cell_type"] == "markdown", f"{path.name} should open with prose"


def test_readme_lists_every_notebook() -> None:
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in PATHS if p.name not in readme]
    assert not missing, f"notebooks/README.md does not list {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(
    path: Path, demo_root: Path, demo_federation: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # The kernel is a child process: it inherits these.
    monkeypatch.setenv("ONCOATLAS_DEMO", str(demo_root))
    monkeypatch.setenv("ONCOATLAS_FEDERATION", str(demo_federation))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{str(exc)[-4000:]}", pytrace=False)
    errors = [
        (i, out.get("ename"), out.get("evalue"))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: error outputs {errors}"
