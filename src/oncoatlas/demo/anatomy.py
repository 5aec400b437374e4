"""Synthetic anatomy: chest CT (HU), prostate MR (T2W and ADC) and breast mammograms.

Simple geometric phantoms with plausible values and realistic noise, small enough to
generate hundreds per minute. Coordinates are patient LPS in mm (x to the patient's left,
y posterior, z superior); volumes are indexed ``[slice, row, column]`` with rows along +y
and columns along +x, as an axial DICOM series with ImageOrientationPatient
``[1, 0, 0, 0, 1, 0]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from oncoatlas.demo.lesions import correlated_noise

__all__ = ["Grid", "breast_mammogram", "chest_ct", "prostate_mr"]

F32 = NDArray[np.float32]
B = NDArray[np.bool_]


@dataclass(frozen=True)
class Grid:
    """An axial voxel grid: ``shape`` (slices, rows, cols) and spacing (mm) in the same order.

    ``origin`` is the LPS position (mm) of the centre of voxel ``[0, 0, 0]``.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    def coords(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return broadcastable z (slices), y (rows), x (cols) coordinate arrays in mm."""
        nz, ny, nx = self.shape
        dz, dy, dx = self.spacing
        ox, oy, oz = self.origin
        z = np.asarray(oz + dz * np.arange(nz), dtype=np.float64)[:, None, None]
        y = np.asarray(oy + dy * np.arange(ny), dtype=np.float64)[None, :, None]
        x = np.asarray(ox + dx * np.arange(nx), dtype=np.float64)[None, None, :]
        return z, y, x

    def to_mm(self, index: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map ``(slice, row, col)`` indices to LPS ``(x, y, z)`` mm."""
        k, r, c = index
        ox, oy, oz = self.origin
        dz, dy, dx = self.spacing
        return np.array([ox + c * dx, oy + r * dy, oz + k * dz])


def chest_ct(grid: Grid, rng: np.random.Generator, noise_hu: float = 15.0) -> tuple[F32, B]:
    """Return a chest CT volume in HU and its lung mask.

    Body outline (soft tissue 40 HU under a subcutaneous fat layer at -100 HU, air -1000 HU
    outside), two lungs (-850 HU with vessels) that taper towards the apex and sit on
    diaphragm domes, mediastinum and heart (40 HU), descending aorta, a vertebral body with
    cortical shell and spinal canal, sternum, and ribs crossing the slices obliquely.
    Noise is correlated Gaussian of ``noise_hu`` standard deviation (a CT-like noise power
    spectrum without a DC peak).
    """
    z, y, x = grid.coords()
    nz = grid.shape[0]
    z_mid = float(z[nz // 2, 0, 0])
    span = grid.spacing[0] * nz
    t = (z - (z_mid - span / 2)) / span  # 0 at the bottom slice, 1 at the top
    a = rng.uniform(145, 165) * (0.95 + 0.05 * np.sin(np.pi * t))
    b = rng.uniform(100, 115) * (0.95 + 0.05 * np.sin(np.pi * t))
    ry = y - 5.0
    body_r = (x / a) ** 2 + (ry / b) ** 2
    body = body_r <= 1.0
    fat_depth = rng.uniform(0.12, 0.22)
    hu = np.full(grid.shape, -1000.0, dtype=np.float32)
    hu[np.broadcast_to(body, grid.shape)] = -100.0
    muscle = body_r <= (1.0 - fat_depth) ** 2
    hu[np.broadcast_to(muscle, grid.shape)] = 45.0

    # lungs: ellipses that shrink towards the apex and end on a dome-shaped diaphragm
    taper = np.clip(1.15 - 0.55 * t**2, 0.3, 1.0)
    lungs = np.zeros(grid.shape, dtype=bool)
    for side in (-1.0, 1.0):
        cx = side * rng.uniform(62, 75)
        la = rng.uniform(45, 55) * taper
        lb = rng.uniform(70, 80) * taper
        dome = (z_mid - span * 0.42) + 25.0 * np.exp(
            -((x - cx) ** 2 + (y + 5) ** 2) / (2 * 45.0**2)
        )
        lung = ((x - cx) / la) ** 2 + ((y - 2.0) / lb) ** 2 <= 1.0
        lungs |= lung & (z >= dome)
    lungs &= np.broadcast_to(muscle, grid.shape)
    vessels = correlated_noise(grid.shape, (1.0, 1.2, 1.2), rng)
    lung_hu = -860.0 + 25.0 * vessels + np.where(vessels > 2.2, 700.0, 0.0)
    hu = np.where(lungs, lung_hu, hu).astype(np.float32)

    # heart and great vessels in the mediastinum
    heart = ((x - 15) / 60) ** 2 + ((y + 25) / 50) ** 2 + (
        (z - (z_mid - span * 0.2)) / 55
    ) ** 2 <= 1.0
    hu[heart & ~lungs] = 40.0
    aorta = (x - 20) ** 2 + (y - 55) ** 2 <= 13.0**2
    hu[np.broadcast_to(aorta, grid.shape)] = 45.0
    # spine: vertebral body with cortical shell, spinal canal, posterior elements
    vb = x**2 + (y - 75) ** 2
    hu[np.broadcast_to(vb <= 19.0**2, grid.shape)] = 700.0
    hu[np.broadcast_to(vb <= 15.5**2, grid.shape)] = 250.0
    canal = x**2 + (y - 102) ** 2 <= 8.0**2
    lamina = (np.abs(x) <= 22) & (np.abs(y - 110) <= 4)
    hu[np.broadcast_to(lamina, grid.shape)] = 600.0
    hu[np.broadcast_to(canal, grid.shape)] = 20.0
    sternum = (np.abs(x) <= 14) & (np.abs(y - (5.0 - b * (1 - fat_depth) + 12)) <= 5)
    hu[sternum & ~lungs] = 450.0
    # ribs: small bone ellipses on the inner chest wall, present in bands that move with z
    theta = np.arctan2(ry / b, x / a)
    rim = np.abs(np.sqrt(body_r) - (1.0 - fat_depth * 0.8)) < 0.035
    band = np.cos(2 * np.pi * (z / 24.0 + 0.8 * np.abs(np.sin(theta)))) > 0.55
    ribs = rim & band & (np.abs(x) > 25)
    hu[ribs] = 650.0

    hu += noise_hu * correlated_noise(grid.shape, (0.4, 0.7, 0.7), rng)
    return hu.astype(np.float32), lungs


def prostate_mr(grid: Grid, rng: np.random.Generator) -> tuple[F32, F32, B, B]:
    """Return prostate T2W and ADC volumes and masks of the peripheral and transition zones.

    T2W (arbitrary units, 0–~1500): subcutaneous fat bright, gluteal/obturator muscle dark
    grey, bladder (fluid) very bright above the gland, rectum with dark wall and air, femoral
    heads (marrow) and pubic bone, prostate with a bright peripheral zone (PZ) crescent and a
    heterogeneous intermediate transition zone (TZ). ADC (1e-6 mm²/s, 0–~3000): fluid ~2800,
    PZ ~1700, TZ ~1250, muscle ~1400, fat ~300. Noise is Rician (magnitude of complex
    Gaussian noise), as on magnitude MR images.
    """
    z, y, x = grid.coords()
    body = (x / 190.0) ** 2 + ((y - 5) / 135.0) ** 2 <= 1.0
    t2 = np.zeros(grid.shape, dtype=np.float32)
    adc = np.zeros(grid.shape, dtype=np.float32)
    b3 = np.broadcast_to(body, grid.shape)
    t2[b3] = 1100.0  # fat
    adc[b3] = 300.0
    muscle = ((x / 150.0) ** 2 + ((y - 10) / 105.0) ** 2 <= 1.0) & ~(
        ((x / 70.0) ** 2 + ((y - 5) / 60.0) ** 2) <= 1.0
    )
    m3 = np.broadcast_to(muscle, grid.shape)
    t2[m3] = 380.0
    adc[m3] = 1400.0
    pelvis = ((x / 70.0) ** 2 + ((y - 5) / 60.0) ** 2) <= 1.0
    p3 = np.broadcast_to(pelvis, grid.shape)
    t2[p3] = 900.0  # periprostatic fat
    adc[p3] = 400.0
    for side in (-1.0, 1.0):  # femoral heads: marrow with a dark cortex
        fh = (x - side * 95.0) ** 2 + (y - 10.0) ** 2
        t2[np.broadcast_to(fh <= 24.0**2, grid.shape)] = 150.0
        t2[np.broadcast_to(fh <= 21.0**2, grid.shape)] = 800.0
        adc[np.broadcast_to(fh <= 24.0**2, grid.shape)] = 450.0
    pubis = (np.abs(x) <= 40) & (np.abs(y + 52.0) <= 7)
    t2[np.broadcast_to(pubis, grid.shape)] = 200.0
    # rectum posterior to the gland
    rect = x**2 + (y - 38.0) ** 2
    t2[np.broadcast_to(rect <= 14.0**2, grid.shape)] = 300.0
    t2[np.broadcast_to(rect <= 8.0**2, grid.shape)] = 30.0
    adc[np.broadcast_to(rect <= 14.0**2, grid.shape)] = 1100.0
    # bladder above the gland
    zc = float(z[grid.shape[0] // 2, 0, 0])
    bladder = (x / 45.0) ** 2 + ((y + 5.0) / 35.0) ** 2 + ((z - (zc + 45.0)) / 30.0) ** 2 <= 1.0
    t2[bladder] = 1500.0
    adc[bladder] = 2800.0
    # prostate gland: ellipsoid with PZ (posterior crescent) and TZ (central)
    ga, gb, gc = rng.uniform(20, 25), rng.uniform(15, 18), rng.uniform(16, 20)
    gland_r = (x / ga) ** 2 + ((y - 8.0) / gb) ** 2 + ((z - zc) / gc) ** 2
    gland = gland_r <= 1.0
    tz = (
        (x / (ga * 0.62)) ** 2 + ((y - 3.0) / (gb * 0.62)) ** 2 + ((z - zc) / (gc * 0.8)) ** 2
    ) <= 1.0
    pz = gland & ~tz & (y > 0.0)
    tz = gland & ~pz
    texture = correlated_noise(grid.shape, (0.8, 1.5, 1.5), rng)
    t2 = np.where(tz, 520.0 + 70.0 * texture, t2)
    t2 = np.where(pz, 1150.0 + 40.0 * texture, t2)
    adc = np.where(tz, 1250.0 + 60.0 * texture, adc)
    adc = np.where(pz, 1700.0 + 50.0 * texture, adc)

    def rician(img: NDArray[np.float64] | F32, sigma: float) -> F32:
        re = np.asarray(img, dtype=np.float64) + sigma * rng.standard_normal(img.shape)
        im = sigma * rng.standard_normal(img.shape)
        return np.sqrt(re**2 + im**2).astype(np.float32)

    t2 = ndimage.gaussian_filter(t2, (0.0, 0.6, 0.6))
    adc = ndimage.gaussian_filter(adc, (0.0, 0.9, 0.9))
    return rician(t2, 25.0), rician(adc, 60.0), pz, tz


def breast_mammogram(
    rows: int, cols: int, spacing: float, view: str, rng: np.random.Generator
) -> tuple[F32, B]:
    """Return a left-breast mammogram (chest wall at column 0) and its breast-tissue mask.

    For presentation: higher values are denser (MONOCHROME2, 12 bit). The breast is a half
    ellipse from the chest wall with a bright skin line, fatty background and fibroglandular
    tissue made of power-law (1/f³) texture that is densest behind the nipple and fades
    towards the skin; MLO views add the pectoral muscle as a bright triangle in the upper
    chest-wall corner. Noise is quantum-like (standard deviation growing with the square
    root of the signal). Flip the columns for a right breast.

    Parameters
    ----------
    rows, cols : int
        Image size.
    spacing : float
        Pixel spacing in mm (isotropic).
    view : {"CC", "MLO"}
        The projection.
    rng : numpy.random.Generator
        Source of randomness.
    """
    r = np.arange(rows, dtype=float)[:, None]
    c = np.arange(cols, dtype=float)[None, :]
    depth = cols * rng.uniform(0.72, 0.88)
    half_h = rows * (rng.uniform(0.36, 0.44) if view == "CC" else rng.uniform(0.42, 0.47))
    centre_r = rows / 2 + (0.0 if view == "CC" else rows * 0.04)
    ell = (c / depth) ** 2 + ((r - centre_r) / half_h) ** 2
    breast = ell <= 1.0
    # fibroglandular texture: 1/f^3 power-law noise (Burgess 2001)
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.rfftfreq(cols)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    spectrum = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) / f**1.5
    spectrum[0, 0] = 0.0
    tex = np.fft.irfft2(spectrum, s=(rows, cols))
    tex = (tex - tex.mean()) / tex.std()
    density = rng.uniform(0.15, 0.6)  # overall fibroglandular fraction
    weight = np.clip(1.0 - ell, 0.0, 1.0) ** 0.6
    glandular = 1.0 / (1.0 + np.exp(-(tex + 2.5 * (weight - 0.5) + 2.0 * (density - 0.4)) * 2.2))
    img = np.full((rows, cols), 90.0)
    thickness = np.sqrt(np.clip(1.0 - ell, 0.0, 1.0))  # compressed thickness falls off at the edge
    tissue = 1300.0 + 250.0 * thickness + 1100.0 * glandular * weight
    img = np.where(breast, tissue, img)
    skin = breast & (ell > 0.94)
    img[skin] += 250.0
    pect = np.zeros_like(breast)
    if view == "MLO":
        pect = (c / (cols * 0.32)) + (r / (rows * 0.55)) <= 1.0
        img = np.where(pect & breast, 2700.0 + 60.0 * tex, img)
    img = ndimage.gaussian_filter(img, 0.7)
    img += np.sqrt(np.maximum(img, 1.0)) * 1.6 * rng.standard_normal(img.shape)
    return np.clip(img, 0, 4095).astype(np.float32), breast & ~skin & ~pect
