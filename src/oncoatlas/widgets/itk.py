"""Optional itkwidgets adapter: show a volume with itkwidgets (itk-viewer) when asked.

Not the default, and never chosen automatically: itkwidgets 1.x loads its viewer
application (itk-viewer / itk-vtk-viewer JavaScript) from a CDN when the widget is
displayed, so offline — an air-gapped hospital network, a locked-down JupyterHub — the
cell stays blank, and in several JupyterLab versions it renders blank even online. The
default notebook viewer, :func:`oncoatlas.widgets.view`, uses ipyniivue, whose JavaScript
ships in its wheel. Use this adapter on a machine that is online, when you want
itk-viewer's tools (e.g. its transfer-function editor).

itkwidgets is not a dependency of oncoatlas: ``pip install "itkwidgets[all]"``.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["itkwidgets_available", "view_itk"]

logger = logging.getLogger(__name__)


def itkwidgets_available() -> bool:
    """Whether itkwidgets can be imported here."""
    return importlib.util.find_spec("itkwidgets") is not None


def _spatial(da: xr.DataArray) -> xr.DataArray:
    """The array with plain ``(z, y, x)`` mm coordinates, as itkwidgets reads spacing and
    origin from an xarray's coordinates (direction cosines are not passed: itk-viewer shows
    the voxel grid axis-aligned)."""
    import xarray as xr

    return xr.DataArray(
        np.asarray(da.data),
        dims=("z", "y", "x"),
        coords={d: np.asarray(da[d].values, dtype=np.float64) for d in ("z", "y", "x")},
        name=str(da.name or "image"),
    )


def view_itk(
    volume: xr.DataArray,
    labels: xr.DataArray | None = None,
    **kwargs: Any,
) -> Any:
    """Show ``volume`` (and a label mask) with itkwidgets — online only, never the default.

    Parameters
    ----------
    volume : xarray.DataArray
        A ``(z, y, x)`` volume from :func:`oncoatlas.imaging.open_volume`.
    labels : xarray.DataArray, optional
        A label mask on the same grid (resampled with
        :func:`oncoatlas.imaging.resample_to` when it is not).
    **kwargs
        Passed to ``itkwidgets.view``.

    Returns
    -------
    object
        The itkwidgets viewer.

    Raises
    ------
    ModuleNotFoundError
        itkwidgets is not installed (the message says how to install it, and that
        :func:`oncoatlas.widgets.view` works without it).

    Notes
    -----
    itkwidgets fetches its viewer from a CDN at display time; it fails offline. See the
    module docstring.
    """
    if not itkwidgets_available():
        raise ModuleNotFoundError(
            "itkwidgets is not installed; pip install 'itkwidgets[all]' (it needs network "
            "access when displayed), or use oncoatlas.widgets.view, which works offline",
            name="itkwidgets",
        )
    import itkwidgets

    from oncoatlas.imaging.resample import resample_to, same_grid

    logger.info("itkwidgets loads its viewer from a CDN at display time; this fails offline")
    if labels is not None and not same_grid(labels, volume):
        labels = resample_to(labels, volume, order=0)
    args: dict[str, Any] = {"image": _spatial(volume)}
    if labels is not None:
        args["label_image"] = _spatial(labels)
    args.update(kwargs)
    return itkwidgets.view(**args)
