"""Training of the demo models: deterministic seeds, patient-level split, metrics with CIs.

The split keeps every patient's lesions on one side (a patient-level split avoids the
optimistic bias of lesion-level splits, Roberts et al., Nat. Mach. Intell. 2021) and is
stratified by label. Metrics carry percentile bootstrap 95 % confidence intervals
(Efron & Tibshirani 1993) over the held-out lesions.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from torch import nn

__all__ = [
    "TrainConfig",
    "bootstrap_ci",
    "classification_metrics",
    "patient_split",
    "seed_everything",
    "train_model",
]

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch and ask PyTorch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def patient_split(
    table: pd.DataFrame,
    test_fraction: float = 0.3,
    seed: int = 0,
    label: str = "label",
    group: str = "patient_id",
) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into train and test indices, keeping each patient on one side.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per lesion with ``group`` and ``label`` columns.
    test_fraction : float
        Approximate held-out fraction (the fold size of a ``StratifiedGroupKFold``).
    seed : int
        Shuffling seed.

    Returns
    -------
    tuple of numpy.ndarray
        ``(train_idx, test_idx)`` positional indices.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_splits = max(2, round(1.0 / test_fraction))
    groups = table[group].astype(str).to_numpy()
    labels = table[label].astype(int).to_numpy()
    if len(np.unique(groups)) < n_splits:
        raise ValueError(
            f"patient_split needs at least {n_splits} patients for test_fraction={test_fraction}, "
            f"got {len(np.unique(groups))}"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_idx, test_idx = next(splitter.split(np.zeros(len(table)), labels, groups))
    return np.asarray(train_idx), np.asarray(test_idx)


def bootstrap_ci(
    y_true: np.ndarray,
    y_score: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``metric(y_true, y_score)``.

    Resamples where the metric is undefined (e.g. one class only for AUC) are skipped.

    References
    ----------
    B. Efron, R. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993.
    """
    rng = np.random.default_rng(seed)
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y_true), len(y_true))
        try:
            v = metric(y_true[idx], y_score[idx])
        except ValueError:
            continue
        if np.isfinite(v):
            values.append(v)
    if not values:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return (float(lo), float(hi))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        raise ValueError("AUC needs both classes")
    return float(roc_auc_score(y, s))


def _acc(y: np.ndarray, s: np.ndarray) -> float:
    return float(np.mean((s >= 0.5) == (y == 1)))


def _sens(y: np.ndarray, s: np.ndarray) -> float:
    pos = y == 1
    if not pos.any():
        raise ValueError("no positives")
    return float(np.mean(s[pos] >= 0.5))


def _spec(y: np.ndarray, s: np.ndarray) -> float:
    neg = y == 0
    if not neg.any():
        raise ValueError("no negatives")
    return float(np.mean(s[neg] < 0.5))


def classification_metrics(
    y_true: np.ndarray, y_prob: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """AUC, accuracy, sensitivity and specificity (threshold 0.5) with bootstrap 95 % CIs.

    Returns
    -------
    dict
        ``{name: {"value": v, "ci_low": lo, "ci_high": hi}}`` plus ``{"n": {"value": n}}``.
    """
    y_true = np.asarray(y_true).astype(int)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    out: dict[str, dict[str, float]] = {}
    for name, fn in (("auc", _auc), ("accuracy", _acc), ("sensitivity", _sens), ("specificity", _spec)):
        try:
            value = fn(y_true, y_prob)
        except ValueError:
            value = float("nan")
        lo, hi = bootstrap_ci(y_true, y_prob, fn, n_boot=n_boot, seed=seed)
        out[name] = {"value": value, "ci_low": lo, "ci_high": hi}
    out["n"] = {"value": float(len(y_true)), "positives": float(y_true.sum())}
    return out


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_model` (recorded in the model card)."""

    epochs: int = 20
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment: bool = True
    history: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The hyper-parameters as a JSON-serialisable dict."""
        return {
            "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
            "weight_decay": self.weight_decay, "seed": self.seed, "augment": self.augment,
        }


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flips along every spatial axis and a small intensity jitter."""
    for axis in range(2, x.ndim):
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        if flip.any():
            x = x.clone()
            x[flip] = torch.flip(x[flip], dims=(axis,))
    scale = 1.0 + 0.05 * torch.randn((x.shape[0],) + (1,) * (x.ndim - 1), generator=gen)
    return x * scale


def train_model(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig | None = None,
    progress: bool = False,
) -> nn.Module:
    """Train a classifier with Adam and cross-entropy, deterministically for a seed.

    Parameters
    ----------
    model : torch.nn.Module
        Network returning logits ``(batch, 2)``.
    x : numpy.ndarray
        ``(n, channels, *spatial)`` preprocessed inputs.
    y : numpy.ndarray
        ``(n,)`` integer labels.
    config : TrainConfig, optional
        Hyper-parameters; its ``history`` receives one ``{"epoch", "loss", "accuracy"}`` row
        per epoch.
    progress : bool
        Show a tqdm bar over epochs.

    Returns
    -------
    torch.nn.Module
        The same model, trained and in eval mode.
    """
    cfg = config or TrainConfig()
    seed_everything(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    if xt.shape[0] != yt.shape[0]:
        raise ValueError(f"x has {xt.shape[0]} cases but y has {yt.shape[0]} labels")
    counts = torch.bincount(yt, minlength=2).float()
    weights = counts.sum() / (2.0 * counts.clamp(min=1.0))
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * max(1, -(-len(xt) // cfg.batch_size))
    )
    epochs: Any = range(cfg.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="train", unit="epoch")
    for epoch in epochs:
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total, correct, seen = 0.0, 0, 0
        for b0 in range(0, len(xt), cfg.batch_size):
            idx = perm[b0 : b0 + cfg.batch_size]
            if len(idx) < 2:  # batch norm needs two cases
                continue
            xb = _augment(xt[idx], gen) if cfg.augment else xt[idx]
            logits = model(xb)
            loss = loss_fn(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
            seen += len(idx)
        row = {"epoch": float(epoch), "loss": total / max(seen, 1), "accuracy": correct / max(seen, 1)}
        cfg.history.append(row)
        logger.debug("epoch %d loss %.4f acc %.3f", epoch, row["loss"], row["accuracy"])
    _recalibrate_batchnorm(model, xt, cfg.batch_size)
    model.eval()
    return model


def _recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Re-estimate batch-norm running statistics on the training inputs, without augmentation.

    The exponential running averages gathered during a short CPU training run lag behind the
    final weights, which can make evaluation-mode outputs collapse to a constant; a pass with
    cumulative averaging (``momentum=None``) fixes them (the "BN recalibration" of
    Ioffe & Szegedy 2015, section 3.1).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for b0 in range(0, len(x), max(2, batch_size)):
            model(x[b0 : b0 + max(2, batch_size)])
    for m, mom in zip(norms, saved, strict=True):
        m.momentum = mom
