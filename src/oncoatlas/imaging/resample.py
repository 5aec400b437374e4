"""Resampling a volume, mask or map onto another grid through the affines.

The output voxel ``(i, j, k)`` of ``like`` is mapped to LPS with ``like``'s affine, then to
the source's continuous index with the inverse of the source affine, and the source is
interpolated there (:func:`scipy.ndimage.affine_transform`): nearest neighbour for label
masks (``order=0``), linear for images and maps (``order=1``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from oncoatlas.imaging.volume import make_volume

__all__ = ["resample_to", "same_grid"]

# swaps (i, j, k) and array (z, y, x) order in homogeneous coordinates
_SWAP = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def same_grid(a: xr.DataArray, b: xr.DataArray, atol: float = 1e-4) -> bool:
    """Whether two volumes share shape and affine (to ``atol`` mm)."""
    return a.shape == b.shape and bool(
        np.allclose(np.asarray(a.attrs["affine"]), np.asarray(b.attrs["affine"]), atol=atol)
    )


def resample_to(
    image: xr.DataArray, like: xr.DataArray, *, order: int | None = None, fill: float = 0.0
) -> xr.DataArray:
    """Resample ``image`` onto the grid of ``like``.

    Parameters
    ----------
    image
        Volume, mask or map with an ``affine`` attr.
    like
        Volume defining the target grid (shape and affine).
    order
        Spline order: 0 nearest (default for integer and boolean data, i.e. masks), 1 linear
        (default for floating-point data).
    fill
        Value outside the source.

    Returns
    -------
    xarray.DataArray
        On ``like``'s grid and coordinates, with ``image``'s dtype and non-geometry attrs.
    """
    from scipy import ndimage

    for name, da in (("image", image), ("like", like)):
        if da.attrs.get("regular") is False:
            raise ValueError(
                f"{name} keeps its acquired, non-uniform slices (irregular='keep'), so its affine "
                "does not locate every slice; open it with irregular='resample' first"
            )
    src = np.asarray(image.data)
    if order is None:
        order = 1 if np.issubdtype(src.dtype, np.floating) else 0
    geometry_keys = {
        "affine",
        "spacing",
        "origin",
        "direction",
        "acquired_positions",
        "regular",
        "resampled_z",
    }
    attrs: dict[str, Any] = {k: v for k, v in image.attrs.items() if k not in geometry_keys}
    attrs["frame_of_reference_uid"] = like.attrs.get(
        "frame_of_reference_uid", attrs.get("frame_of_reference_uid", "")
    )
    if same_grid(image, like):
        out = src
    else:
        a_src = np.asarray(image.attrs["affine"], dtype=np.float64)
        a_like = np.asarray(like.attrs["affine"], dtype=np.float64)
        m = _SWAP @ np.linalg.inv(a_src) @ a_like @ _SWAP
        work = src.astype(np.float32) if src.dtype == np.bool_ else src
        out = ndimage.affine_transform(
            work,
            m,
            output_shape=like.shape,
            order=order,
            mode="constant",
            cval=fill,
            prefilter=order > 1,
        )
        out = out.astype(src.dtype)
    res = make_volume(
        out,
        like.attrs["affine"],
        name=str(image.name) if image.name is not None else None,
        attrs=attrs,
    )
    return res.assign_coords(z=like["z"].values, y=like["y"].values, x=like["x"].values)
