"""Batched cohort inference: probabilities per lesion, joinable to the cohort table.

Results are a DataFrame keyed by ``lesion_id`` and ``series_uid`` (the cohort manifest's
key), so ``cohort_table.merge(predictions, on="series_uid")`` attaches them. A Dask client
(``dask.distributed``) spreads batches over workers for large cohorts.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from oncoatlas.xai.data import PatchSet

__all__ = ["predict_patches", "predict_proba"]

logger = logging.getLogger(__name__)


def predict_proba(
    model: nn.Module, x: np.ndarray, batch_size: int = 32, progress: bool = False, target: int = 1
) -> np.ndarray:
    """Softmax probability of class ``target`` for ``(n, channels, *spatial)`` inputs, in batches."""
    model.eval()
    out = np.empty(len(x), dtype=np.float64)
    starts: Any = range(0, len(x), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="predict", unit="batch")
    with torch.no_grad():
        for b0 in starts:
            xb = torch.as_tensor(np.asarray(x[b0 : b0 + batch_size], dtype=np.float32))
            out[b0 : b0 + len(xb)] = torch.softmax(model(xb), dim=1)[:, target].cpu().numpy()
    return out


def predict_patches(
    model: nn.Module,
    patches: PatchSet,
    batch_size: int = 32,
    progress: bool = False,
    client: Any = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Predict malignancy for every patch of a :class:`PatchSet`.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier (eager or TorchScript).
    patches : PatchSet
        Patches with their provenance table.
    batch_size : int
        Cases per forward pass.
    progress : bool
        tqdm bar.
    client : dask.distributed.Client, optional
        Spread batches over the cluster's workers (the model is scattered once).
    threshold : float
        Decision threshold for ``predicted``.

    Returns
    -------
    pandas.DataFrame
        The patch table with ``prob_malignant`` and ``predicted`` columns.
    """
    x = patches.model_input()
    if client is None:
        prob = predict_proba(model, x, batch_size, progress)
    else:
        remote = client.scatter(model, broadcast=True)
        futures = [client.submit(predict_proba, remote, x[b0 : b0 + batch_size], batch_size, pure=False)
                   for b0 in range(0, len(x), batch_size)]
        prob = np.concatenate(client.gather(futures))
    table = patches.table.copy()
    table["prob_malignant"] = prob
    table["predicted"] = (prob >= threshold).astype(int)
    return table
