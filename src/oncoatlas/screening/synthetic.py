"""A synthetic, BreastScreen-Norway-like screening programme.

:func:`simulate_programme` writes an exam table (:mod:`oncoatlas.screening.schema`) with
rates and AI discrimination documented below, so that analyses can be checked against
known truth and the demo federation has a screening cohort.

Generative model (every probability is per exam and independent between exams, so the
documented rates are exact expectations and binomial confidence intervals apply):

1. Women aged 50–69 (uniform integer age at the first round) are invited every 2 years for
   ``rounds`` rounds; a woman older than 69 at a round is no longer invited, and a woman
   diagnosed with cancer (screen-detected or interval) leaves the programme.
2. Each exam is a screen-detected cancer with probability ``screen_detected_rate``
   (default 6.0/1000), an interval cancer (diagnosed within 24 months of a negative exam)
   with probability ``interval_rate`` (1.7/1000), otherwise cancer-free.
3. AI score: binormal model. A latent ``z = sqrt(rho) * u_woman + sqrt(1 - rho) * e``
   (``u``, ``e`` standard normal; ``rho = woman_correlation`` makes a woman's exams alike,
   so that woman-level (cluster) resampling matters) is shifted by
   ``mu = sqrt(2) * Phi^-1(AUC)`` for cancers. Cancer-free exams have ``z ~ N(0, 1)``, so
   the AUC of screen-detected cancers against cancer-free exams is ``auc_screen_detected``
   (0.92) and that of interval cancers ``auc_interval`` (0.75), exactly in expectation
   (equal-variance binormal ROC: ``AUC = Phi(mu / sqrt(2))``). ``ai_score = Phi(z)``, so it is
   uniform on [0, 1] for cancer-free exams and ``ai_score_10 = ceil(10 * ai_score)`` is a
   decile-like 1–10 scale (each category holds ≈10 % of exams). With these defaults about
   76 % of screen-detected and 37 % of interval cancers score 10 (Larsen et al. Radiology
   2022 observed 86.8 % and 44.9 % with a real system).
4. Reading: recall happens for every screen-detected cancer and for a false-positive
   share of cancer-free exams so that the overall recall rate is ``recall_rate`` (3 %);
   a cancer-free exam's false-positive recall probability rises with its AI score
   (logistic in ``z``, slope 1), as readers and AI notice the same benign findings. A
   further share of exams is flagged by a reader and dismissed at consensus, so that
   ``consensus_rate`` (8.8 %, Larsen et al. Eur Radiol 2022) of exams are discussed;
   25 % of interval cancers were such dismissed exams. Each discussed exam's reader pattern
   (reader1, reader2) comes from two independent readers with per-reader sensitivity
   ``s`` conditioned on at least one flag: ``s = reader_sensitivity`` (0.80) for
   screen-detected cancers, 0.55 for false-positive recalls, 0.30 for dismissed exams.
   ``consensus = recall``.
5. Cancer characteristics: size (lognormal, median 13 mm screen-detected, 20 mm interval),
   histology (screen-detected: 70 % invasive NST, 10 % lobular, 15 % DCIS, 5 % other;
   interval: 75/15/2/8 %), grade 1/2/3 (25/50/25 % vs 12/43/45 %) and node status
   (20 % vs 35 % node-positive among invasive cancers; DCIS node-negative).

References
----------
.. [1] Larsen M, Aglen CF, Lee CI, et al. Artificial intelligence evaluation of 122 969
   mammography examinations from a population-based screening program. Radiology
   2022;303:502–511.
.. [2] Larsen M, Aglen CF, Hoff SR, Lund-Hanssen H, Hofvind S. Possible strategies for use
   of artificial intelligence in screen-reading of mammograms, based on retrospective data
   from 122,969 screening examinations. Eur Radiol 2022;32:8238–8246.
.. [3] Hanley JA, McNeil BJ. The meaning and use of the area under a receiver operating
   characteristic (ROC) curve. Radiology 1982;143:29–36 (binormal AUC).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from oncoatlas.screening.schema import COLUMNS, HISTOLOGIES

__all__ = ["ProgrammeParameters", "expected_top_decile_share", "simulate_programme"]

logger = logging.getLogger(__name__)

_SLOPE_FP = 1.0
_SLOPE_DISMISSED = 0.5
_S_FP = 0.55
_S_DISMISSED = 0.30
_IC_DISCUSSED = 0.25


@dataclass(frozen=True)
class ProgrammeParameters:
    """The documented rates of a simulated programme (see :func:`simulate_programme`)."""

    screen_detected_rate: float = 0.006
    interval_rate: float = 0.0017
    recall_rate: float = 0.03
    consensus_rate: float = 0.088
    auc_screen_detected: float = 0.92
    auc_interval: float = 0.75
    reader_sensitivity: float = 0.80
    woman_correlation: float = 0.3

    def as_dict(self) -> dict[str, float]:
        """The parameters as a plain dict (for JSON)."""
        return asdict(self)


def _shift(auc: float) -> float:
    """Binormal equal-variance shift ``mu`` with ``Phi(mu / sqrt 2) = auc``."""
    return math.sqrt(2.0) * float(stats.norm.ppf(auc))


def expected_top_decile_share(auc: float) -> float:
    """Expected share of cancers with ``ai_score_10 == 10`` under the binormal model.

    Parameters
    ----------
    auc : float
        The cancers' AUC against cancer-free exams.

    Returns
    -------
    float
        ``Phi(mu - Phi^-1(0.9))`` with ``mu = sqrt(2) Phi^-1(auc)``.
    """
    return float(stats.norm.cdf(_shift(auc) - stats.norm.ppf(0.9)))


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)
_GH_W = _GH_W / _GH_W.sum()


def _calibrate(target: float, slope: float, other: tuple[float, float] | None = None) -> float:
    """Intercept ``a`` with ``E[sigmoid(a + slope z)] = target`` (``z ~ N(0,1)``).

    With ``other = (a2, slope2)`` the expectation is of ``(1 - sigmoid(a2 + slope2 z)) *
    sigmoid(a + slope z)`` (an event that can happen only if the other did not).
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"a rate must be in (0, 1), got {target}")
    block = (
        np.ones_like(_GH_X) if other is None else 1.0 - special.expit(other[0] + other[1] * _GH_X)
    )
    if target >= float(np.sum(_GH_W * block)):
        raise ValueError(f"rate {target} is not reachable")

    def f(a: float) -> float:
        return float(np.sum(_GH_W * block * special.expit(a + slope * _GH_X))) - target

    return float(optimize.brentq(f, -40.0, 40.0))


def _patterns(rng: np.random.Generator, n: int, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Reader flags of ``n`` discussed exams: independent readers, at least one flag."""
    d = 1.0 - (1.0 - s) ** 2
    p_both = s * s / d
    p_one = s * (1.0 - s) / d
    u = rng.random(n)
    r1 = (u < p_both) | ((u >= p_both) & (u < p_both + p_one))
    r2 = (u < p_both) | (u >= p_both + p_one)
    return r1, r2


def simulate_programme(
    n_women: int,
    seed: int = 0,
    rounds: int = 2,
    *,
    screen_detected_rate: float = 0.006,
    interval_rate: float = 0.0017,
    recall_rate: float = 0.03,
    consensus_rate: float = 0.088,
    auc_screen_detected: float = 0.92,
    auc_interval: float = 0.75,
    reader_sensitivity: float = 0.80,
    woman_correlation: float = 0.3,
    start_year: int = 2010,
) -> pd.DataFrame:
    """Simulate a biennial double-reading breast screening programme with an AI score.

    The model is documented in the module docstring (:mod:`oncoatlas.screening.synthetic`);
    defaults follow BreastScreen Norway (Larsen et al. 2022).

    Parameters
    ----------
    n_women : int
        Number of women (each attends up to ``rounds`` exams; about ``0.9 * rounds`` exams
        a woman for 2 rounds, as women past 69 leave).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the table is a pure function of the arguments.
    rounds : int, default 2
        Screening rounds (2 years apart).
    screen_detected_rate, interval_rate : float
        Per-exam probabilities of a screen-detected (6.0/1000) and an interval cancer
        (1.7/1000).
    recall_rate : float
        Per-exam recall probability (3 %), screen-detected cancers included.
    consensus_rate : float
        Share of exams flagged by at least one reader (discussed at consensus), 8.8 %.
    auc_screen_detected, auc_interval : float
        Binormal AUC of the AI score for screen-detected (0.92) and interval (0.75) cancers
        against cancer-free exams.
    reader_sensitivity : float
        Per-reader probability of flagging a screen-detected cancer (conditioned on at
        least one reader flagging it).
    woman_correlation : float
        Correlation of a woman's latent AI scores between rounds.
    start_year : int
        Calendar year of the first round.

    Returns
    -------
    pandas.DataFrame
        Exam table with the columns of :data:`oncoatlas.screening.schema.COLUMNS`, sorted by
        woman and round; ``patient_id``/``study_uid`` are empty (the demo generator fills
        them for exams that get images).

    Raises
    ------
    ValueError
        Inconsistent rates (e.g. ``recall_rate <= screen_detected_rate``).

    Examples
    --------
    >>> from oncoatlas.screening.synthetic import simulate_programme
    >>> exams = simulate_programme(1000, seed=1)
    >>> sorted(set(exams["ai_score_10"])) == list(range(1, 11))
    True
    """
    if n_women < 1:
        raise ValueError(f"n_women must be at least 1, got {n_women}")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    p_sd, p_ic = screen_detected_rate, interval_rate
    p_free = 1.0 - p_sd - p_ic
    if not (p_sd > 0 and p_ic > 0 and p_free > 0):
        raise ValueError(f"cancer rates {p_sd}, {p_ic} must be positive and sum below 1")
    if not p_sd < recall_rate < consensus_rate < 1:
        raise ValueError(
            "need screen_detected_rate < recall_rate < consensus_rate < 1, got "
            f"{p_sd}, {recall_rate}, {consensus_rate}"
        )
    if not 0 <= woman_correlation < 1:
        raise ValueError(f"woman_correlation must be in [0, 1), got {woman_correlation}")
    a_fp = _calibrate((recall_rate - p_sd) / p_free, _SLOPE_FP)
    dismissed = (consensus_rate - recall_rate - _IC_DISCUSSED * p_ic) / p_free
    a_dis = _calibrate(dismissed, _SLOPE_DISMISSED, other=(a_fp, _SLOPE_FP))
    mu_sd, mu_ic = _shift(auc_screen_detected), _shift(auc_interval)
    rho = woman_correlation

    rng = np.random.default_rng(seed)
    age0 = rng.integers(50, 70, n_women)
    woman_effect = rng.standard_normal(n_women)
    offset_days = rng.integers(0, 730, n_women)
    active = np.ones(n_women, dtype=bool)
    frames: list[pd.DataFrame] = []
    start = np.datetime64(f"{start_year}-01-01")
    for r in range(1, rounds + 1):
        age = age0 + 2 * (r - 1)
        attend = active & (age <= 69)
        idx = np.flatnonzero(attend)
        n = idx.size
        if n == 0:
            break
        u = rng.random(n)
        sd = u < p_sd
        ic = (u >= p_sd) & (u < p_sd + p_ic)
        free = ~(sd | ic)
        z = math.sqrt(rho) * woman_effect[idx] + math.sqrt(1 - rho) * rng.standard_normal(n)
        z = z + np.where(sd, mu_sd, 0.0) + np.where(ic, mu_ic, 0.0)
        fp = free & (rng.random(n) < special.expit(a_fp + _SLOPE_FP * z))
        dis = free & ~fp & (rng.random(n) < special.expit(a_dis + _SLOPE_DISMISSED * z))
        ic_dis = ic & (rng.random(n) < _IC_DISCUSSED)
        r1 = np.zeros(n, dtype=bool)
        r2 = np.zeros(n, dtype=bool)
        for mask, s in ((sd, reader_sensitivity), (fp, _S_FP), (dis | ic_dis, _S_DISMISSED)):
            a, b = _patterns(rng, int(mask.sum()), s)
            r1[mask], r2[mask] = a, b
        recall = sd | fp
        jitter = rng.integers(-30, 31, n)
        dates = start + (offset_days[idx] + 730 * (r - 1) + jitter).astype("timedelta64[D]")
        frame = pd.DataFrame(
            {
                "woman_index": idx,
                "round": np.full(n, r, dtype=np.int64),
                "age": age[idx].astype(np.int64),
                "exam_date": np.datetime_as_string(dates, unit="D"),
                "ai_score": np.round(stats.norm.cdf(z), 6),
                "reader1": r1.astype(np.int64),
                "reader2": r2.astype(np.int64),
                "consensus": recall.astype(np.int64),
                "recall": recall.astype(np.int64),
                "screen_detected_cancer": sd.astype(np.int64),
                "interval_cancer": ic.astype(np.int64),
            }
        )
        frame = pd.concat([frame, _characteristics(rng, sd, ic)], axis=1)
        frames.append(frame)
        active[idx[sd | ic]] = False
    exams = pd.concat(frames, ignore_index=True).sort_values(
        ["woman_index", "round"], kind="stable", ignore_index=True
    )
    exams["ai_score_10"] = np.clip(np.ceil(10 * exams["ai_score"].to_numpy()), 1, 10).astype(
        np.int64
    )
    exams["woman_id"] = [f"W{i:07d}" for i in exams["woman_index"].to_numpy()]
    exams["exam_id"] = [f"E{i:08d}" for i in range(len(exams))]
    exams["patient_id"] = pd.Series(pd.NA, index=exams.index, dtype="string")
    exams["study_uid"] = pd.Series(pd.NA, index=exams.index, dtype="string")
    exams = exams[list(COLUMNS)]
    logger.info(
        "simulated %d exams of %d women: %d screen-detected, %d interval cancers, %d recalls",
        len(exams),
        n_women,
        int(exams["screen_detected_cancer"].sum()),
        int(exams["interval_cancer"].sum()),
        int(exams["recall"].sum()),
    )
    return exams


def _characteristics(rng: np.random.Generator, sd: np.ndarray, ic: np.ndarray) -> pd.DataFrame:
    """Size, histology, grade and node status of the cancers (NA for cancer-free exams)."""
    n = sd.size
    size = np.full(n, np.nan)
    hist = np.full(n, None, dtype=object)
    grade = np.full(n, np.nan)
    node = np.full(n, np.nan)
    specs = (
        (sd, 13.0, (0.70, 0.10, 0.15, 0.05), (0.25, 0.50, 0.25), 0.20),
        (ic, 20.0, (0.75, 0.15, 0.02, 0.08), (0.12, 0.43, 0.45), 0.35),
    )
    for mask, median, p_hist, p_grade, p_node in specs:
        k = int(mask.sum())
        if k == 0:
            continue
        size[mask] = np.clip(np.round(rng.lognormal(math.log(median), 0.5, k)), 1, 150)
        h = rng.choice(len(HISTOLOGIES), size=k, p=p_hist)
        hist[mask] = np.asarray(HISTOLOGIES, dtype=object)[h]
        grade[mask] = rng.choice([1, 2, 3], size=k, p=p_grade)
        invasive = np.asarray(HISTOLOGIES)[h] != "dcis"
        node[mask] = np.where(invasive, rng.random(k) < p_node, False).astype(float)
    return pd.DataFrame(
        {
            "cancer_size_mm": size,
            "histology": pd.array(hist, dtype="string"),
            "grade": pd.array(grade, dtype="Int64"),
            "node_positive": pd.array(node, dtype="Int64"),
        }
    )
