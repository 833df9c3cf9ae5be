"""Parametric face renderer: generative factors -> anti-aliased images + landmarks.

Geometry lives in "face units" (u): the image spans [-1, 1] on both axes, y points down.
Every shape is drawn with an analytic soft edge (coverage = clip(0.5 - signed distance in
pixels, 0, 1)), which equals box-filtered supersampling to first order, at any size.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError

__all__ = [
    "FACTORS",
    "IDENTITY_FACTORS",
    "VIEW_FACTORS",
    "FRAMING_FACTORS",
    "ALL_FACTORS",
    "LANDMARK_NAMES",
    "render_faces",
    "sample_factors",
]

#: Identity factors: face shape and appearance, fixed per identity (all in [-1, 1]).
IDENTITY_FACTORS: tuple[str, ...] = (
    "face_width",
    "face_height",
    "eye_size",
    "eye_spacing",
    "brow_height",
    "nose_length",
    "mouth_width",
    "mouth_curvature",
    "skin_brightness",
    "hair",
)
#: View factors: vary from image to image of one identity (all in [-1, 1]).
VIEW_FACTORS: tuple[str, ...] = ("pose", "lighting")
#: The default generative factors, in order (identity factors first).
FACTORS: tuple[str, ...] = IDENTITY_FACTORS + VIEW_FACTORS
#: Framing factors: where the head sits in the picture (in-plane roll about the head centre,
#: horizontal and vertical shift, size). They act *nonlinearly* on pixels, unlike most of
#: :data:`FACTORS`; opt-in (``sample_factors(framing=True)``, ``simulate_session(factors=...)``).
FRAMING_FACTORS: tuple[str, ...] = ("roll", "shift_x", "shift_y", "scale")
#: Every factor the renderer knows.
ALL_FACTORS: tuple[str, ...] = FACTORS + FRAMING_FACTORS

_OUTLINE = tuple(f"outline_{i:02d}" for i in range(11))  # left temple -> chin -> right temple
#: Landmark names, in the order of the landmark array's second axis. "left"/"right" are the
#: viewer's left (small x) and right.
LANDMARK_NAMES: tuple[str, ...] = (
    *_OUTLINE,
    "head_top",
    "hairline",
    "left_brow_outer", "left_brow_mid", "left_brow_inner",
    "right_brow_inner", "right_brow_mid", "right_brow_outer",
    "left_eye_outer", "left_eye_top", "left_eye_inner", "left_eye_bottom",
    "right_eye_inner", "right_eye_top", "right_eye_outer", "right_eye_bottom",
    "nose_bridge", "nose_tip", "left_nostril", "right_nostril",
    "mouth_left", "mouth_top", "mouth_right", "mouth_bottom",
)

_CY = 0.06  # head centre, y
_MAX_YAW = 0.5  # rad (~29 deg) at pose = +-1
_MAX_LIGHT = 1.0  # rad (~57 deg) light azimuth at lighting = +-1
_MAX_ROLL = np.deg2rad(30.0)  # in-plane rotation at roll = +-1
_MAX_SHIFT = (0.25, 0.20)  # face units (image half-width = 1) at shift_x / shift_y = +-1
_MAX_SCALE = 0.15  # relative size change at scale = +-1
_CHUNK = 128  # faces per vectorised block (keeps blocks cache-sized)

# Palette: (grey, RGB) per material; skin-relative ones are multiplied by the skin colour.
_BG = (0.30, (0.26, 0.31, 0.38))
_HAIR = (0.13, (0.19, 0.12, 0.07))
_SKIN = (1.00, (1.10, 0.90, 0.76))
_NECK = (0.82, (0.82, 0.82, 0.82))  # x skin
_SCLERA = (0.92, (0.95, 0.94, 0.92))
_PUPIL = (0.08, (0.10, 0.08, 0.07))
_BROW = (0.16, (0.17, 0.11, 0.07))
_BRIDGE = (0.78, (0.78, 0.76, 0.76))  # x skin
_NOSTRIL = (0.38, (0.36, 0.30, 0.30))  # x skin
_LIPS = (0.74, (0.92, 0.60, 0.60))  # x skin
_MOUTH_LINE = (0.12, (0.18, 0.06, 0.06))


def sample_factors(
    n_identities: int, n_views: int, *, seed: int | np.random.SeedSequence = 0,
    framing: bool = False,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Draw factors for ``n_identities`` identities seen in ``n_views`` views each.

    Identity factors are uniform in [-1, 1] once per identity; view factors (pose, lighting)
    uniform in [-1, 1] per image. Rows are identity-major (identity i, view v -> i*n_views+v).
    ``framing=True`` adds the :data:`FRAMING_FACTORS`, uniform per image, drawn after the
    others (so the other columns are the same with or without them).

    Returns
    -------
    factors
        DataFrame with the :data:`FACTORS` columns (:data:`ALL_FACTORS` with ``framing``),
        ``n_identities * n_views`` rows.
    identity
        Identity index of each row (int64).
    """
    if n_identities < 1 or n_views < 1:
        raise InputError("need at least one identity and one view", obj="sample_factors")
    rng = np.random.default_rng(seed)
    ident = rng.uniform(-1.0, 1.0, size=(n_identities, len(IDENTITY_FACTORS)))
    view = rng.uniform(-1.0, 1.0, size=(n_identities * n_views, len(VIEW_FACTORS)))
    identity = np.repeat(np.arange(n_identities, dtype=np.int64), n_views)
    values = np.concatenate([ident[identity], view], axis=1)
    if not framing:
        return pd.DataFrame(values, columns=list(FACTORS)), identity
    frame = rng.uniform(-1.0, 1.0, size=(len(values), len(FRAMING_FACTORS)))
    return pd.DataFrame(np.c_[values, frame], columns=list(ALL_FACTORS)), identity


def factor_matrix(factors: pd.DataFrame | Mapping[str, np.ndarray],
                  names: tuple[str, ...] = ALL_FACTORS) -> np.ndarray:
    """(N, F) float64 in ``names`` order; missing columns are 0 (the average face).

    Every world's renderer reads its factors through this one check: known names only,
    finite values in [-1, 1] (the range the renderers are defined on).
    """
    frame = pd.DataFrame(factors)
    unknown = sorted(set(map(str, frame.columns)) - set(names))
    if unknown:
        raise InputError(f"unknown factor column(s) {unknown}; known: {list(names)}",
                         obj="factors")
    out = np.zeros((len(frame), len(names)))
    for j, name in enumerate(names):
        if name in frame:
            out[:, j] = frame[name].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(out)) or np.any(np.abs(out) > 1.0):
        raise InputError("factor values must be finite and lie in [-1, 1]", obj="factors")
    return out


def _geometry(f: np.ndarray) -> dict[str, np.ndarray]:
    """Per-face shape parameters (each (N,)) and landmarks (N, L, 2) in face units."""
    g = {name: f[:, j] for j, name in enumerate(ALL_FACTORS)}
    a = 0.56 + 0.10 * g["face_width"]  # head half-width
    b = 0.72 + 0.09 * g["face_height"]  # head half-height
    theta = _MAX_YAW * g["pose"]
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    depth = 0.8 * a

    def yaw(x0: np.ndarray, protrude: float | np.ndarray = 0.0) -> np.ndarray:
        # A point on the front of an x-z ellipse (half-axes a, 0.8a) rotated about the
        # vertical axis: features shift sideways and foreshorten near the silhouette.
        z0 = depth * np.sqrt(np.clip(1.0 - (x0 / a) ** 2, 0.0, None)) + protrude
        return x0 * cos_t + z0 * sin_t

    ey = np.full_like(a, _CY - 0.10)
    ex = 0.22 + 0.05 * g["eye_spacing"]  # eye centre |x| before yaw
    rx0 = 0.10 + 0.03 * g["eye_size"]  # eye half-width before yaw
    ry = 0.5 * rx0
    gap = 0.12 + 0.04 * g["brow_height"]
    nose_y = ey + 0.18 + 0.05 * g["nose_length"]
    mw = 0.15 + 0.05 * g["mouth_width"]
    amp = 0.035 * g["mouth_curvature"]  # > 0: corners up (smile)
    my = np.full_like(a, _CY + 0.28)
    hairline = _CY - b * (0.66 - 0.14 * g["hair"])

    geo: dict[str, np.ndarray] = {
        "a": a, "b": b, "sin_t": sin_t, "x_mid": yaw(np.zeros_like(a)), "hairline": hairline,
        "hair": g["hair"], "skin": 0.60 + 0.17 * g["skin_brightness"],
        "light": _MAX_LIGHT * g["lighting"],
    }
    pts: list[tuple[np.ndarray, np.ndarray]] = []
    t = np.linspace(1.15 * np.pi, -0.15 * np.pi, len(_OUTLINE))[None, :]
    ox, oy = a[:, None] * np.cos(t), _CY + b[:, None] * np.sin(t)
    pts += [(ox[:, i], oy[:, i]) for i in range(len(_OUTLINE))]
    pts.append((np.zeros_like(a), _CY - 0.02 - (b + 0.07)))
    pts.append((geo["x_mid"], hairline))
    for side, name in ((-1.0, "left"), (1.0, "right")):
        xb = [yaw(side * (ex + k * rx0)) for k in (1.1, 0.1, -0.9)]  # outer, mid, inner
        yb = [ey - gap + 0.035, ey - gap, ey - gap + 0.02]
        order = (0, 1, 2) if side < 0 else (2, 1, 0)
        pts += [(xb[k], yb[k]) for k in order]
        geo[f"{name}_brow"] = np.stack([np.stack([xb[k], yb[k]], -1) for k in range(3)], 1)
    for side, name in ((-1.0, "left"), (1.0, "right")):
        xl, xr = yaw(side * ex - rx0), yaw(side * ex + rx0)
        xc = yaw(side * ex)
        top, bottom = (xc, ey - ry), (xc, ey + ry)
        outer, inner = ((xl, ey), (xr, ey)) if side < 0 else ((xr, ey), (xl, ey))
        pts += [outer, top, inner, bottom] if side < 0 else [inner, top, outer, bottom]
        geo[f"{name}_eye"] = np.stack([(xl + xr) / 2, (xr - xl) / 2, xc, ry, rx0], -1)
    tip = (yaw(np.zeros_like(a), 0.10), nose_y)
    nost = [(yaw(np.full_like(a, s * 0.05), 0.05), nose_y + 0.02) for s in (-1.0, 1.0)]
    pts += [(geo["x_mid"], ey + 0.02), tip, *nost]
    geo["nose"] = np.stack([geo["x_mid"], ey + 0.02, tip[0], tip[1]], -1)
    geo["nostrils"] = np.stack([np.stack(p, -1) for p in nost], 1)
    ml, mr = yaw(-mw), yaw(mw)
    mx, half = (ml + mr) / 2, (mr - ml) / 2
    corner_y, centre_y = my - amp, my + amp
    pts += [(ml, corner_y), (mx, centre_y - 0.03), (mr, corner_y), (mx, centre_y + 0.04)]
    geo["mouth"] = np.stack([mx, half, corner_y, amp], -1)
    lm = np.stack([np.stack(p, -1) for p in pts], 1)
    roll, shift_x, shift_y, scale = (g[name] for name in FRAMING_FACTORS)
    if np.any(roll) or np.any(shift_x) or np.any(shift_y) or np.any(scale):
        # face -> image: p_img = c + s R(roll) (p_face - c) + t, c = head centre
        fr = np.stack([_MAX_ROLL * roll, _MAX_SHIFT[0] * shift_x, _MAX_SHIFT[1] * shift_y,
                       1.0 + _MAX_SCALE * scale], -1)
        geo["framing"] = fr
        cos_r, sin_r = np.cos(fr[:, 0])[:, None], np.sin(fr[:, 0])[:, None]
        dx, dy = lm[..., 0], lm[..., 1] - _CY
        s = fr[:, 3][:, None]
        lm = np.stack([s * (cos_r * dx - sin_r * dy) + fr[:, 1][:, None],
                       _CY + s * (sin_r * dx + cos_r * dy) + fr[:, 2][:, None]], -1)
    geo["landmarks"] = lm
    return geo


def _coverage(dist: np.ndarray, ppu: float) -> np.ndarray:
    """Soft-edge coverage from a signed distance in face units (negative = inside)."""
    return np.clip(0.5 - dist * ppu, 0.0, 1.0)


def _ellipse_dist(x, y, cx, cy, rx, ry) -> np.ndarray:
    """First-order signed distance to an axis-aligned ellipse (exact on the boundary)."""
    dx, dy = x - cx, y - cy
    f = (dx / rx) ** 2 + (dy / ry) ** 2 - 1.0
    grad = 2.0 * np.sqrt((dx / rx**2) ** 2 + (dy / ry**2) ** 2) + 1e-6
    return f / grad


def _segment_dist(x, y, x0, y0, x1, y1) -> np.ndarray:
    """Distance to the segment (x0, y0)-(x1, y1)."""
    vx, vy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * vx + (y - y0) * vy) / (vx * vx + vy * vy + 1e-12), 0.0, 1.0)
    return np.hypot(x - x0 - t * vx, y - y0 - t * vy)


def _colour(spec: tuple[float, tuple[float, float, float]], rgb: bool) -> np.ndarray:
    return np.asarray(spec[1] if rgb else (spec[0],), dtype=np.float32)


def _render_block(geo: dict[str, np.ndarray], size: int, rgb: bool) -> np.ndarray:
    """Render one block of faces to float (n, size, size, C) in [0, 1]."""
    n = len(geo["a"])
    ppu = size / 2.0
    grid = ((np.arange(size, dtype=np.float32) + 0.5) / ppu - 1.0).astype(np.float32)
    x, y = grid[None, None, :], grid[None, :, None]
    if "framing" in geo:  # pixel centres in face coordinates: the inverse of the framing
        fr = geo["framing"].astype(np.float32)
        roll, tx, ty, s = (fr[:, k].reshape(n, 1, 1) for k in range(4))
        dx, dy = x - tx, y - _CY - ty
        cos_r, sin_r = np.cos(roll), np.sin(roll)
        x, y = (cos_r * dx + sin_r * dy) / s, _CY + (cos_r * dy - sin_r * dx) / s
        ppu = ppu * s  # pixels per face unit

    def p(v: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=np.float32).reshape(n, 1, 1)

    def col(spec, scale: np.ndarray | None = None) -> np.ndarray:
        c = _colour(spec, rgb)[None, None, None, :]
        return c if scale is None else c * p(scale)[..., None]

    img = np.broadcast_to(col(_BG), (n, size, size, 3 if rgb else 1)).copy()

    def paint(alpha: np.ndarray, colour: np.ndarray) -> None:
        img[...] += alpha[..., None] * (colour - img)

    a, b, skin = p(geo["a"]), p(geo["b"]), geo["skin"]
    sin_t = p(geo["sin_t"])
    # neck, then hair behind the head, the face, hair over the forehead, then features
    neck = np.minimum(_coverage(np.abs(x - p(geo["x_mid"]) * 0.5) - 0.24, ppu),
                      _coverage(_CY + 0.3 * b - y, ppu))
    paint(neck, col(_NECK, skin) * col(_SKIN))
    hair = p(geo["hair"])
    thick = 0.05 + 0.03 * hair
    a_hair = a + thick + 0.12 * np.where(x < 0, np.maximum(sin_t, 0), np.maximum(-sin_t, 0))
    outer = _coverage(_ellipse_dist(x, y, 0.0, _CY - 0.02, a_hair, b + 0.07), ppu)
    back = np.minimum(outer, _coverage(y - (_CY + b * 0.45 * hair), ppu))
    paint(back, col(_HAIR))
    face_d = _ellipse_dist(x, y, 0.0, _CY, a, b)
    face = _coverage(face_d, ppu)
    paint(face, col(_SKIN, skin))
    line = p(geo["hairline"]) + 0.06 * b * ((x - p(geo["x_mid"])) / a) ** 2
    paint(np.minimum(outer, _coverage(y - line, ppu)), col(_HAIR))
    for side in ("left", "right"):
        br = geo[f"{side}_brow"]
        d = np.minimum(
            _segment_dist(x, y, p(br[:, 0, 0]), p(br[:, 0, 1]), p(br[:, 1, 0]), p(br[:, 1, 1])),
            _segment_dist(x, y, p(br[:, 1, 0]), p(br[:, 1, 1]), p(br[:, 2, 0]), p(br[:, 2, 1])),
        )
        paint(_coverage(d - 0.026, ppu), col(_BROW))
        cx, rx, xc, ry, rx0 = (p(geo[f"{side}_eye"][:, k]) for k in range(5))
        paint(_coverage(_ellipse_dist(x, y, cx, _CY - 0.10, rx, ry), ppu), col(_SCLERA))
        fore = rx / rx0
        pupil = _ellipse_dist(x, y, xc, _CY - 0.10, 0.8 * ry * fore, 0.8 * ry)
        paint(np.minimum(_coverage(pupil, ppu), face), col(_PUPIL))
    nose = geo["nose"]
    bridge = _segment_dist(x, y, *(p(nose[:, k]) for k in range(4)))
    paint(0.8 * _coverage(bridge - 0.014, ppu), col(_BRIDGE, skin) * col(_SKIN))
    for k in range(2):
        nx, ny = p(geo["nostrils"][:, k, 0]), p(geo["nostrils"][:, k, 1])
        paint(_coverage(_ellipse_dist(x, y, nx, ny, 0.032, 0.016), ppu),
              col(_NOSTRIL, skin) * col(_SKIN))
    mx, half, corner_y, amp = (p(geo["mouth"][:, k]) for k in range(4))
    t = (x - mx) / half
    tc = np.clip(t, -1.0, 1.0)
    curve = corner_y + 2.0 * amp * (1.0 - tc * tc)
    v = y - curve
    taper = np.sqrt(np.clip(1.0 - t * t, 0.0, None))
    lips = np.maximum(-v - 0.03 * taper, v - 0.04 * taper)
    paint(_coverage(np.maximum(lips, np.abs(x - mx) - half), ppu),
          col(_LIPS, skin) * col(_SKIN))
    slope = -4.0 * amp * tc / half
    mline = np.hypot(v / np.sqrt(1.0 + slope * slope), np.maximum(np.abs(x - mx) - half, 0.0))
    paint(_coverage(mline - 0.012, ppu), col(_MOUTH_LINE))
    # Lambertian shading of the head (an ellipsoid) by a light at azimuth `light`
    head = np.maximum(np.maximum(face, back), neck)
    nx = x / (a + 0.1)
    ny = (y - _CY) / (b + 0.1)
    nz = np.sqrt(np.clip(1.0 - nx * nx - ny * ny, 0.0, None))
    az = p(geo["light"])
    lx, ly, lz = np.sin(az) * 0.95, -0.3, np.cos(az) * 0.95
    shade = 0.5 + 0.55 * np.maximum(nx * lx + ny * ly + nz * lz, 0.0)
    img *= (1.0 - head + head * shade)[..., None]
    return img


def render_faces(
    factors: pd.DataFrame | Mapping[str, np.ndarray], size: int = 64, rgb: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Render parametric faces from generative factors.

    A head ellipse with hair, brows, eyes, nose and mouth; pose (yaw) moves features sideways
    and foreshortens them on an ellipsoidal head, lighting shades it (Lambert). The framing
    factors rotate (about the head centre), shift and scale the whole head in the picture;
    the renderer evaluates each pixel in face coordinates, so edges stay exact. Edges are
    analytically anti-aliased, so any ``size`` gives the same face.

    Parameters
    ----------
    factors
        One row per face, columns from :data:`ALL_FACTORS` with values in [-1, 1]; a missing
        column means 0 (the average face, upright and centred).
    size
        Image side in pixels (>= 16).
    rgb
        Colour images (N, size, size, 3) instead of grey (N, size, size).

    Returns
    -------
    images
        uint8 images.
    landmarks
        (N, len(LANDMARK_NAMES), 2) float64 (x, y) pixel coordinates (pixel centres at
        integers, as scikit-image uses), each on the feature it names. With framing factors
        a few can fall just outside the picture (about 0.2% at 32 px: the head is cropped).
    """
    size = int(size)
    if size < 16:
        raise InputError(f"image size must be >= 16 pixels, got {size}", obj="size")
    f = factor_matrix(factors)
    n = len(f)
    shape = (n, size, size, 3) if rgb else (n, size, size)
    images = np.empty(shape, dtype=np.uint8)
    landmarks = np.empty((n, len(LANDMARK_NAMES), 2))
    for start in range(0, n, _CHUNK):
        geo = _geometry(f[start:start + _CHUNK])
        block = _render_block(geo, size, rgb)
        block = np.rint(np.clip(block, 0.0, 1.0) * 255.0).astype(np.uint8)
        images[start:start + _CHUNK] = block if rgb else block[..., 0]
        landmarks[start:start + _CHUNK] = (geo["landmarks"] + 1.0) * (size / 2.0) - 0.5
    return images, landmarks
