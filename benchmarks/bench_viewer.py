"""Benchmark: server-side slice change of the Panel SliceViewer (issue 4: < 100 ms for a
512 x 512 x 300 CT).

What is timed: setting a slice param (``z_index``, ``y_index``, ``x_index``) on a
SliceViewer whose Bokeh models exist (``get_root`` on a Bokeh document, as a Panel server
session has), until the param callbacks have built the new HoloViews elements and updated
the Bokeh models (the synchronous server-side answer; the websocket transfer and the
browser's drawing come after). Baseline, measured in the same run: the bare numpy work
of one plane (slice view + window to uint8), which no viewer can beat.

Run: ``python benchmarks/bench_viewer.py`` (512 x 512 x 300, 30 changes per plane) or
``--small`` (256 x 256 x 120) for a quick look; ``--changes N`` sets the repetitions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _volume(nz: int, ny: int, nx: int):  # type: ignore[no-untyped-def]
    from oncoatlas.imaging import make_volume

    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[0:nz, 0:ny, 0:nx]
    body = ((y - ny / 2) ** 2 / (0.45 * ny) ** 2 + (x - nx / 2) ** 2 / (0.48 * nx) ** 2) < 1
    data = np.where(body, 40.0, -1000.0).astype(np.float32) + np.broadcast_to(z, (nz, ny, nx)) * 0.1
    data += rng.normal(0, 20, size=(1, ny, nx)).astype(np.float32)
    aff = np.diag([0.7, 0.7, 1.25, 1.0])
    vol = make_volume(data, aff, name="ct", attrs={"units": "HU", "modality": "CT"})
    lab = np.zeros((nz, ny, nx), dtype=np.uint8)
    lab[nz // 3 : nz // 2, ny // 3 : ny // 2, nx // 3 : nx // 2] = 1
    mask = make_volume(lab, aff, name="tumour", attrs={"labels": {1: "tumour"}})
    return vol, mask


def _stats(ms: list[float]) -> tuple[float, float]:
    a = np.asarray(ms)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="256 x 256 x 120 instead of 512 x 512 x 300")
    ap.add_argument("--changes", type=int, default=30)
    args = ap.parse_args()

    import holoviews as hv
    import panel as pn
    from bokeh.document import Document

    from oncoatlas.widgets.slice_viewer import PLANES, SliceViewer

    shape = (120, 256, 256) if args.small else (300, 512, 512)
    t0 = time.perf_counter()
    vol, mask = _volume(*shape)
    print(f"volume {shape[2]} x {shape[1]} x {shape[0]} float32 built in {time.perf_counter() - t0:.1f} s")
    hv.extension("bokeh", logo=False)
    pn.extension()
    viewer = SliceViewer(vol, labels=mask, preset="lung")
    t0 = time.perf_counter()
    doc = Document()
    viewer.__panel__().get_root(doc)
    print(f"first render (Bokeh models of 3 planes): {1000 * (time.perf_counter() - t0):.0f} ms")

    rng = np.random.default_rng(1)
    from bokeh.core.serialization import Serializer

    print(
        f"{'plane':9s} {'viewer p50':>11s} {'p95':>8s} {'+encode p50':>12s} {'p95':>8s} "
        f"{'numpy p50':>10s} {'ratio p50':>10s}"
    )
    for plane, (axis, name, _, _) in PLANES.items():
        n = shape[axis]
        times: list[float] = []
        full: list[float] = []
        base: list[float] = []
        for k in rng.integers(0, n, size=args.changes):
            k = int(k) if int(k) != getattr(viewer, name) else (int(k) + 1) % n
            t = time.perf_counter()
            setattr(viewer, name, k)
            times.append(1000 * (time.perf_counter() - t))
            # what goes on the websocket: the new image and overlay columns, encoded
            models = viewer._models[plane]
            Serializer().encode({"image": models["image"].data["image"], "overlay": models["overlay"].data["image"]})
            full.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            sl = viewer._plane(viewer._data, plane, k)
            np.clip((sl - np.float32(-1350)) * np.float32(255 / 1500), 0, 255).astype(np.uint8)
            base.append(1000 * (time.perf_counter() - t))
        p50, p95 = _stats(times)
        f50, f95 = _stats(full)
        b50, _ = _stats(base)
        print(f"{plane:9s} {p50:9.1f}ms {p95:6.1f}ms {f50:10.1f}ms {f95:6.1f}ms {b50:8.2f}ms {p50 / b50:9.1f}x")
    print("viewer: param change -> Bokeh models updated; +encode: and the patch's arrays encoded")
    print("baseline: numpy slice view + window to uint8 of the same plane")
    print("target: p95 < 100 ms per slice change (server side)")


if __name__ == "__main__":
    main()
