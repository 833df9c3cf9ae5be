"""Local facial concepts: part masks per stimulus from facial landmarks.

Two landmark layouts are understood, told apart by their number of points:

- the 68-point iBUG 300-W convention (dlib's predictor, ``import --detect-landmarks``, the
  simulator's 3D world): jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67;
- the flat virtual face patch's named layout (:data:`neurofacedis.simulate.LANDMARK_NAMES`,
  35 points: face outline, head top, hairline, brows, eyes, nose, mouth).

Each part is the region its landmarks enclose (eyes, nose, mouth: the polygon through the
points, sorted by angle about their centre, widened by ``r``) or a band of half-width ``r``
along them (brows, jaw line); ``forehead`` is the region above the brows (hair included), as
tall as the eyes are apart and as wide as the brows. ``r`` is 0.12 of the distance between the
eye centres, so masks scale with the face. Parts may overlap: each is scored on its own.
"""

from __future__ import annotations

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["PARTS", "part_masks", "layout_for"]

#: The local concepts, in the order masks are returned.
PARTS: tuple[str, ...] = ("forehead", "brows", "eyes", "nose", "mouth", "jaw")

_R = 0.12  # band half-width / polygon margin, as a share of the inter-ocular distance

# per layout: part -> (kind, groups of point indices); kind "area" fills, "band" strokes
_IBUG68 = {
    "brows": ("band", (range(17, 22), range(22, 27))),
    "eyes": ("area", (range(36, 42), range(42, 48))),
    "nose": ("area", (range(27, 36),)),
    "mouth": ("area", (range(48, 60),)),
    "jaw": ("band", (range(0, 17),)),
}
_FLAT35 = {
    "brows": ("band", (range(13, 16), range(16, 19))),
    "eyes": ("area", (range(19, 23), range(23, 27))),
    "nose": ("area", (range(27, 31),)),
    "mouth": ("area", (range(31, 35),)),
    "jaw": ("band", (range(2, 9),)),
}
_LAYOUTS = {68: _IBUG68, 35: _FLAT35}


def layout_for(n_points: int) -> dict[str, tuple[str, tuple[range, ...]]]:
    """Return the part layout for landmarks with ``n_points`` points per face."""
    if n_points not in _LAYOUTS:
        raise InputError(f"{n_points} landmarks per face: local concepts need the 68-point "
                         "iBUG layout (or the flat simulator's 35 points)", obj="landmarks")
    return _LAYOUTS[n_points]


def _grid(shape: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Pixel-centre coordinates (P, 2) of a ``grid`` raster over an image of ``shape``."""
    (h, w), (gy, gx) = shape, grid
    ys = (np.arange(gy) + 0.5) * h / gy - 0.5
    xs = (np.arange(gx) + 0.5) * w / gx - 0.5
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def _segment_distance(pix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance (n, P) from every pixel to the polyline through ``pts`` (n, k, 2)."""
    a, b = pts[:, :-1, None, :], pts[:, 1:, None, :]  # (n, k-1, 1, 2)
    p = pix[None, None]  # (1, 1, P, 2)
    ab = b - a
    den = np.maximum((ab**2).sum(-1), 1e-12)
    t = np.clip(((p - a) * ab).sum(-1) / den, 0.0, 1.0)
    d = np.sqrt((((a + t[..., None] * ab) - p) ** 2).sum(-1))
    return d.min(axis=1)


def _inside(pix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Whether each pixel lies in the polygon through ``pts`` (n, k, 2) sorted by angle."""
    c = pts.mean(axis=1, keepdims=True)
    order = np.argsort(np.arctan2(pts[..., 1] - c[..., 1], pts[..., 0] - c[..., 0]), axis=1)
    poly = np.take_along_axis(pts, order[..., None], axis=1)
    nxt = np.roll(poly, -1, axis=1)
    x, y = pix[None, None, :, 0], pix[None, None, :, 1]
    xi, yi = poly[..., 0, None], poly[..., 1, None]
    xj, yj = nxt[..., 0, None], nxt[..., 1, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = ((yi > y) != (yj > y)) & (x < (xj - xi) * (y - yi) / (yj - yi) + xi)
    return (cross.sum(axis=1) % 2).astype(bool)


def part_masks(landmarks: np.ndarray, image_shape: tuple[int, int],
               grid: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Masks of the facial parts of every stimulus.

    Parameters
    ----------
    landmarks
        (n, L, 2) (x, y) pixel coordinates, L = 68 (iBUG) or 35 (flat simulator).
    image_shape
        (H, W) of the images the landmarks were placed on.
    grid
        (rows, columns) of the raster the masks are drawn on (default: the image's).

    Returns
    -------
    dict
        Part name (:data:`PARTS` order) -> bool array (n, rows * columns).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[2] != 2 or not np.isfinite(lm).all():
        raise InputError(f"expected finite (stimuli, points, 2) landmarks, got {lm.shape}",
                         obj="landmarks")
    layout = layout_for(lm.shape[1])
    pix = _grid(tuple(image_shape), tuple(grid or image_shape))
    eyes = [lm[:, list(g)].mean(axis=1) for g in layout["eyes"][1]]
    r = _R * np.linalg.norm(eyes[0] - eyes[1], axis=1)[:, None]  # (n, 1)
    out: dict[str, np.ndarray] = {}
    for name, (kind, groups) in layout.items():
        mask = np.zeros((len(lm), len(pix)), dtype=bool)
        for g in groups:
            pts = lm[:, list(g)]
            mask |= _segment_distance(pix, pts) <= r
            if kind == "area":
                closed = np.concatenate([pts, pts[:, :1]], axis=1)
                mask |= _inside(pix, pts) | (_segment_distance(pix, closed) <= r)
        out[name] = mask
    brows = lm[:, [i for g in layout["brows"][1] for i in g]]
    d = r[:, 0] / _R
    top, bottom = brows[..., 1].min(axis=1) - d, brows[..., 1].min(axis=1) - r[:, 0]
    left, right = brows[..., 0].min(axis=1), brows[..., 0].max(axis=1)
    x, y = pix[None, :, 0], pix[None, :, 1]
    out["forehead"] = ((x >= left[:, None]) & (x <= right[:, None]) & (y >= top[:, None])
                       & (y <= bottom[:, None]))
    return {p: out[p] for p in PARTS}
