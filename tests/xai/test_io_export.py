from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from oncoatlas.xai.data import patch_array, sample_patch  # noqa: E402
from oncoatlas.xai.io import (  # noqa: E402
    ModelLoadError,
    load_bundle,
    load_model,
    load_torchscript,
    save_bundle,
    save_torchscript,
)
from oncoatlas.xai.model_card import ModelCard, manifest_sha256  # noqa: E402
from oncoatlas.xai.models import nodule_net_3d, window  # noqa: E402
from oncoatlas.xai.saliency import explain  # noqa: E402

from .conftest import write_ct_series  # noqa: E402

pytestmark = pytest.mark.torch


def _model():
    torch.manual_seed(0)
    return nodule_net_3d(channels=(4, 8, 8, 8)).eval()


def test_torchscript_round_trip(tmp_path):
    model = _model()
    x = torch.rand(2, 1, 16, 16, 16)
    path = save_torchscript(model, tmp_path / "m.ts", x[:1], meta={"task": "demo"})
    loaded, meta = load_torchscript(path)
    assert meta["task"] == "demo"
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    # and through the generic loader, on another input size (the net is size-agnostic)
    net, _ = load_model(path)
    assert net(torch.rand(1, 1, 24, 24, 24)).shape == (1, 2)


def test_torchscript_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_torchscript(tmp_path / "missing.ts")
    bad = tmp_path / "bad.ts"
    bad.write_text("not a model")
    with pytest.raises(ModelLoadError, match="is not a TorchScript model"):
        load_torchscript(bad)


def test_bundle_torchscript_and_state_dict(tmp_path):
    model = _model()
    x = torch.rand(1, 1, 16, 16, 16)
    folder = save_bundle(model, tmp_path / "bundle", x, {"name": "demo"})
    net, meta = load_bundle(folder)
    assert meta["name"] == "demo"
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x))
    assert isinstance(net, torch.jit.ScriptModule)
    # a state dict and a network_def give an eager module (what Grad-CAM hooks need)
    torch.save(model.state_dict(), folder / "models" / "model.pt")
    (folder / "configs" / "inference.json").write_text(json.dumps({"network_def": {
        "_target_": "oncoatlas.xai.models.LesionNet", "spatial_dims": 3, "channels": [4, 8, 8, 8]}}))
    eager, _ = load_bundle(folder)
    assert not isinstance(eager, torch.jit.ScriptModule)
    assert isinstance(load_bundle(folder, prefer_eager=False)[0], torch.jit.ScriptModule)
    (folder / "models" / "model.ts").unlink()
    eager, _ = load_bundle(folder)
    with torch.no_grad():
        torch.testing.assert_close(eager(x), model(x))
    (folder / "configs" / "metadata.json").unlink()
    with pytest.raises(ModelLoadError, match="is not a MONAI bundle"):
        load_bundle(folder)


def test_model_card(tmp_path):
    table = pd.DataFrame({"lesion_id": ["b", "a"], "series_uid": ["2", "1"], "label": [1, 0]})
    assert manifest_sha256(table) == manifest_sha256(table.iloc[::-1])
    card = ModelCard(name="demo", task="t", architecture="a", training_manifest_sha256=manifest_sha256(table),
                     ground_truth_sha256=None, n_train=2, n_test=1,
                     metrics={"auc": {"value": 0.9, "ci_low": 0.8, "ci_high": 1.0}}, hyperparameters={"epochs": 1})
    j, md = card.write(tmp_path)
    assert json.loads(j.read_text())["metrics"]["auc"]["value"] == 0.9
    assert "| auc | 0.900 | 0.800 – 1.000 |" in md.read_text()


def test_sample_patch_on_identity_grid():
    vol = np.arange(20 * 20 * 20, dtype=np.float32).reshape(20, 20, 20)
    patch, aff = sample_patch(vol, np.eye(4), np.array([10.0, 9.0, 8.0]), 1.0, 5)
    # voxel (z, y, x) = (8, 9, 10) is the centre
    assert patch[2, 2, 2] == vol[8, 9, 10]
    assert patch[0, 0, 0] == vol[6, 7, 8]
    np.testing.assert_allclose(aff[:3, 3], [8.0, 7.0, 6.0])


def test_parametric_map_and_nifti_geometry(tmp_path):
    import highdicom as hd
    import nibabel as nib
    import pydicom

    from oncoatlas.imaging import open_volume
    from oncoatlas.xai.export import resample_to_grid, saliency_to_nifti, saliency_to_parametric_map

    files = write_ct_series(tmp_path / "ct")
    vol = open_volume(tmp_path / "ct", lazy=False, workers=1)
    centre = (vol.attrs["affine"] @ np.array([12, 10, 3, 1.0]))[:3]
    img, aff = sample_patch(np.asarray(vol.values), np.asarray(vol.attrs["affine"]), centre, 0.6, 12)
    sal = explain(_model(), patch_array(img, aff), "gradcam", transform=window)
    out = saliency_to_parametric_map(sal, files, tmp_path / "pm.dcm")

    ds = pydicom.dcmread(out)
    pm = hd.pm.ParametricMap.from_dataset(ds)
    src = [pydicom.dcmread(f) for f in files]
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
    assert ds.FrameOfReferenceUID == src[0].FrameOfReferenceUID
    assert (ds.Rows, ds.Columns, int(ds.NumberOfFrames)) == (src[0].Rows, src[0].Columns, len(src))
    shared = ds.SharedFunctionalGroupsSequence[0]
    np.testing.assert_allclose([float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing],
                               [float(v) for v in src[0].PixelSpacing])
    np.testing.assert_allclose([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
                               [float(v) for v in src[0].ImageOrientationPatient])
    positions = [[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
                 for f in ds.PerFrameFunctionalGroupsSequence]
    src_positions = sorted([[float(v) for v in s.ImagePositionPatient] for s in src], key=lambda p: p[2])
    np.testing.assert_allclose(sorted(positions, key=lambda p: p[2]), src_positions)
    # the referenced series is the source series
    ref_series = ds.ReferencedSeriesSequence[0].SeriesInstanceUID
    assert ref_series == src[0].SeriesInstanceUID
    # every frame holds the map resampled onto the source slice at its position
    expected = resample_to_grid(sal, np.asarray(vol.attrs["affine"]), vol.shape)
    zs = vol["z"].values
    frames = pm.pixel_array
    for i, p in enumerate(positions):
        k = int(np.argmin(np.abs(zs - p[2])))
        np.testing.assert_allclose(frames[i], expected[k], atol=1e-6)
    assert frames.max() > 0

    nii = saliency_to_nifti(sal, tmp_path / "sal.nii.gz")
    img_n = nib.load(nii)
    assert img_n.shape == (12, 12, 12)
    # LPS -> RAS: the x and y axes flip sign
    np.testing.assert_allclose(img_n.affine[:3, 3], [-aff[0, 3], -aff[1, 3], aff[2, 3]], atol=1e-4)
