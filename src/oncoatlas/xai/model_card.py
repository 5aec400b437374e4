"""Model cards (Mitchell et al., FAT* 2019) in JSON and Markdown.

A card records what a model was trained on (the sha256 of the training cohort manifest:
the sorted lesion ids and series UIDs, and of the ground-truth file), how well it does on
held-out patients (metrics with bootstrap confidence intervals), what it is for and where
it must not be used.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from oncoatlas._atomic import write_text_atomic

__all__ = ["ModelCard", "file_sha256", "manifest_sha256"]

logger = logging.getLogger(__name__)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_sha256(table: pd.DataFrame, columns: tuple[str, ...] = ("lesion_id", "series_uid", "label")) -> str:
    """sha256 of a cohort manifest: the sorted rows of ``columns`` as CSV text."""
    cols = [c for c in columns if c in table.columns]
    text = table[cols].astype(str).sort_values(cols).to_csv(index=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class ModelCard:
    """The model card of a trained oncoatlas model."""

    name: str
    task: str
    architecture: str
    training_manifest_sha256: str
    ground_truth_sha256: str | None
    n_train: int
    n_test: int
    metrics: dict[str, dict[str, float]]
    hyperparameters: dict[str, Any]
    intended_use: str = (
        "Research and teaching on the synthetic oncoatlas demo federation: a worked example "
        "of training, explaining and auditing a lesion classifier."
    )
    limitations: str = (
        "Trained on synthetic lesions whose malignancy rule (spiculated, heterogeneous vs "
        "smooth, homogeneous) is known; not validated on patient data and not a medical device. "
        "Scale-normalised patches hide lesion size. Small held-out set: read the confidence "
        "intervals."
    )
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-serialisable dict."""
        return asdict(self)

    def to_markdown(self) -> str:
        """The card as Markdown."""
        lines = [f"# Model card: {self.name}", "", f"**Task**: {self.task}  ", f"**Architecture**: {self.architecture}  ",
                 f"**Created**: {self.created}", "", "## Training data", "",
                 f"- training cohort manifest sha256: `{self.training_manifest_sha256}`",
                 f"- ground truth sha256: `{self.ground_truth_sha256}`",
                 f"- {self.n_train} training patches, {self.n_test} held-out patches (patient-level split)", "",
                 "## Held-out metrics (95 % bootstrap CI)", "", "| metric | value | CI |", "|---|---|---|"]
        for name, m in self.metrics.items():
            if "ci_low" in m:
                lines.append(f"| {name} | {m['value']:.3f} | {m['ci_low']:.3f} – {m['ci_high']:.3f} |")
        lines += ["", "## Hyper-parameters", "", "```json", json.dumps(self.hyperparameters, indent=2), "```", "",
                  "## Intended use", "", self.intended_use, "", "## Limitations", "", self.limitations, ""]
        return "\n".join(lines)

    def write(self, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``model_card.json`` and ``model_card.md`` into ``folder`` (atomically)."""
        folder = Path(folder)
        j, md = folder / "model_card.json", folder / "model_card.md"
        write_text_atomic(j, json.dumps(self.to_dict(), indent=2, default=float))
        write_text_atomic(md, self.to_markdown())
        return j, md
