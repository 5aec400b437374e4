"""IBSI radiomics: features by IBSI tag, the IBSI processing chain, presets, feature maps.

The face of the package::

    from oncoatlas.radiomics import extract, load_settings
    feats = extract("ct.nii.gz", "gtv.nii.gz", settings="ibsi-config-c")   # {tag: value}
    feats["cm_joint_max_3D_avg"]

References
----------
Zwanenburg A, Vallières M, et al. The Image Biomarker Standardization Initiative.
Radiology 2020;295:328-338.
"""

from __future__ import annotations

import logging

from oncoatlas.radiomics.extract import extract
from oncoatlas.radiomics.featuremaps import feature_map
from oncoatlas.radiomics.names import ibsi_to_pyradiomics, pyradiomics_to_ibsi
from oncoatlas.radiomics.settings import Settings, SettingsError, load_settings, presets

__all__ = [
    "Settings",
    "SettingsError",
    "extract",
    "feature_map",
    "ibsi_to_pyradiomics",
    "load_settings",
    "presets",
    "pyradiomics_to_ibsi",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
