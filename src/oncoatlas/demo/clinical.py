"""Clinical rows of the common data model, drawn from plausible distributions.

Ages: lung cancer and chest-CT controls 50–80, screening (breast cancer and mammography
controls) 50–69 (the programme's age band), prostate 50–80. Stage mixes follow European
registry shares at diagnosis; TNM categories are drawn consistently with the stage group
(AJCC 8th ed., simplified); breast receptors (ER+ 75 %, PR+ mostly within ER+, HER2+ 15 %,
Ki-67 higher in ER− tumours), prostate ISUP grade, Gleason pattern and PSA rising with stage.
Vital status and follow-up to a fixed data cut-off (2025-06-30): death probability rises
with stage; follow-up of the dead is shorter.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from oncoatlas.catalog.schema import FIELDS, Table

__all__ = ["CLINICAL_COLUMNS", "CUTOFF", "ClinicalDraw", "draw_clinical"]

#: Clinical CSV header: the CDM clinical fields in schema order.
CLINICAL_COLUMNS: tuple[str, ...] = tuple(n for n, f in FIELDS.items() if f.table is Table.CLINICAL)

#: Data cut-off for follow-up.
CUTOFF = dt.date(2025, 6, 30)

_STAGE_P = {
    "C34": (("I", "II", "III", "IV"), (0.30, 0.15, 0.25, 0.30)),
    "C50": (("0", "I", "II", "III", "IV"), (0.08, 0.42, 0.33, 0.12, 0.05)),
    "C61": (("I", "II", "III", "IV"), (0.25, 0.40, 0.20, 0.15)),
}
_DEATH_P = {
    "C34": {"I": 0.15, "II": 0.30, "III": 0.50, "IV": 0.75},
    "C50": {"0": 0.01, "I": 0.04, "II": 0.10, "III": 0.25, "IV": 0.60},
    "C61": {"I": 0.03, "II": 0.06, "III": 0.12, "IV": 0.40},
    "none": {"": 0.02},
}
_LUNG_HISTOLOGY = (
    ("adenocarcinoma", "squamous cell carcinoma", "small cell carcinoma", "large cell carcinoma"),
    (0.55, 0.30, 0.10, 0.05),
)
_GLEASON = {
    1: ("3+3",),
    2: ("3+4",),
    3: ("4+3",),
    4: ("4+4", "3+5", "5+3"),
    5: ("4+5", "5+4", "5+5"),
}
_ISUP_P = {
    "I": (0.70, 0.25, 0.05, 0.0, 0.0),
    "II": (0.20, 0.45, 0.25, 0.10, 0.0),
    "III": (0.0, 0.20, 0.35, 0.25, 0.20),
    "IV": (0.0, 0.05, 0.20, 0.30, 0.45),
}
_PSA_MEDIAN = {"I": 6.0, "II": 9.0, "III": 15.0, "IV": 45.0}


class ClinicalDraw(dict[str, str]):
    """One clinical row (CDM field -> CSV text) plus the tumour T category for imaging."""


def _pick(rng: np.random.Generator, values: tuple[str, ...], p: tuple[float, ...]) -> str:
    return str(values[int(rng.choice(len(values), p=np.asarray(p) / np.sum(p)))])


def _age(rng: np.random.Generator, lo: int, hi: int, mean: float, sd: float) -> int:
    return int(np.clip(round(rng.normal(mean, sd)), lo, hi))


def _tnm(site: str, stage: str, rng: np.random.Generator) -> tuple[str, str, str]:
    choice = rng.integers(0, 3)
    if stage == "IV":
        return (
            _pick(rng, ("T1", "T2", "T3", "T4"), (1, 2, 2, 2)),
            _pick(rng, ("N0", "N1", "N2", "N3"), (1, 1, 2, 1)),
            "M1",
        )
    if site == "C34":
        table = {
            "I": (("T1", "N0"), ("T1", "N0"), ("T2", "N0")),
            "II": (("T3", "N0"), ("T1", "N1"), ("T2", "N1")),
            "III": (("T3", "N1"), ("T4", "N0"), ("T2", "N2")),
        }
    elif site == "C50":
        table = {
            "0": (("Tis", "N0"),) * 3,
            "I": (("T1", "N0"),) * 3,
            "II": (("T2", "N0"), ("T1", "N1"), ("T2", "N1")),
            "III": (("T3", "N1"), ("T2", "N2"), ("T4", "N1")),
        }
    else:
        table = {
            "I": (("T1", "N0"), ("T2", "N0"), ("T1", "N0")),
            "II": (("T2", "N0"), ("T2", "N0"), ("T1", "N0")),
            "III": (("T3", "N0"), ("T3", "N0"), ("T4", "N0")),
        }
    t, n = table[stage][int(choice)]
    return t, n, "M0"


def draw_clinical(
    kind: str, site: str, rng: np.random.Generator, study_date: dt.date
) -> ClinicalDraw:
    """Draw one patient's clinical fields (everything but ``patient_id`` and ``dataset``).

    Parameters
    ----------
    kind : str
        Patient kind of :data:`oncoatlas.demo.nodes.KINDS`.
    site : str
        ICD-10 cancer site (``C34``, ``C50``, ``C61``) or ``none``.
    rng : numpy.random.Generator
        Source of randomness.
    study_date : datetime.date
        Date of diagnosis (of inclusion for controls); follow-up runs to :data:`CUTOFF`.
    """
    row = ClinicalDraw({c: "" for c in CLINICAL_COLUMNS})
    row["cancer_site"] = site
    if kind in ("lung", "lung_control"):
        row["sex"] = "M" if rng.random() < (0.55 if kind == "lung" else 0.5) else "F"
        row["age_at_diagnosis"] = str(_age(rng, 50, 80, 67, 7))
    elif kind in ("breast", "breast_control"):
        row["sex"] = "F"
        row["age_at_diagnosis"] = str(int(rng.integers(50, 70)))
    else:
        row["sex"] = "M"
        row["age_at_diagnosis"] = str(_age(rng, 50, 80, 66, 7))

    stage = ""
    if site != "none":
        stages, p = _STAGE_P[site]
        stage = _pick(rng, stages, p)
        t, n, m = _tnm(site, stage, rng)
        row.update(stage=stage, t_stage=t, n_stage=n, m_stage=m)
    if site == "C34":
        row["histology"] = _pick(rng, *_LUNG_HISTOLOGY)
    elif site == "C50":
        if stage == "0":
            row["histology"] = "ductal carcinoma in situ"
        else:
            row["histology"] = _pick(
                rng,
                ("invasive ductal carcinoma", "invasive lobular carcinoma", "mucinous carcinoma"),
                (0.80, 0.15, 0.05),
            )
        er = rng.random() < 0.75
        pr = rng.random() < (0.80 if er else 0.10)
        her2 = rng.random() < 0.15
        ki67 = float(np.clip(rng.lognormal(np.log(14 if er else 40), 0.5), 1, 95))
        row.update(
            er="positive" if er else "negative",
            pr="positive" if pr else "negative",
            her2="positive" if her2 else "negative",
            ki67=f"{ki67:.0f}",
        )
    elif site == "C61":
        row["histology"] = "acinar adenocarcinoma"
        isup = int(rng.choice(5, p=_ISUP_P[stage])) + 1
        row["isup"] = str(isup)
        options = _GLEASON[isup]
        row["gleason"] = options[int(rng.integers(0, len(options)))]
        row["psa"] = (
            f"{float(np.clip(rng.lognormal(np.log(_PSA_MEDIAN[stage]), 0.55), 0.5, 5000)):.1f}"
        )

    months_available = (CUTOFF - study_date).days / 30.4375
    dead = rng.random() < _DEATH_P[site][stage]
    if dead:
        followup = months_available * rng.uniform(0.05, 0.9)
    else:
        followup = months_available
    row["vital_status"] = "dead" if dead else "alive"
    row["followup_months"] = f"{followup:.1f}"
    return row
