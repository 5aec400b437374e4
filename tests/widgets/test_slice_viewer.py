"""SliceViewer driven from Python: params update the elements and the Bokeh models, taps
link the planes, presets set the window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr

from oncoatlas.imaging import WindowPreset, make_volume, window_bounds

NZ, NY, NX = 12, 20, 24
SPACING = (0.8, 0.9, 2.5)  # x, y, z mm
ORIGIN = (-10.0, 5.0, 30.0)


def _affine() -> np.ndarray:
    aff = np.diag([*SPACING, 1.0])
    aff[:3, 3] = ORIGIN
    return aff


@pytest.fixture(scope="module")
def volume() -> xr.DataArray:
    z, y, x = np.mgrid[0:NZ, 0:NY, 0:NX]
    # every voxel differs along each axis, so any slice change changes the pixels
    data = (-1000 + 40 * x + 25 * y + 60 * z).astype(np.float32)
    return make_volume(data, _affine(), name="ct", attrs={"units": "HU", "modality": "CT"})


@pytest.fixture(scope="module")
def mask() -> xr.DataArray:
    lab = np.zeros((NZ, NY, NX), dtype=np.uint8)
    lab[4:8, 6:12, 8:16] = 1
    lab[9:11, 2:4, 2:4] = 2
    return make_volume(lab, _affine(), name="seg", attrs={"labels": {1: "tumour", 2: "node"}})


@pytest.fixture(scope="module")
def heat() -> xr.DataArray:
    z, y, x = np.mgrid[0:NZ, 0:NY, 0:NX]
    data = np.exp(-((x - 12) ** 2 + (y - 10) ** 2 + (z - 6) ** 2) / 20.0).astype(np.float32)
    return make_volume(data, _affine(), name="saliency")


@pytest.fixture
def viewer(volume: xr.DataArray, mask: xr.DataArray, heat: xr.DataArray) -> Any:
    from oncoatlas.widgets import SliceViewer

    return SliceViewer(volume, labels=mask, heatmap=heat, preset="lung")


def test_planes_have_physical_bounds_and_shapes(viewer: Any, volume: xr.DataArray) -> None:
    sx, sy, sz = SPACING
    ax = viewer.image("axial")
    assert ax.data.shape == (NY, NX)
    left, b, r, t = ax.bounds.lbrt()
    assert left == pytest.approx(ORIGIN[0] - sx / 2) and r == pytest.approx(ORIGIN[0] + (NX - 0.5) * sx)
    assert b == pytest.approx(ORIGIN[1] - sy / 2) and t == pytest.approx(ORIGIN[1] + (NY - 0.5) * sy)
    cor = viewer.image("coronal")
    assert cor.data.shape == (NZ, NX)
    assert cor.bounds.lbrt()[1] == pytest.approx(ORIGIN[2] - sz / 2)
    sag = viewer.image("sagittal")
    assert sag.data.shape == (NZ, NY)
    assert [d.name for d in sag.kdims] == ["y", "z"]


def test_axial_pixels_are_the_windowed_slice(viewer: Any, volume: xr.DataArray) -> None:
    viewer.z_index = 3
    lo, hi = viewer.clim
    expected = np.clip((volume.values[3] - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(viewer.grey("axial"), expected)
    # hv.Image rows run top (largest y) to bottom
    np.testing.assert_array_equal(viewer.image("axial").data, expected[::-1])


def test_slice_params_change_the_elements(viewer: Any) -> None:
    before = {p: viewer.grey(p).copy() for p in ("axial", "coronal", "sagittal")}
    viewer.param.update(z_index=viewer.z_index + 1, y_index=viewer.y_index - 1, x_index=viewer.x_index + 2)
    for plane, old in before.items():
        assert not np.array_equal(viewer.grey(plane), old), plane


def test_presets_set_the_window(viewer: Any) -> None:
    for preset in ("lung", "bone", "brain", "mediastinum", "soft_tissue"):
        viewer.preset = preset
        assert viewer.clim == pytest.approx(window_bounds(WindowPreset(preset)))
    viewer.preset = "mammography"  # data-driven: percentiles of the volume
    lo, hi = viewer.clim
    assert viewer.volume.values.min() <= lo < hi <= viewer.volume.values.max()


def test_manual_window_switches_to_custom(viewer: Any) -> None:
    viewer.preset = "lung"
    viewer.window_center = 0.0
    assert viewer.preset == "custom"
    viewer.window_width = 100.0
    assert viewer.clim == (-50.0, 50.0)
    viewer.preset = "bone"
    assert viewer.clim == pytest.approx(window_bounds("bone"))


def test_tap_on_one_plane_moves_the_others(viewer: Any) -> None:
    sx, sy, sz = SPACING
    viewer.__panel__()
    x_mm, y_mm = ORIGIN[0] + 5 * sx, ORIGIN[1] + 7 * sy
    viewer.tap("axial", x_mm, y_mm)
    assert (viewer.x_index, viewer.y_index) == (5, 7)
    # the crosshair lines on the coronal and sagittal planes follow
    models = viewer._models
    assert models["coronal"]["vline"].location == pytest.approx(x_mm)
    assert models["sagittal"]["vline"].location == pytest.approx(y_mm)
    viewer.tap("sagittal", y_mm, ORIGIN[2] + 2 * sz)
    assert viewer.z_index == 2
    assert models["axial"]["vline"].location == pytest.approx(x_mm)
    assert models["coronal"]["hline"].location == pytest.approx(ORIGIN[2] + 2 * sz)
    # the crosshair elements agree
    vline, hline = viewer.crosshair("coronal")
    assert (vline.data, hline.data) == pytest.approx((x_mm, ORIGIN[2] + 2 * sz))


def test_bokeh_sources_follow_slice_and_window(viewer: Any, volume: xr.DataArray) -> None:
    viewer.__panel__()
    src = viewer._models["axial"]["image"]
    viewer.z_index = 1
    np.testing.assert_array_equal(src.data["image"][0], viewer.grey("axial", 1))
    viewer.z_index = 9
    np.testing.assert_array_equal(src.data["image"][0], viewer.grey("axial", 9))
    cor = viewer._models["coronal"]["image"]
    viewer.preset = "bone"
    np.testing.assert_array_equal(cor.data["image"][0], viewer.grey("coronal"))


def test_label_overlay_colours_toggle_and_opacity(viewer: Any) -> None:
    viewer.param.update(z_index=5, show_heatmap=False, label_opacity=0.5)
    rgba = viewer.rgba("axial")
    assert rgba is not None
    inside = rgba[6:12, 8:16]
    assert (inside[..., :3] == (255, 127, 14)).all()  # label 1's palette colour
    assert (inside[..., 3] == 127).all()
    assert (rgba[0:5, 0:5, 3] == 0).all()
    viewer.label_opacity = 1.0
    assert (viewer.rgba("axial")[6:12, 8:16, 3] == 255).all()
    viewer.show_labels = False
    assert viewer.rgba("axial") is None
    legend = viewer.legend().object
    assert "tumour" in legend and "node" in legend


def test_heatmap_threshold_and_opacity(viewer: Any, heat: xr.DataArray) -> None:
    viewer.param.update(z_index=6, show_labels=False, show_heatmap=True, heatmap_opacity=0.4)
    viewer.heatmap_threshold = 0.5
    rgba = viewer.rgba("axial")
    assert rgba is not None
    shown = rgba[..., 3] > 0
    np.testing.assert_array_equal(shown, heat.values[6] >= 0.5)
    assert set(np.unique(rgba[shown, 3])) == {round(255 * 0.4)}
    viewer.heatmap_threshold = 0.9
    assert np.count_nonzero(viewer.rgba("axial")[..., 3]) < np.count_nonzero(shown)


def test_overlay_on_another_grid_is_resampled(volume: xr.DataArray) -> None:
    from oncoatlas.widgets import SliceViewer

    coarse = np.diag([SPACING[0] * 2, SPACING[1] * 2, SPACING[2], 1.0])
    coarse[:3, 3] = ORIGIN
    lab = np.zeros((NZ, NY // 2, NX // 2), dtype=np.uint8)
    lab[:, 2:5, 2:5] = 1
    viewer = SliceViewer(volume, labels=make_volume(lab, coarse, attrs={"labels": {1: "x"}}))
    assert viewer.labels is not None
    assert viewer._labels.shape == volume.shape
    assert viewer._labels.sum() > 0


def test_large_planes_are_strided_for_display() -> None:
    from oncoatlas.widgets import SliceViewer

    vol = make_volume(np.zeros((4, 300, 200), dtype=np.float32), np.eye(4), attrs={"units": "HU"})
    viewer = SliceViewer(vol, max_display=100)
    assert viewer.grey("axial").shape == (100, 67)
    assert viewer.image("axial").bounds.lbrt() == pytest.approx((-0.5, -0.5, 199.5, 299.5))


def test_single_slice_image_shows_one_plane() -> None:
    from oncoatlas.widgets import SliceViewer

    img = make_volume(np.arange(30 * 40, dtype=np.float32).reshape(1, 30, 40), np.eye(4))
    viewer = SliceViewer(img)
    assert viewer.is_2d and viewer.preset == "mammography"
    viewer.__panel__()
    assert set(viewer._models) == {"axial"}


def test_3d_pane_is_a_vtk_volume(viewer: Any) -> None:
    import panel as pn

    pane = viewer._three_d(True)
    assert isinstance(pane, pn.pane.VTKVolume)


def test_bad_input_is_refused() -> None:
    from oncoatlas.widgets import SliceViewer

    with pytest.raises(ValueError, match=r"\(z, y, x\) volume"):
        SliceViewer(np.zeros((3, 3, 3)))  # type: ignore[arg-type]
