"""Harmonisation check: do radiomics features differ more by site or scanner than by label?

Before a model is trained on features pooled from several nodes, each feature's
distribution is compared across the groups of each batch factor (``node``,
``manufacturer``) with the Kruskal–Wallis H test, and across the label's classes the same
way. The effect size is epsilon-squared, ``ε² = (H − k + 1) / (n − k)`` (k groups, n rows;
0: no difference, 1: groups fully separated), comparable between factors with different
numbers of groups. A feature is *flagged* when a batch factor separates it significantly
(Benjamini–Hochberg q < ``alpha``) with a larger effect than the label does: a model could
learn the site rather than the disease (harmonise, e.g. ComBat, or drop it).

References
----------
Kruskal WH, Wallis WA. Use of ranks in one-criterion variance analysis. JASA 1952;47:583-621.
Tomczak M, Tomczak E. The need to report effect size estimates revisited. Trends Sport Sci
2014;1:19-25 (epsilon-squared for Kruskal–Wallis).
Orlhac F, et al. A guide to ComBat harmonization of imaging biomarkers in multicenter
studies. J Nucl Med 2022;63:172-179.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoatlas.radiomics.cohort import feature_columns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["distributions", "harmonisation_check", "kruskal_epsilon2", "plot_distributions"]

logger = logging.getLogger(__name__)


def kruskal_epsilon2(values: np.ndarray, groups: np.ndarray) -> tuple[float, float, float, int]:
    """Kruskal–Wallis ``(H, p, epsilon², k)`` of ``values`` across ``groups`` (NaN ignored).

    With fewer than two non-empty groups, or all values tied, H and p are NaN and ε² is 0.
    """
    from scipy.stats import kruskal

    ok = np.isfinite(values)
    v, g = values[ok], groups[ok]
    samples = [v[g == k] for k in np.unique(g)]
    samples = [s for s in samples if len(s)]
    k, n = len(samples), int(sum(len(s) for s in samples))
    if k < 2 or n <= k or np.ptp(v) == 0:
        return float("nan"), float("nan"), 0.0, k
    h, p = kruskal(*samples)
    eps = max(0.0, (float(h) - k + 1) / (n - k))
    return float(h), float(p), min(eps, 1.0), k


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (NaN kept)."""
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if not ok.any():
        return out
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * len(pv) / np.arange(1, len(pv) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty_like(pv)
    res[order] = np.minimum(q, 1.0)
    out[ok] = res
    return out


def harmonisation_check(
    features: pd.DataFrame,
    by: Sequence[str] = ("node", "manufacturer"),
    label: str | None = "malignant",
    *,
    columns: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per feature and batch factor: Kruskal–Wallis across sites/scanners versus the label.

    Parameters
    ----------
    features
        A features table (:func:`oncoatlas.radiomics.extract_cohort`).
    by
        Batch factors (columns) to test; a factor with a single value is reported with NaN.
    label
        The outcome column to compare against, or ``None``.
    columns
        Feature columns (default: every IBSI feature column).
    alpha
        False-discovery rate for the flag.

    Returns
    -------
    pandas.DataFrame
        One row per (feature, factor): ``feature, factor, n_groups, H, p, q, epsilon2,
        label_H, label_p, label_epsilon2, flagged``, flagged rows first, then by ε².
    """
    import pandas as pd

    cols = list(columns) if columns is not None else feature_columns(features)
    missing = [f for f in [*by, *([label] if label else [])] if f not in features.columns]
    if missing:
        from oncoatlas.radiomics.models import ModelError

        raise ModelError(f"the features table has no column(s) {missing} for the check")
    x = features[cols].astype("float64").to_numpy()
    lab = features[label].astype(str).to_numpy() if label else None
    rows = []
    for j, col in enumerate(cols):
        v = x[:, j]
        lh, lp, le, _ = kruskal_epsilon2(v, lab) if lab is not None else (np.nan, np.nan, 0.0, 0)
        for factor in by:
            h, p, e, k = kruskal_epsilon2(v, features[factor].astype(str).to_numpy())
            rows.append({"feature": col, "factor": factor, "n_groups": k, "H": h, "p": p,
                         "epsilon2": e, "label_H": lh, "label_p": lp, "label_epsilon2": le})  # fmt: skip
    out = pd.DataFrame(rows)
    if out.empty:
        return out.assign(q=[], flagged=[])
    out["q"] = np.nan
    for factor in by:
        sel = out["factor"] == factor
        out.loc[sel, "q"] = _bh(out.loc[sel, "p"].to_numpy(dtype=float))
    out["flagged"] = (out["q"] < alpha) & (out["epsilon2"] > out["label_epsilon2"])
    out = out[["feature", "factor", "n_groups", "H", "p", "q", "epsilon2",
               "label_H", "label_p", "label_epsilon2", "flagged"]]  # fmt: skip
    n_flag = int(out["flagged"].sum())
    if n_flag:
        logger.info("%d feature/factor pair(s) differ more by site than by label", n_flag)
    return out.sort_values(["flagged", "epsilon2"], ascending=[False, False], ignore_index=True)


def distributions(
    features: pd.DataFrame,
    by: Sequence[str] = ("node", "manufacturer"),
    *,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per feature, factor and group: ``n, median, q1, q3, mean, sd`` (long table).

    The numbers behind :func:`harmonisation_check`, for a table or a dashboard.
    """
    import pandas as pd

    cols = list(columns) if columns is not None else feature_columns(features)
    parts = []
    for factor in by:
        g = features[cols].astype("float64").groupby(features[factor].astype(str))
        stats = {
            "n": g.count(), "median": g.median(), "q1": g.quantile(0.25), "q3": g.quantile(0.75),
            "mean": g.mean(), "sd": g.std(),
        }  # fmt: skip
        long = pd.concat({k: v.stack(future_stack=True) for k, v in stats.items()}, axis=1)
        long.index.names = ["group", "feature"]
        parts.append(long.reset_index().assign(factor=factor))
    out = pd.concat(parts, ignore_index=True)
    return out[["feature", "factor", "group", "n", "median", "q1", "q3", "mean", "sd"]]


def plot_distributions(
    features: pd.DataFrame, feature: str, by: str = "node", label: str | None = "malignant"
) -> Any:
    """Box plots of one feature per group of ``by`` (split by ``label``): a matplotlib Figure."""
    import matplotlib.pyplot as plt

    groups = sorted(features[by].astype(str).unique())
    classes = sorted(features[label].astype(str).unique()) if label else [None]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(groups) * len(classes), 3.2))
    data, names = [], []
    for grp in groups:
        sel = features[by].astype(str) == grp
        for cls in classes:
            rows = sel & (features[label].astype(str) == cls) if label else sel
            data.append(features.loc[rows, feature].astype("float64").dropna().to_numpy())
            names.append(grp if cls is None else f"{grp}\n{label}={cls}")
    ax.boxplot(data)
    ax.set_xticks(range(1, len(names) + 1), names, fontsize=7)
    h, p, e, _ = kruskal_epsilon2(features[feature].astype("float64").to_numpy(),
                                  features[by].astype(str).to_numpy())  # fmt: skip
    ax.set_title(f"{feature} by {by}: Kruskal-Wallis H={h:.2f}, p={p:.3g}, eps2={e:.2f}",
                 fontsize=8)  # fmt: skip
    ax.set_ylabel(feature)
    fig.tight_layout()
    plt.close(fig)
    return fig
