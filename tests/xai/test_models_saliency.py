from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from oncoatlas.xai.models import LesionNet, mass_net_2d, nodule_net_3d, window  # noqa: E402
from oncoatlas.xai.saliency import SaliencyMethod, explain, saliency_maps  # noqa: E402

pytestmark = pytest.mark.torch


def test_networks_shapes():
    assert nodule_net_3d()(torch.zeros(2, 1, 16, 16, 16)).shape == (2, 2)
    assert mass_net_2d()(torch.zeros(3, 1, 32, 32)).shape == (3, 2)
    assert nodule_net_3d().layer_names_top_down()[0] == "head"


def test_network_rejects_bad_dims():
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3, got 4"):
        LesionNet(spatial_dims=4)


def test_window_scales_to_unit_range():
    out = window(np.array([-2000.0, -600.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("method", [m.value for m in SaliencyMethod])
@pytest.mark.parametrize("dims", [2, 3])
def test_every_method_gives_unit_maps(method, dims):
    torch.manual_seed(0)
    model = LesionNet(spatial_dims=dims, channels=(4, 8, 8, 8))
    x = torch.rand((2, 1) + (12,) * dims)
    maps = saliency_maps(model, x, method, ig_steps=4, smoothgrad_samples=3, occlusion_mask=6)
    assert maps.shape == (2,) + (12,) * dims
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert maps.max() == pytest.approx(1.0)


def test_explain_keeps_coords_and_attrs():
    model = nodule_net_3d()
    da = xr.DataArray(
        np.full((8, 8, 8), -700.0, dtype=np.float32) + np.arange(8, dtype=np.float32)[:, None, None] * 50,
        dims=("z", "y", "x"),
        coords={"z": np.arange(8) * 2.0, "y": np.arange(8) * 0.5, "x": np.arange(8) * 0.5 + 10},
        attrs={"affine": np.diag([0.5, 0.5, 2.0, 1.0]), "frame_of_reference_uid": "1.2.3"},
    )
    sal = explain(model, da, "gradcam", transform=window)
    assert sal.dims == da.dims
    for d in da.dims:
        np.testing.assert_array_equal(sal[d].values, da[d].values)
    assert sal.attrs["frame_of_reference_uid"] == "1.2.3"
    assert sal.attrs["saliency_method"] == "gradcam"
    np.testing.assert_array_equal(sal.attrs["affine"], da.attrs["affine"])


def test_explain_rejects_batches():
    with pytest.raises(ValueError, match=r"one 2D or 3D image without channel axis, got shape \(1, 1, 8, 8\)"):
        explain(mass_net_2d(), np.zeros((1, 1, 8, 8), dtype=np.float32), "gradcam")


def test_gradcam_needs_a_layer_for_foreign_models():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    with pytest.raises(ValueError, match="Grad-CAM needs a target layer"):
        saliency_maps(model, torch.zeros(1, 1, 8, 8), "gradcam")
    maps = saliency_maps(model, torch.rand(1, 1, 8, 8, requires_grad=True), "gradcam", layer="0")
    assert maps.shape == (1, 8, 8)
