"""Volume Viewer page: series listing and loading from Python, and the served page in
headless Chromium (slice slider and overlay toggle change the pixels, nothing leaves
127.0.0.1)."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest

from tests.browser import free_port, oncoatlas_server, open_page, requires_chromium


@pytest.fixture(scope="module")
def oslo_catalog(demo_root: Path) -> str:
    return str(demo_root / "nodes" / "oslo" / "catalog")


def test_list_series_puts_segmented_first_and_skips_non_images(oslo_catalog: str) -> None:
    from oncoatlas.dashboards.volume_viewer import list_series

    entries = list_series(oslo_catalog)
    assert entries, "the oslo demo catalog has image series"
    flags = [e.has_segmentation for e in entries]
    assert flags == sorted(flags, reverse=True)
    assert {e.modality for e in entries}.isdisjoint({"SEG", "RTSTRUCT"})
    keys = [e.key for e in entries]
    assert len(keys) == len(set(keys))
    # mammograms are offered one image at a time
    mg = [e for e in entries if e.modality == "MG"]
    assert all(e.path is not None and e.image is not None for e in mg)


def test_list_series_from_federation_uses_central_catalogs(demo_root: Path, oslo_catalog: str) -> None:
    from oncoatlas.dashboards.volume_viewer import list_series

    entries = list_series(federation=str(demo_root / "federation.yaml"))
    assert {e.node for e in entries} == {"oslo"}
    assert len(entries) == len(list_series(oslo_catalog))


def test_page_loads_the_first_segmented_series_with_its_mask(oslo_catalog: str) -> None:
    from oncoatlas.dashboards.volume_viewer import VolumeViewer
    from oncoatlas.widgets import SliceViewer

    page = VolumeViewer(catalog=oslo_catalog, federation=None)
    assert isinstance(page.viewer, SliceViewer)
    entry = page._entries[page.series_uid]
    assert entry.has_segmentation
    labels = page.viewer.labels
    assert labels is not None and labels.shape == page.viewer.volume.shape
    assert int(np.count_nonzero(labels.values)) > 0
    # the viewer starts on the segmented structure: the axial overlay is not empty
    assert page.viewer.rgba("axial") is not None
    assert entry.patient_id in page.status
    page.__panel__()


def test_page_without_data_explains_what_to_do(tmp_path: Path) -> None:
    from oncoatlas.dashboards.volume_viewer import VolumeViewer

    page = VolumeViewer(catalog=None, federation=None)
    assert page.viewer is None
    assert "oncoatlas serve --catalog" in page.status


def test_unopenable_series_shows_the_reason(oslo_catalog: str) -> None:
    from dataclasses import replace

    from oncoatlas.dashboards.volume_viewer import VolumeViewer

    page = VolumeViewer(catalog=oslo_catalog, federation=None)
    entry = next(iter(page._entries.values()))
    missing = replace(entry, series_uid="1.2.826.0.1.999", has_segmentation=False)
    page._entries[missing.key] = missing
    assert page.load(missing.key) is None
    assert "1.2.826.0.1.999" in page.status
    assert page.viewer is not None  # the previous series stays loaded


# -- the served page -----------------------------------------------------------------------


def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)


def _wait_change(canvas, before: np.ndarray, timeout: float = 20.0) -> np.ndarray:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    after = before
    while time.monotonic() < deadline:
        after = _png(canvas.screenshot())
        if after.shape != before.shape or np.abs(after - before).sum() > 0:
            return after
        time.sleep(0.3)
    return after


def _settle(canvas, timeout: float = 20.0) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The canvas once two screenshots half a second apart agree (updates have landed)."""
    deadline = time.monotonic() + timeout
    last = _png(canvas.screenshot())
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _png(canvas.screenshot())
        if now.shape == last.shape and np.array_equal(now, last):
            return now
        last = now
    return last


def _orange(img: np.ndarray) -> int:
    """Pixels tinted by label 1 (orange 255/127/14 at half opacity over grey; the yellow
    crosshair, ffd400, has r - g < 50 and is not counted)."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return int(np.count_nonzero((r - g > 50) & (g - b > 30)))


@pytest.mark.browser
@requires_chromium
def test_served_viewer_slider_and_overlay_change_pixels(oslo_catalog: str, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with oncoatlas_server(["serve", "--catalog", oslo_catalog, "--port", str(port)], "/", port, log) as base:
        with open_page() as state:
            page = state.page
            page.goto(base + "/viewer", wait_until="networkidle")
            page.wait_for_selector("text=axial (z)", timeout=60_000)
            # pick another series (loaded in a worker thread behind the loading indicator)
            picker = page.locator("select").first
            option = picker.locator("option").nth(1).inner_text()
            patient = option.split(" · ")[0]
            assert "segmented" in option
            picker.select_option(index=1)
            page.locator("strong", has_text=patient).wait_for(timeout=60_000)
            canvas = page.locator("canvas").first
            canvas.wait_for(timeout=30_000)
            first = _settle(canvas)
            page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
            # a CT slice in a lung window: many grey levels, and the lesion's overlay
            assert len(np.unique(first[..., 0])) > 20
            assert _orange(first) > 20, "the segmentation overlay is drawn on the axial plane"

            # move the axial slider with the keyboard
            handle = page.locator(".noUi-handle").first
            handle.focus()
            for _ in range(6):
                handle.press("ArrowRight")
            _wait_change(canvas, first)
            moved = _settle(canvas)
            assert np.abs(moved - first).sum() > 0, "the axial image did not change after the slider moved"
            page.screenshot(path=str(tmp_path / "viewer-moved.png"), full_page=True)

            # toggle the label overlay off: the orange disappears
            # checkboxes in page order: segmentation overlay, labels, 3D rendering
            labels_box = page.locator("input[type=checkbox]").nth(1)
            assert labels_box.is_checked()
            labels_box.click()
            _wait_change(canvas, moved)
            off = _settle(canvas)
            page.screenshot(path=str(tmp_path / "viewer-no-overlay.png"), full_page=True)
            assert _orange(moved) > 0 and _orange(off) < _orange(moved) // 4, (_orange(moved), _orange(off))
            assert np.abs(off - moved).sum() > 0, "toggling the overlay changed nothing"

            # a click on the axial plane moves the sagittal and coronal slices (crosshair link)
            sagittal = page.get_by_text(re.compile(r"sagittal \(x\): \d+"))
            before = sagittal.inner_text()
            box = canvas.bounding_box()
            assert box is not None
            # Bokeh's event layer sits over the canvas: click the page at the canvas' point
            page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.5)
            deadline = time.monotonic() + 20
            while sagittal.inner_text() == before and time.monotonic() < deadline:
                time.sleep(0.3)
            assert sagittal.inner_text() != before, "a tap on the axial plane did not move the sagittal slice"

            # the 3D rendering (vtk.js, served locally) draws the volume on a new canvas
            n_canvas = page.locator("canvas").count()
            page.locator("input[type=checkbox]").nth(2).check()
            deadline = time.monotonic() + 60
            while page.locator("canvas").count() <= n_canvas and time.monotonic() < deadline:
                time.sleep(0.5)
            assert page.locator("canvas").count() > n_canvas, "no 3D canvas appeared"
            vtk = _settle(page.locator("canvas").last, timeout=30)
            page.screenshot(path=str(tmp_path / "viewer-3d.png"), full_page=True)
            assert len(np.unique(vtk[..., 0])) > 10, "the 3D rendering is blank"
            assert state.blocked == [], f"requests left 127.0.0.1: {state.blocked}"
