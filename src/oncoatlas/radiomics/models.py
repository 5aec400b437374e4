"""Radiomics models: scikit-learn pipelines, cross-validated by patient and node.

:func:`fit_model` builds ``impute → scale → decorrelate → model`` (logistic regression, random forest or
gradient boosting), estimates its discrimination with cross-validation whose folds keep
each patient's lesions together (no patient in both training and test) and keep the
proportions of label × node in every fold (``StratifiedGroupKFold``), then refits on all
rows. The AUC's 95% confidence interval is a patient-level (cluster) bootstrap of the
out-of-fold predictions.

References
----------
Pedregosa F, et al. Scikit-learn: machine learning in Python. JMLR 2011;12:2825-2830.
Collins GS, et al. TRIPOD+AI statement. BMJ 2024;385:e078378 (internal validation).
Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B 2007;69:369-390.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoatlas.errors import OncoatlasError
from oncoatlas.radiomics.cohort import feature_columns

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

__all__ = [
    "ModelError",
    "ModelKind",
    "RadiomicsModel",
    "fit_model",
    "model_matrix",
]

logger = logging.getLogger(__name__)


class ModelError(OncoatlasError, ValueError):
    """A features table that cannot train a model (no label, one class, too few patients)."""


class ModelKind(StrEnum):
    """The classifier at the end of the pipeline."""

    LOGISTIC = "logistic"
    RANDOM_FOREST = "random_forest"
    GRADIENT_BOOSTING = "gradient_boosting"


@dataclass
class RadiomicsModel:
    """A fitted radiomics pipeline with its cross-validated performance.

    Attributes
    ----------
    pipeline
        ``SimpleImputer → StandardScaler → CorrelationFilter → classifier``, refitted on
        every row.
    features
        Feature columns the pipeline expects, in order (:attr:`selected`: those the
        classifier uses).
    label
        Name of the label column.
    kind
        The classifier (:class:`ModelKind`).
    auc, auc_ci
        Out-of-fold ROC AUC and its 95% patient-level bootstrap interval.
    folds
        Per fold: ``fold, n_train, n_test, auc`` (AUC NaN where a test fold has one class).
    oof
        Out-of-fold predicted probability per row (same index as the training table).
    fold
        The test fold of each row (same index).
    harmonisation
        The :func:`~oncoatlas.radiomics.harmonisation_check` run before training (per
        feature and batch factor; ``flagged`` rows differ more by site than by label).
    """

    pipeline: Pipeline
    features: list[str]
    label: str
    kind: ModelKind
    auc: float
    auc_ci: tuple[float, float]
    folds: pd.DataFrame
    oof: pd.Series
    fold: pd.Series
    harmonisation: pd.DataFrame | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        lo, hi = self.auc_ci
        return (f"RadiomicsModel({self.kind.value}, {len(self.features)} features, "
                f"AUC {self.auc:.3f} [{lo:.3f}, {hi:.3f}])")  # fmt: skip

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class for each row of a features table."""
        return np.asarray(self.pipeline.predict_proba(model_matrix(features, self.features))[:, 1])

    @property
    def selected(self) -> list[str]:
        """The features the classifier uses (after the correlation filter)."""
        support = self.pipeline.named_steps["decorrelate"].support_
        return [self.features[i] for i in support]

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """The rows as the classifier sees them (imputed, standardised, decorrelated)."""
        import pandas as pd

        x = self.pipeline[:-1].transform(model_matrix(features, self.features))
        return pd.DataFrame(np.asarray(x), columns=self.selected, index=features.index)


def model_matrix(features: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Float matrix of the feature columns (non-finite values become NaN)."""
    cols = columns if columns is not None else feature_columns(features)
    missing = [c for c in cols if c not in features.columns]
    if missing:
        raise ModelError(f"the features table lacks columns the model needs: {missing[:10]}")
    x = features[cols].astype("float64")
    return x.where(np.isfinite(x))


def _correlation_filter_class() -> type:
    """Build :class:`CorrelationFilter` (scikit-learn is imported on first use only)."""
    from sklearn.base import BaseEstimator, TransformerMixin

    class CorrelationFilter(TransformerMixin, BaseEstimator):
        """Drop features highly correlated with a more label-informative one (scikit-learn API).

        Features are visited by decreasing absolute Pearson correlation with the label; one is
        kept when its absolute correlation with every feature kept so far is below
        ``threshold``. Radiomics features are highly redundant (the morphology densities, the
        low percentiles and the minimum, …): without this step a linear model spreads its
        weight, and its SHAP values, thinly over near-copies. Fitted inside each
        cross-validation fold, so the label is never seen outside the training rows.

        Parameters
        ----------
        threshold
            Absolute correlation above which a feature is a near-copy (``1.0`` keeps all).
        """

        def __init__(self, threshold: float = 0.9) -> None:
            self.threshold = threshold

        def fit(self, x: Any, y: Any = None) -> Any:
            a = np.asarray(x, dtype=np.float64)
            n_feat = a.shape[1]
            sd = a.std(axis=0)
            z = (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
            if y is not None:
                yy = np.asarray(y, dtype=np.float64)
                yz = (yy - yy.mean()) / (yy.std() or 1.0)
                score = np.abs(z.T @ yz) / len(yz)
            else:
                score = np.zeros(n_feat)
            corr = np.abs(z.T @ z) / len(a)
            kept: list[int] = []
            for j in np.argsort(-score, kind="stable"):
                if sd[j] == 0:
                    continue
                if not kept or corr[j, kept].max() < self.threshold:
                    kept.append(int(j))
            self.support_ = np.array(sorted(kept), dtype=int)
            self.n_features_in_ = n_feat
            return self

        def transform(self, x: Any) -> Any:
            return np.asarray(x)[:, self.support_]

    CorrelationFilter.__module__ = __name__
    CorrelationFilter.__qualname__ = "CorrelationFilter"
    return CorrelationFilter


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    # ``models.CorrelationFilter`` (and unpickling a fitted pipeline) builds the class once
    if name == "CorrelationFilter":
        if name not in _CLASSES:
            _CLASSES[name] = _correlation_filter_class()
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _classifier(kind: ModelKind, seed: int) -> Any:
    if kind is ModelKind.LOGISTIC:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=0.1, max_iter=5000)
    if kind is ModelKind.RANDOM_FOREST:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=300, min_samples_leaf=2, random_state=seed,
                                      n_jobs=1)  # fmt: skip
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.1,
                                      subsample=0.8, random_state=seed)  # fmt: skip


def _labels(values: pd.Series, label: str) -> np.ndarray:
    import pandas as pd

    if values.isna().any():
        raise ModelError(
            f"{int(values.isna().sum())} row(s) have no {label!r}; drop them or join the "
            "ground truth first (oncoatlas.radiomics.join_ground_truth)"
        )
    if values.dtype == bool or isinstance(values.dtype, pd.BooleanDtype):
        return values.astype(bool).to_numpy().astype(int)
    text = values.astype(str).str.lower()
    if set(text) <= {"true", "false", "1", "0", "yes", "no"}:
        return text.isin({"true", "1", "yes"}).to_numpy().astype(int)
    uniq = sorted(values.unique())
    if len(uniq) != 2:
        raise ModelError(f"label {label!r} must be binary, got values {uniq[:10]}")
    return (values == uniq[1]).to_numpy().astype(int)


def bootstrap_auc_ci(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the ROC AUC, resampling whole groups (patients)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    ug, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(len(ug))]
    aucs = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(ug), len(ug))
        idx = np.concatenate([members[k] for k in pick])
        if len(np.unique(y[idx])) < 2:
            continue
        aucs.append(roc_auc_score(y[idx], p[idx]))
    if not aucs:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(aucs, [2.5, 97.5])
    return float(lo), float(hi)


def fit_model(
    features: pd.DataFrame,
    label: str = "malignant",
    groups: str = "patient_id",
    strata: str | None = "node",
    model: ModelKind | str = "logistic",
    *,
    columns: list[str] | None = None,
    n_splits: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    decorrelate: float = 0.9,
    check_by: tuple[str, ...] = ("node", "manufacturer"),
    model_params: dict[str, Any] | None = None,
) -> RadiomicsModel:
    """Cross-validate and fit an explainable radiomics classifier.

    Parameters
    ----------
    features
        A features table (:func:`oncoatlas.radiomics.extract_cohort`, with a label column,
        e.g. from :func:`~oncoatlas.radiomics.join_ground_truth`).
    label
        Binary label column (bool, ``true``/``false`` strings or two values).
    groups
        Column whose values must never be split across folds (the patient).
    strata
        Column stratified together with the label (the node), or ``None``.
    model
        ``logistic`` (L2, C=0.1), ``random_forest`` or ``gradient_boosting``.
    columns
        Feature columns (default: every IBSI feature column that is not constant or empty).
    n_splits
        Folds (reduced to the number of patients of the rarer class when smaller).
    seed
        Random state of the folds, the models and the bootstrap.
    n_boot
        Bootstrap resamples of the AUC confidence interval.
    decorrelate
        Correlation threshold of the :class:`CorrelationFilter` step (``1.0``: keep all).
    check_by
        Batch factors of the harmonisation check run before training (those present as
        columns); flagged features are logged and kept in ``model.harmonisation``.

    Returns
    -------
    RadiomicsModel

    Raises
    ------
    ModelError
        Missing label/group columns, one class only, or fewer than 2 patients per class.
    """
    import pandas as pd
    from sklearn.base import clone
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    kind = ModelKind(model)
    for col in (label, groups, *([strata] if strata else [])):
        if col not in features.columns:
            raise ModelError(f"the features table has no column {col!r} (needed for the model)")
    y = _labels(features[label], label)
    if len(np.unique(y)) < 2:
        raise ModelError(f"label {label!r} has a single class in {len(y)} rows; nothing to learn")
    x = model_matrix(features, columns)
    if columns is None:
        keep = [c for c in x.columns if x[c].notna().any() and x[c].nunique(dropna=True) > 1]
        x = x[keep]
    cols = list(x.columns)
    if not cols:
        raise ModelError("no usable (non-constant, non-empty) feature column")
    harm = None
    factors = tuple(f for f in check_by if f in features.columns)
    if factors:
        from oncoatlas.radiomics.harmonisation import harmonisation_check

        harm = harmonisation_check(features.assign(**{label: y}), by=factors, label=label,
                                   columns=cols)  # fmt: skip
        flagged = sorted(set(harm.loc[harm["flagged"], "feature"]))
        if flagged:
            logger.warning("%d feature(s) differ more by %s than by %r: %s", len(flagged),
                           "/".join(factors), label, flagged[:10])  # fmt: skip
    g = features[groups].astype(str).to_numpy()
    strat = np.array([f"{a}|{b}" for a, b in zip(
        y, features[strata].astype(str) if strata else [""] * len(y), strict=True)])  # fmt: skip
    # patients per stratum bound the number of folds
    per_class = [len(np.unique(g[y == k])) for k in (0, 1)]
    k = min(n_splits, *per_class)
    if k < 2:
        raise ModelError(
            f"too few patients per class for cross-validation ({per_class[0]} negative, "
            f"{per_class[1]} positive); need at least 2 of each"
        )
    pipe = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
        ("decorrelate", __getattr__("CorrelationFilter")(decorrelate)),
        ("model", _classifier(kind, seed).set_params(**(model_params or {}))),
    ])  # fmt: skip
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    oof = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    fold_rows = []
    import warnings

    with warnings.catch_warnings():
        # strata rarer than the number of folds are expected on small cohorts
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(cv.split(x, strat, g))
    for i, (tr, te) in enumerate(splits):
        fold_of[te] = i
        if len(np.unique(y[tr])) < 2:
            fold_rows.append({"fold": i, "n_train": len(tr), "n_test": len(te), "auc": np.nan})
            continue
        est = clone(pipe).fit(x.iloc[tr], y[tr])
        oof[te] = est.predict_proba(x.iloc[te])[:, 1]
        auc_i = roc_auc_score(y[te], oof[te]) if len(np.unique(y[te])) == 2 else np.nan
        fold_rows.append({"fold": i, "n_train": len(tr), "n_test": len(te), "auc": auc_i})
    ok = np.isfinite(oof)
    auc = float(roc_auc_score(y[ok], oof[ok]))
    ci = bootstrap_auc_ci(y[ok], oof[ok], g[ok], n_boot=n_boot, seed=seed)
    pipe.fit(x, y)
    logger.info("%s on %d rows, %d features: AUC %.3f [%.3f, %.3f]", kind.value, len(y),
                len(cols), auc, *ci)  # fmt: skip
    return RadiomicsModel(
        pipeline=pipe, features=cols, label=label, kind=kind, auc=auc, auc_ci=ci,
        folds=pd.DataFrame(fold_rows), oof=pd.Series(oof, index=features.index, name="oof"),
        fold=pd.Series(fold_of, index=features.index, name="fold"), harmonisation=harm,
        params={"groups": groups, "strata": strata, "n_splits": k, "seed": seed,
                "decorrelate": decorrelate, **(model_params or {})},
    )  # fmt: skip
