"""SHAP explanations of radiomics models: global ranking, beeswarm/bar, per-case waterfall.

:func:`explain` computes exact SHAP values for the fitted classifier of a
:class:`~oncoatlas.radiomics.models.RadiomicsModel` on the features it sees (imputed and
standardised): ``LinearExplainer`` for logistic regression (log-odds, interventional with
the training rows as background), ``TreeExplainer`` for the forests (log-odds for gradient
boosting, probability for the random forest). The global ranking is the mean absolute
SHAP value per feature; each feature carries its IBSI family and a coarse kind
(``shape``, ``intensity``, ``texture``) so that one can check *what sort* of evidence a
model uses.

References
----------
Lundberg SM, Lee S-I. A unified approach to interpreting model predictions. NeurIPS 2017.
Lundberg SM, et al. From local explanations to global understanding with explainable AI
for trees. Nat Mach Intell 2020;2:56-67.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoatlas.radiomics.models import ModelKind, RadiomicsModel

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FAMILIES", "HETEROGENEITY", "Explanation", "explain", "feature_family", "is_heterogeneity"]

logger = logging.getLogger(__name__)

#: IBSI tag prefix -> (family, kind).
FAMILIES: dict[str, tuple[str, str]] = {
    "morph_": ("morphology", "shape"),
    "loc_": ("local_intensity", "intensity"),
    "stat_": ("statistics", "intensity"),
    "ih_": ("histogram", "intensity"),
    "ivh_": ("ivh", "intensity"),
    "cm_": ("glcm", "texture"),
    "rlm_": ("glrlm", "texture"),
    "szm_": ("glszm", "texture"),
    "dzm_": ("gldzm", "texture"),
    "ngt_": ("ngtdm", "texture"),
    "ngl_": ("ngldm", "texture"),
}


#: First-order features that measure intensity heterogeneity (dispersion, disorder);
#: every texture feature counts as heterogeneity too.
HETEROGENEITY: frozenset[str] = frozenset({
    "stat_var", "stat_cov", "stat_qcod", "stat_range", "stat_iqr", "stat_mad", "stat_rmad",
    "stat_medad", "stat_energy", "ih_var", "ih_cov", "ih_qcod", "ih_range", "ih_iqr", "ih_mad",
    "ih_rmad", "ih_medad", "ih_entropy", "ih_uniformity",
})  # fmt: skip


def is_heterogeneity(tag: str) -> bool:
    """Whether a feature measures heterogeneity: a texture feature or a dispersion statistic."""
    return feature_family(tag)[1] == "texture" or tag in HETEROGENEITY


def feature_family(tag: str) -> tuple[str, str]:
    """(IBSI family, kind) of a feature tag; kind is ``shape``, ``intensity`` or ``texture``."""
    for prefix, fam in FAMILIES.items():
        if tag.startswith(prefix):
            return fam
    return ("other", "other")


@dataclass
class Explanation:
    """SHAP values of a radiomics model on a features table.

    Attributes
    ----------
    values
        The ``shap.Explanation`` (rows × features; ``data`` is the standardised input).
    ranking
        ``feature, mean_abs_shap, rank, family, kind, heterogeneity``, most important
        first (``kind``: shape, intensity or texture; ``heterogeneity``: see
        :func:`is_heterogeneity`).
    ids
        The identifier columns of the explained rows (for labelling per-case plots).
    """

    values: Any
    ranking: pd.DataFrame
    ids: pd.DataFrame

    def top(self, n: int = 10) -> list[str]:
        """The ``n`` features of largest mean |SHAP|."""
        return [str(f) for f in self.ranking["feature"].head(n)]

    def beeswarm(self, max_display: int = 15) -> Any:
        """Beeswarm of the SHAP values of the top features (a matplotlib Figure)."""
        import shap

        return _figure(lambda: shap.plots.beeswarm(self.values, max_display=max_display,
                                                   show=False))  # fmt: skip

    def bar(self, max_display: int = 15) -> Any:
        """Bar chart of the mean |SHAP| of the top features (a matplotlib Figure)."""
        import shap

        return _figure(lambda: shap.plots.bar(self.values, max_display=max_display, show=False))

    def waterfall(self, row: int, max_display: int = 12) -> Any:
        """Waterfall of one case's SHAP values (``row``: position in the explained table)."""
        import shap

        fig = _figure(lambda: shap.plots.waterfall(self.values[row], max_display=max_display,
                                                   show=False))  # fmt: skip
        if len(self.ids):
            r = self.ids.iloc[row]
            fig.suptitle(" · ".join(str(v) for v in r.to_numpy() if v is not None), fontsize=9)
        return fig


def _figure(draw: Any) -> Any:
    import matplotlib.pyplot as plt

    fig = plt.figure()
    draw()
    fig = plt.gcf()
    plt.close(fig)  # returned, not shown: the caller displays or saves it
    return fig


def explain(model: RadiomicsModel, features: pd.DataFrame) -> Explanation:
    """SHAP values, global ranking and figures of a fitted radiomics model.

    Parameters
    ----------
    model
        From :func:`oncoatlas.radiomics.fit_model`.
    features
        Rows to explain (typically the training table), with the model's feature columns.

    Returns
    -------
    Explanation

    Examples
    --------
    >>> m = fit_model(feats, label="malignant")        # doctest: +SKIP
    >>> ex = explain(m, feats); ex.top(5)                # doctest: +SKIP
    ['morph_sphericity', 'stat_var', ...]
    >>> ex.beeswarm().savefig("shap.png")                # doctest: +SKIP
    """
    import pandas as pd
    import shap

    xt = model.transform(features)
    est = model.pipeline[-1]
    if model.kind is ModelKind.LOGISTIC:
        explainer = shap.LinearExplainer(est, shap.maskers.Independent(xt.to_numpy(), max_samples=200))
    else:
        explainer = shap.TreeExplainer(est)
    ex = explainer(xt.to_numpy())
    vals = np.asarray(ex.values)
    base = np.asarray(ex.base_values)
    if vals.ndim == 3:  # one output per class: keep the positive class
        vals, base = vals[..., 1], base[..., 1] if base.ndim == 2 else base
    names = list(xt.columns)
    ex = shap.Explanation(values=vals, base_values=base, data=xt.to_numpy(),
                          feature_names=names)  # fmt: skip
    mean_abs = np.abs(vals).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    fams = [feature_family(names[i]) for i in order]
    ranking = pd.DataFrame({
        "feature": [names[i] for i in order],
        "mean_abs_shap": mean_abs[order],
        "rank": np.arange(1, len(order) + 1),
        "family": [f[0] for f in fams],
        "kind": [f[1] for f in fams],
        "heterogeneity": [is_heterogeneity(names[i]) for i in order],
    })  # fmt: skip
    id_cols = [c for c in ("patient_id", "roi", "node") if c in features.columns]
    return Explanation(values=ex, ranking=ranking, ids=features[id_cols].reset_index(drop=True))
