"""Access policy: parsing, constant-time token lookup, grants, budgets."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncoatlas.federation.policy import (
    ANONYMOUS,
    Budget,
    BudgetExceededError,
    BudgetTracker,
    Granularity,
    Policy,
    PolicyError,
    hash_token,
)


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = f"""
node: alpha
threshold: 5
anonymous: public
tokens:
  - id: researcher
    sha256: {hash_token("s3cret-r")}
    grants: {{"*": count, alpha-lung: record}}
    budget: {{per_minute: 2, total: 3}}
"""


def test_granularity_accepts_strings_and_orders() -> None:
    assert Granularity("count") is Granularity.COUNT
    assert Granularity.NONE < Granularity.PUBLIC < Granularity.COUNT < Granularity.RECORD
    assert max([Granularity.COUNT, Granularity.RECORD, Granularity.PUBLIC]) is Granularity.RECORD


def test_policy_loads_and_resolves_grants(tmp_path: Path) -> None:
    policy = Policy.from_yaml(write_policy(tmp_path, GOOD))
    assert policy.node == "alpha" and policy.threshold == 5
    p = policy.authenticate("s3cret-r")
    assert p is not None and p.id == "researcher" and p.authenticated
    assert p.granularity("alpha-lung") is Granularity.RECORD
    assert p.granularity("alpha-breast") is Granularity.COUNT
    # a dataset's own access caps every grant
    assert p.granularity("alpha-lung", "count") is Granularity.COUNT
    anon = policy.authenticate(None)
    assert anon is not None and anon.id == ANONYMOUS and anon.granularity("x") is Granularity.PUBLIC
    assert policy.authenticate("wrong") is None


def test_policy_never_holds_the_token(tmp_path: Path) -> None:
    policy = Policy.from_yaml(write_policy(tmp_path, GOOD))
    assert "s3cret-r" not in repr(policy)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("node: a\nthreshold: 0\n", "'threshold' must be an integer >= 1"),
        ("node: a\nanonymous: record\n", "never record"),
        ("node: a\nanonymous: lots\n", "granularity 'lots' is not one of none, public, count, record"),
        ("node: a\ntokens:\n  - id: x\n    sha256: abc\n", "64-character sha256 hex"),
        ("node: a\ntokn: []\n", r"unknown keys \['tokn'\]"),
        (f"node: a\ntokens:\n  - id: x\n    sha256: {'a' * 64}\n    grants: {{d: everything}}\n", r"grants\[d\]"),
        (f"node: a\ntokens:\n  - id: x\n    sha256: {'a' * 64}\n    budget: {{per_minute: -1}}\n", "non-negative integer"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_bad_policies_are_rejected_with_the_key(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        Policy.from_yaml(write_policy(tmp_path, text))


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        Policy.from_yaml(tmp_path / "nope.yaml")


def test_budget_per_minute_and_total(tmp_path: Path) -> None:
    policy = Policy.from_yaml(write_policy(tmp_path, GOOD))
    p = policy.authenticate("s3cret-r")
    assert p is not None
    now = [1000.0]
    tracker = BudgetTracker(clock=lambda: now[0])
    tracker.charge(p)
    tracker.charge(p)
    with pytest.raises(BudgetExceededError, match="2 requests per minute") as info:
        tracker.charge(p)
    assert info.value.retry_after == 60
    now[0] += 61
    tracker.charge(p)
    now[0] += 61
    with pytest.raises(BudgetExceededError, match="total budget of 3") as info:
        tracker.charge(p)
    assert info.value.retry_after is None
    assert tracker.used("researcher") == 3


def test_budget_restored_totals() -> None:
    from oncoatlas.federation.policy import Principal

    p = Principal("t", {}, Budget(total=5), True)
    tracker = BudgetTracker(initial_totals={"t": 5})
    with pytest.raises(BudgetExceededError):
        tracker.charge(p)


def test_anonymous_budget_default_and_override(tmp_path: Path) -> None:
    from oncoatlas.federation.policy import DEFAULT_ANONYMOUS_BUDGET

    assert Policy.from_yaml(write_policy(tmp_path, "node: a\n")).anonymous_budget == DEFAULT_ANONYMOUS_BUDGET
    unlimited = Policy.from_yaml(write_policy(tmp_path, "node: a\nanonymous_budget: {}\n"))
    assert unlimited.anonymous_budget == Budget()
