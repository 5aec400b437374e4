"""Notebook volume viewer: NiiVue (WebGL) through ipyniivue, which bundles its JavaScript.

:func:`view` shows a volume in three planes and a 3D render, with a window/level preset,
label overlays (segmentations, with a legend naming each label from the mask's
``attrs["labels"]``) and heat-map overlays (saliency maps, radiomics feature maps) with an
opacity and a threshold. The viewer's JavaScript ships inside the ipyniivue wheel (an
anywidget ES module), so it works offline, in JupyterLab, Notebook 7, VS Code and Voilà.

Why not itkwidgets by default: itkwidgets 1.x loads its viewer application from a CDN
when the widget is displayed, so in an air-gapped hospital network (and often in
JupyterLab itself) it shows a blank cell; :func:`oncoatlas.widgets.itk.view_itk` is an
explicit opt-in adapter for machines that are online.

Volumes travel to the browser as NIfTI bytes (written by
:func:`oncoatlas.imaging.write_nifti`, LPS → RAS as NIfTI requires), so the widget does not
depend on temporary files after it is created.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "LABEL_PALETTE",
    "HeatmapLayer",
    "LabelLayer",
    "NiivueView",
    "label_legend_html",
    "overlay_layers",
    "preset_bounds",
    "view",
]

logger = logging.getLogger(__name__)

#: RGB colours (0-255) of labels 1, 2, 3…, reused cyclically (Tableau 10, colour-blind safe
#: enough for a handful of structures); label 0 is background and transparent.
LABEL_PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 127, 14),
    (44, 160, 44),
    (31, 119, 180),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (127, 127, 127),
)


def label_color(label: int) -> tuple[int, int, int]:
    """RGB colour of a (non-zero) label value."""
    return LABEL_PALETTE[(int(label) - 1) % len(LABEL_PALETTE)]


class LabelLayer:
    """A label overlay aligned with the volume: integer data and ``{label: name}``."""

    kind: Literal["label"] = "label"

    def __init__(self, name: str, data: xr.DataArray, labels: dict[int, str]) -> None:
        self.name = name
        self.data = data
        self.labels = labels


class HeatmapLayer:
    """A heat-map overlay aligned with the volume (float data, e.g. a saliency map)."""

    kind: Literal["heatmap"] = "heatmap"

    def __init__(self, name: str, data: xr.DataArray) -> None:
        self.name = name
        self.data = data
        values = np.asarray(data.data)
        finite = values[np.isfinite(values)]
        self.vmin = float(finite.min()) if finite.size else 0.0
        self.vmax = float(finite.max()) if finite.size else 1.0
        if self.vmax <= self.vmin:
            self.vmax = self.vmin + 1.0


def _labels_of(mask: xr.DataArray, values: npt.NDArray[Any]) -> dict[int, str]:
    names: dict[int, str] = {}
    raw = mask.attrs.get("labels")
    if isinstance(raw, Mapping):
        for key, name in raw.items():
            try:
                names[int(key)] = str(name)
            except (TypeError, ValueError):
                continue
    present = [int(v) for v in np.unique(values) if v != 0]
    for v in present:
        names.setdefault(v, f"label {v}")
    return dict(sorted(names.items()))


def _is_label(da: xr.DataArray) -> bool:
    dtype = np.asarray(da.data[:0]).dtype if hasattr(da.data, "dtype") else np.dtype("float32")
    return bool(
        np.issubdtype(dtype, np.integer)
        or dtype == np.bool_
        or da.attrs.get("units") == "label"
        or "labels" in da.attrs
    )


def overlay_layers(
    volume: xr.DataArray,
    overlays: xr.DataArray
    | Sequence[xr.DataArray]
    | Mapping[str, xr.DataArray]
    | None,
) -> list[LabelLayer | HeatmapLayer]:
    """Normalise ``overlays`` into layers on ``volume``'s grid.

    Integer, boolean or ``units == "label"`` arrays become label layers; floating-point
    arrays become heat maps. Overlays on another grid are resampled onto the volume's with
    :func:`oncoatlas.imaging.resample_to` (nearest neighbour for labels, linear for maps).

    Raises
    ------
    ValueError
        An overlay that is not a ``(z, y, x)`` volume with an ``affine`` attr.
    """
    from oncoatlas.imaging.resample import resample_to, same_grid

    if overlays is None:
        return []
    items: list[tuple[str, xr.DataArray]]
    if isinstance(overlays, Mapping):
        items = [(str(k), v) for k, v in overlays.items()]
    elif isinstance(overlays, Sequence) and not hasattr(overlays, "dims"):
        items = [(str(o.name or f"overlay {i + 1}"), o) for i, o in enumerate(overlays)]
    else:
        single: xr.DataArray = overlays  # type: ignore[assignment]
        items = [(str(single.name or "overlay"), single)]
    layers: list[LabelLayer | HeatmapLayer] = []
    for name, da in items:
        if getattr(da, "dims", None) != ("z", "y", "x") or "affine" not in da.attrs:
            raise ValueError(
                f"overlay {name!r} must be a (z, y, x) DataArray with an 'affine' attr "
                "(from open_mask, make_volume or a saliency/feature map); got "
                f"dims {getattr(da, 'dims', None)}"
            )
        label = _is_label(da)
        if not same_grid(da, volume):
            logger.info("resampling overlay %r onto the volume grid", name)
            da = resample_to(da, volume, order=0 if label else 1)
        if label:
            values = np.asarray(da.data)
            layers.append(LabelLayer(name, da.copy(data=values), _labels_of(da, values)))
        else:
            layers.append(HeatmapLayer(name, da.copy(data=np.asarray(da.data, dtype=np.float32))))
    return layers


def preset_bounds(
    volume: xr.DataArray, preset: Any = None
) -> tuple[float, float]:
    """Display bounds ``(low, high)`` for ``preset`` (a :class:`WindowPreset`, its name, or a
    ``(centre, width)`` tuple).

    ``None`` picks soft tissue for CT (HU) and the data-driven 1st-99.5th percentile window
    otherwise (MR, PET, mammography); percentiles are taken on a strided subsample.
    """
    from oncoatlas.imaging.windowing import WindowPreset, window_bounds

    if preset is None:
        preset = WindowPreset.SOFT_TISSUE if volume.attrs.get("units") == "HU" else WindowPreset.MAMMOGRAPHY
    if isinstance(preset, tuple):
        return window_bounds((float(preset[0]), float(preset[1])))
    preset = WindowPreset(preset)
    if preset.center_width is None:
        nz, ny, nx = volume.shape
        step = max(1, round((nz * ny * nx / 2e6) ** (1 / 3)))
        sample = np.asarray(volume.data[::step, ::step, ::step])
        return window_bounds(preset, sample)
    return window_bounds(preset)


def label_legend_html(layers: Sequence[LabelLayer | HeatmapLayer]) -> str:
    """An HTML legend: a colour swatch and name per label, and each heat map's range."""
    rows: list[str] = []
    for layer in layers:
        if isinstance(layer, LabelLayer):
            for value, name in layer.labels.items():
                r, g, b = label_color(value)
                rows.append(
                    f'<span style="display:inline-block;width:12px;height:12px;'
                    f'background:rgb({r},{g},{b});margin-right:4px"></span>'
                    f"{_esc(layer.name)}: {value} = {_esc(name)}"
                )
        else:
            rows.append(
                f"heat map {_esc(layer.name)}: {layer.vmin:.3g} … {layer.vmax:.3g}"
            )
    return '<div class="oncoatlas-legend">' + "<br>".join(rows) + "</div>"


def _esc(text: str) -> str:
    import html

    return html.escape(str(text))


def _nifti_bytes(da: xr.DataArray, dtype: npt.DTypeLike | None = None) -> bytes:
    from oncoatlas.imaging.nifti import write_nifti

    with tempfile.TemporaryDirectory(prefix="oncoatlas-niivue-") as tmp:
        path = Path(tmp) / "volume.nii"
        write_nifti(da, path, dtype=dtype)
        return path.read_bytes()


def _display_dtype(volume: xr.DataArray) -> npt.DTypeLike | None:
    """int16 for HU volumes whose range fits (half the bytes to the browser)."""
    if volume.attrs.get("units") != "HU":
        return None
    values = np.asarray(volume.data)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    return np.int16 if lo >= -32768 and hi <= 32767 else None


def _label_lut(layer: LabelLayer, opacity: float) -> dict[str, Any]:
    top = max(layer.labels) if layer.labels else 1
    values = list(range(0, top + 1))
    colors = [(0, 0, 0)] + [label_color(v) for v in values[1:]]
    alpha = [0] + [round(255 * opacity) if v in layer.labels else 0 for v in values[1:]]
    return {
        "R": [float(c[0]) for c in colors],
        "G": [float(c[1]) for c in colors],
        "B": [float(c[2]) for c in colors],
        "A": [float(a) for a in alpha],
        "I": [float(v) for v in values],
        "labels": [""] + [layer.labels.get(v, "") for v in values[1:]],
    }


class NiivueView:
    """The notebook viewer returned by :func:`view`: a NiiVue widget, controls and legend.

    Display it (it has ``_repr_mimebundle_``) or put :attr:`widget` in a layout.

    Attributes
    ----------
    nv : ipyniivue.NiiVue
        The NiiVue widget; ``nv.volumes[0]`` is the image, then one volume per overlay in
        the order of :attr:`layers`.
    layers : list of LabelLayer or HeatmapLayer
        The overlays, aligned with the image.
    widget : ipywidgets.VBox
        Controls (preset, per-overlay opacity and threshold), the viewer and the legend.
    """

    def __init__(
        self,
        volume: xr.DataArray,
        layers: list[LabelLayer | HeatmapLayer],
        *,
        preset: Any,
        label_opacity: float,
        heatmap_opacity: float,
        threshold: float | None,
        height: int,
        render: bool,
        controls: bool,
    ) -> None:
        import ipywidgets as w
        from ipyniivue import ColormapType, MultiplanarType, NiiVue, ShowRender, SliceType

        self.volume = volume
        self.layers = layers
        self.nv = NiiVue(
            height=height,
            slice_type=SliceType.MULTIPLANAR,
            multiplanar_show_render=ShowRender.ALWAYS if render else ShowRender.NEVER,
            multiplanar_layout=MultiplanarType.GRID,
            is_radiological_convention=True,
            show_legend=True,
            is_colorbar=False,
            back_color=(0.0, 0.0, 0.0, 1.0),
            drag_and_drop_enabled=False,
        )
        lo, hi = preset_bounds(volume, preset)
        vols: list[dict[str, Any]] = [
            {
                "data": _nifti_bytes(volume, _display_dtype(volume)),
                "name": f"{volume.name or 'image'}.nii",
                "colormap": "gray",
                "cal_min": lo,
                "cal_max": hi,
            }
        ]
        for i, layer in enumerate(layers):
            if isinstance(layer, LabelLayer):
                vols.append(
                    {
                        "data": _nifti_bytes(layer.data, np.uint16 if max(layer.labels, default=0) > 255 else np.uint8),
                        "name": f"overlay{i}-labels.nii",
                        "opacity": 1.0,
                    }
                )
            else:
                cut = self._default_threshold(layer) if threshold is None else float(threshold)
                vols.append(
                    {
                        "data": _nifti_bytes(layer.data, np.float32),
                        "name": f"overlay{i}-heatmap.nii",
                        "colormap": "warm",
                        "opacity": heatmap_opacity,
                        "cal_min": cut,
                        "cal_max": layer.vmax,
                        "colormap_type": ColormapType.ZERO_TO_MAX_TRANSPARENT_BELOW_MIN,
                    }
                )
        self.nv.load_volumes(vols)
        for i, layer in enumerate(layers):
            if isinstance(layer, LabelLayer):
                self.nv.volumes[i + 1].set_colormap_label(_label_lut(layer, label_opacity))
        self.legend = w.HTML(label_legend_html(layers))
        self._controls: list[Any] = []
        if controls:
            self._controls = self._make_controls(w, preset, label_opacity, heatmap_opacity)
        self.widget = w.VBox([*self._controls, self.nv, self.legend])

    @staticmethod
    def _default_threshold(layer: HeatmapLayer) -> float:
        return layer.vmin + 0.5 * (layer.vmax - layer.vmin)

    def _make_controls(
        self, w: Any, preset: Any, label_opacity: float, heatmap_opacity: float
    ) -> list[Any]:
        from oncoatlas.imaging.windowing import WindowPreset

        options = [p.value for p in WindowPreset]
        start = preset.value if isinstance(preset, WindowPreset) else preset
        if start not in options:
            start = "soft_tissue" if self.volume.attrs.get("units") == "HU" else "mammography"
        dropdown = w.Dropdown(options=options, value=start, description="window")
        dropdown.observe(lambda ch: self.set_preset(ch["new"]), names="value")
        rows: list[Any] = [dropdown]
        for i, layer in enumerate(self.layers):
            vol = self.nv.volumes[i + 1]
            if isinstance(layer, LabelLayer):
                op = w.FloatSlider(value=label_opacity, min=0.0, max=1.0, step=0.05,
                                   description=f"{layer.name[:12]} α")
                op.observe(lambda ch, k=i: self.set_opacity(k, ch["new"]), names="value")
                rows.append(op)
            else:
                op = w.FloatSlider(value=heatmap_opacity, min=0.0, max=1.0, step=0.05,
                                   description=f"{layer.name[:12]} α")
                op.observe(lambda ch, k=i: self.set_opacity(k, ch["new"]), names="value")
                th = w.FloatSlider(value=float(vol.cal_min if vol.cal_min is not None else layer.vmin),
                                   min=layer.vmin, max=layer.vmax,
                                   step=(layer.vmax - layer.vmin) / 100.0,
                                   description=f"{layer.name[:12]} ≥")
                th.observe(lambda ch, k=i: self.set_threshold(k, ch["new"]), names="value")
                rows.append(w.HBox([op, th]))
        return rows

    # -- actions -------------------------------------------------------------------------
    def set_preset(self, preset: Any) -> tuple[float, float]:
        """Apply a window preset (or ``(centre, width)``) to the image; returns the bounds."""
        lo, hi = preset_bounds(self.volume, preset)
        image = self.nv.volumes[0]
        image.cal_min, image.cal_max = lo, hi
        return lo, hi

    def set_window(self, center: float, width: float) -> tuple[float, float]:
        """Set the image's window by centre and width (HU for CT)."""
        return self.set_preset((center, width))

    def _layer_index(self, layer: int | str) -> int:
        if isinstance(layer, str):
            names = [lay.name for lay in self.layers]
            if layer not in names:
                raise KeyError(f"no overlay named {layer!r}; overlays are {names}")
            return names.index(layer)
        return int(layer)

    def set_opacity(self, layer: int | str, opacity: float) -> None:
        """Opacity (0-1) of an overlay, by index or name."""
        k = self._layer_index(layer)
        lay = self.layers[k]
        vol = self.nv.volumes[k + 1]
        if isinstance(lay, LabelLayer):
            vol.set_colormap_label(_label_lut(lay, float(opacity)))
        else:
            vol.opacity = float(opacity)

    def set_threshold(self, layer: int | str, threshold: float) -> None:
        """Hide heat-map values below ``threshold`` (by overlay index or name)."""
        k = self._layer_index(layer)
        if not isinstance(self.layers[k], HeatmapLayer):
            raise ValueError(f"overlay {self.layers[k].name!r} is a label map; thresholds apply to heat maps")
        self.nv.volumes[k + 1].cal_min = float(threshold)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def view(
    volume: xr.DataArray,
    overlays: xr.DataArray | Sequence[xr.DataArray] | Mapping[str, xr.DataArray] | None = None,
    *,
    preset: Any = None,
    label_opacity: float = 0.6,
    heatmap_opacity: float = 0.6,
    threshold: float | None = None,
    height: int = 480,
    render: bool = True,
    controls: bool = True,
) -> NiivueView:
    """Show a volume with overlays in the notebook (NiiVue: three planes and a 3D render).

    Parameters
    ----------
    volume : xarray.DataArray
        A ``(z, y, x)`` volume with an LPS ``affine`` attr (from
        :func:`oncoatlas.imaging.open_volume` or :func:`~oncoatlas.imaging.make_volume`).
    overlays : DataArray, list or dict of DataArrays, optional
        Label masks (integer/boolean, e.g. from :func:`~oncoatlas.imaging.open_mask`; the
        legend names come from ``attrs["labels"]``) and heat maps (floating point: saliency,
        feature maps). A dict gives the names. Overlays on another grid are resampled.
    preset : WindowPreset, str or (centre, width), optional
        Window/level (lung, mediastinum, bone, brain, soft_tissue, mammography); default
        soft tissue for CT, the 1st-99.5th percentile window otherwise.
    label_opacity, heatmap_opacity : float
        Initial overlay opacities (0-1).
    threshold : float, optional
        Heat-map values below it are transparent; default halfway between the map's
        minimum and maximum.
    height : int
        Viewer height in pixels.
    render : bool
        Show the 3D render tile next to the three planes.
    controls : bool
        Show the preset, opacity and threshold controls.

    Returns
    -------
    NiivueView
        Displays itself; its methods (:meth:`~NiivueView.set_preset`,
        :meth:`~NiivueView.set_opacity`, :meth:`~NiivueView.set_threshold`) change it live.

    See Also
    --------
    oncoatlas.widgets.SliceViewer : the Panel viewer (dashboards).
    oncoatlas.widgets.itk.view_itk : itkwidgets, opt-in only (loads its viewer from a CDN).

    References
    ----------
    NiiVue (https://github.com/niivue/niivue), ipyniivue; window presets as in
    :class:`oncoatlas.imaging.WindowPreset`.

    Examples
    --------
    >>> from oncoatlas.imaging import open_volume, open_mask  # doctest: +SKIP
    >>> vol = open_volume("STS_001/CT/image")  # doctest: +SKIP
    >>> view(vol, {"tumour": open_mask("STS_001/CT/mask/RS.dcm", like=vol)}, preset="soft_tissue")  # doctest: +SKIP
    """
    if getattr(volume, "dims", None) != ("z", "y", "x") or "affine" not in volume.attrs:
        raise ValueError(
            "view() needs a (z, y, x) DataArray with an 'affine' attr; open it with "
            f"oncoatlas.imaging.open_volume (got {type(volume).__name__} with dims "
            f"{getattr(volume, 'dims', None)})"
        )
    volume = volume.copy(data=np.asarray(volume.data, dtype=np.float32))
    layers = overlay_layers(volume, overlays)
    return NiivueView(
        volume,
        layers,
        preset=preset,
        label_opacity=label_opacity,
        heatmap_opacity=heatmap_opacity,
        threshold=threshold,
        height=height,
        render=render,
        controls=controls,
    )
