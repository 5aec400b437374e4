"""Node metadata and federation configuration: datasets.yaml, policy.yaml, federation.yaml.

Formats are the team's data contracts. Demo tokens are derived from the seed
(:func:`~oncoatlas.demo.uids.derive_token`); ``policy.yaml`` stores only their SHA-256 hex
digest, ``federation.yaml`` holds the clear demo-researcher token of each node because this
is a demo.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from oncoatlas.demo.nodes import NodeSpec
from oncoatlas.demo.uids import derive_token

__all__ = ["THRESHOLD", "datasets_yaml", "federation_yaml", "policy_yaml", "token_sha256"]

#: Suppression threshold k of every demo node.
THRESHOLD = 10

_DATASETS = {
    # suffix -> title, description, cancer sites, modalities
    "lung-ct": (
        "Lung nodule CT cohort",
        "Chest CT of lung cancer patients (C34) with malignant nodules and of cancer-free "
        "controls, some with benign nodules; every nodule has a DICOM SEG ground truth.",
        ["C34"],
        ["CT", "SEG"],
    ),
    "breast-screening": (
        "Breast screening mammography cohort",
        "Four-view screening mammograms (L/R CC and MLO) of screen-detected breast cancers "
        "(C50) with receptor status and of cancer-free screening controls; masses have DICOM SEG.",
        ["C50"],
        ["MG", "SEG"],
    ),
    "prostate-mr": (
        "Prostate MR cohort",
        "Biparametric prostate MR (axial T2W and ADC) of prostate cancer patients (C61) with "
        "PSA, Gleason and ISUP grade; lesions have DICOM SEG on the T2W series.",
        ["C61"],
        ["MR", "SEG"],
    ),
}


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def token_sha256(token: str) -> str:
    """Return the SHA-256 hex digest under which a policy stores ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def datasets_yaml(node: NodeSpec) -> str:
    """Return the node's ``datasets.yaml`` (DCAT-style dataset descriptions)."""
    datasets = []
    for suffix, (title, description, sites, modalities) in _DATASETS.items():
        datasets.append(
            {
                "id": f"{node.name}-{suffix}",
                "title": title,
                "description": description,
                "provider": node.provider,
                "country": node.country,
                "licence": "CC-BY-4.0",
                "access": node.access,
                "contact": node.contact,
                "cancer_sites": sites,
                "modalities": modalities,
            }
        )
    return _dump({"node": node.name, "role": node.role, "datasets": datasets})


def policy_yaml(node: NodeSpec, seed: int) -> str:
    """Return the node's ``policy.yaml``: threshold, anonymous level and hashed tokens.

    The demo researcher gets ``record`` at the central node and ``count`` elsewhere; the
    demo analyst gets ``count`` everywhere.
    """
    researcher = derive_token(seed, node.name, "demo-researcher")
    analyst = derive_token(seed, node.name, "demo-analyst")
    return _dump(
        {
            "node": node.name,
            "threshold": THRESHOLD,
            "anonymous": "count",
            "tokens": [
                {
                    "id": "demo-researcher",
                    "sha256": token_sha256(researcher),
                    "grants": {"*": "record" if node.role == "central" else "count"},
                    "budget": {"per_minute": 600, "total": 100000},
                },
                {
                    "id": "demo-analyst",
                    "sha256": token_sha256(analyst),
                    "grants": {"*": "count"},
                    "budget": {"per_minute": 60, "total": 1000},
                },
            ],
        }
    )


def federation_yaml(nodes: tuple[NodeSpec, ...], seed: int) -> str:
    """Return ``federation.yaml``: the client configuration with each node's demo token."""
    return _dump(
        {
            "name": "oncoatlas-demo",
            "timeout_s": 5,
            "retries": 1,
            "nodes": [
                {
                    "name": n.name,
                    "url": f"http://127.0.0.1:{n.port}",
                    "token": derive_token(seed, n.name, "demo-researcher"),
                    "catalog": f"nodes/{n.name}/catalog",
                    "role": n.role,
                }
                for n in nodes
            ],
        }
    )
