"""Ray-cast renderer of the 3D world: factors -> anti-aliased Lambertian images + landmarks.

Orthographic camera looking down -z; the picture spans [-1, 1] face units, y down. Each
sample casts a ray into the head's scaled frame (:mod:`._head3d`) and finds the first
crossing of ``|q| = 1 + h(q)`` by a short march and regula falsi (:func:`_crossing`).
Surfaces (neck, face, hair shell cut at the hairline, the inside of the back hair) meet by
depth: the face and the hair shell compare their ray depths (a z-buffer test per sample), the
rest lie in a fixed order. Edges are anti-aliased analytically, as in the flat world: a
surface covers a sample by ``clip(0.5 - signed distance in pixels, 0, 1)``, the distance from
the ray's closest approach to the surface's silhouette (``sqrt(c - b^2/a) - r``) or to the
hairline; ``supersample`` adds box-filtered samples on top. Shading is Lambertian with
analytic normals, ``albedo * (ambient + intensity * max(0, n . l))``.

Per-sample arithmetic is float32 add/multiply/divide/sqrt (IEEE exact) and table look-ups;
per-face values are float64; no sums over samples. Results do not depend on how a batch is
split into blocks or threads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError
from neurofacedis.simulate import _head3d as hd

__all__ = ["render_heads", "landmark_visibility"]

_CHUNK = 32  # faces per block: fixed, so results do not depend on the number of threads
_MARCH = 3  # even steps from the bounding sphere to the inner sphere (or closest approach)
_REFINE = 2  # regula falsi steps in the first bracket (bilinear)
F32 = np.float32


def _packed(table: np.ndarray) -> np.ndarray:
    """Rows of a float32 table as one opaque item each: ``np.take`` copies whole rows fast."""
    table = np.ascontiguousarray(table, dtype=F32)
    return table.view(np.dtype((np.void, 4 * table.shape[1]))).ravel()


class _Block:
    """Per-face constants (each (n, 1, ..., 1) for broadcasting) and textures of a block."""

    def __init__(self, f: np.ndarray, rgb: bool, ndim: int):
        p = hd.head_params(f)
        self.p, self.n, self.rgb = p, len(f), rgb
        self.h_sym, self.h_front = hd.height_fields(p)
        g, step = hd.TEX_G, F32(2.0 * hd.TEX_L / (hd.TEX_G - 1))
        n_alb = 3 if rgb else 1
        # channels: h, dh/du, dh/dv, albedo offsets; [:, 0] front texture, [:, 1] back
        tex = np.zeros((self.n, 2, g, g, 3 + n_alb), dtype=F32)
        tex[:, 0, :, :, 0] = self.h_sym + self.h_front
        tex[:, 1, :, :, 0] = self.h_sym
        h = tex[..., 0]
        tex[..., 1:-1, 1] = (h[..., 2:] - h[..., :-2]) / (2 * step)
        tex[..., 1:-1, :, 2] = (h[..., 2:, :] - h[..., :-2, :]) / (2 * step)
        tex[:, 0, :, :, 3:] = hd.albedo_fields(p, rgb)
        self.height = np.ascontiguousarray(tex[..., 0]).ravel()
        self.shade = _packed(tex.reshape(-1, tex.shape[-1]))
        self.n_shade = 3 + n_alb
        abc = p["abc"]
        shape = (self.n,) + (1,) * ndim

        def pf(v: np.ndarray) -> np.ndarray:
            return np.asarray(v, dtype=F32).reshape(shape)

        self.pf = pf
        self.rmax = pf(1.0 + (self.h_sym + np.maximum(self.h_front, 0.0)).max((1, 2)) + 0.01)
        self.rmin = pf(1.0 + (self.h_sym + np.minimum(self.h_front, 0.0)).min((1, 2)) - 0.01)
        minv = np.transpose(p["R"], (0, 2, 1)) / abc[:, :, None]  # S^-1 R^T
        self.m = [pf(minv[:, i, j]) for i in range(3) for j in range(3)]
        light_q = np.einsum("nji,nj->ni", p["R"], p["light"]) / abc  # S^-1 R^T l
        self.light_q = [pf(light_q[:, k]) for k in range(3)]
        self.inv_abc = [pf(1.0 / abc[:, k]) for k in range(3)]
        self.scale = pf(np.sqrt(abc[:, 0] * abc[:, 1]))  # scaled -> face units, about
        self.light_cam = [pf(p["light"][:, k]) for k in range(3)]
        self.intensity = pf(p["light_intensity"])
        rgb_or_1 = (lambda c: c) if rgb else (lambda c: np.ones(1))
        self.skin = [pf(p["skin"] * c) for c in rgb_or_1(hd._SKIN_RGB)]
        self.hair = [pf(p["hair_albedo"] * c) for c in rgb_or_1(hd._HAIR_RGB)]
        hv = p["hair_volume"]
        self.hair_c = [pf(0 * hv), pf(-0.05 - 0.3 * hv), pf(-0.05 + 0 * hv)]
        self.hair_r = [pf(1.02 + hv), pf(1.04 + 1.3 * hv), pf(1.06 + hv)]
        centre = np.sqrt(sum(v.astype(np.float64) ** 2 for v in self.hair_c))
        self.reach = np.maximum(self.rmax, pf(centre + np.max(self.hair_r, axis=0)))
        self.offset = pf(np.arange(self.n) * (2 * hd.TEX_G**2))  # float32: exact (< 2^24)


def _index(block: _Block, q: list[np.ndarray], nearest: bool) -> tuple[np.ndarray, ...]:
    """Texel index (and bilinear fractions) of scaled points ``q``; front or back texture.

    In float32 until one conversion: indices stay below 2^24, so they are exact.
    """
    g = F32(hd.TEX_G)
    scale = F32((hd.TEX_G - 1) / (2.0 * hd.TEX_L))
    lo, hi = F32(0), F32(hd.TEX_G - 1.001)
    shift = F32(hd.TEX_L * (hd.TEX_G - 1) / (2.0 * hd.TEX_L) + (0.5 if nearest else 0.0))
    fx = np.minimum(np.maximum(q[0] * scale + shift, lo), hi)
    fy = np.minimum(np.maximum(q[1] * scale + shift, lo), hi)
    ix, iy = np.floor(fx), np.floor(fy)
    back = (q[2] < 0) * (g * g)
    idx = (block.offset + back + iy * g + ix).astype(np.int32)
    return idx, fx - ix, fy - iy


def _lookup(block: _Block, table: np.ndarray, k: int, q: list[np.ndarray]) -> list[np.ndarray]:
    """Bilinear look-up of ``k`` channels at scaled points ``q`` (front or back texture)."""
    idx, tx, ty = _index(block, q, nearest=False)
    g = hd.TEX_G
    if k == 1:
        corners = [np.take(table, idx + step)[..., None] for step in (0, 1, g, g + 1)]
    else:
        corners = [np.take(table, idx + step).view(F32).reshape(idx.shape + (k,))
                   for step in (0, 1, g, g + 1)]
    w01, w11 = tx * (1 - ty), tx * ty
    w00, w10 = (1 - ty) - w01, ty - w11
    return [corners[0][..., c] * w00 + corners[1][..., c] * w01 + corners[2][..., c] * w10
            + corners[3][..., c] * w11 for c in range(k)]


def _along(o: list[np.ndarray], d: list[np.ndarray], t: np.ndarray) -> list[np.ndarray]:
    return [o[k] + t * d[k] for k in range(3)]


def _height(block: _Block, o: list[np.ndarray], d: list[np.ndarray], t: np.ndarray
            ) -> np.ndarray:
    """Implicit surface value ``|q| - 1 - h(q)`` at ray parameter ``t`` (< 0: inside)."""
    q = _along(o, d, t)
    return np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]) - 1 - _lookup(
        block, block.height, 1, q)[0]


def _crossing(block: _Block, o: list[np.ndarray], d: list[np.ndarray], a: np.ndarray,
              b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First surface crossing along each ray: t and a hit mask (else the closest approach).

    Samples ``_MARCH`` even steps from the bounding sphere (radius 1 + max h) to the inner
    sphere (1 + min h, where the surface has been crossed) or, for rays that miss it, to the
    ray's closest approach to the head centre (``|q|`` falls monotonically on the way), all at
    once with the nearest texel (only the sign matters); regula falsi (bilinear) refines the
    first bracket.
    """
    t_mid = -b / a
    t_out = (np.sqrt(np.maximum(b * b - a * (c - block.rmax**2), 0)) - b) / a
    # the first crossing lies before the inner sphere (radius 1 + min h), where one is met
    disc_in = b * b - a * (c - block.rmin**2)
    t_in = np.where(disc_in > 0, (np.sqrt(np.maximum(disc_in, 0)) - b) / a, t_mid)
    frac = (np.arange(1, _MARCH + 1, dtype=F32) / F32(_MARCH))[:, None]
    t_k = t_out + (t_in - t_out) * frac  # (K, M)
    q = [o[0] + t_k * d[0], o[1] + t_k * d[1], o[2] + t_k * d[2]]
    h = np.take(block.height, _index(block, q, nearest=True)[0])
    f_k = np.sqrt((a * t_k + 2 * b) * t_k + c) - 1 - h
    inside = f_k <= 0
    first = np.argmax(inside, axis=0)
    found = inside[first, np.arange(len(first))]
    cols = np.arange(len(first))
    t_b, f_b = t_k[first, cols], np.where(found, f_k[first, cols], F32(-1))
    prev = np.maximum(first - 1, 0)
    t_a = np.where(first > 0, t_k[prev, cols], t_out)
    f_a = np.where(first > 0, f_k[prev, cols], F32(1e-3))  # the bounding sphere: outside
    for _ in range(_REFINE):
        t_n = t_a - f_a * (t_b - t_a) / (f_b - f_a)
        f_n = _height(block, o, d, t_n)
        inner = f_n <= 0
        t_b, f_b = np.where(inner, t_n, t_b), np.where(inner, f_n, f_b)
        t_a, f_a = np.where(inner, t_a, t_n), np.where(inner, f_a, f_n)
    t = t_a - f_a * (t_b - t_a) / (f_b - f_a)
    return np.where(found, t, t_mid), found


def _face(block: _Block, o: list[np.ndarray], d: list[np.ndarray], a: np.ndarray,
          b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Face depth t (-inf where missed), signed silhouette distance and colour channels."""
    t, hit = _crossing(block, o, d, a, b, c)
    q = _along(o, d, t)
    s = _lookup(block, block.shade, block.n_shade, q)
    # the ray's distance to the head centre against the radius where it passes
    signed = np.sqrt(np.maximum(c - b * b / a, 0)) - (1 + s[0])
    signed = np.where(hit, np.minimum(signed, 0), np.maximum(signed, 0))
    norm = np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
    g = [q[0] / norm - s[1], q[1] / norm - s[2], q[2] / norm]
    colour = _lambert(block, g, block.skin, s[3:])
    return np.where(hit, t, F32(-np.inf)), signed, colour


def _lambert(block: _Block, g: list[np.ndarray], albedo: list[np.ndarray],
             offsets: list[np.ndarray] | None = None, dim: float = 1.0) -> list[np.ndarray]:
    """Colour channels from a scaled-frame gradient ``g`` (outward normal direction)."""
    dot = g[0] * block.light_q[0] + g[1] * block.light_q[1] + g[2] * block.light_q[2]
    gn = [g[k] * block.inv_abc[k] for k in range(3)]
    lam = np.maximum(dot, 0) / np.sqrt(gn[0] * gn[0] + gn[1] * gn[1] + gn[2] * gn[2])
    light = F32(dim) * (F32(hd.AMBIENT) + block.intensity * lam)
    if offsets is None:
        return [alb * light for alb in albedo]
    return [(alb + off) * light for alb, off in zip(albedo, offsets, strict=True)]


def _hair(block: _Block, o: list[np.ndarray], d: list[np.ndarray], ppu: float
          ) -> tuple[list[np.ndarray], ...]:
    """Hair shell: near side (t, alpha, colour) and the inside of the back (alpha, colour)."""
    oh = [(o[k] - block.hair_c[k]) / block.hair_r[k] for k in range(3)]
    dh = [d[k] / block.hair_r[k] for k in range(3)]
    a = dh[0] * dh[0] + dh[1] * dh[1] + dh[2] * dh[2]
    b = oh[0] * dh[0] + oh[1] * dh[1] + oh[2] * dh[2]
    c = oh[0] * oh[0] + oh[1] * oh[1] + oh[2] * oh[2]
    root = np.sqrt(np.maximum(b * b - a * (c - 1), 0))
    edge = np.clip(F32(0.5) - (np.sqrt(np.maximum(c - b * b / a, 0)) - 1) * block.scale
                   * block.hair_r[0] * F32(ppu), 0, 1)
    out = []
    for sign, dim in ((1, 1.0), (-1, 0.55)):  # near side; inside of the back hair
        t = (F32(sign) * root - b) / a
        qh = _along(oh, dh, t)
        cut = (F32(-0.05) - F32(0.5) * qh[2] - qh[1]) * block.scale * F32(1.2 * ppu)
        alpha = np.minimum(edge, np.clip(cut + F32(0.5), 0, 1))
        g = [qh[k] / block.hair_r[k] * F32(sign) for k in range(3)]
        out.append((t, alpha, _lambert(block, g, block.hair, dim=dim)))
    return tuple(out)


def _over(alpha: np.ndarray, top: list[np.ndarray], under: list[np.ndarray]
          ) -> list[np.ndarray]:
    return [u + alpha * (t - u) for t, u in zip(top, under, strict=True)]


_PER_FACE = ("offset", "rmax", "rmin", "scale", "intensity")
_PER_FACE_LISTS = ("light_q", "inv_abc", "skin", "hair", "hair_c", "hair_r")


class _Subset:
    """The per-face constants of ``src`` gathered for some samples.

    ``sel`` indexes ``src``'s flattened constants: a face index per sample when ``src`` is a
    :class:`_Block`, a sample index when it is another subset.
    """

    def __init__(self, src: _Block | _Subset, sel: np.ndarray):
        self.height, self.shade, self.n_shade = src.height, src.shade, src.n_shade
        for name in _PER_FACE:
            setattr(self, name, getattr(src, name).ravel()[sel])
        for name in _PER_FACE_LISTS:
            setattr(self, name, [v.ravel()[sel] for v in getattr(src, name)])


def _select(src: _Block | _Subset, o: list[np.ndarray], d: list[np.ndarray], a: np.ndarray,
            b: np.ndarray, c: np.ndarray, reach: np.ndarray) -> tuple[Any, ...]:
    """Select the rays that meet the sphere of radius ``reach``: index, constants, rays."""
    idx = np.flatnonzero(b * b - a * (c - reach * reach) > 0)
    sel = idx // int(np.prod(b.shape[1:]))
    return (idx, _Subset(src, sel), [v.ravel()[idx] for v in o], [v.ravel()[sel] for v in d],
            a.ravel()[sel], b.ravel()[idx], c.ravel()[idx])


def _scatter(idx: np.ndarray, values: np.ndarray, shape: tuple[int, ...], fill: float
             ) -> np.ndarray:
    out = np.full(shape, F32(fill))
    out.ravel()[idx] = values
    return out


def _face_samples(src: _Subset, o: list[np.ndarray], d: list[np.ndarray], a: np.ndarray,
                  b: np.ndarray, c: np.ndarray, ppu: float
                  ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """:func:`_face` on the samples whose ray meets the bounding sphere (plus a pixel)."""
    idx, sub, *rays = _select(src, o, d, a, b, c, src.rmax + F32(1) / (src.scale * F32(ppu)))
    t_s, signed_s, colour_s = _face(sub, *rays)
    shape = b.shape
    return (_scatter(idx, t_s, shape, -np.inf), _scatter(idx, signed_s, shape, 1e3),
            [_scatter(idx, ch, shape, 0.0) for ch in colour_s])


def _neck(block: _Block, x: np.ndarray, y: np.ndarray, ppu: float
          ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Coverage and colour of the neck, a vertical cylinder behind the head."""
    nx, ny, _, nr = (F32(v) for v in hd.NECK)
    dx = np.clip((x - nx) / nr, -1, 1)
    dz = np.sqrt(1 - dx * dx)
    alpha = np.minimum(np.clip(F32(0.5) - (np.abs(x - nx) - nr) * F32(ppu), 0, 1),
                       np.clip(F32(0.5) + (y - ny) * F32(ppu), 0, 1))
    lam = np.maximum(dx * block.light_cam[0] + dz * block.light_cam[2], 0)
    light = F32(0.85) * (F32(hd.AMBIENT) + block.intensity * lam)
    return alpha, [s * light for s in block.skin]


def _scene(block: _Block, x: np.ndarray, y: np.ndarray, ppu: float
           ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Colour channels, face depth and face coverage of samples at (x, y).

    Layers, back to front: background, the inside of the back hair, the neck, then the face
    and the hair shell in their depth order. Hair and face are computed only for rays that
    meet the head's bounding sphere.
    """
    m = block.m
    yy = y - F32(hd.CY)
    o = [m[0] * x + m[1] * yy, m[3] * x + m[4] * yy, m[6] * x + m[7] * yy]
    d = [m[2], m[5], m[8]]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2]
    c = o[0] * o[0] + o[1] * o[1] + o[2] * o[2]
    shape = b.shape
    bg = [np.full(shape, F32(v)) for v in (hd.BACKGROUND[1] if block.rgb else
                                           hd.BACKGROUND[:1])]
    a_neck, c_neck = _neck(block, x, y, ppu)
    c_neck = [np.broadcast_to(ch, shape) for ch in c_neck]
    a_neck = np.broadcast_to(a_neck, shape)
    colour = _over(a_neck, c_neck, bg)
    idx, sub, o_s, d_s, a_s, b_s, c_s = _select(
        block, o, d, a, b, c, block.reach + F32(1) / (block.scale * F32(ppu)))
    (t_hair, a_hair, c_hair), (_, a_back, c_back) = _hair(sub, o_s, d_s, ppu)

    def gather(v: list[np.ndarray]) -> list[np.ndarray]:
        return [ch.ravel()[idx] for ch in v]

    under = _over(a_neck.ravel()[idx], gather(c_neck), _over(a_back, c_back, gather(bg)))
    t_face, signed, c_face = _face_samples(sub, o_s, d_s, a_s, b_s, c_s, ppu)
    a_face = np.clip(F32(0.5) - signed * sub.scale * F32(ppu), 0, 1)
    front = t_face > t_hair
    hair_then_face = _over(a_face, c_face, _over(a_hair, c_hair, under))
    face_then_hair = _over(a_hair, c_hair, _over(a_face, c_face, under))
    for ch, h, f in zip(colour, hair_then_face, face_then_hair, strict=True):
        ch.ravel()[idx] = np.where(front, h, f)
    cover = np.where(front, a_face, a_face * (1 - a_hair))
    return colour, _scatter(idx, t_face, shape, -np.inf), _scatter(idx, cover, shape, 0.0)


def _render_block(f: np.ndarray, size: int, rgb: bool, supersample: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, size, size[, 3]) and landmarks (n, 68, 2) of one block."""
    block = _Block(f, rgb, ndim=2)
    s = size * supersample
    grid = ((np.arange(s, dtype=np.float64) + 0.5) / (s / 2.0) - 1.0).astype(F32)
    colour, _, _ = _scene(block, grid[None, None, :], grid[None, :, None], s / 2.0)
    img = np.stack(colour, -1)
    if supersample > 1:
        img = img.reshape(len(f), size, supersample, size, supersample, -1).mean((2, 4))
    img = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
    lm3 = hd.landmarks_3d(block.p, block.h_sym, block.h_front)
    landmarks = (lm3[..., :2] + 1.0) * (size / 2.0) - 0.5
    return (img if rgb else img[..., 0]), landmarks


def _workers(workers: int | None) -> int:
    if workers is None:
        return max(1, min(8, os.cpu_count() or 1))
    return max(1, int(workers))


def render_heads(
    factors: pd.DataFrame | Mapping[str, np.ndarray], *, size: int = 64, rgb: bool = False,
    supersample: int = 1, workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render 3D heads and their 68 landmarks from factors in [-1, 1].

    Parameters
    ----------
    factors
        One row per face, columns from :data:`~neurofacedis.simulate.HEAD_FACTORS`; a
        missing column means 0 (the average head, frontal, lit from above front).
    size
        Image side in pixels (>= 16).
    rgb
        Colour images (N, size, size, 3) instead of grey (N, size, size).
    supersample
        Samples per pixel side, box-filtered down, on top of the analytic edge coverage.
    workers
        Threads (None: the CPU count, at most 8). The result does not depend on it.

    Returns
    -------
    images
        uint8 images.
    landmarks
        (N, 68, 2) float64 (x, y) pixel coordinates (pixel centres at integers), iBUG 68-point
        order (:data:`~neurofacedis.simulate.LANDMARK_NAMES_68`): projections of surface
        points, also where the head hides them (:func:`landmark_visibility`).
    """
    size, supersample = int(size), int(supersample)
    if size < 16:
        raise InputError(f"image size must be >= 16 pixels, got {size}", obj="size")
    if supersample < 1:
        raise InputError(f"supersample must be >= 1, got {supersample}", obj="supersample")
    f = hd.head_factor_matrix(factors)
    n = len(f)
    images = np.empty((n, size, size, 3) if rgb else (n, size, size), dtype=np.uint8)
    landmarks = np.empty((n, 68, 2))
    starts = list(range(0, n, _CHUNK))

    def work(start: int) -> None:
        img, lm = _render_block(f[start:start + _CHUNK], size, rgb, supersample)
        images[start:start + _CHUNK], landmarks[start:start + _CHUNK] = img, lm

    n_threads = min(_workers(workers), len(starts))
    if n_threads <= 1:
        for start in starts:
            work(start)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(work, starts))
    return images, landmarks


def landmark_visibility(factors: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """Which of the 68 landmarks the camera sees: (N, 68) bool.

    A ray through the landmark's image position is cast into the scene; the landmark is
    visible when the face covers that point (not the hair) at the landmark's own depth
    (within 0.02 face units), i.e. it is neither turned away nor behind the nose or cheek.
    """
    f = hd.head_factor_matrix(factors)
    out = np.empty((len(f), 68), dtype=bool)
    for start in range(0, len(f), _CHUNK):
        block = _Block(f[start:start + _CHUNK], rgb=False, ndim=1)
        lm3 = hd.landmarks_3d(block.p, block.h_sym, block.h_front).astype(F32)
        _, depth, cover = _scene(block, lm3[..., 0], lm3[..., 1], 64.0)
        out[start:start + _CHUNK] = (cover > 0.5) & (np.abs(depth - lm3[..., 2]) < 0.02)
    return out
