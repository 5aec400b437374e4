"""Radiomics settings: the IBSI image processing chain and feature selection, from YAML.

A :class:`Settings` is frozen; :meth:`Settings.hash` identifies it in every result. Presets
ship with the package (``presets/*.yaml``): ``ibsi-phantom``, ``ibsi-config-a`` …
``ibsi-config-e`` (IBSI 1 chapter 5 configurations for the CT phantom) and
``pyradiomics-default``.

References
----------
IBSI reference manual, chapter 2 (image processing) and chapter 5 (configurations A-E).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from enum import Enum, StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from oncoatlas.errors import OncoatlasError

__all__ = [
    "ALL_FAMILIES",
    "Discretisation",
    "Interpolation",
    "Settings",
    "SettingsError",
    "load_settings",
    "presets",
]


class SettingsError(OncoatlasError, ValueError):
    """Radiomics settings that are unknown, of the wrong type or inconsistent."""


class Interpolation(StrEnum):
    """Interpolation of the image (and mask) when resampling."""

    NEAREST = "nearest"
    LINEAR = "linear"
    CUBIC = "cubic"


class Discretisation(StrEnum):
    """Grey-level discretisation: none (already discrete), fixed bin number, fixed bin size."""

    NONE = "none"
    FBN = "fbn"
    FBS = "fbs"


#: Feature families, by IBSI tag prefix name.
ALL_FAMILIES: tuple[str, ...] = (
    "morphology", "local_intensity", "statistics", "histogram", "ivh",
    "glcm", "glrlm", "glszm", "gldzm", "ngtdm", "ngldm",
)  # fmt: skip
_AGGS = ("2D", "2.5D", "3D")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The IBSI processing chain and what to compute.

    Parameters
    ----------
    name
        Label (not part of the hash).
    families
        Feature families to compute (see :data:`ALL_FAMILIES`).
    aggregations
        Texture aggregations: subset of ``("2D", "2.5D", "3D")``.
    resample_spacing
        New voxel spacing ``(z, y, x)`` in mm, ``None`` entries keep that axis (2D
        in-plane resampling: ``[null, 2, 2]``); ``None`` for no resampling.
    interpolation, mask_interpolation
        ``nearest``, ``linear`` or ``cubic``.
    mask_threshold
        Partial-volume threshold of the interpolated mask (IBSI: 0.5).
    round_intensities
        Round interpolated intensities to integers (CT, IBSI 2.4).
    resegment_range
        ``(low, high)`` re-segmentation range, either bound may be ``None``.
    outlier_sigma
        Outlier filtering: keep voxels within mean ± ``outlier_sigma`` SD (IBSI 2.5).
    discretisation, bin_number, bin_width
        Texture and intensity-histogram discretisation.
    ivh_discretisation, ivh_bin_number, ivh_bin_width
        Discretisation of the intensity-volume histogram.
    glcm_distance, ngldm_alpha, ngldm_distance
        Texture parameters (IBSI defaults 1, 0, 1).
    moran_max_voxels
        Above this ROI size, Moran's I / Geary's C use a seeded subset of voxels; 0 leaves
        them out.
    """

    name: str = "custom"
    families: tuple[str, ...] = ALL_FAMILIES
    aggregations: tuple[str, ...] = _AGGS
    resample_spacing: tuple[float | None, float | None, float | None] | None = None
    interpolation: Interpolation = Interpolation.LINEAR
    mask_interpolation: Interpolation = Interpolation.LINEAR
    mask_threshold: float = 0.5
    round_intensities: bool = False
    resegment_range: tuple[float | None, float | None] | None = None
    outlier_sigma: float | None = None
    discretisation: Discretisation = Discretisation.FBN
    bin_number: int = 32
    bin_width: float = 25.0
    ivh_discretisation: Discretisation = Discretisation.NONE
    ivh_bin_number: int = 1000
    ivh_bin_width: float = 2.5
    glcm_distance: int = 1
    ngldm_alpha: int = 0
    ngldm_distance: int = 1
    moran_max_voxels: int = 4000

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        try:
            set_(self, "interpolation", Interpolation(self.interpolation))
            set_(self, "mask_interpolation", Interpolation(self.mask_interpolation))
            set_(self, "discretisation", Discretisation(self.discretisation))
            set_(self, "ivh_discretisation", Discretisation(self.ivh_discretisation))
        except ValueError as exc:
            raise SettingsError(
                f"{exc}; interpolation is one of nearest|linear|cubic and discretisation one "
                "of none|fbn|fbs"
            ) from None
        set_(self, "families", tuple(self.families))
        set_(self, "aggregations", tuple(self.aggregations))
        unknown = sorted(set(self.families) - set(ALL_FAMILIES))
        if unknown:
            raise SettingsError(
                f"unknown feature families {unknown}; choose from {list(ALL_FAMILIES)}"
            )
        bad = sorted(set(self.aggregations) - set(_AGGS))
        if bad:
            raise SettingsError(f"unknown aggregations {bad}; choose from {list(_AGGS)}")
        if self.resample_spacing is not None:
            sp = tuple(None if v is None else float(v) for v in self.resample_spacing)
            if len(sp) != 3 or any(v is not None and v <= 0 for v in sp):
                raise SettingsError(
                    f"resample_spacing {list(self.resample_spacing)} must be 3 positive values "
                    "(z, y, x) in mm, or null entries to keep an axis"
                )
            set_(self, "resample_spacing", sp)
        if self.resegment_range is not None:
            rr = tuple(None if v is None else float(v) for v in self.resegment_range)
            if len(rr) != 2 or (rr[0] is not None and rr[1] is not None and rr[0] > rr[1]):
                raise SettingsError(
                    f"resegment_range {list(self.resegment_range)} must be [low, high] with low <= high"
                )
            set_(self, "resegment_range", rr)
        if self.moran_max_voxels < 0:
            raise SettingsError(
                f"moran_max_voxels {self.moran_max_voxels} must be >= 0 (0: not computed)"
            )
        if self.bin_number < 1 or self.bin_width <= 0:
            raise SettingsError(
                f"bin_number {self.bin_number} must be >= 1 and bin_width {self.bin_width} > 0"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (enums as strings, tuples as lists), as written in YAML."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Enum):
                v = v.value
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    def hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the canonical JSON of every setting but ``name``."""
        d = self.to_dict()
        d.pop("name")
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Build from a mapping; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SettingsError(f"unknown settings keys {unknown}; known keys: {sorted(names)}")
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise SettingsError(f"bad settings: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Settings:
        """Read a YAML settings file."""
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SettingsError(f"settings file {p} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError(
                f"settings file {p} must hold a mapping of settings, got {type(data).__name__}"
            )
        data.setdefault("name", p.stem)
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        """YAML text of these settings."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def presets() -> list[str]:
    """Names of the settings presets shipped with the package."""
    folder = resources.files("oncoatlas.radiomics").joinpath("presets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_settings(spec: Settings | str | os.PathLike[str] | Mapping[str, Any] | None) -> Settings:
    """Settings from an object, a preset name, a YAML path or a mapping (``None``: phantom).

    Raises
    ------
    SettingsError
        For an unknown preset or file, with the list of presets.
    """
    if spec is None:
        spec = "ibsi-phantom"
    if isinstance(spec, Settings):
        return spec
    if isinstance(spec, Mapping):
        return Settings.from_dict(spec)
    text = os.fspath(spec)
    if text in presets():
        res = resources.files("oncoatlas.radiomics").joinpath("presets", f"{text}.yaml")
        data = yaml.safe_load(res.read_text(encoding="utf-8"))
        data.setdefault("name", text)
        return Settings.from_dict(data)
    path = Path(text)
    if path.is_file():
        return Settings.from_yaml(path)
    raise SettingsError(
        f"settings {text!r} is neither a YAML file nor a preset; presets: {', '.join(presets())}"
    )
