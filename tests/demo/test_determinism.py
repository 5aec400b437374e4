"""Same seed, same bytes; another seed, other bytes; small meets its guarantees."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from oncoatlas.demo import generate_federation


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_seed_decides_every_byte(fed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_federation(other, size="tiny", seed=1, workers=2)
    first, second = _hashes(fed), _hashes(other)
    # every DICOM file differs (the non-DICOM broken case is the same text in both)
    with (fed / "broken.csv").open(encoding="utf-8") as fh:
        not_dicom = {r["path"] for r in csv.DictReader(fh) if r["case"] == "non_dicom_file"}
    dicom_first = {v for k, v in first.items() if k.endswith(".dcm") and k not in not_dicom}
    dicom_second = {v for k, v in second.items() if k.endswith(".dcm") and k not in not_dicom}
    assert dicom_first and not dicom_first & dicom_second
    tokens = [
        yaml.safe_load((root / "federation.yaml").read_text())["nodes"][0]["token"]
        for root in (fed, other)
    ]
    assert tokens[0] != tokens[1]
    # the same seed again, with another worker count, over the existing federation (atomic
    # replacement): the same bytes as the session's federation
    generate_federation(other, size="tiny", seed=0, workers=1)
    again = _hashes(other)
    assert again.keys() == first.keys()
    assert [k for k in first if first[k] != again[k]] == []
    assert [p.name for p in tmp_path.iterdir()] == ["other"]


def test_cli_generate_errors_are_one_line(tmp_path: Path) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "oncoatlas", "demo", "generate", "--out", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "is a file" in proc.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "oncoatlas",
            "demo",
            "generate",
            "--out",
            str(tmp_path / "x"),
            "--size",
            "huge",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "huge" in proc.stderr


@pytest.mark.slow
def test_small_meets_its_guarantees(tmp_path: Path) -> None:
    out = tmp_path / "small"
    proc = subprocess.run(
        [sys.executable, "-m", "oncoatlas", "demo", "generate", "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    brief = json.loads(proc.stdout)
    assert brief["size"] == "small"
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert total <= 300 * 1024 * 1024
    for node in ("oslo", "milano", "leuven"):
        with (out / "nodes" / node / "clinical.csv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) >= 60
        assert len(rows) == brief["patients"][node]
        # common queries exceed k = 10 at every node; rare subgroups fall below it
        by_site = {
            s: sum(r["cancer_site"] == s for r in rows) for s in ("C34", "C50", "C61", "none")
        }
        assert sum(v >= 10 for v in by_site.values()) >= 3, by_site
        rare = sum(
            r["cancer_site"] == "C50" and r["er"] == "negative" and r["her2"] == "positive"
            for r in rows
        )
        assert rare < 10
        stage_iv_lung = sum(r["cancer_site"] == "C34" and r["stage"] == "IV" for r in rows)
        assert 0 < stage_iv_lung < 10
