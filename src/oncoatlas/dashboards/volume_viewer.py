"""Volume Viewer dashboard page: pick a series, see it in three linked planes with its
segmentation.

The series come from the catalog given to ``oncoatlas serve --catalog DIR``, or from the
catalogs on disk of the central nodes of ``--federation FED.yaml`` (federated nodes never
send pixels). Series with a segmentation are listed first. The chosen series is opened with
:func:`oncoatlas.imaging.open_volume`, its segmentations (the catalog's ``segmentations``
view) with :func:`oncoatlas.imaging.open_mask` aligned to it, and both are shown in the
:class:`oncoatlas.widgets.SliceViewer`. Loading runs in a worker thread behind Panel's
loading indicator, so other sessions keep answering.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import panel as pn
import param

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["SeriesEntry", "VolumeViewer", "list_series"]

logger = logging.getLogger(__name__)

#: modalities that are not images to look at
_NOT_IMAGES = ("SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "REG")
#: projection modalities: a series holds separate 2D images (views), offered one by one
_PROJECTION = ("MG", "CR", "DX", "RF", "XA")


@dataclass(frozen=True)
class SeriesEntry:
    """One series offered by the picker."""

    series_uid: str
    catalog: str
    node: str
    patient_id: str
    modality: str
    description: str
    has_segmentation: bool
    path: str | None = None
    image: int | None = None

    @property
    def key(self) -> str:
        """Unique key: the series UID, plus ``#n`` for the n-th image of a projection series."""
        return self.series_uid if self.image is None else f"{self.series_uid}#{self.image}"

    @property
    def label(self) -> str:
        """What the picker shows."""
        seg = " · segmented" if self.has_segmentation else ""
        img = f" · image {self.image}" if self.image is not None else ""
        desc = self.description or "(no description)"
        return f"{self.patient_id} · {self.modality} · {desc}{img}{seg} [{self.node}]"


def _catalog_dirs(catalog: str | None, federation: str | None) -> list[str]:
    if catalog:
        return [catalog]
    if federation:
        from oncoatlas.federation import Federation

        fed = Federation.from_yaml(federation)
        return [
            str(node.catalog)
            for node in fed.nodes
            if node.role == "central" and node.catalog is not None and Path(node.catalog).exists()
        ]
    return []


def _query(catalog_dir: str, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    from oncoatlas.catalog import Catalog

    cat = Catalog.open(catalog_dir)
    try:
        return cat.sql(sql, params)
    finally:
        cat.close()


def list_series(catalog: str | None = None, federation: str | None = None) -> list[SeriesEntry]:
    """The image series of a catalog (or of a federation's central catalogs), segmented first.

    Parameters
    ----------
    catalog : str, optional
        A catalog folder.
    federation : str, optional
        A federation YAML; the catalogs of its central nodes on this disk are listed.
    """
    entries: list[SeriesEntry] = []
    for cat_dir in _catalog_dirs(catalog, federation):
        df = _query(
            cat_dir,
            "SELECT series_uid, node, patient_id, modality, series_description, has_segmentation "
            "FROM series WHERE NOT list_contains(?, modality) "
            "ORDER BY has_segmentation DESC, patient_id, modality, series_description",
            [list(_NOT_IMAGES)],
        )
        projections = df[df["modality"].isin(_PROJECTION)]
        files: dict[str, list[str]] = {}
        if len(projections):
            inst = _query(
                cat_dir,
                "SELECT series_uid, path FROM instances WHERE series_uid IN "
                "(SELECT series_uid FROM series WHERE list_contains(?, modality)) "
                "ORDER BY series_uid, instance_number, path",
                [list(_PROJECTION)],
            )
            for uid, path in zip(inst["series_uid"], inst["path"], strict=True):
                files.setdefault(str(uid), []).append(str(path))
        for row in df.itertuples(index=False):
            common = {
                "series_uid": str(row.series_uid),
                "catalog": cat_dir,
                "node": str(row.node),
                "patient_id": str(row.patient_id),
                "modality": str(row.modality),
                "description": str(row.series_description or ""),
                "has_segmentation": bool(row.has_segmentation),
            }
            if str(row.modality) in _PROJECTION:
                for i, path in enumerate(files.get(str(row.series_uid), []), start=1):
                    entries.append(SeriesEntry(**common, path=path, image=i))  # type: ignore[arg-type]
            else:
                entries.append(SeriesEntry(**common))  # type: ignore[arg-type]
    entries.sort(key=lambda e: (not e.has_segmentation, e.patient_id, e.modality, e.description))
    return entries


def open_series(entry: SeriesEntry) -> tuple[xr.DataArray, xr.DataArray | None]:
    """Open a series and its segmentations (merged into one label mask, labels renumbered)."""
    import warnings

    from oncoatlas.imaging import open_mask, open_volume

    if entry.path is not None:
        # one 2D image of a projection series; its SEG frames refer to single images, which
        # open_mask does not map onto a 2D image yet, so no overlay is drawn
        return open_volume(entry.path), None
    vol = open_volume(entry.series_uid, catalog=entry.catalog)
    segs = _query(
        entry.catalog,
        "SELECT DISTINCT path FROM segmentations WHERE referenced_series_uid = ? ORDER BY path",
        [entry.series_uid],
    )
    merged: np.ndarray[Any, Any] | None = None
    names: dict[int, str] = {}
    mask: xr.DataArray | None = None
    for path in segs["path"]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = open_mask(str(path), like=vol)
        except Exception as exc:  # one broken segmentation must not hide the image
            logger.warning("segmentation %s not shown: %s", path, exc)
            continue
        data = np.asarray(m.data).astype(np.uint16)
        offset = max(names, default=0)
        labels = {int(k): str(v) for k, v in (m.attrs.get("labels") or {}).items()}
        if merged is None:
            merged = np.zeros(vol.shape, dtype=np.uint16)
            mask = m
        for value in np.unique(data[data > 0]):
            merged[data == value] = offset + int(value)
            names[offset + int(value)] = labels.get(int(value), f"label {value}")
    if mask is None or merged is None:
        return vol, None
    dtype = np.uint8 if max(names, default=0) < 256 else np.uint16
    out = mask.copy(data=merged.astype(dtype))
    out.attrs["labels"] = names
    out.name = "segmentation"
    return vol, out


class VolumeViewer(pn.viewable.Viewer):
    """The Volume Viewer page: a series picker and the three-plane slice viewer.

    Parameters
    ----------
    catalog, federation : str, optional
        The data source given to ``oncoatlas serve``.
    """

    catalog = param.String(default=None, allow_None=True, doc="Catalog folder to list series from.")
    federation = param.String(
        default=None, allow_None=True, doc="Federation YAML; its central nodes' catalogs are listed."
    )
    series_uid: param.Selector = param.Selector(default=None, objects=[], allow_None=True, doc="The series shown.")
    show_segmentation = param.Boolean(default=True, doc="Overlay the series' segmentation.")
    status = param.String(default="", doc="What is loaded, or why nothing is.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._entries = {e.key: e for e in list_series(self.catalog, self.federation)}
        self.param.series_uid.objects = {e.label: uid for uid, e in self._entries.items()}
        self.viewer: Any = None
        self._loaded: tuple[str, Any, Any] | None = None
        self._content = pn.Column(sizing_mode="stretch_width", min_height=400)
        if not self._entries:
            where = self.catalog or self.federation or "no data source"
            self.status = (
                f"No image series found in {where}: start with `oncoatlas serve --catalog DIR` "
                "(a catalog made by `oncoatlas index`) or `--federation FED.yaml` with a central node."
            )
        else:
            first = next(iter(self._entries))
            with param.parameterized.discard_events(self):
                self.series_uid = first
            self.load(first)

    # -- loading -----------------------------------------------------------------------------
    def load(self, series_uid: str) -> Any:
        """Open ``series_uid`` (a picker key) with its segmentation and show it.

        Returns the :class:`~oncoatlas.widgets.SliceViewer`, or ``None`` (with the reason in
        :attr:`status`) when the series cannot be opened.
        """
        from oncoatlas.widgets.slice_viewer import SliceViewer

        entry = self._entries[series_uid]
        try:
            vol, mask = open_series(entry)
            self._loaded = (series_uid, vol, mask)
        except Exception as exc:
            logger.warning("cannot open %s: %s", series_uid, exc)
            self.status = f"Cannot open series {series_uid}: {exc}"
            self._content[:] = [pn.pane.Alert(self.status, alert_type="danger")]
            return None
        return self._show(entry, vol, mask, SliceViewer)

    def _show(self, entry: SeriesEntry, vol: xr.DataArray, mask: xr.DataArray | None, cls: Any) -> Any:
        self.viewer = cls(vol, labels=mask if self.show_segmentation else None)
        shape = " x ".join(str(n) for n in vol.shape[::-1])
        if mask is not None and not self.show_segmentation:
            seg = "; segmentation hidden"
        elif mask is not None:
            seg = f"; segmentation: {', '.join(mask.attrs['labels'].values())}"
        elif entry.path is not None and entry.has_segmentation:
            seg = "; segmentations of 2D images are not overlaid yet"
        else:
            seg = "; no segmentation"
        self.status = (
            f"**{entry.patient_id}** · {entry.modality} · {entry.description} · {shape} voxels "
            f"({vol.attrs.get('units', '')}){seg}"
        )
        self._content[:] = [pn.pane.Markdown(self.status), self.viewer]
        return self.viewer

    @param.depends("series_uid", "show_segmentation", watch=True)
    async def _load_async(self) -> None:
        """Load in a worker thread behind the loading indicator (other sessions keep going)."""
        uid = self.series_uid
        if uid is None:
            return
        from oncoatlas.widgets.slice_viewer import SliceViewer

        entry = self._entries[uid]
        self._content.loading = True
        try:
            if self._loaded is not None and self._loaded[0] == uid:
                vol, mask = self._loaded[1], self._loaded[2]  # overlay toggled: no re-read
            else:
                vol, mask = await asyncio.to_thread(open_series, entry)
                self._loaded = (uid, vol, mask)
            if uid == self.series_uid:
                self._show(entry, vol, mask, SliceViewer)
        except Exception as exc:
            self.status = f"Cannot open series {uid}: {exc}"
            self._content[:] = [pn.pane.Alert(self.status, alert_type="danger")]
        finally:
            self._content.loading = False

    def __panel__(self) -> Any:
        picker = pn.widgets.Select.from_param(self.param.series_uid, name="Series", width=620)
        seg = pn.widgets.Checkbox.from_param(self.param.show_segmentation, name="segmentation overlay")
        header = pn.pane.Markdown(
            "## Volume Viewer\nSeries with a segmentation come first. Click a plane to move the "
            "crosshair; the sliders move the slices."
        )
        if not self._entries:
            return pn.Column(header, pn.pane.Alert(self.status, alert_type="warning"))
        return pn.Column(header, pn.Row(picker, seg), self._content, sizing_mode="stretch_width")


if pn.state.served:
    # `panel serve src/oncoatlas/dashboards/volume_viewer.py` (data source from the environment)
    import os

    VolumeViewer(
        catalog=os.environ.get("ONCOATLAS_CATALOG"), federation=os.environ.get("ONCOATLAS_FEDERATION")
    ).servable()
