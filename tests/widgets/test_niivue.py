"""The notebook viewer: NiiVue widget state from Python, and the widget rendered in a real
JupyterLab in headless Chromium (pixels checked, nothing leaves 127.0.0.1)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from oncoatlas.imaging import make_volume, read_nifti, window_bounds
from tests.browser import free_port, open_page, requires_chromium, wait_http

SYNTH = """
import numpy as np
from oncoatlas.imaging import make_volume
aff = np.diag([1.5, 1.5, 3.0, 1.0]); aff[:3, 3] = [-50, -40, 10]
z, y, x = np.mgrid[0:24, 0:48, 0:64]
body = np.hypot((x - 32) / 30, (y - 24) / 22) < 1
data = np.where(body, 40.0, -1000.0).astype(np.float32) + 8.0 * x
vol = make_volume(data, aff, name="ct", attrs={"units": "HU", "modality": "CT"})
lab = (np.hypot(np.hypot(x - 30, y - 22), (z - 12) * 2) < 9).astype(np.uint8)
mask = make_volume(lab, aff, name="seg", attrs={"labels": {1: "tumour"}})
heat = make_volume(np.exp(-((x - 40) ** 2 + (y - 30) ** 2) / 60.0).astype(np.float32), aff, name="saliency")
"""


@pytest.fixture(scope="module")
def synth() -> dict[str, Any]:
    ns: dict[str, Any] = {}
    exec(SYNTH, ns)
    return ns


def test_view_loads_image_and_overlays(synth: dict[str, Any], tmp_path: Path) -> None:
    from oncoatlas.widgets import view

    v = view(synth["vol"], {"tumour": synth["mask"], "saliency": synth["heat"]}, preset="lung")
    assert len(v.nv.volumes) == 3
    image = v.nv.volumes[0]
    assert (image.cal_min, image.cal_max) == pytest.approx(window_bounds("lung"))
    # the bytes sent to the browser are a NIfTI of the volume with its affine
    nii = tmp_path / "image.nii"
    nii.write_bytes(image.data)
    back = read_nifti(nii)
    np.testing.assert_allclose(back.attrs["affine"], synth["vol"].attrs["affine"], atol=1e-4)
    np.testing.assert_allclose(back.values, np.round(synth["vol"].values), atol=0.5)
    # label overlay: its LUT colours label 1 and names it
    lut = v.nv.volumes[1].colormap_label
    assert lut.labels[1] == "tumour"
    assert lut.lut[4:7] == [255, 127, 14] and lut.lut[3] == 0
    assert "tumour" in v.legend.value
    # heat map: threshold defaults to half the range, transparent below
    heat = v.nv.volumes[2]
    assert heat.cal_min == pytest.approx(0.5 * float(synth["heat"].max()), rel=1e-3)


def test_view_controls_change_the_widget(synth: dict[str, Any]) -> None:
    from oncoatlas.widgets import view

    v = view(synth["vol"], [synth["mask"], synth["heat"]])
    assert (v.nv.volumes[0].cal_min, v.nv.volumes[0].cal_max) == pytest.approx(window_bounds("soft_tissue"))
    assert v.set_preset("bone") == pytest.approx(window_bounds("bone"))
    assert v.nv.volumes[0].cal_max == pytest.approx(window_bounds("bone")[1])
    v.set_window(0.0, 200.0)
    assert (v.nv.volumes[0].cal_min, v.nv.volumes[0].cal_max) == (-100.0, 100.0)
    v.set_threshold("saliency", 0.25)
    assert v.nv.volumes[2].cal_min == 0.25
    v.set_opacity("saliency", 0.3)
    assert v.nv.volumes[2].opacity == 0.3
    v.set_opacity("seg", 1.0)
    assert v.nv.volumes[1].colormap_label.lut[7] == 255
    with pytest.raises(ValueError, match="label map"):
        v.set_threshold("seg", 1.0)
    with pytest.raises(KeyError, match="no overlay named"):
        v.set_opacity("nothing", 0.5)


def test_overlays_on_another_grid_are_resampled(synth: dict[str, Any]) -> None:
    from oncoatlas.widgets.niivue import LabelLayer, overlay_layers

    vol = synth["vol"]
    coarse = np.asarray(vol.attrs["affine"]).copy()
    coarse[0, 0] *= 2
    lab = np.zeros((24, 48, 32), dtype=np.uint8)
    lab[10:14, 20:30, 10:20] = 3
    layers = overlay_layers(vol, make_volume(lab, coarse, name="m"))
    assert isinstance(layers[0], LabelLayer)
    assert layers[0].data.shape == vol.shape
    assert layers[0].labels == {3: "label 3"}


def test_non_mri_volume_gets_a_percentile_window() -> None:
    from oncoatlas.widgets.niivue import preset_bounds

    vol = make_volume(np.linspace(0, 1000, 8 * 8 * 8, dtype=np.float32).reshape(8, 8, 8), np.eye(4))
    lo, hi = preset_bounds(vol)
    assert 0 < lo < hi <= 1000


def test_view_refuses_arrays_without_geometry() -> None:
    from oncoatlas.widgets import view

    with pytest.raises(ValueError, match="open_volume"):
        view(xr.DataArray(np.zeros((2, 2, 2)), dims=("z", "y", "x")))


def test_itk_adapter_is_opt_in_and_explains_itself(synth: dict[str, Any]) -> None:
    from oncoatlas.widgets import itk

    if itk.itkwidgets_available():
        viewer = itk.view_itk(synth["vol"], synth["mask"])
        assert viewer is not None
    else:
        with pytest.raises(ModuleNotFoundError, match=r"itkwidgets.*oncoatlas.widgets.view"):
            itk.view_itk(synth["vol"])
    spatial = itk._spatial(synth["vol"])
    assert spatial.dims == ("z", "y", "x")
    np.testing.assert_allclose(np.diff(spatial["x"].values), 1.5)


# -- JupyterLab in headless Chromium -------------------------------------------------------

NOTEBOOK_CELLS = [
    SYNTH,
    "from oncoatlas.widgets import view\n"
    "v = view(vol, {'tumour': mask, 'saliency': heat}, preset='lung', height=420)\n"
    "v",
]


def _notebook(cells: list[str]) -> dict[str, Any]:
    return {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c}
            for c in cells
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "lab"
    root.mkdir()
    (root / "view.ipynb").write_text(json.dumps(_notebook(NOTEBOOK_CELLS)))
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[2] / "src"),
                                                  os.environ.get("PYTHONPATH", "")] if p),
    }
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.token=", "--ServerApp.password=",
        "--ServerApp.ip=127.0.0.1", f"--port={port}", f"--ServerApp.root_dir={root}",
        "--allow-root", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with (tmp_path / "lab.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/api", timeout=60, proc=proc)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)


def _label_orange(img: np.ndarray) -> int:
    """Pixels of label 1's orange (255/127/14) blended over grey; grey, the red crosshair
    and the heat map's yellow do not count."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return int(np.count_nonzero((r - g > 40) & (g - b > 40)))


@pytest.mark.browser
@requires_chromium
def test_view_renders_in_jupyterlab(jupyterlab: str, tmp_path: Path) -> None:
    with open_page(viewport=(1280, 1000)) as state:
        page = state.page
        page.goto(jupyterlab + "/lab/tree/view.ipynb?reset", wait_until="domcontentloaded")
        # the notebook is open and its kernel is idle
        page.wait_for_function(
            "() => window.jupyterapp && document.querySelector('.jp-Notebook') !== null",
            timeout=60_000,
        )
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " return w && w.sessionContext && w.sessionContext.session &&"
            " w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'; }",
            timeout=60_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        canvas = page.locator(".jp-OutputArea-output canvas").first
        canvas.wait_for(state="visible", timeout=90_000)
        # the canvas draws once the volumes are uploaded and decoded: poll its pixels
        deadline = time.monotonic() + 60
        img = _png(canvas.screenshot())
        while time.monotonic() < deadline:
            img = _png(canvas.screenshot())
            if len(np.unique(img.reshape(-1, 3), axis=0)) > 50 and _label_orange(img) > 30:
                break
            time.sleep(1.0)
        page.screenshot(path=str(tmp_path / "jupyterlab-niivue.png"), full_page=True)
        (tmp_path / "canvas.png").write_bytes(canvas.screenshot())
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert errors.count() == 0, errors.first.inner_text()
        colours = len(np.unique(img.reshape(-1, 3), axis=0))
        assert colours > 50, f"the NiiVue canvas is nearly uniform ({colours} colours)"
        assert _label_orange(img) > 30, "the tumour label overlay (orange) is not drawn"
        assert "tumour" in page.locator(".oncoatlas-legend").first.inner_text()
        assert state.blocked == [], f"requests left 127.0.0.1: {state.blocked}"
