"""IBSI radiomics: features by IBSI tag, the IBSI processing chain, presets, feature maps.

The face of the package::

    from oncoatlas.radiomics import extract, feature_map, load_settings
    feats = extract("ct.nii.gz", "gtv.nii.gz", settings="ibsi-config-c")   # {tag: value}
    feats["cm_joint_max_3D_avg"]
    fmap = feature_map(ct, gtv, "cm_contrast")        # xarray, aligned with the image

* :func:`extract` -- one ROI: numpy arrays (with ``spacing``), ``xarray.DataArray`` volumes
  from :mod:`oncoatlas.imaging`, or paths (NIfTI, DICOM series, SEG, RTSTRUCT ``PATH:ROI``).
* :class:`Settings` / :func:`load_settings` / :func:`presets` -- the processing chain and
  feature selection from YAML or a shipped preset (``ibsi-phantom``, ``ibsi-config-a`` …
  ``ibsi-config-e``, ``pyradiomics-default``); ``Settings.hash()`` identifies a result.
* :func:`feature_map` -- sliding-window GLCM feature maps.
* :func:`pyradiomics_to_ibsi` / :func:`ibsi_to_pyradiomics` -- feature-name mapping.
* :func:`extract_cohort` -- every segmented ROI of a cohort (manifest, Cohort or series
  table) on ``dask.distributed``, cached per case, failures recorded;
  :func:`join_ground_truth` adds the demo's lesion labels.
* :func:`harmonisation_check` -- Kruskal-Wallis per feature across nodes/scanners vs label.
* :func:`fit_model` / :func:`explain` -- scikit-learn pipelines cross-validated by patient
  and stratified by node, SHAP rankings, beeswarm/bar/waterfall figures.

Families (modules): ``morphology``, ``local_intensity``, ``statistics``, ``histogram``,
``ivh``, ``glcm``, ``glrlm``, ``glszm``, ``gldzm``, ``ngtdm``, ``ngldm``; texture in the
IBSI aggregations ``_2D_avg``, ``_2D_comb``, ``_2_5D_avg``, ``_2_5D_comb``, ``_3D_avg``,
``_3D_comb`` (GLCM, GLRLM) and ``_2D``, ``_2_5D``, ``_3D`` (the others). Every feature of the
IBSI digital phantom's reference table is reproduced within tolerance
(``tests/radiomics/test_ibsi_phantom.py``).

References
----------
Zwanenburg A, Vallières M, et al. The Image Biomarker Standardization Initiative.
Radiology 2020;295:328-338.
"""

from __future__ import annotations

import logging

from oncoatlas.radiomics.cohort import (
    CohortExtractionError,
    extract_cohort,
    feature_columns,
    join_ground_truth,
)
from oncoatlas.radiomics.explain import Explanation, explain
from oncoatlas.radiomics.extract import extract
from oncoatlas.radiomics.featuremaps import feature_map
from oncoatlas.radiomics.harmonisation import harmonisation_check
from oncoatlas.radiomics.models import ModelError, RadiomicsModel, fit_model
from oncoatlas.radiomics.names import ibsi_to_pyradiomics, pyradiomics_to_ibsi
from oncoatlas.radiomics.settings import Settings, SettingsError, load_settings, presets

__all__ = [
    "CohortExtractionError",
    "Explanation",
    "ModelError",
    "RadiomicsModel",
    "Settings",
    "SettingsError",
    "explain",
    "extract",
    "extract_cohort",
    "feature_columns",
    "feature_map",
    "fit_model",
    "harmonisation_check",
    "ibsi_to_pyradiomics",
    "join_ground_truth",
    "load_settings",
    "presets",
    "pyradiomics_to_ibsi",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
