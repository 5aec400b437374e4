"""The catalog commands, run as a user runs them."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from oncoatlas.cli import main

from .conftest import write_series


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``oncoatlas ARGS`` in this process through the real entry point."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_index_query_clinical(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_series(src / "a", [0, 1, 2], patient="A")
    cat = tmp_path / "cat"
    out = _run("index", str(src), "--catalog", str(cat), "--node", "n1", "--workers", "1", "--quiet")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["instances"] == 3
    q = "SELECT patient_id, n_instances FROM series"
    table = _run("query", "--catalog", str(cat), q)
    assert table.returncode == 0 and "patient_id" in table.stdout and " 3" in table.stdout
    as_json = json.loads(_run("query", "--catalog", str(cat), q, "--format", "json").stdout)
    assert as_json == [{"patient_id": "A", "n_instances": 3}]
    rows = list(csv.DictReader(io.StringIO(_run("query", "--catalog", str(cat), q, "--format", "csv").stdout)))
    assert rows == [{"patient_id": "A", "n_instances": "3"}]
    bad = _run("query", "--catalog", str(cat), "SELECT nope FROM series")
    assert bad.returncode == 1 and bad.stderr.startswith("oncoatlas: error: query failed")
    clin = tmp_path / "clinical.csv"
    clin.write_text("patient_id,sex,age_at_diagnosis,cancer_site,dataset\nA,Q,50,C34,default\n")
    res = _run("clinical", "import", str(clin), "--catalog", str(cat), "--node", "n1")
    assert res.returncode == 1
    assert "row 2, column sex, value 'Q': not one of F, M, O" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    clin.write_text("patient_id,sex,age_at_diagnosis,cancer_site,dataset\nA,F,50,C34,default\n")
    assert _run("clinical", "import", str(clin), "--catalog", str(cat), "--node", "n1").returncode == 0
    joined = json.loads(_run("query", "--catalog", str(cat), "SELECT c.sex FROM series s JOIN clinical c USING (patient_id)", "--format", "json").stdout)
    assert joined == [{"sex": "F"}]


def test_missing_catalog_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = _run("query", "--catalog", str(tmp_path / "empty"), "SELECT 1")
    assert res.returncode == 1
    assert "no node catalog in" in res.stderr and "oncoatlas index" in res.stderr


def test_query_imports_stay_light(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_series(src / "a", [0, 1], patient="A")
    cat = tmp_path / "cat"
    assert _run("index", str(src), "--catalog", str(cat), "--node", "n", "--workers", "1", "--quiet").returncode == 0
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oncoatlas", "query", "--catalog", str(cat), "SELECT 1"],
        capture_output=True, text=True,
    )
    assert res.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in res.stderr.splitlines() if "|" in line}
    for heavy in ("pydicom", "pandas", "torch", "dask", "panel", "highdicom"):
        assert heavy not in imported, heavy


def test_scale_catalog_command(tmp_path: Path) -> None:
    res = _run("demo", "scale-catalog", "--out", str(tmp_path / "s"), "--series", "300", "--instances-per-series", "4")
    assert res.returncode == 0, res.stderr
    counts = json.loads(res.stdout)
    assert sum(v["series"] for v in counts.values()) == 300
    total = json.loads(_run("query", "--catalog", str(tmp_path / "s"), "SELECT count(*) AS n FROM instances", "--format", "json").stdout)
    assert total[0]["n"] == sum(v["instances"] for v in counts.values())
