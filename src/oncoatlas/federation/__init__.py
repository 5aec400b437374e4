"""Federation: node servers with access policies, privacy-safe counts, audit, and a client.

EUCAIM-style tiers: a public dataset catalogue, federated search answered per dataset with
small counts suppressed, record access under a grant, and compute-to-data jobs. The node
server (:func:`create_app`, FastAPI) is imported on first use so that the client and the
``oncoatlas search`` command start fast.

>>> from oncoatlas.federation import Federation  # doctest: +SKIP
>>> Federation.from_yaml("demo/federation.yaml").search({"include": {"cancer_site": "C34"}})  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from oncoatlas.federation.audit import AuditLog, AuditVerification, verify
from oncoatlas.federation.client import Federation, JobResult, NodeFailure, SearchResult, SearchRow
from oncoatlas.federation.policy import Granularity, Policy, hash_token
from oncoatlas.federation.privacy import SUPPRESSED, protect_margin, suppress_count

if TYPE_CHECKING:
    from oncoatlas.federation.server import create_app

__all__ = [
    "SUPPRESSED",
    "AuditLog",
    "AuditVerification",
    "Federation",
    "Granularity",
    "JobResult",
    "NodeFailure",
    "Policy",
    "SearchResult",
    "SearchRow",
    "create_app",
    "hash_token",
    "protect_margin",
    "suppress_count",
    "verify",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from oncoatlas.federation.server import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
