from __future__ import annotations

from pathlib import Path

import pytest

from oncoatlas.radiomics import Settings, SettingsError, load_settings, presets
from oncoatlas.radiomics.settings import Discretisation, Interpolation


def test_presets_shipped() -> None:
    names = presets()
    for n in ["ibsi-phantom", "pyradiomics-default"] + [f"ibsi-config-{c}" for c in "abcde"]:
        assert n in names
        s = load_settings(n)
        assert s.name == n


@pytest.mark.parametrize(
    ("preset", "aggs", "spacing", "interp", "disc", "reseg", "outlier"),
    [
        ("ibsi-config-a", ("2D", "2.5D"), None, "linear", "fbs", (-500.0, 400.0), None),
        ("ibsi-config-b", ("2D", "2.5D"), (None, 2.0, 2.0), "linear", "fbn", (-500.0, 400.0), None),
        ("ibsi-config-c", ("3D",), (2.0, 2.0, 2.0), "linear", "fbs", (-1000.0, 400.0), None),
        ("ibsi-config-d", ("3D",), (2.0, 2.0, 2.0), "linear", "fbn", None, 3.0),
        ("ibsi-config-e", ("3D",), (2.0, 2.0, 2.0), "cubic", "fbn", (-1000.0, 400.0), 3.0),
    ],
)
def test_ibsi_configurations(
    preset: str,
    aggs: tuple[str, ...],
    spacing: tuple[float | None, ...] | None,
    interp: str,
    disc: str,
    reseg: tuple[float, float] | None,
    outlier: float | None,
) -> None:
    s = load_settings(preset)
    assert s.aggregations == aggs
    assert s.resample_spacing == spacing
    assert s.interpolation is Interpolation(interp)
    assert s.discretisation is Discretisation(disc)
    assert s.resegment_range == reseg
    assert s.outlier_sigma == outlier
    if disc == "fbn":
        assert s.bin_number == 32
    else:
        assert s.bin_width == 25
    ivh = {"a": "none", "b": "none", "c": "fbs", "d": "none", "e": "fbn"}[preset[-1]]
    assert s.ivh_discretisation is Discretisation(ivh)
    if spacing is not None:
        assert s.round_intensities
        assert s.mask_threshold == 0.5


def test_hash_is_stable_and_ignores_name() -> None:
    a = Settings(name="a", bin_number=16)
    b = Settings(name="b", bin_number=16)
    c = Settings(name="a", bin_number=17)
    assert a.hash() == b.hash()
    assert a.hash() != c.hash()
    assert len(a.hash()) == 16


def test_yaml_round_trip(tmp_path: Path) -> None:
    s = load_settings("ibsi-config-e")
    p = tmp_path / "e.yaml"
    p.write_text(s.to_yaml())
    back = load_settings(p)
    assert back.hash() == s.hash()


def test_unknown_key_names_it(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("bin_numbr: 32\n")
    with pytest.raises(SettingsError, match=r"unknown settings keys \['bin_numbr'\]"):
        load_settings(p)


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(
        SettingsError, match=r"neither a YAML file nor a preset; presets: .*ibsi-phantom"
    ):
        load_settings("ibsi-config-z")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"interpolation": "spline"}, "interpolation is one of nearest|linear|cubic"),
        ({"families": ["glcm", "wavelets"]}, r"unknown feature families \['wavelets'\]"),
        ({"aggregations": ["4D"]}, r"unknown aggregations \['4D'\]"),
        ({"resample_spacing": [1, 0, 1]}, "must be 3 positive values"),
        ({"resegment_range": [400, -1000]}, "low <= high"),
        ({"bin_number": 0}, "bin_number 0 must be >= 1"),
    ],
)
def test_bad_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        Settings.from_dict(kwargs)
