"""Small-count suppression with complementary suppression for breakdowns.

A node never publishes a count below its threshold k. The rules, applied to every answer:

1. **Primary suppression.** A count ``n`` with ``0 <= n < k`` is published as the string
   ``"<k"`` (e.g. ``"<10"``). *Zero is suppressed too*: publishing ``0`` for a narrow
   query and ``"<10"`` for another would tell an attacker whether at least one person with
   given attributes is in a dataset (membership disclosure), so ``"<k"`` means "0 to k-1".
2. **Dependent counts.** When a dataset's patient count is suppressed, its study and series
   counts (which describe the same handful of patients) are suppressed too: below k as
   ``"<k"``, otherwise as :data:`SUPPRESSED`.
3. **Complementary (secondary) suppression.** A breakdown (a *margin*: sex, age band,
   modality) is a set of cells that add up to a published total. If exactly one cell were
   suppressed, ``total - sum(visible cells)`` would give it back; if several are but their
   sum sits at an extreme of what the published bounds allow (all zero, or all k-1), they
   are determined too. While any suppressed cell is determined by the published total, the
   visible cells and the published bounds, the smallest visible cell is also suppressed
   (published as :data:`SUPPRESSED`). If even suppressing every cell leaves one determined,
   the margin is withheld (``None``).

The attacker model of :func:`disclosed_cells` is that of one answer: the published total
(exact, ``"<k"`` meaning ``[0, k-1]``, or :data:`SUPPRESSED` meaning unknown), exact visible
cells, ``"<k"`` cells in ``[0, k-1]`` and :data:`SUPPRESSED` cells in ``[k, m]`` where m is
the smallest visible cell (the attacker is assumed to know this algorithm). A cell is
*disclosed* when those constraints leave it a single value. :func:`protect_margin`
protects against a stronger attacker who also knows which cells are empty (structural
zeros such as ``sex: unknown`` when clinical data is complete are common knowledge), so a
non-empty hidden cell is never determined even then; an empty cell of a breakdown whose
total is at least k may be inferable (it concerns nobody). Cross-query differencing is
limited by the per-token query budgets of :mod:`oncoatlas.federation.policy`.

References
----------
Hundepool A. et al., *Statistical Disclosure Control*, Wiley 2012, ch. 4 (tabular data:
threshold rule, primary and secondary cell suppression, interval protection).
Eurostat, *Handbook on Statistical Disclosure Control for Outputs*, 2019.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Union

__all__ = [
    "AGE_BANDS",
    "SEXES",
    "SUPPRESSED",
    "Published",
    "age_band",
    "coarse_count",
    "disclosed_cells",
    "is_suppressed",
    "protect_counts",
    "protect_margin",
    "small_label",
    "suppress_count",
]

#: Marker of a cell hidden by complementary suppression (its value may be >= k).
SUPPRESSED = "suppressed"

#: Categories of the sex breakdown (fixed, so that the set of cells reveals nothing).
SEXES: tuple[str, ...] = ("F", "M", "O", "unknown")

#: Categories of the age-at-diagnosis breakdown.
AGE_BANDS: tuple[str, ...] = ("<40", "40-49", "50-59", "60-69", "70-79", "80+", "unknown")

#: A published count: the exact number, ``"<k"`` or :data:`SUPPRESSED`.
Published = Union[int, str]  # noqa: UP007 - a runtime alias, kept readable for pydantic users


def small_label(k: int) -> str:
    """The string published for a count below ``k``: ``"<k"``."""
    return f"<{k}"


def is_suppressed(value: Published | None) -> bool:
    """Whether a published value hides the number (``"<k"``, :data:`SUPPRESSED`, None)."""
    return not isinstance(value, int) or isinstance(value, bool)


def suppress_count(n: int, k: int) -> Published:
    """Primary suppression: ``n`` if ``n >= k`` else ``"<k"`` (0 included).

    Examples
    --------
    >>> suppress_count(42, 10), suppress_count(3, 10), suppress_count(0, 10)
    (42, '<10', '<10')
    """
    if k <= 1:
        return int(n)
    return int(n) if n >= k else small_label(k)


def coarse_count(n: int, k: int, base: int = 10) -> Published:
    """A coarse count for the public catalogue: ``"<k"`` or ``n`` rounded to ``max(base, k)``.

    Examples
    --------
    >>> coarse_count(123, 10), coarse_count(7, 10), coarse_count(15, 10)
    (120, '<10', 20)
    """
    if n < k:
        return small_label(k)
    step = max(base, k)
    return max(step, math.floor(n / step + 0.5) * step)


def age_band(age: float | None) -> str:
    """The :data:`AGE_BANDS` category of an age in years (``"unknown"`` for missing)."""
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return "unknown"
    if age < 40:
        return "<40"
    if age >= 80:
        return "80+"
    lo = int(age // 10) * 10
    return f"{lo}-{lo + 9}"


def protect_counts(patients: int, studies: int, series: int, k: int) -> dict[str, Published]:
    """Suppress one dataset's counts (rules 1 and 2 of the module docstring).

    Examples
    --------
    >>> protect_counts(4, 6, 30, 10)
    {'patients': '<10', 'studies': '<10', 'series': 'suppressed'}
    """
    if k <= 1 or patients >= k:
        return {
            "patients": suppress_count(patients, k),
            "studies": suppress_count(studies, k),
            "series": suppress_count(series, k),
        }
    return {
        "patients": small_label(k),
        "studies": small_label(k) if studies < k else SUPPRESSED,
        "series": small_label(k) if series < k else SUPPRESSED,
    }


def _interval(value: Published, k: int, smallest_visible: float) -> tuple[float, float]:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value), float(value)
    if value == small_label(k):
        return 0.0, float(k - 1)
    if value == SUPPRESSED:
        return float(k), smallest_visible
    raise ValueError(f"unknown published value {value!r}; expected an int, {small_label(k)!r} or {SUPPRESSED!r}")


def disclosed_cells(
    total: Published, cells: Mapping[str, Published], k: int, known: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Suppressed cells of one published margin whose value the published numbers determine.

    Parameters
    ----------
    total : int or str
        The published total of the margin (exact, ``"<k"`` or :data:`SUPPRESSED`).
    cells : mapping of str to int or str
        The published cells.
    k : int
        The threshold.
    known : mapping of str to int, optional
        Hidden cells whose value the attacker knows beforehand (e.g. structural zeros);
        they are used as exact and never reported.

    Returns
    -------
    dict of str to int
        Each disclosed cell with the value it must have; empty when the margin is safe.
    """
    known = dict(known or {})
    if k <= 1:
        return {}
    visible = [int(v) for v in cells.values() if not is_suppressed(v)]
    smallest = float(min(visible)) if visible else math.inf
    hidden = {
        name: ((float(known[name]),) * 2 if name in known else _interval(v, k, smallest))
        for name, v in cells.items()
        if is_suppressed(v)
    }
    if not hidden:
        return {}
    if total == SUPPRESSED:
        t_lo, t_hi = 0.0, math.inf
    else:
        t_lo, t_hi = _interval(total, k, math.inf)
    rest = float(sum(visible))
    s_lo, s_hi = t_lo - rest, t_hi - rest
    lo_sum = sum(lo for lo, _ in hidden.values())
    hi_sum = sum(hi for _, hi in hidden.values())
    out: dict[str, int] = {}
    for name, (lo, hi) in hidden.items():
        low = max(lo, s_lo - (hi_sum - hi))
        high = min(hi, s_hi - (lo_sum - lo))
        if low == high and math.isfinite(low) and name not in known:
            out[name] = int(low)
    return out


def protect_margin(total: int, cells: Mapping[str, int], k: int, total_published: bool = True) -> dict[str, Published] | None:
    """Publish a breakdown with primary and complementary suppression.

    Parameters
    ----------
    total : int
        The true total, equal to ``sum(cells.values())``.
    cells : mapping of str to int
        True cell counts; pass every category (zeros too), so that which cells exist says
        nothing.
    k : int
        The threshold.
    total_published : bool
        Whether the total is published exactly elsewhere in the same answer. When it is
        not (the total itself was suppressed), every cell is suppressed.

    Returns
    -------
    dict or None
        Published cells (int, ``"<k"`` or :data:`SUPPRESSED`), or None when the margin has
        to be withheld because no suppression pattern protects it.

    Examples
    --------
    The differencing attack: with total 40 and F=25, M=12, O=3, publishing F and M would
    give O = 40 - 25 - 12. The next smallest cell M is suppressed too:

    >>> protect_margin(40, {"F": 25, "M": 12, "O": 3}, 10)
    {'F': 25, 'M': 'suppressed', 'O': '<10'}
    """
    if sum(cells.values()) != total:
        raise ValueError(f"margin cells add up to {sum(cells.values())}, not to the total {total}")
    if k <= 1:
        return {name: int(v) for name, v in cells.items()}
    if not total_published or total < k:
        return {name: (small_label(k) if v < k else SUPPRESSED) for name, v in cells.items()}
    published: dict[str, Published] = {name: suppress_count(v, k) for name, v in cells.items()}
    zeros = {name: 0 for name, v in cells.items() if v == 0}
    while disclosed_cells(total, published, k, known=zeros):
        visible = [(int(v), name) for name, v in published.items() if not is_suppressed(v)]
        if not visible:
            return None
        _, name = min(visible)
        published[name] = SUPPRESSED
    return published
