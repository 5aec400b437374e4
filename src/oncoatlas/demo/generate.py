"""Write the whole demo federation: plan, render in worker processes, describe, rename.

The output is built in a temporary folder beside OUT and renamed over it only when complete
(:func:`oncoatlas._atomic.atomic_dir`), so a failed or interrupted run never leaves half a
federation in place of a good one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from oncoatlas._atomic import atomic_dir
from oncoatlas.demo.broken import make_broken
from oncoatlas.demo.clinical import CLINICAL_COLUMNS
from oncoatlas.demo.federation import THRESHOLD, datasets_yaml, federation_yaml, policy_yaml
from oncoatlas.demo.lesions import LESION_RULE
from oncoatlas.demo.nodes import NODES, SIZES, NodeSpec
from oncoatlas.demo.plan import PatientPlan, plan_node
from oncoatlas.demo.render import GT_COLUMNS, PatientResult, render_patient
from oncoatlas.errors import OncoatlasError

__all__ = ["DemoError", "generate_federation"]

logger = logging.getLogger(__name__)

#: Women simulated in ``screening/exams.csv`` per size.
SCREENING_WOMEN = {"tiny": 2000, "small": 20000, "medium": 200000}


class DemoError(OncoatlasError, ValueError):
    """The demo federation cannot be written where or how it was asked."""


def _csv(rows: Iterable[dict[str, str]] | Iterable[Sequence[str]], header: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[c] for c in header] if isinstance(row, dict) else row)
    return buf.getvalue()


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} is a file; give a folder path for the demo federation.")
    if out.is_dir() and any(out.iterdir()) and not (out / "generation.json").is_file():
        raise DemoError(
            f"--out {out} is a non-empty folder that is not a demo federation (no generation.json); "
            "refusing to replace it. Choose an empty or new folder."
        )


def _render_all(
    plans: list[PatientPlan], seed: int, node_dirs: dict[str, str], workers: int, progress: bool
) -> list[PatientResult]:
    jobs = [(p, node_dirs[p.node]) for p in plans]
    if workers <= 1:
        results = [render_patient(p, seed, d) for p, d in _progress(jobs, progress)]
        return results
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        fn = partial(_render_job, seed=seed)
        return list(_progress(pool.map(fn, jobs, chunksize=2), progress, total=len(jobs)))


def _render_job(job: tuple[PatientPlan, str], seed: int) -> PatientResult:
    plan, node_dir = job
    return render_patient(plan, seed, node_dir)


def _progress(items: Iterable[Any], enabled: bool, total: int | None = None) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc="demo patients", unit="patient")


def _link_screening(exams: Any, plans: list[PatientPlan], results: dict[str, PatientResult]) -> int:
    """Link the central node's mammography patients to exams of the simulated programme.

    Breast cancer patients take screen-detected cancer exams, controls take negative exams
    (no recall, no interval cancer), each of a different woman, nearest in age.
    """
    linked = 0
    used: set[str] = set()
    for plan in plans:
        if plan.node != "oslo" or plan.modality != "MG":
            continue
        cancer = plan.clinical["cancer_site"] != "none"
        if cancer:
            pool = exams[exams["screen_detected_cancer"] == 1]
        else:
            pool = exams[
                (exams["screen_detected_cancer"] == 0)
                & (exams["interval_cancer"] == 0)
                & (exams["recall"] == 0)
            ]
        pool = pool[~pool["woman_id"].isin(used) & exams.loc[pool.index, "patient_id"].isna()]
        if pool.empty:
            continue
        age = int(plan.clinical["age_at_diagnosis"])
        if "age" in pool:
            pool = pool.assign(_d=(pool["age"].astype(float) - age).abs()).sort_values(
                ["_d", "exam_id"], kind="stable"
            )
        row = pool.index[0]
        exams.loc[row, "patient_id"] = plan.patient_id
        exams.loc[row, "study_uid"] = results[plan.patient_id].study_uid
        used.add(str(exams.loc[row, "woman_id"]))
        linked += 1
    return linked


def _screening(
    root: Path, plans: list[PatientPlan], results: dict[str, PatientResult], size: str, seed: int
) -> dict[str, Any]:
    try:
        from oncoatlas.screening.synthetic import simulate_programme
    except ImportError:  # pragma: no cover - the screening subpackage ships with oncoatlas
        logger.warning("oncoatlas.screening is not available; screening/exams.csv not written")
        return {"written": False}
    exams = simulate_programme(SCREENING_WOMEN[size], seed)
    linked = _link_screening(exams, plans, results)
    (root / "screening").mkdir()
    exams.to_csv(root / "screening" / "exams.csv", index=False, lineterminator="\n")
    return {
        "written": True,
        "women": SCREENING_WOMEN[size],
        "exams": len(exams),
        "linked_to_images": linked,
    }


def _versions() -> dict[str, str]:
    out = {}
    for name in (
        "oncoatlas",
        "numpy",
        "scipy",
        "pydicom",
        "highdicom",
        "pylibjpeg-openjpeg",
        "pylibjpeg-rle",
        "pandas",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _tree_bytes(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def generate_federation(
    out: str | os.PathLike[str],
    size: str = "small",
    seed: int = 0,
    *,
    workers: int = 2,
    progress: bool = False,
) -> dict[str, Any]:
    """Write the synthetic demo federation to ``out`` and return its summary.

    Three nodes (``oslo`` central with record-level datasets; ``milano`` and ``leuven``
    federated, count-only) with chest CT (lung cancer and controls), screening mammography
    (breast cancer and controls) and prostate MR, clinical data in the common data model,
    lesions with DICOM SEG and ground truth, a screening-programme exam table, broken cases,
    and the node and federation configuration files. The layout is the team's data contract
    (see the README written into ``out``).

    Parameters
    ----------
    out : path-like
        Target folder. Replaced atomically; an existing non-empty folder that is not a demo
        federation (no ``generation.json``) is refused.
    size : {"small", "medium", "tiny"}
        ``small`` (>= 60 patients per node), ``medium`` (10x, for benchmarks) or ``tiny``
        (about 15 patients per node, for the generator's own tests).
    seed : int
        Seed of everything: the same seed gives the same bytes (same package versions).
    workers : int
        Worker processes rendering patients (each patient is independent).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict
        The content of ``generation.json``: seed, size, versions and per-node counts.

    Raises
    ------
    DemoError
        Unknown size, negative seed, or an ``out`` that must not be replaced.

    Examples
    --------
    >>> from oncoatlas.demo import generate_federation
    >>> summary = generate_federation("data/demo", size="small", seed=0)  # doctest: +SKIP
    >>> summary["nodes"]["oslo"]["patients"]  # doctest: +SKIP
    66
    """
    if size not in SIZES:
        raise DemoError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}.")
    if seed < 0:
        raise DemoError(f"seed must be a non-negative integer, got {seed}.")
    target = Path(out)
    _check_out(target)
    with atomic_dir(target) as tmp:
        summary = _generate(tmp, size, seed, workers, progress)
    logger.info("demo federation written to %s", target)
    return summary


def _generate(root: Path, size: str, seed: int, workers: int, progress: bool) -> dict[str, Any]:
    plans: list[PatientPlan] = []
    node_dirs: dict[str, str] = {}
    for node in NODES:
        node_dir = root / "nodes" / node.name
        (node_dir / "dicom").mkdir(parents=True)
        node_dirs[node.name] = str(node_dir)
        plans.extend(plan_node(node, size, seed))
    results = {r.patient_id: r for r in _render_all(plans, seed, node_dirs, workers, progress)}

    broken_rows = []
    for plan in plans:
        if plan.reserved:
            broken_rows.append(
                make_broken(
                    plan.reserved, results[plan.patient_id], root, Path(node_dirs[plan.node]), seed
                )
            )

    gt_rows = [row for plan in plans for row in results[plan.patient_id].ground_truth]
    gt_rows.sort(key=lambda r: ([n.name for n in NODES].index(r["node"]), r["lesion_id"]))
    (root / "ground_truth.csv").write_text(_csv(gt_rows, GT_COLUMNS), encoding="utf-8")
    (root / "broken.csv").write_text(
        _csv(sorted(broken_rows), ("path", "case", "expected_error")), encoding="utf-8"
    )

    nodes_summary: dict[str, Any] = {}
    for node in NODES:
        node_dir = Path(node_dirs[node.name])
        mine = sorted((p for p in plans if p.node == node.name), key=lambda p: p.patient_id)
        (node_dir / "clinical.csv").write_text(
            _csv((p.clinical for p in mine), CLINICAL_COLUMNS), encoding="utf-8"
        )
        (node_dir / "datasets.yaml").write_text(datasets_yaml(node), encoding="utf-8")
        (node_dir / "policy.yaml").write_text(policy_yaml(node, seed), encoding="utf-8")
        nodes_summary[node.name] = _node_summary(node, mine, results, gt_rows, node_dir)
    (root / "federation.yaml").write_text(federation_yaml(NODES, seed), encoding="utf-8")

    screening = _screening(root, plans, results, size, seed)
    files = _tree_bytes(root)[0]
    summary: dict[str, Any] = {
        "generator": "oncoatlas.demo",
        "seed": seed,
        "size": size,
        "versions": _versions(),
        "threshold": THRESHOLD,
        "nodes": nodes_summary,
        "lesions": len(gt_rows),
        "lesions_malignant": sum(r["malignant"] == "true" for r in gt_rows),
        "broken_cases": len(broken_rows),
        "screening": screening,
        "files": files + 2,  # plus README.md and generation.json
        "bytes_dicom": sum(n["bytes"] for n in nodes_summary.values()),
    }
    (root / "README.md").write_text(_readme(summary, broken_rows), encoding="utf-8")
    (root / "generation.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return summary


def _node_summary(
    node: NodeSpec,
    plans: list[PatientPlan],
    results: dict[str, PatientResult],
    gt_rows: list[dict[str, str]],
    node_dir: Path,
) -> dict[str, Any]:
    series = Counter(s.modality for p in plans for s in results[p.patient_id].series)
    files, nbytes = _tree_bytes(node_dir / "dicom")
    return {
        "role": node.role,
        "port": node.port,
        "access": node.access,
        "patients": len(plans),
        "by_kind": dict(sorted(Counter(p.kind for p in plans).items())),
        "by_dataset": dict(sorted(Counter(p.dataset for p in plans).items())),
        "by_cancer_site": dict(sorted(Counter(p.clinical["cancer_site"] for p in plans).items())),
        "series": dict(sorted(series.items())),
        "lesions": sum(r["node"] == node.name for r in gt_rows),
        "manufacturers": {
            "CT": f"{node.ct.manufacturer} {node.ct.model}",
            "MR": f"{node.mr.manufacturer} {node.mr.model}",
            "MG": f"{node.mg.manufacturer} {node.mg.model}",
        },
        "transfer_syntaxes": dict(node.syntax),
        "dicom_files": files,
        "bytes": nbytes,
    }


def _readme(summary: dict[str, Any], broken_rows: list[tuple[str, str, str]]) -> str:
    lines = [
        "# oncoatlas demo federation (synthetic)",
        "",
        f"Generated by `oncoatlas demo generate --size {summary['size']} --seed {summary['seed']}`. "
        "Every patient, image and number here is synthetic; the same seed gives the same bytes.",
        "",
        "## Nodes",
        "",
        "| node | role | URL | access | patients | lung / controls | breast / controls | prostate | lesions | CT | MR | MG | syntaxes (CT/MR/MG) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, n in summary["nodes"].items():
        k = n["by_kind"]
        ts = n["transfer_syntaxes"]
        lines.append(
            f"| {name} | {n['role']} | http://127.0.0.1:{n['port']} | {n['access']} | {n['patients']} | "
            f"{k.get('lung', 0)} / {k.get('lung_control', 0)} | {k.get('breast', 0)} / {k.get('breast_control', 0)} | "
            f"{k.get('prostate', 0)} | {n['lesions']} | {n['manufacturers']['CT']} | {n['manufacturers']['MR']} | "
            f"{n['manufacturers']['MG']} | {ts['CT']} / {ts['MR']} / {ts['MG']} |"
        )
    lines += [
        "",
        "Datasets per node: `<node>-lung-ct` (C34 and chest-CT controls), `<node>-breast-screening` "
        "(C50 and screening controls), `<node>-prostate-mr` (C61); `clinical.csv` names each "
        "patient's dataset. `oslo` datasets grant `record` access, `milano` and `leuven` answer "
        f"counts only; every node suppresses counts below k = {summary['threshold']}.",
        "",
        "## Layout",
        "",
        "```",
        "federation.yaml        client configuration (demo-researcher token of each node, in clear: demo only)",
        "generation.json        seed, size, package versions, counts",
        "ground_truth.csv       one row per lesion (per view for mammography)",
        "broken.csv             the deliberately broken files",
        "screening/exams.csv    simulated screening programme (oncoatlas.screening.synthetic)",
        "nodes/<node>/          datasets.yaml, policy.yaml (sha256 of tokens), clinical.csv,",
        "  dicom/<patient_id>/<date>_<accession>/<NNN>_<modality>_<what>/<instance>.dcm",
        "```",
        "",
        "## Imaging",
        "",
        "* Chest CT (CT Image Storage; one Enhanced CT multi-frame series at leuven): 128 x 128 x 64, "
        "2.5-2.9 mm pixels, 2.5 mm slices, HU = stored - 1024. Body outline, subcutaneous fat, lungs "
        "(-860 HU with vessels), mediastinum, aorta, spine, sternum, ribs; correlated noise of 12/16/20 HU "
        "(oslo/milano/leuven).",
        "* Prostate MR (MR Image Storage): axial T2W and ADC (1e-6 mm²/s) on one 96 x 96 x 20 grid "
        "(1.5-1.7 mm pixels, 3.6 mm slices), one frame of reference; peripheral and transition zones, "
        "bladder, rectum, femoral heads; Rician noise.",
        "* Screening mammography (Digital Mammography X-Ray - For Presentation): R-CC, L-CC, R-MLO, "
        "L-MLO in one series, 256 x 200 at 0.9 mm, 1/f³ fibroglandular texture, pectoral muscle on MLO.",
        "",
        "## Lesions and ground truth",
        "",
        LESION_RULE,
        "",
        "Lung cancer patients have one malignant nodule sized by T category (35 % a second one, 30 % "
        "of those malignant); chest-CT controls have 0-2 benign nodules. Breast cancer patients have "
        "a malignant mass (in CC and MLO of one breast), 20 % a benign mass in the other breast; 30 % "
        "of screening controls a benign mass. Prostate cancer patients have a malignant lesion (75 % "
        "peripheral zone), 25 % a benign transition-zone nodule. Every lesion is a segment of a BINARY "
        "DICOM SEG (TrackingID = lesion_id) on the same frame of reference as its series (CT, T2W) or "
        "on the mammogram's pixel matrix. `ground_truth.csv`: centroid in patient LPS mm for CT/MR; "
        "for MG `centroid_x`/`centroid_y` are mm from the centre of the top-left pixel along columns/rows "
        "(no z); `diameter_mm` is the core diameter the lesion was generated with (spicules reach further).",
        "",
        f"Lesions: {summary['lesions']} rows, {summary['lesions_malignant']} malignant.",
        "",
        "## Broken cases",
        "",
        "| path | case | expected error |",
        "|---|---|---|",
    ]
    lines += [f"| `{p}` | {c} | {e} |" for p, c, e in sorted(broken_rows)]
    sc = summary["screening"]
    lines += [
        "",
        "## Screening programme",
        "",
        (
            f"`screening/exams.csv`: {sc['exams']} exams of {sc['women']} simulated women "
            f"(oncoatlas.screening.synthetic.simulate_programme); {sc['linked_to_images']} exams are linked "
            "(patient_id, study_uid) to oslo's mammograms: breast cancer patients to screen-detected "
            "exams, controls to negative exams."
            if sc.get("written")
            else "`screening/exams.csv` was not written (oncoatlas.screening unavailable)."
        ),
        "",
        "## Access tokens",
        "",
        "`federation.yaml` holds each node's demo-researcher token (record at oslo, count at the "
        "federated nodes). Each node also accepts a demo-analyst token (count only); both are "
        "derived from the seed by `oncoatlas.demo.uids.derive_token(seed, node, token_id)`.",
        "",
    ]
    return "\n".join(lines)
