"""The 3D world's head model: factors, shape and albedo textures, 68 landmarks in 3D.

A head is a star-shaped surface in *scaled* head coordinates ``q = (x/a, y/b, z/c)`` (x to
the viewer's right, y down, z towards the viewer when frontal; ``a, b, c`` the head's
half-width, half-height and half-depth in face units, the picture spanning [-1, 1]):

    |q| = 1 + h(q_x, q_y),     h = H_sym(q_x, q_y) + w(q_z) H_front(q_x, q_y)

with ``w = clip(4 q_z, 0, 1)`` (front only). ``H_sym`` (jaw taper) and ``H_front`` (nose,
brow ridge, eye sockets, cheeks, lips, chin) are smooth bumps sampled per face on a
``G x G`` texture over ``[-L, L]^2``, with their derivatives (for normals) and the front
albedo (eyes, brows, lips) as further channels. Features are drawn at texture coordinates,
so a landmark placed at ``(u, v)`` sits on the drawn feature at ``q = (u, v, z)`` with
``z = sqrt((1 + h)^2 - u^2 - v^2)``: exactly on the surface the renderer ray-casts.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError
from neurofacedis.simulate._faces import factor_matrix

__all__ = [
    "HEAD_IDENTITY_FACTORS",
    "HEAD_EXPRESSION_FACTORS",
    "HEAD_VIEW_FACTORS",
    "HEAD_FACTORS",
    "LANDMARK_NAMES_68",
    "sample_head_factors",
]

#: Identity factors of the 3D world: shape and appearance fixed per identity (in [-1, 1]).
HEAD_IDENTITY_FACTORS: tuple[str, ...] = (
    "face_width", "jaw_width", "brow_ridge", "nose_length", "nose_width", "eye_depth",
    "cheek_volume", "skin_albedo", "hair_albedo", "hair_volume",
)
#: Expression factors: vary from image to image of one identity.
HEAD_EXPRESSION_FACTORS: tuple[str, ...] = ("smile", "brow_raise")
#: View factors: pose and light, vary from image to image.
HEAD_VIEW_FACTORS: tuple[str, ...] = (
    "yaw", "pitch", "roll", "light_azimuth", "light_elevation", "light_intensity",
)
#: Every factor of the 3D world, in order (identity, expression, view).
HEAD_FACTORS: tuple[str, ...] = HEAD_IDENTITY_FACTORS + HEAD_EXPRESSION_FACTORS + HEAD_VIEW_FACTORS

#: The 68-point (iBUG 300-W) landmark names, in its order. "left"/"right" are the viewer's
#: (image) sides, as in the flat world: point 0 (jaw_00) is at the image left.
LANDMARK_NAMES_68: tuple[str, ...] = (
    *(f"jaw_{i:02d}" for i in range(17)),
    *(f"left_brow_{i}" for i in range(5)), *(f"right_brow_{i}" for i in range(5)),
    *(f"nose_bridge_{i}" for i in range(4)), *(f"nostril_{i}" for i in range(5)),
    *(f"left_eye_{i}" for i in range(6)), *(f"right_eye_{i}" for i in range(6)),
    *(f"outer_lip_{i:02d}" for i in range(12)), *(f"inner_lip_{i}" for i in range(8)),
)

# Factor -> physical ranges (documented in docs/worlds.md).
MAX_YAW = np.deg2rad(45.0)
MAX_PITCH = np.deg2rad(20.0)
MAX_ROLL = np.deg2rad(20.0)
MAX_LIGHT_AZIMUTH = np.deg2rad(60.0)
LIGHT_ELEVATION = (np.deg2rad(20.0), np.deg2rad(30.0))  # centre +- half-range
CY = -0.02  # head centre, y (face units)
TEX_L = 1.3  # texture half-extent in scaled coordinates
TEX_G = 48  # texels per side
AMBIENT = 0.22
BACKGROUND = (0.30, (0.26, 0.31, 0.38))  # grey, RGB
NECK = (0.0, 0.30, -0.20, 0.30)  # x, top y, z (camera frame, face units), radius
_SKIN_RGB = np.array([1.10, 0.86, 0.72])
_HAIR_RGB = np.array([0.95, 0.72, 0.50])
_LIP_RGB = np.array([0.95, 0.55, 0.55])
_N_ID, _N_EX = len(HEAD_IDENTITY_FACTORS), len(HEAD_EXPRESSION_FACTORS)


def sample_head_factors(
    n_identities: int, n_views: int, *, seed: int | np.random.SeedSequence = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Draw 3D-world factors for ``n_identities`` identities in ``n_views`` views each.

    Identity factors uniform in [-1, 1] once per identity; expression and view factors
    uniform in [-1, 1] per image. Rows are identity-major (identity i, view v -> i*n_views+v).

    Returns
    -------
    factors
        DataFrame with the :data:`HEAD_FACTORS` columns.
    identity
        Identity index of each row (int64).
    """
    if n_identities < 1 or n_views < 1:
        raise InputError("need at least one identity and one view", obj="sample_head_factors")
    rng = np.random.default_rng(seed)
    ident = rng.uniform(-1.0, 1.0, size=(n_identities, _N_ID))
    view = rng.uniform(-1.0, 1.0, size=(n_identities * n_views, len(HEAD_FACTORS) - _N_ID))
    identity = np.repeat(np.arange(n_identities, dtype=np.int64), n_views)
    values = np.concatenate([ident[identity], view], axis=1)
    return pd.DataFrame(values, columns=list(HEAD_FACTORS)), identity


def head_factor_matrix(factors: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """(N, F) float64 in :data:`HEAD_FACTORS` order; missing columns are 0 (the average)."""
    return factor_matrix(factors, HEAD_FACTORS)


def rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Head -> camera rotations (N, 3, 3): ``R = Rz(roll) Rx(pitch) Ry(yaw)``.

    Positive yaw turns the nose to the image right, positive pitch lifts it (y points down),
    positive roll turns the head clockwise in the picture (as the flat world's roll).
    """
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1),
                   np.stack([-sy, zero, cy], -1)], -2)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, -sp], -1),
                   np.stack([zero, sp, cp], -1)], -2)
    rz = np.stack([np.stack([cr, -sr, zero], -1), np.stack([sr, cr, zero], -1),
                   np.stack([zero, zero, one], -1)], -2)
    return rz @ rx @ ry


def head_params(f: np.ndarray) -> dict[str, np.ndarray]:
    """Per-face parameters (each (N,) or (N, ...)) from a :func:`head_factor_matrix`."""
    g = {name: f[:, j] for j, name in enumerate(HEAD_FACTORS)}
    p: dict[str, np.ndarray] = {
        "abc": np.stack([0.52 + 0.05 * g["face_width"], np.full(len(f), 0.68),
                         np.full(len(f), 0.60)], -1),
        "jaw": 0.17 - 0.10 * g["jaw_width"],  # taper of the lower sides
        "brow_ridge": 0.035 + 0.025 * g["brow_ridge"],
        "nose_tip": 0.16 + 0.08 * g["nose_length"],  # v of the tip
        "nose_height": 0.20 + 0.03 * g["nose_length"],
        "nose_width": 0.075 + 0.03 * g["nose_width"],
        "eye_depth": 0.05 + 0.035 * g["eye_depth"],
        "cheek": 0.04 + 0.03 * g["cheek_volume"] + 0.02 * g["smile"],
        "smile": g["smile"], "brow_raise": g["brow_raise"],
        "skin": 0.62 + 0.20 * g["skin_albedo"],
        "hair_albedo": 0.22 + 0.17 * g["hair_albedo"],
        "hair_volume": 0.07 + 0.05 * g["hair_volume"],
        "R": rotation(MAX_YAW * g["yaw"], MAX_PITCH * g["pitch"], MAX_ROLL * g["roll"]),
    }
    az = MAX_LIGHT_AZIMUTH * g["light_azimuth"]
    el = LIGHT_ELEVATION[0] + LIGHT_ELEVATION[1] * g["light_elevation"]
    p["light"] = np.stack([np.sin(az) * np.cos(el), -np.sin(el), np.cos(az) * np.cos(el)], -1)
    p["light_intensity"] = 0.78 + 0.22 * g["light_intensity"]
    return p


def _gauss(x: np.ndarray, s: float | np.ndarray) -> np.ndarray:
    return np.exp(-((x / s) ** 2))


def _grid() -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(-TEX_L, TEX_L, TEX_G, dtype=np.float32)
    return t[None, None, :], t[None, :, None]  # u (columns), v (rows)


def _col(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)[:, None, None]


def height_fields(p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``H_sym`` and ``H_front`` (N, G, G) for the parameters ``p``."""
    u, v = _grid()
    au = np.abs(u)
    h_sym = -_col(p["jaw"]) * np.clip((v - 0.05) / 0.8, 0.0, 1.0) ** 2 * u**2
    tip, width = _col(p["nose_tip"]), _col(p["nose_width"])
    along = np.clip((v + 0.25) / (tip + 0.25), 0.0, 1.0)
    profile = np.where(v <= tip, 0.03 + (_col(p["nose_height"]) - 0.03) * along**1.5,
                       _col(p["nose_height"]) * _gauss(v - tip, 0.05))
    profile = np.where(v < -0.25, 0.03 * _gauss(v + 0.25, 0.1), profile)
    nose = profile * _gauss(u, width * (0.7 + 0.6 * along))
    smile = _col(p["smile"])
    h_front = (
        nose
        - _col(p["eye_depth"]) * _gauss(au - 0.33, 0.16) * _gauss(v + 0.2, 0.10)
        + _col(p["brow_ridge"]) * _gauss(au - 0.30, 0.22) * _gauss(v + 0.37, 0.07)
        + _col(p["cheek"]) * _gauss(au - 0.42, 0.16) * _gauss(v - 0.20 + 0.04 * smile, 0.14)
        + 0.03 * _gauss(u, 0.22 + 0.03 * smile) * _gauss(v - 0.52, 0.06)
        + 0.05 * _gauss(u, 0.22) * _gauss(v - 0.84, 0.10)
    )
    return h_sym, h_front


def feature_shapes(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Feature geometry in texture coordinates, each (N, ...): eyes, brows, mouth."""
    n = len(p["skin"])
    smile, raise_ = p["smile"], p["brow_raise"]
    eye_h = 0.055 + 0.012 * raise_ - 0.012 * np.maximum(smile, 0.0)
    brow_v = -0.40 - 0.07 * raise_
    mouth_w = 0.21 + 0.035 * smile
    return {
        "eye_c": np.stack([np.full(n, 0.33), np.full(n, -0.20)], -1),
        "eye_w": np.full(n, 0.13), "eye_h": eye_h,
        "brow_v": brow_v,
        "mouth_v": np.full(n, 0.53), "mouth_w": mouth_w,
        "corner_lift": 0.06 * smile,  # corners up (smaller v) by this much
        "lip_top": np.full(n, 0.045), "lip_bottom": np.full(n, 0.055),
        "gap": 0.004 + 0.012 * np.maximum(smile, 0.0),
    }


def _brow_v(s: dict[str, np.ndarray], t: np.ndarray) -> np.ndarray:
    """Brow centre line v at parameter t in [0, 1] (outer -> inner); (N, ...) broadcast."""
    arch = 0.035 * np.sin(np.pi * (0.25 + 0.75 * (1.0 - t)))
    return _col(s["brow_v"]).reshape((-1,) + (1,) * (t.ndim - 1)) - arch


def _mouth_curve(s: dict[str, np.ndarray], x: np.ndarray, lip: str) -> np.ndarray:
    """V of the mouth's lines at normalised x in [-1, 1]: 'mid', 'top', 'bottom'."""
    shape = (-1,) + (1,) * (x.ndim - 1)
    mv, lift = s["mouth_v"].reshape(shape), s["corner_lift"].reshape(shape)
    mid = mv - lift * x**2
    if lip == "mid":
        return mid
    thick = s["lip_top" if lip == "top" else "lip_bottom"].reshape(shape)
    sign = -1.0 if lip == "top" else 1.0
    return mid + sign * thick * (1.0 - x**2) ** 0.7


def _rows(lo: np.ndarray, hi: np.ndarray, margin: float) -> slice:
    """Texture rows holding every v in [min(lo) - margin, max(hi) + margin], and one more."""
    step = 2.0 * TEX_L / (TEX_G - 1)
    first = int(np.floor((float(np.min(lo)) - margin + TEX_L) / step)) - 1
    last = int(np.ceil((float(np.max(hi)) + margin + TEX_L) / step)) + 2
    return slice(min(max(first, 0), TEX_G), min(max(last, 0), TEX_G))


def albedo_fields(p: dict[str, np.ndarray], rgb: bool) -> np.ndarray:
    """Front albedo offsets (N, G, G, C): albedo = base skin + w(q_z) * offset.

    Each feature (eyes, brows, mouth) paints its colour with a coverage that is exactly 0
    beyond half a texel from its outline, so it is computed on the rows it can reach only
    (:func:`_rows`, with a texel to spare): elsewhere ``out + 0 * (colour - out)`` is ``out``.
    """
    s = feature_shapes(p)
    u, v = _grid()
    px = 2.0 * TEX_L / (TEX_G - 1)  # texel size: soft edges one texel wide

    def cover(d: np.ndarray) -> np.ndarray:
        return np.clip(0.5 - d / px, 0.0, 1.0)

    au = np.abs(u)
    ex, ey = s["eye_c"][:, 0], s["eye_c"][:, 1]
    ew, eh = _col(s["eye_w"]), _col(s["eye_h"])
    eye = _rows(ey - s["eye_h"], ey + s["eye_h"], 1.5 * px)
    ve = v[:, eye]
    r_eye = np.sqrt(((au - _col(ex)) / ew) ** 2 + ((ve - _col(ey)) / eh) ** 2)
    sclera = cover((r_eye - 1.0) * eh)
    iris = np.minimum(cover(np.hypot(au - _col(ex), ve - _col(ey)) - 0.048), sclera)
    t = np.clip((0.60 - au) / 0.46, 0.0, 1.0)  # brow parameter: outer (0) -> inner (1)
    brow_rows = _rows(s["brow_v"] - 0.035 - 0.022, s["brow_v"] + 0.022, 1.5 * px)
    brow_d = np.abs(v[:, brow_rows] - _brow_v(s, t)) - 0.022 * (1.0 - 0.4 * t)
    brow = np.where((au > 0.12) & (au < 0.62), cover(brow_d), 0.0)
    mw = _col(s["mouth_w"])
    x = np.clip(u / mw, -1.0, 1.0)
    inside = np.abs(u) < mw
    top, bottom, mid = (_mouth_curve(s, x, lip).astype(np.float32)
                        for lip in ("top", "bottom", "mid"))
    lift = s["corner_lift"]
    mouth = _rows(s["mouth_v"] - np.maximum(lift, 0) - s["lip_top"],
                  s["mouth_v"] - np.minimum(lift, 0) + s["lip_bottom"], 1.5 * px)
    vm = v[:, mouth]
    lips = np.where(inside, np.minimum(cover(top - vm), cover(vm - bottom)), np.float32(0))
    line = np.where(inside, cover(np.abs(vm - mid) - _col(s["gap"])), np.float32(0))
    skin = _col(p["skin"])
    if rgb:
        skin_c = skin[..., None] * _SKIN_RGB.astype(np.float32)
        targets = [(sclera, [0.92, 0.92, 0.90]), (iris, [0.22, 0.15, 0.10]),
                   (brow, _col(p["hair_albedo"])[..., None] * (_HAIR_RGB * 0.7)),
                   (lips, skin[..., None] * (_LIP_RGB * 0.85)), (line, [0.12, 0.05, 0.05])]
    else:
        skin_c = skin[..., None]
        targets = [(sclera, [0.90]), (iris, [0.12]),
                   (brow, _col(p["hair_albedo"])[..., None] * 0.7),
                   (lips, skin[..., None] * 0.72), (line, [0.10])]
    out = np.broadcast_to(skin_c, skin_c.shape[:1] + (TEX_G, TEX_G) + skin_c.shape[-1:]).copy()
    for (alpha, colour), rows in zip(targets, (eye, eye, brow_rows, mouth, mouth), strict=True):
        o = out[:, rows]
        o += alpha[..., None] * (np.asarray(colour, dtype=np.float32) - o)
    return out - skin_c


def landmarks_uv(p: dict[str, np.ndarray], h_sym: np.ndarray,
                 h_front: np.ndarray) -> np.ndarray:
    """Texture coordinates (N, 68, 2) of the 68 landmarks (iBUG order)."""
    s = feature_shapes(p)
    n = len(p["skin"])
    out = np.empty((n, 68, 2))
    # jaw 0-16: image left (alpha = pi) over the chin (pi/2) to the image right (0), where
    # the surface turns away (q_z = 0.35 (1 + h)): follows the jaw's width
    alpha = np.pi * (1.0 - np.arange(17) / 16.0)
    direction = np.stack([np.cos(alpha), -0.08 + 0.95 * np.sin(alpha)], -1)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    rho = np.full((n, 17), 0.93)
    field = h_sym + h_front
    for _ in range(4):
        uv = rho[..., None] * direction
        rho = 0.936 * (1.0 + _lookup(field, uv))
    out[:, :17] = rho[..., None] * direction
    t = np.linspace(0.0, 1.0, 5)  # brows: outer -> inner
    bu = 0.60 - 0.46 * t
    bv = _brow_v(s, t[None, :])
    out[:, 17:22] = np.stack([np.broadcast_to(-bu, (n, 5)), bv], -1)
    out[:, 22:27] = np.stack([np.broadcast_to(bu[::-1], (n, 5)), bv[:, ::-1]], -1)
    tip = p["nose_tip"]
    for k in range(4):  # bridge 27-30: between the eyes -> tip
        out[:, 27 + k] = np.stack([np.zeros(n), -0.22 + (tip + 0.22) * k / 3.0], -1)
    nw = p["nose_width"]
    for k, frac in enumerate((-1.0, -0.5, 0.0, 0.5, 1.0)):  # nostrils 31-35
        out[:, 31 + k] = np.stack([1.6 * nw * frac, tip + 0.06 - 0.02 * np.abs(frac)], -1)
    for side, first in ((-1.0, 36), (1.0, 42)):
        ex, ey = s["eye_c"][:, 0], s["eye_c"][:, 1]
        # left to right over the top, back along the bottom: 36 outer corner, 37-38 top,
        # 39 inner, 40-41 bottom (image-left eye); 42 inner, 43-44, 45 outer, 46-47
        angles = np.deg2rad([180, 120, 60, 0, -60, -120])
        for k, ang in enumerate(angles):
            out[:, first + k] = np.stack(
                [side * ex + s["eye_w"] * np.cos(ang), ey - s["eye_h"] * np.sin(ang)], -1)
    _mouth_landmarks(s, out)
    return out


def _mouth_landmarks(s: dict[str, np.ndarray], out: np.ndarray) -> None:
    """Fill points 48-67 of ``out``.

    Outer lip 48-59 from the image-left corner over the top lip and back along the bottom
    lip; inner lip 60-67 the same way.
    """
    mw = s["mouth_w"][:, None]
    x_top = np.array([-1.0, -0.6, -0.25, 0.0, 0.25, 0.6, 1.0])
    x_bottom = np.array([0.6, 0.25, 0.0, -0.25, -0.6])
    top = _mouth_curve(s, x_top[None, :], "top")
    bottom = _mouth_curve(s, x_bottom[None, :], "bottom")
    out[:, 48:55] = np.stack([mw * x_top, top], -1)
    out[:, 55:60] = np.stack([mw * x_bottom, bottom], -1)
    xi = np.array([-0.85, -0.4, 0.0, 0.4, 0.85, 0.4, 0.0, -0.4])
    mid = _mouth_curve(s, xi[None, :], "mid")
    gap = np.where(np.arange(8) < 5, -1.0, 1.0)[None, :] * s["gap"][:, None]
    gap[:, [0, 4]] = 0.0
    out[:, 60:68] = np.stack([mw * xi, mid + gap], -1)


def lookup_h(h_sym: np.ndarray, h_front: np.ndarray, uv: np.ndarray,
             front: bool) -> np.ndarray:
    """Bilinear ``H_sym + H_front`` (front) or ``H_sym`` at texture coords ``uv`` (N, K, 2)."""
    return _lookup(h_sym + h_front if front else h_sym, uv)


def _lookup(field: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear look-up of the fields (N, G, G) at texture coords ``uv`` (N, K, 2)."""
    n = len(field)
    f = (np.clip(uv, -TEX_L, TEX_L) + TEX_L) * ((TEX_G - 1) / (2.0 * TEX_L))
    i = np.minimum(np.floor(f).astype(np.int64), TEX_G - 2)
    t = f - i
    flat = field.reshape(-1)
    base = (np.arange(n) * (TEX_G * TEX_G))[:, None] + i[..., 1] * TEX_G + i[..., 0]
    v00, v01 = np.take(flat, base), np.take(flat, base + 1)
    v10, v11 = np.take(flat, base + TEX_G), np.take(flat, base + TEX_G + 1)
    tx, ty = t[..., 0], t[..., 1]
    return (v00 * (1 - tx) + v01 * tx) * (1 - ty) + (v10 * (1 - tx) + v11 * tx) * ty


def landmarks_head(p: dict[str, np.ndarray], h_sym: np.ndarray,
                   h_front: np.ndarray) -> np.ndarray:
    """Head-frame landmark positions (N, 68, 3) in face units, about the head centre."""
    uv = landmarks_uv(p, h_sym, h_front)
    r = 1.0 + lookup_h(h_sym, h_front, uv, front=True)
    z = np.sqrt(np.clip(r**2 - (uv**2).sum(-1), 0.0, None))
    return np.concatenate([uv, z[..., None]], -1) * p["abc"][:, None, :]


def landmarks_3d(p: dict[str, np.ndarray], h_sym: np.ndarray,
                 h_front: np.ndarray) -> np.ndarray:
    """Camera-frame landmark positions (N, 68, 3) in face units (z towards the viewer)."""
    cam = np.einsum("nij,nkj->nki", p["R"], landmarks_head(p, h_sym, h_front))
    cam[..., 1] += CY
    return cam
