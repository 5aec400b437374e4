"""The patient plan: who is at which node, with which clinical row and which lesions.

Planning happens in one process from the seed; rendering each patient's images is then a
pure function of its :class:`PatientPlan` (which carries its own seed), so patients can be
rendered in any order, in parallel, with the same bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from oncoatlas.demo.clinical import draw_clinical
from oncoatlas.demo.nodes import KINDS, SIZES, NodeSpec
from oncoatlas.demo.uids import derive_seed

__all__ = ["LesionPlan", "PatientPlan", "plan_node"]

_T_SIZE_MM = {
    # T category -> (min, max) core diameter of the primary tumour in mm
    "C34": {"T1": (10.0, 28.0), "T2": (28.0, 40.0), "T3": (38.0, 48.0), "T4": (35.0, 50.0)},
    "C50": {
        "Tis": (6.0, 12.0),
        "T1": (8.0, 20.0),
        "T2": (20.0, 35.0),
        "T3": (35.0, 45.0),
        "T4": (25.0, 45.0),
    },
    "C61": {"T1": (8.0, 14.0), "T2": (10.0, 20.0), "T3": (16.0, 24.0), "T4": (18.0, 26.0)},
}
_BENIGN_MM = {"CT": (5.0, 18.0), "MG": (8.0, 22.0), "MR": (8.0, 16.0)}


@dataclass(frozen=True)
class LesionPlan:
    """A lesion to render: malignancy and core diameter (mm); the position is drawn later."""

    number: int
    malignant: bool
    diameter_mm: float
    laterality: str = ""  # breast: L or R
    zone: str = ""  # prostate: PZ or TZ


@dataclass
class PatientPlan:
    """Everything needed to render one patient, deterministically."""

    node: str
    index: int
    patient_id: str
    kind: str
    modality: str
    dataset: str
    clinical: dict[str, str]
    study_date: str
    study_time: str
    seed: int
    lesions: list[LesionPlan] = field(default_factory=list)
    enhanced: bool = False
    reserved: str = ""  # a broken case planned on this patient (no lesions)


def _size_mm(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return round(float(rng.uniform(*lo_hi)), 1)


def _lesions(kind: str, clinical: dict[str, str], rng: np.random.Generator) -> list[LesionPlan]:
    site = clinical["cancer_site"]
    modality = KINDS[kind][2]
    lesions: list[LesionPlan] = []
    side = "L" if rng.random() < 0.5 else "R"
    if site != "none":
        lo_hi = _T_SIZE_MM[site][clinical["t_stage"]]
        zone = ("PZ" if rng.random() < 0.75 else "TZ") if site == "C61" else ""
        lesions.append(
            LesionPlan(1, True, _size_mm(rng, lo_hi), side if site == "C50" else "", zone)
        )
        extra = {"C34": 0.35, "C50": 0.2, "C61": 0.25}[site]
        if rng.random() < extra:
            malignant = site == "C34" and rng.random() < 0.3
            lo_hi = (8.0, 16.0) if malignant else _BENIGN_MM[modality]
            other = ("R" if side == "L" else "L") if site == "C50" else ""
            lesions.append(
                LesionPlan(2, malignant, _size_mm(rng, lo_hi), other, "TZ" if site == "C61" else "")
            )
    else:
        u = rng.random()
        n = (
            0
            if u < (0.5 if modality == "CT" else 0.7)
            else (1 if u < 0.88 or modality != "CT" else 2)
        )
        for k in range(n):
            lesions.append(LesionPlan(k + 1, False, _size_mm(rng, _BENIGN_MM[modality]), side))
    return lesions


def plan_node(node: NodeSpec, size: str, seed: int) -> list[PatientPlan]:
    """Plan the patients of ``node`` for a federation ``size`` and ``seed``.

    The kinds are interleaved (not blocked) so that patient ids carry no information about
    the cohort. The first lung controls and breast controls of ``oslo`` are reserved for the
    broken cases, and the first lung control of ``leuven`` is stored as one Enhanced CT
    multi-frame file; none of these has lesions.
    """
    factor = SIZES[size]
    counts = {k: max(3, round(v * factor)) for k, v in node.mix.items()}
    kinds = [k for k, v in counts.items() for _ in range(v)]
    rng = np.random.default_rng(derive_seed(seed, node.name, "plan"))
    order = rng.permutation(len(kinds))
    plans: list[PatientPlan] = []
    reserve = (
        {
            "lung_control": ["truncated_file", "missing_slice", "duplicated_instance"],
            "breast_control": ["non_dicom_file", "missing_series_uid"],
        }
        if node.name == "oslo"
        else {}
    )
    enhanced_left = 1 if node.name == "leuven" else 0
    for index, pos in enumerate(order):
        kind = kinds[int(pos)]
        suffix, site, modality = KINDS[kind]
        date = dt.date(2019, 1, 7) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
        time = f"{int(rng.integers(8, 16)):02d}{int(rng.integers(0, 60)):02d}00"
        pseed = derive_seed(seed, node.name, index)
        prng = np.random.default_rng(pseed)
        clinical = draw_clinical(kind, site, prng, date)
        patient_id = f"{node.prefix}-{index + 1:04d}"
        clinical["patient_id"] = patient_id
        clinical["dataset"] = f"{node.name}-{suffix}"
        plan = PatientPlan(
            node=node.name,
            index=index,
            patient_id=patient_id,
            kind=kind,
            modality=modality,
            dataset=clinical["dataset"],
            clinical=dict(clinical),
            study_date=date.strftime("%Y%m%d"),
            study_time=time,
            seed=pseed,
            lesions=_lesions(kind, clinical, prng),
        )
        if reserve.get(kind):
            plan.reserved = reserve[kind].pop(0)
            plan.lesions = []
        elif kind == "lung_control" and enhanced_left:
            plan.enhanced = True
            plan.lesions = []
            enhanced_left -= 1
        plans.append(plan)
    return plans
