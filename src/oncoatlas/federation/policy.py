"""A node's access policy: who may ask what, at which granularity, how often.

A policy is a YAML file next to the node's catalog (TEAM data contract)::

    node: oslo
    threshold: 10            # k: counts 0..k-1 are answered as "<10"
    anonymous: count         # none | public | count: what a request without a token gets
    anonymous_budget: {per_minute: 120}   # optional; this is the default ({} for no limit)
    tokens:
      - id: demo-researcher  # the id goes into the audit log, never the token
        sha256: 9f86d0…      # sha256 hex of the token string; the token itself is never stored
        grants: {"*": record, oslo-lung-ct: count}   # dataset id or "*" -> granularity
        budget: {per_minute: 600, total: 100000}

Tokens are compared in constant time (:func:`hmac.compare_digest` over the sha256 digests,
against every configured token so that the time does not depend on which one matched) and
are never logged. Granularities follow EUCAIM's access tiers (public metadata catalogue,
federated counts, record-level access under approval).

References
----------
EUCAIM, *Federated search and access tiers* (D5.x), 2024.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from oncoatlas._yaml import read_yaml
from oncoatlas.errors import AccessDeniedError, OncoatlasError

__all__ = [
    "ANONYMOUS",
    "DEFAULT_ANONYMOUS_BUDGET",
    "Budget",
    "BudgetExceededError",
    "BudgetTracker",
    "Granularity",
    "Policy",
    "PolicyError",
    "Principal",
    "TokenGrant",
    "hash_token",
]

logger = logging.getLogger(__name__)

#: The principal id of requests that carry no token.
ANONYMOUS = "anonymous"

_SHA256_HEX = frozenset("0123456789abcdef")


class PolicyError(OncoatlasError, ValueError):
    """A policy file is missing, malformed or inconsistent."""


class BudgetExceededError(AccessDeniedError):
    """A token has used up its per-minute or total query budget.

    Attributes
    ----------
    retry_after : int or None
        Seconds after which a new request may succeed; None when the total is spent.
    """

    def __init__(self, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Granularity(StrEnum):
    """How much of a dataset a principal may see, ordered ``none < public < count < record``.

    Accepts strings, as highdicom's coded enums do: ``Granularity("count")``.

    - ``none``: nothing, not even that the dataset exists in search answers.
    - ``public``: the public catalogue (descriptions, coarse counts).
    - ``count``: suppressed counts per dataset and suppressed breakdowns.
    - ``record``: series-level rows (and exact counts).
    """

    NONE = "none"
    PUBLIC = "public"
    COUNT = "count"
    RECORD = "record"

    @property
    def rank(self) -> int:
        """Position in the order ``none < public < count < record``."""
        return _RANKS[self]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Granularity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Granularity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Granularity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Granularity):
            return NotImplemented
        return self.rank < other.rank

    @classmethod
    def parse(cls, value: object, where: str) -> Granularity:
        """Parse ``value`` or raise :class:`PolicyError` naming ``where`` and the choices."""
        try:
            return cls(str(value).lower())
        except ValueError:
            choices = ", ".join(g.value for g in cls)
            raise PolicyError(f"{where}: granularity {value!r} is not one of {choices}") from None


_RANKS = {Granularity.NONE: 0, Granularity.PUBLIC: 1, Granularity.COUNT: 2, Granularity.RECORD: 3}


def hash_token(token: str) -> str:
    """Return the sha256 hex digest under which a policy stores ``token``.

    Examples
    --------
    >>> hash_token("test")[:12]
    '9f86d081884c'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Budget:
    """Query budget of one token: requests per rolling minute and in total (None: no limit)."""

    per_minute: int | None = None
    total: int | None = None

    @classmethod
    def from_dict(cls, data: object, where: str) -> Budget:
        """Parse ``{per_minute: N, total: M}``; raise :class:`PolicyError` naming ``where``."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise PolicyError(f"{where}: budget must be a mapping like {{per_minute: 60, total: 1000}}, got {data!r}")
        unknown = set(data) - {"per_minute", "total"}
        if unknown:
            raise PolicyError(f"{where}: unknown budget keys {sorted(unknown)}; use per_minute and total")
        values: dict[str, int | None] = {}
        for key in ("per_minute", "total"):
            raw = data.get(key)
            if raw is None:
                values[key] = None
                continue
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise PolicyError(f"{where}: budget {key} must be a non-negative integer, got {raw!r}")
            values[key] = raw
        return cls(per_minute=values["per_minute"], total=values["total"])


#: Budget shared by all requests without a token when the policy names none: a rolling
#: 120 requests a minute, so that an anonymous differencing campaign is at least slow.
DEFAULT_ANONYMOUS_BUDGET = Budget(per_minute=120)


@dataclass(frozen=True)
class TokenGrant:
    """One configured token: its public id, the sha256 of the secret, grants and budget."""

    id: str
    sha256: str
    grants: dict[str, Granularity]
    budget: Budget = field(default_factory=Budget)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token id (or :data:`ANONYMOUS`) with its grants and budget."""

    id: str
    grants: dict[str, Granularity]
    budget: Budget
    authenticated: bool

    def granularity(self, dataset: str, ceiling: Granularity | str = Granularity.RECORD) -> Granularity:
        """The granularity this principal has on ``dataset``, capped at ``ceiling``.

        A grant naming the dataset wins over ``"*"``; ``ceiling`` is the dataset's own
        ``access`` from ``datasets.yaml`` (the most any user may get).
        """
        grant = self.grants.get(dataset, self.grants.get("*", Granularity.NONE))
        cap = Granularity(ceiling)
        return grant if grant <= cap else cap


@dataclass(frozen=True)
class Policy:
    """A node's access policy (see the module docstring for the YAML form).

    Parameters
    ----------
    node : str
        The node's name.
    threshold : int
        k, the small-count threshold: counts below k are never published.
    anonymous : Granularity
        What requests without a token get on every dataset (``none``, ``public`` or ``count``).
    tokens : tuple of TokenGrant
        Configured tokens.
    anonymous_budget : Budget
        Budget shared by all anonymous requests (default :data:`DEFAULT_ANONYMOUS_BUDGET`).
    """

    node: str
    threshold: int = 10
    anonymous: Granularity = Granularity.COUNT
    tokens: tuple[TokenGrant, ...] = ()
    anonymous_budget: Budget = DEFAULT_ANONYMOUS_BUDGET

    @classmethod
    def from_yaml(cls, path: str | Path) -> Policy:
        """Load and validate a policy file.

        Raises
        ------
        PolicyError
            When the file is missing, not YAML, or has a wrong key or value (the message
            names the file and the key).
        """
        path = Path(path)
        data = read_yaml(path, PolicyError, "policy file", hint="; write one (see oncoatlas.federation.policy)")
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: object, source: str = "policy") -> Policy:
        """Validate a parsed policy mapping; errors name ``source`` and the offending key."""
        if not isinstance(data, dict):
            raise PolicyError(f"{source}: a policy must be a mapping with node, threshold, anonymous, tokens")
        unknown = set(data) - {"node", "threshold", "anonymous", "anonymous_budget", "tokens"}
        if unknown:
            raise PolicyError(
                f"{source}: unknown keys {sorted(unknown)}; allowed: node, threshold, anonymous, anonymous_budget, tokens"
            )
        node = data.get("node")
        if not isinstance(node, str) or not node:
            raise PolicyError(f"{source}: 'node' must be the node's name, got {node!r}")
        threshold = data.get("threshold", 10)
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise PolicyError(f"{source}: 'threshold' must be an integer >= 1, got {threshold!r}")
        anonymous = Granularity.parse(data.get("anonymous", "count"), f"{source}: anonymous")
        if anonymous is Granularity.RECORD:
            raise PolicyError(f"{source}: anonymous may be none, public or count, never record")
        tokens_raw = data.get("tokens") or []
        if not isinstance(tokens_raw, list):
            raise PolicyError(f"{source}: 'tokens' must be a list of {{id, sha256, grants, budget}}")
        tokens: list[TokenGrant] = []
        seen_ids: set[str] = set()
        seen_hashes: set[str] = set()
        for i, entry in enumerate(tokens_raw):
            where = f"{source}: tokens[{i}]"
            if not isinstance(entry, dict):
                raise PolicyError(f"{where} must be a mapping with id, sha256, grants, budget")
            unknown = set(entry) - {"id", "sha256", "grants", "budget", "role", "description"}
            if unknown:
                raise PolicyError(f"{where}: unknown keys {sorted(unknown)}; allowed: id, sha256, grants, budget")
            tid = entry.get("id")
            if not isinstance(tid, str) or not tid or tid == ANONYMOUS:
                raise PolicyError(f"{where}: 'id' must be a non-empty name other than {ANONYMOUS!r}, got {tid!r}")
            if tid in seen_ids:
                raise PolicyError(f"{where}: duplicate token id {tid!r}")
            digest = entry.get("sha256")
            if (
                not isinstance(digest, str)
                or len(digest) != 64
                or not set(digest.lower()) <= _SHA256_HEX
            ):
                raise PolicyError(
                    f"{where} ({tid}): 'sha256' must be the 64-character sha256 hex of the token "
                    "(python -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())' TOKEN)"
                )
            digest = digest.lower()
            if digest in seen_hashes:
                raise PolicyError(f"{where} ({tid}): the same token hash is configured twice")
            grants_raw = entry.get("grants") or {}
            if not isinstance(grants_raw, dict):
                raise PolicyError(f"{where} ({tid}): 'grants' must map dataset ids or '*' to a granularity")
            grants = {
                str(ds): Granularity.parse(g, f"{where} ({tid}) grants[{ds}]") for ds, g in grants_raw.items()
            }
            budget = Budget.from_dict(entry.get("budget"), f"{where} ({tid})")
            tokens.append(TokenGrant(id=tid, sha256=digest, grants=grants, budget=budget))
            seen_ids.add(tid)
            seen_hashes.add(digest)
        anonymous_budget = (
            Budget.from_dict(data["anonymous_budget"], f"{source}: anonymous_budget")
            if "anonymous_budget" in data
            else DEFAULT_ANONYMOUS_BUDGET
        )
        return cls(
            node=node,
            threshold=threshold,
            anonymous=anonymous,
            tokens=tuple(tokens),
            anonymous_budget=anonymous_budget,
        )

    def anonymous_principal(self) -> Principal:
        """The principal of a request without a token."""
        return Principal(
            id=ANONYMOUS,
            grants={"*": self.anonymous},
            budget=self.anonymous_budget,
            authenticated=False,
        )

    def authenticate(self, token: str | None) -> Principal | None:
        """Return the principal for ``token``, the anonymous one for None, None if unknown.

        Every configured digest is compared with :func:`hmac.compare_digest`, without
        stopping at the first match, so the time taken does not reveal which token (or how
        much of one) matched.
        """
        if token is None or token == "":
            return self.anonymous_principal()
        digest = hash_token(token)
        found: TokenGrant | None = None
        for entry in self.tokens:
            if hmac.compare_digest(digest, entry.sha256):
                found = entry
        if found is None:
            return None
        return Principal(id=found.id, grants=dict(found.grants), budget=found.budget, authenticated=True)


class BudgetTracker:
    """Thread-safe per-principal request counters enforcing :class:`Budget` limits.

    The per-minute limit is a rolling 60-second window; the total counts every charged
    request since the tracker started plus ``initial_totals`` (e.g. recovered from the
    audit log, so that a restart does not refill a spent budget).
    """

    def __init__(self, initial_totals: dict[str, int] | None = None, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}
        self._totals: dict[str, int] = dict(initial_totals or {})
        self._clock = clock

    def used(self, principal_id: str) -> int:
        """Total requests charged to ``principal_id``."""
        with self._lock:
            return self._totals.get(principal_id, 0)

    def charge(self, principal: Principal) -> None:
        """Count one request against ``principal``'s budget.

        Raises
        ------
        BudgetExceededError
            When the per-minute or total limit is reached (the request is not counted).
        """
        budget = principal.budget
        now = self._clock()
        with self._lock:
            total = self._totals.get(principal.id, 0)
            if budget.total is not None and total >= budget.total:
                raise BudgetExceededError(
                    f"token {principal.id!r} has used its total budget of {budget.total} requests; "
                    "ask the node operator for a new budget",
                    retry_after=None,
                )
            recent = self._recent.setdefault(principal.id, deque())
            while recent and recent[0] <= now - 60.0:
                recent.popleft()
            if budget.per_minute is not None and len(recent) >= budget.per_minute:
                retry = max(1, math.ceil(recent[0] + 60.0 - now))
                raise BudgetExceededError(
                    f"token {principal.id!r} has used its budget of {budget.per_minute} requests per minute; "
                    f"retry in {retry} s",
                    retry_after=retry,
                )
            recent.append(now)
            self._totals[principal.id] = total + 1
