"""Explainable radiomics models on the demo federation's lung lesions, and the harmonisation check.

The demo generates malignant nodules with irregular, spiculated margins and heterogeneous
texture, benign ones smooth, round and homogeneous: a model must find exactly that, with
shape-irregularity and heterogeneity features on top of its SHAP ranking.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from oncoatlas.radiomics import ModelError, explain, fit_model, harmonisation_check
from oncoatlas.radiomics.explain import feature_family, is_heterogeneity
from oncoatlas.radiomics.harmonisation import (
    distributions,
    kruskal_epsilon2,
    plot_distributions,
)
from tests.radiomics.test_cohort import lung_cohort_features

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def lung(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    # the same cache folder as test_cohort: after it, every row comes from the cache
    return lung_cohort_features(demo_root, tmp_path_factory.getbasetemp() / "radiomics-lung-cache")


@pytest.fixture(scope="module")
def logistic(lung: pd.DataFrame) -> object:
    return fit_model(lung, label="malignant", groups="patient_id", strata="node",
                     model="logistic", n_boot=300)  # fmt: skip


def test_cross_validation_grouped_by_patient_stratified_by_node(
    lung: pd.DataFrame, logistic: object
) -> None:
    m = logistic
    fold = m.fold  # type: ignore[attr-defined]
    assert (fold >= 0).all()
    # no patient in two folds
    assert (lung.groupby("patient_id")[[]].size() > 0).all()
    per_patient = fold.groupby(lung["patient_id"]).nunique()
    assert (per_patient == 1).all()
    # every fold sees every node
    nodes_per_fold = lung.groupby(fold)["node"].nunique()
    assert (nodes_per_fold == lung["node"].nunique()).all()
    assert m.folds["n_test"].sum() == len(lung)  # type: ignore[attr-defined]
    # the harmonisation check ran before training, over node and manufacturer
    harm = m.harmonisation  # type: ignore[attr-defined]
    assert set(harm["factor"]) == {"node", "manufacturer"}
    assert set(harm["feature"]) == set(m.features)  # type: ignore[attr-defined]


def test_auc_and_shap_recover_the_generative_rule(lung: pd.DataFrame, logistic: object) -> None:
    m = logistic
    lo, hi = m.auc_ci  # type: ignore[attr-defined]
    assert m.auc > 0.8  # type: ignore[attr-defined]
    assert lo > 0.7 and lo <= m.auc <= hi  # type: ignore[attr-defined]
    ex = explain(m, lung)  # type: ignore[arg-type]
    top5 = ex.ranking.head(5)
    assert (top5["kind"] == "shape").any(), top5
    assert top5["heterogeneity"].any(), top5
    # a linear model's SHAP value of a feature follows the feature, in the direction of the
    # feature's own association with malignancy
    names = list(ex.values.feature_names)
    sv, x = ex.values.values, ex.values.data
    y = lung["malignant"].astype(bool).to_numpy()
    for feat in ex.top(5):
        j = names.index(feat)
        r = np.corrcoef(x[:, j], sv[:, j])[0, 1]
        assoc = np.sign(x[y, j].mean() - x[~y, j].mean())
        assert assoc * r > 0.99, (feat, r, assoc)
    # ranking covers every selected feature once, ordered; the filter removed near-copies
    assert sorted(ex.ranking["feature"]) == sorted(m.selected)  # type: ignore[attr-defined]
    assert len(m.selected) < len(m.features)  # type: ignore[attr-defined]
    assert ex.ranking["mean_abs_shap"].is_monotonic_decreasing


def test_figures(lung: pd.DataFrame, logistic: object, tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    ex = explain(logistic, lung)  # type: ignore[arg-type]
    for fig in (ex.beeswarm(max_display=8), ex.bar(max_display=8), ex.waterfall(0)):
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / "f.png")
        assert (tmp_path / "f.png").stat().st_size > 1000
    assert lung["patient_id"].iloc[0] in ex.waterfall(0).texts[0].get_text()


def test_tree_model(lung: pd.DataFrame) -> None:
    m = fit_model(lung, model="random_forest", n_boot=100, model_params={"n_estimators": 100})
    assert m.pipeline.named_steps["model"].n_estimators == 100
    assert m.auc > 0.8
    ex = explain(m, lung)
    assert ex.values.values.shape == (len(lung), len(m.selected))
    top10 = ex.ranking.head(10)
    assert (top10["kind"] == "shape").any() and top10["heterogeneity"].any(), top10
    p = m.predict_proba(lung)
    assert p.shape == (len(lung),) and ((p >= 0) & (p <= 1)).all()


def test_harmonisation_on_demo(lung: pd.DataFrame) -> None:
    h = harmonisation_check(lung, by=("node", "manufacturer"), label="malignant")
    assert set(h["factor"]) == {"node", "manufacturer"}
    row = h[(h["feature"] == "morph_sphericity") & (h["factor"] == "node")].iloc[0]
    # the demo draws lesions the same way at every node: sphericity is about the label
    assert row["label_epsilon2"] > 0.3
    assert not row["flagged"]


def test_distributions_and_plot(lung: pd.DataFrame) -> None:
    from matplotlib.figure import Figure

    d = distributions(lung, by=("node",), columns=["morph_sphericity", "stat_var"])
    assert set(d["group"]) == set(lung["node"]) and len(d) == 2 * lung["node"].nunique()
    oslo = lung.loc[lung["node"] == "oslo", "stat_var"]
    row = d[(d["feature"] == "stat_var") & (d["group"] == "oslo")].iloc[0]
    assert row["n"] == len(oslo) and row["median"] == pytest.approx(oslo.median())
    fig = plot_distributions(lung, "morph_sphericity", by="node")
    assert isinstance(fig, Figure) and "Kruskal-Wallis" in fig.axes[0].get_title()


def test_harmonisation_flags_a_site_effect() -> None:
    rng = np.random.default_rng(0)
    n = 90
    node = np.repeat(["a", "b", "c"], n // 3)
    y = rng.integers(0, 2, n).astype(bool)
    df = pd.DataFrame({
        "node": node, "manufacturer": node, "malignant": y,
        "stat_mean": rng.normal(0, 1, n) + (node == "c") * 3.0,   # a scanner offset
        "morph_sphericity": rng.normal(0, 1, n) - y * 3.0,         # the disease
        "stat_var": rng.normal(0, 1, n),                           # neither
    })  # fmt: skip
    h = harmonisation_check(df, by=("node",), label="malignant")
    flagged = set(h.loc[h["flagged"], "feature"])
    assert flagged == {"stat_mean"}
    _h, p, e, k = kruskal_epsilon2(df["stat_mean"].to_numpy(), node)
    assert k == 3 and p < 1e-6 and 0.3 < e <= 1


def test_model_errors(lung: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="no column 'outcome'"):
        fit_model(lung, label="outcome")
    one = lung.assign(malignant=True)
    with pytest.raises(ModelError, match="single class"):
        fit_model(one)
    with pytest.raises(ModelError, match="have no 'malignant'"):
        fit_model(lung.assign(malignant=pd.Series(pd.NA, index=lung.index, dtype="boolean")))
    with pytest.raises(ValueError, match="svm"):
        fit_model(lung, model="svm")


def test_feature_families() -> None:
    assert feature_family("morph_sphericity") == ("morphology", "shape")
    assert feature_family("cm_contrast_3D_avg") == ("glcm", "texture")
    assert is_heterogeneity("ih_entropy") and is_heterogeneity("szm_zs_entr_3D")
    assert not is_heterogeneity("stat_mean")
