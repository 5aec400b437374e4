"""IBSI tag <-> PyRadiomics feature name mapping.

PyRadiomics names are ``<class>_<Feature>`` as in its output without the image-type prefix
(``original_glcm_Contrast`` -> ``glcm_Contrast``). PyRadiomics computes texture in 3D and
averages GLCM and GLRLM features over the 13 directions, so its texture features map to the
``_3D_avg`` (GLCM, GLRLM) and ``_3D`` (GLSZM, NGTDM, GLDM = NGLDM) tags. Known definitional
differences: PyRadiomics' ``firstorder_Kurtosis`` is the plain kurtosis (IBSI's
``stat_kurt`` + 3); its bins are aligned to multiples of the bin width, not to the ROI
minimum; ``firstorder_Entropy`` and ``firstorder_Uniformity`` are histogram features.

References
----------
van Griethuysen JJM, et al. Computational radiomics system to decode the radiographic
phenotype. Cancer Res 2017;77:e104-e107. PyRadiomics documentation, "Radiomic Features".
"""

from __future__ import annotations

__all__ = [
    "IBSI_TO_PYRADIOMICS",
    "PYRADIOMICS_TO_IBSI",
    "ibsi_to_pyradiomics",
    "pyradiomics_to_ibsi",
]

_SHAPE = {
    "MeshVolume": "morph_volume",
    "VoxelVolume": "morph_vol_approx",
    "SurfaceArea": "morph_area_mesh",
    "SurfaceVolumeRatio": "morph_av",
    "Sphericity": "morph_sphericity",
    "Compactness1": "morph_comp_1",
    "Compactness2": "morph_comp_2",
    "SphericalDisproportion": "morph_sph_dispr",
    "Maximum3DDiameter": "morph_diam",
    "MajorAxisLength": "morph_pca_maj_axis",
    "MinorAxisLength": "morph_pca_min_axis",
    "LeastAxisLength": "morph_pca_least_axis",
    "Elongation": "morph_pca_elongation",
    "Flatness": "morph_pca_flatness",
}
_FIRSTORDER = {
    "Energy": "stat_energy",
    "Entropy": "ih_entropy",
    "Minimum": "stat_min",
    "10Percentile": "stat_p10",
    "90Percentile": "stat_p90",
    "Maximum": "stat_max",
    "Mean": "stat_mean",
    "Median": "stat_median",
    "InterquartileRange": "stat_iqr",
    "Range": "stat_range",
    "MeanAbsoluteDeviation": "stat_mad",
    "RobustMeanAbsoluteDeviation": "stat_rmad",
    "RootMeanSquared": "stat_rms",
    "Skewness": "stat_skew",
    "Kurtosis": "stat_kurt",
    "Variance": "stat_var",
    "Uniformity": "ih_uniformity",
}
_GLCM = {
    "Autocorrelation": "auto_corr",
    "JointAverage": "joint_avg",
    "ClusterProminence": "clust_prom",
    "ClusterShade": "clust_shade",
    "ClusterTendency": "clust_tend",
    "Contrast": "contrast",
    "Correlation": "corr",
    "DifferenceAverage": "diff_avg",
    "DifferenceEntropy": "diff_entr",
    "DifferenceVariance": "diff_var",
    "JointEnergy": "energy",
    "JointEntropy": "joint_entr",
    "Imc1": "info_corr1",
    "Imc2": "info_corr2",
    "Idm": "inv_diff_mom",
    "Idmn": "inv_diff_mom_norm",
    "Id": "inv_diff",
    "Idn": "inv_diff_norm",
    "InverseVariance": "inv_var",
    "MaximumProbability": "joint_max",
    "SumAverage": "sum_avg",
    "SumEntropy": "sum_entr",
    "SumSquares": "joint_var",
}
_GLRLM = {
    "ShortRunEmphasis": "sre",
    "LongRunEmphasis": "lre",
    "GrayLevelNonUniformity": "glnu",
    "GrayLevelNonUniformityNormalized": "glnu_norm",
    "RunLengthNonUniformity": "rlnu",
    "RunLengthNonUniformityNormalized": "rlnu_norm",
    "RunPercentage": "r_perc",
    "GrayLevelVariance": "gl_var",
    "RunVariance": "rl_var",
    "RunEntropy": "rl_entr",
    "LowGrayLevelRunEmphasis": "lgre",
    "HighGrayLevelRunEmphasis": "hgre",
    "ShortRunLowGrayLevelEmphasis": "srlge",
    "ShortRunHighGrayLevelEmphasis": "srhge",
    "LongRunLowGrayLevelEmphasis": "lrlge",
    "LongRunHighGrayLevelEmphasis": "lrhge",
}
_GLSZM = {
    "SmallAreaEmphasis": "sze",
    "LargeAreaEmphasis": "lze",
    "GrayLevelNonUniformity": "glnu",
    "GrayLevelNonUniformityNormalized": "glnu_norm",
    "SizeZoneNonUniformity": "zsnu",
    "SizeZoneNonUniformityNormalized": "zsnu_norm",
    "ZonePercentage": "z_perc",
    "GrayLevelVariance": "gl_var",
    "ZoneVariance": "zs_var",
    "ZoneEntropy": "zs_entr",
    "LowGrayLevelZoneEmphasis": "lgze",
    "HighGrayLevelZoneEmphasis": "hgze",
    "SmallAreaLowGrayLevelEmphasis": "szlge",
    "SmallAreaHighGrayLevelEmphasis": "szhge",
    "LargeAreaLowGrayLevelEmphasis": "lzlge",
    "LargeAreaHighGrayLevelEmphasis": "lzhge",
}
_GLDM = {
    "SmallDependenceEmphasis": "lde",
    "LargeDependenceEmphasis": "hde",
    "GrayLevelNonUniformity": "glnu",
    "DependenceNonUniformity": "dcnu",
    "DependenceNonUniformityNormalized": "dcnu_norm",
    "GrayLevelVariance": "gl_var",
    "DependenceVariance": "dc_var",
    "DependenceEntropy": "dc_entr",
    "LowGrayLevelEmphasis": "lgce",
    "HighGrayLevelEmphasis": "hgce",
    "SmallDependenceLowGrayLevelEmphasis": "ldlge",
    "SmallDependenceHighGrayLevelEmphasis": "ldhge",
    "LargeDependenceLowGrayLevelEmphasis": "hdlge",
    "LargeDependenceHighGrayLevelEmphasis": "hdhge",
}
_NGTDM = {n: n.lower() for n in ("Coarseness", "Contrast", "Busyness", "Complexity", "Strength")}


def _build() -> dict[str, str]:
    out: dict[str, str] = {}
    out.update({f"shape_{k}": v for k, v in _SHAPE.items()})
    out.update({f"firstorder_{k}": v for k, v in _FIRSTORDER.items()})
    out.update({f"glcm_{k}": f"cm_{v}_3D_avg" for k, v in _GLCM.items()})
    out.update({f"glrlm_{k}": f"rlm_{v}_3D_avg" for k, v in _GLRLM.items()})
    out.update({f"glszm_{k}": f"szm_{v}_3D" for k, v in _GLSZM.items()})
    out.update({f"gldm_{k}": f"ngl_{v}_3D" for k, v in _GLDM.items()})
    out.update({f"ngtdm_{k}": f"ngt_{v}_3D" for k, v in _NGTDM.items()})
    return out


#: PyRadiomics ``class_Feature`` -> IBSI tag.
PYRADIOMICS_TO_IBSI: dict[str, str] = _build()
#: IBSI tag -> PyRadiomics ``class_Feature``.
IBSI_TO_PYRADIOMICS: dict[str, str] = {v: k for k, v in PYRADIOMICS_TO_IBSI.items()}


def _strip(name: str) -> str:
    parts = name.split("_")
    known = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
    for i, p in enumerate(parts):
        if p in known:
            return "_".join(parts[i:])
    return name


def pyradiomics_to_ibsi(name: str) -> str | None:
    """IBSI tag of a PyRadiomics feature name (with or without an image-type prefix).

    Examples
    --------
    >>> pyradiomics_to_ibsi("original_glcm_Contrast")
    'cm_contrast_3D_avg'
    """
    return PYRADIOMICS_TO_IBSI.get(_strip(name))


def ibsi_to_pyradiomics(tag: str) -> str | None:
    """PyRadiomics ``class_Feature`` name of an IBSI tag, or ``None`` if it has none.

    Examples
    --------
    >>> ibsi_to_pyradiomics("stat_mean")
    'firstorder_Mean'
    """
    return IBSI_TO_PYRADIOMICS.get(tag)
