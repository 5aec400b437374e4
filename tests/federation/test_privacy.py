"""Small-count and complementary suppression; the differencing attack within one answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from oncoatlas.federation.privacy import (
    SUPPRESSED,
    age_band,
    coarse_count,
    disclosed_cells,
    protect_counts,
    protect_margin,
    suppress_count,
)


def lp_disclosed(
    total: int | str, cells: dict[str, int | str], k: int, zeros: frozenset[str] = frozenset()
) -> dict[str, float]:
    """Independent attacker: linear programming over what one answer publishes.

    Unknowns are the hidden cells (and the total when it is ``"<k"``); constraints are the
    margin equation and the bounds the markers publish ("<k": 0..k-1; "suppressed": at least
    k and at most the smallest visible cell, as the greedy rule implies). Cells in ``zeros``
    are known to the attacker to be empty (structural zeros). A hidden non-empty cell whose
    minimum equals its maximum is disclosed.
    """
    visible = {n: v for n, v in cells.items() if isinstance(v, int)}
    hidden = [n for n, v in cells.items() if not isinstance(v, int)]
    smallest = min(visible.values()) if visible else None
    bounds = []
    for n in hidden:
        if n in zeros:
            bounds.append((0, 0))
        elif cells[n] == f"<{k}":
            bounds.append((0, k - 1))
        else:
            bounds.append((k, smallest))
    names = list(hidden)
    if isinstance(total, int):
        rhs = total - sum(visible.values())
        a_eq = [[1.0] * len(names)]
        b_eq = [rhs]
    else:
        names = [*hidden, "__total__"]
        bounds.append((0, k - 1) if total == f"<{k}" else (0, None))
        a_eq = [[1.0] * len(hidden) + [-1.0]]
        b_eq = [-sum(visible.values())]
    out = {}
    for j, name in enumerate(names[: len(hidden)]):
        if name in zeros:
            continue
        c = np.zeros(len(names))
        c[j] = 1.0
        lo = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert lo.status in (0, 3) and hi.status in (0, 3), (lo.message, hi.message)
        if lo.status == 0 and hi.status == 0 and math.isclose(lo.fun, -hi.fun, abs_tol=1e-7):
            out[name] = lo.fun
    return out


def test_small_counts_become_less_than_k_including_zero() -> None:
    assert suppress_count(0, 10) == "<10"
    assert suppress_count(9, 10) == "<10"
    assert suppress_count(10, 10) == 10
    assert suppress_count(3, 1) == 3  # k = 1: no suppression


def test_dependent_counts_are_suppressed_with_the_patients() -> None:
    assert protect_counts(4, 6, 30, 10) == {"patients": "<10", "studies": "<10", "series": SUPPRESSED}
    assert protect_counts(12, 15, 30, 10) == {"patients": 12, "studies": 15, "series": 30}


def test_differencing_attack_total_minus_parts_is_blocked() -> None:
    # F=25, M=12, O=3 with total 40: publishing F and M would give O = 40 - 25 - 12 = 3.
    published = protect_margin(40, {"F": 25, "M": 12, "O": 3}, 10)
    assert published == {"F": 25, "M": SUPPRESSED, "O": "<10"}
    assert 40 - sum(v for v in published.values() if isinstance(v, int)) == 15  # O + M, not O
    assert disclosed_cells(40, published, 10) == {}
    assert lp_disclosed(40, published, 10) == {}


def test_structural_zero_does_not_shield_a_small_cell() -> None:
    # unknown = 0 is common knowledge when clinical data is complete: with F and M published,
    # O = 25 - 12 - 10 - 0 = 3 would follow. M is suppressed as well.
    cells = {"F": 12, "M": 10, "O": 3, "unknown": 0}
    published = protect_margin(25, cells, 10)
    assert published == {"F": 12, "M": SUPPRESSED, "O": "<10", "unknown": "<10"}
    assert lp_disclosed(25, published, 10, zeros=frozenset({"unknown"})) == {}
    naive = {"F": 12, "M": 10, "O": "<10", "unknown": "<10"}
    assert lp_disclosed(25, naive, 10) == {}  # looks safe without the zero …
    assert lp_disclosed(25, naive, 10, zeros=frozenset({"unknown"})) == {"O": 3.0}  # … but is not


def test_empty_cells_keep_the_rest_visible() -> None:
    published = protect_margin(30, {"F": 30, "M": 0, "O": 0, "unknown": 0}, 10)
    assert published == {"F": 30, "M": "<10", "O": "<10", "unknown": "<10"}


def test_margin_of_a_suppressed_total_shows_no_numbers() -> None:
    published = protect_margin(7, {"F": 4, "M": 3}, 10, total_published=False)
    assert published == {"F": "<10", "M": "<10"}


def test_naive_suppression_is_caught_by_the_checker() -> None:
    naive = {"F": 25, "M": 12, "O": "<10"}
    assert disclosed_cells(40, naive, 10) == {"O": 3}
    assert lp_disclosed(40, naive, 10) == {"O": 3.0}


def test_margin_cells_must_add_up() -> None:
    with pytest.raises(ValueError, match="add up to 5, not to the total 6"):
        protect_margin(6, {"a": 2, "b": 3}, 3)


@settings(max_examples=100, deadline=None)
@given(
    k=st.integers(min_value=2, max_value=12),
    values=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=7),
)
def test_no_suppressed_cell_is_derivable_within_one_answer(k: int, values: list[int]) -> None:
    cells = {f"c{i}": v for i, v in enumerate(values)}
    total = sum(values)
    published_total: int | str = suppress_count(total, k)
    published = protect_margin(total, cells, k, total_published=isinstance(published_total, int))
    if published is None:
        return  # withheld: nothing published
    # published numbers are true, markers are truthful
    for name, value in published.items():
        if isinstance(value, int):
            assert value == cells[name] and value >= k
        elif value == f"<{k}":
            assert cells[name] < k
        else:
            assert value == SUPPRESSED and cells[name] >= k
    # plain linear differencing: a lone hidden cell beside an exact total can only be empty
    hidden = [n for n, v in published.items() if not isinstance(v, int)]
    if isinstance(published_total, int) and len(hidden) == 1:
        assert cells[hidden[0]] == 0
    # bound-aware attacker (independent LP), with and without knowing the empty cells
    assert lp_disclosed(published_total, published, k) == {k_: v for k_, v in lp_disclosed(
        published_total, published, k).items() if cells[k_] == 0}
    zeros = frozenset(n for n, v in cells.items() if v == 0)
    assert lp_disclosed(published_total, published, k, zeros=zeros) == {}


def test_age_bands_and_coarse_counts() -> None:
    assert [age_band(a) for a in (None, float("nan"), 12, 40, 49.9, 50, 79, 80, 101)] == [
        "unknown", "unknown", "<40", "40-49", "40-49", "50-59", "70-79", "80+", "80+",
    ]
    assert coarse_count(123, 10) == 120
    assert coarse_count(3, 10) == "<10"
    assert coarse_count(14, 10) == 10
