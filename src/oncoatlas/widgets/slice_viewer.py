"""The Panel slice viewer: axial, coronal and sagittal HoloViews/Bokeh views of a volume.

Three ``hv.Image`` planes in physical millimetres (bounds from the volume's coordinates,
square pixels in mm), linked by a crosshair: a tap on one plane moves the other two, and
three sliders move the slices. A window preset (or manual centre/width) sets the grey
levels; a label overlay (segmentation) and a heat-map overlay (saliency, feature map) are
drawn as one RGBA layer with their own toggles, opacities and threshold; an optional 3D
``pn.pane.VTKVolume`` renders a downsampled copy. Everything is served by the local
Bokeh/Panel server (vtk.js is in Panel's bundled resources), so it works offline.

Speed: a slice change slices the in-memory numpy array (a view), windows it to ``uint8``
and, for large planes, strides it down to at most :attr:`SliceViewer.max_display` pixels
per side; nothing is precomputed per change. ``benchmarks/bench_viewer.py`` measures the
server-side answer for a 512 x 512 x 300 CT.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import holoviews as hv
import numpy as np
import numpy.typing as npt
import panel as pn
import param

from oncoatlas.imaging.windowing import WindowPreset
from oncoatlas.widgets.niivue import (
    HeatmapLayer,
    LabelLayer,
    label_color,
    label_legend_html,
    overlay_layers,
    preset_bounds,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["PLANES", "Plane", "SliceViewer"]

logger = logging.getLogger(__name__)

Plane = Literal["axial", "coronal", "sagittal"]
#: plane → (array axis it cuts, the index param, horizontal dim, vertical dim)
PLANES: dict[str, tuple[int, str, str, str]] = {
    "axial": (0, "z_index", "x", "y"),
    "coronal": (1, "y_index", "x", "z"),
    "sagittal": (2, "x_index", "y", "z"),
}
_CUSTOM = "custom"


def _heat_lut() -> npt.NDArray[np.uint8]:
    """256-entry RGB 'hot'-like colour table (black-red-yellow-white without black)."""
    t = np.linspace(0.0, 1.0, 256)
    r = np.clip(0.4 + 1.8 * t, 0, 1)
    g = np.clip(-0.4 + 1.8 * t, 0, 1)
    b = np.clip(-1.2 + 2.2 * t, 0, 1)
    return (np.stack([r, g, b], axis=1) * 255).astype(np.uint8)


_HEAT = _heat_lut()


class SliceViewer(pn.viewable.Viewer):
    """Axial, coronal and sagittal views of a volume, linked by a crosshair.

    Parameters
    ----------
    volume : xarray.DataArray
        ``(z, y, x)`` volume with coordinates in mm (from
        :func:`oncoatlas.imaging.open_volume`).
    labels : xarray.DataArray, optional
        Label mask (from :func:`oncoatlas.imaging.open_mask`); resampled onto the volume's
        grid when needed.
    heatmap : xarray.DataArray, optional
        A float map (saliency, feature map) on the same frame of reference.
    **params
        Any of the declared params (``preset``, ``z_index``…).

    Examples
    --------
    >>> viewer = SliceViewer(vol, labels=mask, preset="lung")  # doctest: +SKIP
    >>> viewer.z_index = 40; viewer.servable()  # doctest: +SKIP
    """

    volume = param.Parameter(constant=True, doc="The (z, y, x) volume shown (set at construction).")
    labels = param.Parameter(default=None, constant=True, doc="Label mask aligned with the volume, or None.")
    heatmap = param.Parameter(default=None, constant=True, doc="Heat map (float) aligned with the volume, or None.")

    z_index = param.Integer(default=0, bounds=(0, 0), doc="Axial slice (index along z).")
    y_index = param.Integer(default=0, bounds=(0, 0), doc="Coronal slice (index along y).")
    x_index = param.Integer(default=0, bounds=(0, 0), doc="Sagittal slice (index along x).")

    preset: param.Selector = param.Selector(
        default=WindowPreset.SOFT_TISSUE.value,
        objects=[p.value for p in WindowPreset] + [_CUSTOM],
        doc="Window preset; 'custom' after the centre or width is set by hand.",
    )
    window_center = param.Number(default=50.0, doc="Window centre (HU for CT).")
    window_width = param.Number(default=400.0, bounds=(1e-6, None), doc="Window width (HU for CT).")

    show_labels = param.Boolean(default=True, doc="Show the label overlay.")
    label_opacity = param.Magnitude(default=0.5, doc="Opacity of the label overlay.")
    show_heatmap = param.Boolean(default=True, doc="Show the heat-map overlay.")
    heatmap_opacity = param.Magnitude(default=0.6, doc="Opacity of the heat-map overlay.")
    heatmap_threshold = param.Number(default=0.5, doc="Heat-map values below this are not drawn.")

    show_3d = param.Boolean(default=False, doc="Show a 3D VTKVolume rendering (downsampled).")
    max_display = param.Integer(
        default=512, bounds=(32, None), doc="Largest number of displayed pixels per side of a plane."
    )
    plane_width = param.Integer(default=300, bounds=(100, None), doc="Width of each plane in screen pixels.")

    def __init__(
        self,
        volume: xr.DataArray | None = None,
        labels: xr.DataArray | None = None,
        heatmap: xr.DataArray | None = None,
        **params: Any,
    ) -> None:
        if volume is None:
            volume = params.pop("volume", None)
        if volume is None or getattr(volume, "dims", None) != ("z", "y", "x"):
            raise ValueError(
                "SliceViewer needs a (z, y, x) volume DataArray (oncoatlas.imaging.open_volume); "
                f"got {type(volume).__name__}"
            )
        overlays: dict[str, Any] = {}
        if labels is not None:
            overlays[str(labels.name or "labels")] = labels
        layers = overlay_layers(volume, overlays)
        if heatmap is not None:
            heat_layers = overlay_layers(volume, {str(heatmap.name or "heat map"): heatmap.astype(np.float32)})
            layers += heat_layers
        label_layer = next((lay for lay in layers if isinstance(lay, LabelLayer)), None)
        heat_layer = next((lay for lay in layers if isinstance(lay, HeatmapLayer)), None)

        self._data = np.asarray(volume.data, dtype=np.float32)
        self._coords = {d: np.asarray(volume[d].values, dtype=np.float64) for d in ("z", "y", "x")}
        self._label_layer = label_layer
        self._heat_layer = heat_layer
        self._labels = None if label_layer is None else np.asarray(label_layer.data.data)
        self._heat = None if heat_layer is None else np.asarray(heat_layer.data.data, dtype=np.float32)
        self._lut = self._label_lut()
        self._applying_preset = False

        nz, ny, nx = self._data.shape
        start = {
            "z_index": nz // 2,
            "y_index": ny // 2,
            "x_index": nx // 2,
        }
        if self._labels is not None and self._labels.any():
            # start on the segmented structure's centre
            idx = np.argwhere(self._labels)
            c = idx.mean(axis=0).round().astype(int)
            start = {"z_index": int(c[0]), "y_index": int(c[1]), "x_index": int(c[2])}
        preset = params.pop("preset", None)
        if preset is None:
            preset = (
                WindowPreset.SOFT_TISSUE.value if volume.attrs.get("units") == "HU" else WindowPreset.MAMMOGRAPHY.value
            )
        preset = WindowPreset(preset).value if preset != _CUSTOM else _CUSTOM
        if heat_layer is not None and "heatmap_threshold" not in params:
            params["heatmap_threshold"] = heat_layer.vmin + 0.5 * (heat_layer.vmax - heat_layer.vmin)
        super().__init__(volume=volume, labels=labels, heatmap=heatmap, **params)
        self.param.z_index.bounds = (0, nz - 1)
        self.param.y_index.bounds = (0, ny - 1)
        self.param.x_index.bounds = (0, nx - 1)
        for name, value in start.items():
            if name not in params:
                setattr(self, name, value)
        if heat_layer is not None:
            self.param.heatmap_threshold.bounds = (heat_layer.vmin, heat_layer.vmax)
        self._set_preset(preset)
        self.param.watch(self._on_preset, "preset")
        self.param.watch(self._on_window, ["window_center", "window_width"])
        self._panel: Any = None
        self._models: dict[str, dict[str, Any]] = {}

    # -- state ---------------------------------------------------------------------------
    def _label_lut(self) -> npt.NDArray[np.uint8] | None:
        if self._label_layer is None:
            return None
        top = int(max(max(self._label_layer.labels, default=0), int(self._labels.max()) if self._labels is not None else 0))
        lut = np.zeros((top + 1, 4), dtype=np.uint8)
        for v in range(1, top + 1):
            lut[v, :3] = label_color(v)
            lut[v, 3] = 255
        return lut

    def _set_preset(self, preset: str) -> None:
        if preset == _CUSTOM:
            self.preset = _CUSTOM
            return
        lo, hi = preset_bounds(self.volume, preset)
        self._applying_preset = True
        try:
            self.param.update(preset=preset, window_center=(lo + hi) / 2.0, window_width=hi - lo)
        finally:
            self._applying_preset = False

    def _on_preset(self, event: param.parameterized.Event) -> None:
        if not self._applying_preset and event.new != _CUSTOM:
            self._set_preset(event.new)

    def _on_window(self, *events: param.parameterized.Event) -> None:
        if not self._applying_preset and self.preset != _CUSTOM:
            self._applying_preset = True
            try:
                self.preset = _CUSTOM
            finally:
                self._applying_preset = False

    @property
    def is_2d(self) -> bool:
        """A single-slice image (mammogram, radiograph): only the axial plane is shown."""
        return bool(self._data.shape[0] == 1)

    @property
    def clim(self) -> tuple[float, float]:
        """The display window ``(low, high)`` in the volume's units."""
        return (
            self.window_center - self.window_width / 2.0,
            self.window_center + self.window_width / 2.0,
        )

    @property
    def position_mm(self) -> tuple[float, float, float]:
        """The crosshair position ``(x, y, z)`` in the volume's coordinates (mm)."""
        return (
            float(self._coords["x"][self.x_index]),
            float(self._coords["y"][self.y_index]),
            float(self._coords["z"][self.z_index]),
        )

    def _nearest(self, dim: str, value: float) -> int:
        c = self._coords[dim]
        return int(np.abs(c - value).argmin())

    def move_to(self, **mm: float) -> None:
        """Move the crosshair to physical positions (``x=``, ``y=``, ``z=`` in mm)."""
        update = {f"{dim}_index": self._nearest(dim, float(v)) for dim, v in mm.items() if v is not None}
        self.param.update(**update)

    # -- slicing (numpy views, no copies until the window) -----------------------------
    def _stride(self, shape: tuple[int, ...]) -> int:
        return max(1, int(np.ceil(max(shape) / self.max_display)))

    def _plane(self, array: npt.NDArray[Any], plane: str, index: int) -> npt.NDArray[Any]:
        """A (strided) view of one plane; row 0 has the smallest vertical coordinate."""
        axis = PLANES[plane][0]
        sl = array[index] if axis == 0 else array[:, index] if axis == 1 else array[:, :, index]
        s = self._stride(sl.shape)
        return sl[::s, ::s] if s > 1 else sl

    def _bounds(self, plane: str) -> tuple[float, float, float, float]:
        _, _, h, v = PLANES[plane]
        ch, cv = self._coords[h], self._coords[v]
        dh = (ch[-1] - ch[0]) / max(len(ch) - 1, 1) if len(ch) > 1 else 1.0
        dv = (cv[-1] - cv[0]) / max(len(cv) - 1, 1) if len(cv) > 1 else 1.0
        return (ch[0] - dh / 2, cv[0] - dv / 2, ch[-1] + dh / 2, cv[-1] + dv / 2)

    def _index(self, plane: str) -> int:
        return int(getattr(self, PLANES[plane][1]))

    # -- pixels ----------------------------------------------------------------------------
    def grey(self, plane: Plane, index: int | None = None) -> npt.NDArray[np.uint8]:
        """The windowed plane as uint8 (0 = window low, 255 = window high), row 0 at the
        smallest vertical coordinate."""
        index = self._index(plane) if index is None else index
        sl = self._plane(self._data, plane, index)
        lo, _ = self.clim
        grey = np.empty(sl.shape, dtype=np.float32)
        np.subtract(sl, np.float32(lo), out=grey)
        np.multiply(grey, np.float32(255.0 / self.window_width), out=grey)
        np.clip(grey, 0, 255, out=grey)
        return grey.astype(np.uint8)

    def rgba(self, plane: Plane, index: int | None = None) -> npt.NDArray[np.uint8] | None:
        """The overlay of ``plane`` as ``(rows, cols, 4)`` uint8 RGBA, or ``None`` if empty.

        Labels are drawn in their palette colour at :attr:`label_opacity`; heat-map values
        at or above :attr:`heatmap_threshold` replace them in a hot colour scale at
        :attr:`heatmap_opacity`.
        """
        index = self._index(plane) if index is None else index
        rgba: npt.NDArray[np.uint8] | None = None
        if self.show_labels and self._labels is not None and self._lut is not None:
            lab = self._plane(self._labels, plane, index)
            if lab.any():
                rgba = self._lut[lab]
                rgba[..., 3] = (rgba[..., 3] * self.label_opacity).astype(np.uint8)
        if self.show_heatmap and self._heat is not None and self._heat_layer is not None:
            heat = self._plane(self._heat, plane, index)
            on = heat >= self.heatmap_threshold
            if on.any():
                lay = self._heat_layer
                k = np.clip((heat - lay.vmin) / (lay.vmax - lay.vmin) * 255, 0, 255).astype(np.uint8)
                if rgba is None:
                    rgba = np.zeros((*heat.shape, 4), dtype=np.uint8)
                rgba[on, :3] = _HEAT[k[on]]
                rgba[on, 3] = np.uint8(round(255 * self.heatmap_opacity))
        return rgba

    # -- HoloViews elements (notebooks, tests, exports) ------------------------------------
    def image(self, plane: Plane, index: int | None = None) -> hv.Image:
        """The windowed grey-level ``hv.Image`` of ``plane`` (uint8 0-255, bounds in mm)."""
        _, _, h, v = PLANES[plane]
        return hv.Image(
            self.grey(plane, index)[::-1], bounds=self._bounds(plane), kdims=[h, v],
            vdims=["level"], label=plane,
        )

    def overlay(self, plane: Plane, index: int | None = None) -> hv.RGB:
        """The label and heat-map RGBA layer of ``plane`` (transparent where empty or off)."""
        _, _, h, v = PLANES[plane]
        rgba = self.rgba(plane, index)
        if rgba is None:
            rgba = np.zeros((1, 1, 4), dtype=np.uint8)
        return hv.RGB(rgba[::-1], bounds=self._bounds(plane), kdims=[h, v], vdims=["R", "G", "B", "A"])

    def crosshair(self, plane: Plane) -> hv.Overlay:
        """Two lines marking the other two planes' positions on ``plane``."""
        x, y, z = self.position_mm
        pos = {"x": x, "y": y, "z": z}
        _, _, h, v = PLANES[plane]
        return hv.VLine(pos[h]) * hv.HLine(pos[v])

    def element(self, plane: Plane) -> hv.Overlay:
        """The full element of ``plane`` in the current state (image, overlay, crosshair)."""
        return self.image(plane) * self.overlay(plane) * self.crosshair(plane)

    # -- served layout: Bokeh figures updated in place --------------------------------------
    # HoloViews re-plans a whole overlay on every DynamicMap update (about 100 ms a layer
    # on a busy 2-core machine); writing the new pixels into the figures' data sources is a
    # few milliseconds, which is what keeps a slice change under 100 ms.
    def _figure(self, plane: Any) -> Any:
        from bokeh.events import Tap
        from bokeh.models import ColumnDataSource, LinearColorMapper, Range1d
        from bokeh.models.annotations import Span
        from bokeh.palettes import Greys256
        from bokeh.plotting import figure

        left, b, r, t = self._bounds(plane)
        _, _, h, v = PLANES[plane]
        height = max(60, round(self.plane_width * (t - b) / max(r - left, 1e-9)))
        # anterior up on axial views (LPS y grows towards posterior)
        y_range = Range1d(start=t, end=b) if plane == "axial" else Range1d(start=b, end=t)
        fig = figure(
            title=plane, frame_width=self.plane_width, frame_height=height,
            x_range=Range1d(start=left, end=r), y_range=y_range, tools="pan,wheel_zoom,reset,tap",
            x_axis_label=f"{h} (mm)", y_axis_label=f"{v} (mm)", toolbar_location="above",
            name=f"oncoatlas-{plane}",
        )
        box = {"x": [left], "y": [b], "dw": [r - left], "dh": [t - b]}
        img = ColumnDataSource({"image": [self.grey(plane)], **box})
        grey = fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=img)
        grey.glyph.color_mapper = LinearColorMapper(palette=list(Greys256), low=0, high=255)
        ovl = ColumnDataSource({"image": [_packed(self.rgba(plane))], **box})
        fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=ovl)
        x, y, z = self.position_mm
        pos = {"x": x, "y": y, "z": z}
        vline = Span(location=pos[h], dimension="height", line_color="#ffd400", line_alpha=0.8)
        hline = Span(location=pos[v], dimension="width", line_color="#ffd400", line_alpha=0.8)
        fig.add_layout(vline)
        fig.add_layout(hline)
        fig.on_event(Tap, lambda event: self._on_tap(plane, event.x, event.y))
        self._models[plane] = {"image": img, "overlay": ovl, "vline": vline, "hline": hline}
        return fig

    def _on_tap(self, plane: str, x: float | None, y: float | None) -> None:
        if x is None or y is None:
            return
        _, _, h, v = PLANES[plane]
        self.move_to(**{h: x, v: y})

    def tap(self, plane: Plane, x: float, y: float) -> None:
        """Emulate a tap at ``(x, y)`` mm on ``plane`` (what a click in the browser does)."""
        self._on_tap(plane, x, y)

    def _push_image(self, *planes: Any) -> None:
        for plane in planes:
            if plane in self._models:
                self._models[plane]["image"].data.update(image=[self.grey(plane)])

    def _push_overlay(self, *planes: Any) -> None:
        for plane in planes:
            if plane in self._models:
                self._models[plane]["overlay"].data.update(image=[_packed(self.rgba(plane))])

    def _push_crosshair(self) -> None:
        x, y, z = self.position_mm
        pos = {"x": x, "y": y, "z": z}
        for plane, models in self._models.items():
            _, _, h, v = PLANES[plane]
            models["vline"].location = pos[h]
            models["hline"].location = pos[v]

    def _dispatch(self, update: Any) -> None:
        """Run ``update`` (which changes Bokeh models) where Bokeh allows it.

        In a served session the widget callbacks run on Panel's thread pool
        (``oncoatlas serve`` sets ``nthreads``), where changing a model would bypass the
        document lock; the update is then queued on the session's event loop, which holds
        the lock and sends the patch. Outside a server it runs at once.
        """
        doc = next((m["image"].document for m in self._models.values()), None)
        if doc is None or getattr(doc, "session_context", None) is None:
            update()
        else:
            doc.add_next_tick_callback(update)

    def _on_index(self, *events: param.parameterized.Event) -> None:
        planes = [p for p, spec in PLANES.items() if spec[1] in {e.name for e in events}]

        def update() -> None:
            self._push_image(*planes)
            self._push_overlay(*planes)
            self._push_crosshair()

        self._dispatch(update)

    def _on_display(self, *events: param.parameterized.Event) -> None:
        names = {e.name for e in events}

        def update() -> None:
            if names & {"window_center", "window_width"}:
                self._push_image(*PLANES)
            if names - {"window_center", "window_width"}:
                self._push_overlay(*PLANES)

        self._dispatch(update)

    def _three_d(self, show: bool) -> Any:
        """The 3D ``VTKVolume`` (a copy strided to at most 96 voxels a side), or a hidden
        placeholder.

        vtk.js must be on the page before the first render: ``oncoatlas serve`` loads the
        ``vtk`` extension up front (the pane itself appears later).
        """
        if not show:
            return pn.pane.Markdown("", visible=False)
        nz, ny, nx = self._data.shape
        s = max(1, int(np.ceil(max(nz, ny, nx) / 96)))
        lo, hi = self.clim
        # the window is applied to the data (VTKVolume's colour mapper spans the data range)
        small = np.ascontiguousarray(
            np.clip(self._data[::s, ::s, ::s], lo, hi).transpose(2, 1, 0).astype(np.float32)
        )
        sx, sy, sz = (float(v) * s for v in self.volume.oncoatlas.spacing)
        return pn.pane.VTKVolume(
            small, spacing=(sx, sy, sz), width=420, height=420, colormap="Grayscale",
            render_background="#000000", display_slices=False,
        )

    def legend(self) -> pn.pane.HTML:
        """The overlay legend (label colours and names, heat-map range)."""
        layers = [lay for lay in (self._label_layer, self._heat_layer) if lay is not None]
        return pn.pane.HTML(label_legend_html(layers) if layers else "", sizing_mode="stretch_width")

    def controls(self) -> pn.Column:
        """The widgets (made with ``from_param``)."""
        w = pn.widgets
        rows: list[Any] = [
            w.IntSlider.from_param(self.param[name], name=label, css_classes=[f"oncoatlas-{name}"])
            for name, label, n in (
                ("z_index", "axial (z)", self._data.shape[0]),
                ("y_index", "coronal (y)", self._data.shape[1]),
                ("x_index", "sagittal (x)", self._data.shape[2]),
            )
            if n > 1 and not (self.is_2d and name != "z_index")
        ]
        rows += [
            w.Select.from_param(self.param.preset, name="window preset"),
            w.FloatInput.from_param(self.param.window_center, name="centre"),
            w.FloatInput.from_param(self.param.window_width, name="width"),
        ]
        if self._labels is not None:
            rows += [
                w.Checkbox.from_param(self.param.show_labels, name="labels"),
                w.FloatSlider.from_param(self.param.label_opacity, name="label opacity", step=0.05),
            ]
        if self._heat is not None:
            rows += [
                w.Checkbox.from_param(self.param.show_heatmap, name="heat map"),
                w.FloatSlider.from_param(self.param.heatmap_opacity, name="heat-map opacity", step=0.05),
                w.FloatSlider.from_param(self.param.heatmap_threshold, name="heat-map threshold"),
            ]
        if not self.is_2d:
            rows.append(w.Checkbox.from_param(self.param.show_3d, name="3D rendering"))
        rows.append(self.legend())
        return pn.Column(*rows, width=260, css_classes=["oncoatlas-slice-controls"])

    def __panel__(self) -> Any:
        if self._panel is None:
            planes = [
                pn.pane.Bokeh(self._figure(p), css_classes=[f"oncoatlas-{p}"], name=p)
                for p in (("axial",) if self.is_2d else ("axial", "coronal", "sagittal"))
            ]
            self.param.watch(self._on_index, ["z_index", "y_index", "x_index"])
            self.param.watch(
                self._on_display,
                ["window_center", "window_width", "show_labels", "label_opacity", "show_heatmap",
                 "heatmap_opacity", "heatmap_threshold"],
            )
            # vtk.js is in Panel's bundled resources; it is only put on the page when the
            # extension is loaded before the first render (the 3D pane appears later)
            if not self.is_2d:
                pn.extension("vtk")
            three_d = pn.Column(self._three_d(self.show_3d), name="3D")
            self.param.watch(
                lambda event: self._dispatch(lambda: three_d.__setitem__(slice(None), [self._three_d(event.new)])),
                "show_3d",
            )
            # the planes wrap onto the next line when the page is narrow
            grid = pn.FlexBox(*planes, flex_wrap="wrap", sizing_mode="stretch_width")
            self._panel = pn.Row(
                self.controls(), pn.Column(grid, three_d, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            )
        return self._panel


def _packed(rgba: npt.NDArray[np.uint8] | None) -> npt.NDArray[np.uint32]:
    """RGBA uint8 ``(rows, cols, 4)`` as the uint32 ``(rows, cols)`` Bokeh's image_rgba takes."""
    if rgba is None:
        return np.zeros((1, 1), dtype=np.uint32)
    return np.ascontiguousarray(rgba).view(np.uint32).reshape(rgba.shape[:2])
