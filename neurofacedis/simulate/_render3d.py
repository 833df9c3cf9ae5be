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

Speed: only the rays that pass near the head are cast (a per-row interval of the head's
projected bounding ellipse, :func:`_rays`), as a padded ``(faces, rays)`` array so that every
per-face constant broadcasts as an ``(n, 1)`` column; each face's rays that can meet the face
come first and only those are ray-cast against it (the others meet only the hair, where the
face's coverage is exactly 0). Blocks are small (:data:`_PART`) so that each per-ray array
stays in the cache and in the allocator's free lists (large temporaries cost a page fault per
4 KiB each time they are made). numpy holds the GIL for most of this, so threads do not help:
a large batch is split over forked worker processes (:func:`_render_parallel`).

Per-sample arithmetic is float32 add/multiply/divide/sqrt (IEEE exact) and table look-ups;
per-face values are float64; no sums over samples. Results do not depend on how a batch is
split into blocks or processes (``test_renders_the_recorded_bytes`` pins the bytes of a seeded
batch as they were before these speed-ups).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError
from neurofacedis.simulate import _head3d as hd

__all__ = ["render_heads", "landmark_visibility"]

_CHUNK = 32  # faces per block (textures, landmarks): results do not depend on it
_PART = 8  # faces per ray batch: small, so each per-ray array stays in the cache
_MIN_PER_PROCESS = 256  # faces per worker process, at least (a process starts in ~20 ms)
_MARCH = 3  # even steps from the bounding sphere to the inner sphere (or closest approach)
_REFINE = 2  # regula falsi steps in the first bracket (bilinear)
F32 = np.float32
_G = hd.TEX_G
_TEX_SCALE = F32((_G - 1) / (2.0 * hd.TEX_L))  # scaled coordinate -> texel
_TEX_SHIFT = F32(hd.TEX_L * (_G - 1) / (2.0 * hd.TEX_L))
_TEX_HI = F32(_G - 1.001)


def _packed(table: np.ndarray) -> np.ndarray:
    """Rows of a float32 table as one opaque item each: ``np.take`` copies whole rows fast."""
    table = np.ascontiguousarray(table, dtype=F32)
    return table.view(np.dtype((np.void, 4 * table.shape[1]))).ravel()


class _Block:
    """Per-face constants (each an (n, 1) float32 column) of a block of faces.

    :meth:`part` cuts a few faces out and adds their textures: ``1 + h`` (so that a crossing
    test is ``|q| - H``), its derivatives and the albedo offsets, front ([:, 0]) and back
    ([:, 1]) texture of each face one after another (the albedo is drawn for the whole block
    at once, fewer numpy calls; the tables per part, so that they are still in the cache).
    """

    def __init__(self, f: np.ndarray, rgb: bool):
        p = hd.head_params(f)
        self.p, self.n, self.rgb = p, len(f), rgb
        self.h_sym, self.h_front = hd.height_fields(p)
        abc = p["abc"]
        pf = self.pf
        rmax = 1.0 + (self.h_sym + np.maximum(self.h_front, 0.0)).max((1, 2)) + 0.01
        rmin = 1.0 + (self.h_sym + np.minimum(self.h_front, 0.0)).min((1, 2)) - 0.01
        self.rmax2, self.rmin2 = pf(rmax.astype(F32) ** 2), pf(rmin.astype(F32) ** 2)
        minv = np.transpose(p["R"], (0, 2, 1)) / abc[:, :, None]  # S^-1 R^T
        self.minv = minv
        self.m = [pf(minv[:, i, j]) for i in range(3) for j in range(3)]
        d = minv[:, :, 2]
        a = (d * d).sum(1)
        self.a, self.inv_a = pf(a), pf(1.0 / a)
        self.bx = pf((minv[:, :, 0] * d).sum(1))  # o . d = bx x + by (y - CY)
        self.by = pf((minv[:, :, 1] * d).sum(1))
        light_q = np.einsum("nji,nj->ni", p["R"], p["light"]) / abc  # S^-1 R^T l
        self.light_q = [pf(light_q[:, k]) for k in range(3)]
        self.inv_abc = [pf(1.0 / abc[:, k]) for k in range(3)]
        self.scale_64 = np.sqrt(abc[:, 0] * abc[:, 1])  # scaled -> face units, about
        self.scale = pf(self.scale_64)
        self.light_cam = [pf(p["light"][:, k]) for k in range(3)]
        self.intensity = pf(p["light_intensity"])
        rgb_or_1 = (lambda c: c) if rgb else (lambda c: np.ones(1))
        self.skin = [pf(p["skin"] * c) for c in rgb_or_1(hd._SKIN_RGB)]
        self.hair = [pf(p["hair_albedo"] * c) for c in rgb_or_1(hd._HAIR_RGB)]
        self._hair_shell(p["hair_volume"], rmax)
        self.albedo = hd.albedo_fields(p, rgb)

    def pf(self, v: np.ndarray) -> np.ndarray:
        """Per-face values as an (n, 1) float32 column."""
        return np.asarray(v, dtype=F32).reshape(-1, 1)

    def _hair_shell(self, hv: np.ndarray, rmax: np.ndarray) -> None:
        centre = np.stack([0 * hv, -0.05 - 0.3 * hv, -0.05 + 0 * hv], -1)  # scaled frame
        radii = np.stack([1.02 + hv, 1.04 + 1.3 * hv, 1.06 + hv], -1)
        self.reach = np.maximum(rmax, np.linalg.norm(centre, axis=1) + radii.max(1))
        self.hair_c = [self.pf(centre[:, k]) for k in range(3)]
        self.hair_inv_r = [self.pf(1.0 / radii[:, k]) for k in range(3)]
        d = self.minv[:, :, 2] / radii
        self.hair_d = [self.pf(d[:, k]) for k in range(3)]
        self.hair_inv_a = self.pf(1.0 / (d * d).sum(1))
        self.hair_edge = self.pf(self.scale_64 * radii[:, 0])

    def part(self, lo: int, hi: int) -> _Block:
        """Return the faces ``lo:hi`` of this block, with their textures."""
        out = object.__new__(type(self))
        for name, value in vars(self).items():
            if name in ("n", "rgb"):
                setattr(out, name, value)
            elif name == "p":
                setattr(out, name, {k: v[lo:hi] for k, v in value.items()})
            elif isinstance(value, list):
                setattr(out, name, [v[lo:hi] for v in value])
            else:
                setattr(out, name, value[lo:hi])
        out.n = hi - lo
        out._textures()
        return out

    def _textures(self) -> None:
        step = F32(2.0 * hd.TEX_L / (_G - 1))
        h = np.stack([self.h_sym + self.h_front, self.h_sym], 1)  # (n, 2, G, G)
        albedo = self.albedo
        # channels: 1 + h, dh/du, dh/dv, albedo offsets (none on the back texture)
        tex = np.zeros(h.shape + (3 + albedo.shape[-1],), dtype=F32)
        tex[..., 0] = h + F32(1)
        tex[..., 1:-1, 1] = (h[..., 2:] - h[..., :-2]) / (2 * step)
        tex[..., 1:-1, :, 2] = (h[..., 2:, :] - h[..., :-2, :]) / (2 * step)
        tex[:, 0, :, :, 3:] = albedo
        self.height = tex[..., 0].ravel()
        self.shade = _packed(tex.reshape(-1, tex.shape[-1]))
        self.n_shade = tex.shape[-1]
        self.offset = self.pf(np.arange(self.n) * (2 * _G**2))  # float32: exact (< 2^24)


def _texel(block: _Block, q: list[np.ndarray], nearest: bool) -> tuple[np.ndarray, ...]:
    """Texel index (and bilinear fractions) of scaled points ``q``; front or back texture.

    In float32 until one conversion: indices stay below 2^24, so they are exact.
    """
    shift = _TEX_SHIFT + F32(0.5) if nearest else _TEX_SHIFT
    fx = np.clip(q[0] * _TEX_SCALE + shift, F32(0), _TEX_HI)
    fy = np.clip(q[1] * _TEX_SCALE + shift, F32(0), _TEX_HI)
    ix, iy = np.floor(fx), np.floor(fy)
    base = block.offset + (q[2] < 0) * F32(_G * _G)
    idx = (base + (iy * F32(_G) + ix)).astype(np.int32)
    if nearest:
        return (idx,)
    return idx, fx - ix, fy - iy


def _bilinear(block: _Block, table: np.ndarray, k: int, q: list[np.ndarray]
              ) -> list[np.ndarray]:
    """Bilinear look-up of ``k`` channels at scaled points ``q`` (front or back texture)."""
    idx, tx, ty = _texel(block, q, nearest=False)
    if k == 1:
        v = [np.take(table[step:], idx) for step in (0, 1, _G, _G + 1)]  # idx + step
        top = v[0] + (v[1] - v[0]) * tx
        return [top + (v[2] + (v[3] - v[2]) * tx - top) * ty]
    corners = [np.take(table[step:], idx).view(F32).reshape(idx.shape + (k,))
               for step in (0, 1, _G, _G + 1)]
    w01, w11 = tx * (1 - ty), tx * ty
    w00, w10 = (1 - ty) - w01, ty - w11
    return [corners[0][..., c] * w00 + corners[1][..., c] * w01 + corners[2][..., c] * w10
            + corners[3][..., c] * w11 for c in range(k)]


class _Rays:
    """Rays of samples (n, K) in a block's scaled frame: ``q(t) = o + t d``, ``|q|^2``."""

    def __init__(self, block: _Block, x: np.ndarray, y: np.ndarray):
        m = block.m
        yy = y - F32(hd.CY)
        self.x, self.y = x, y
        self.o = [m[0] * x + m[1] * yy, m[3] * x + m[4] * yy, m[6] * x + m[7] * yy]
        self.d = [m[2], m[5], m[8]]
        self.b = block.bx * x + block.by * yy
        self.b2 = self.b + self.b
        o = self.o
        self.c = o[0] * o[0] + o[1] * o[1] + o[2] * o[2]
        self.e = self.c - self.b * self.b * block.inv_a  # squared closest approach
        self.t_mid = -self.b * block.inv_a
        self.a = block.a

    def head(self, k: int) -> _Rays:
        """Return the first ``k`` rays of each face (views)."""
        out = object.__new__(type(self))
        for name, value in vars(self).items():
            if name == "o":
                value = [v[:, :k] for v in value]
            elif name not in ("d", "a"):  # per-face columns stay
                value = value[:, :k]
            setattr(out, name, value)
        return out

    def at(self, t: np.ndarray) -> list[np.ndarray]:
        return [self.o[k] + t * self.d[k] for k in range(3)]

    def norm(self, t: np.ndarray) -> np.ndarray:
        return np.sqrt((self.a * t + self.b2) * t + self.c)


def _crossing(block: _Block, r: _Rays) -> tuple[np.ndarray, np.ndarray]:
    """First surface crossing along each ray: t and a hit mask (else the closest approach).

    Samples ``_MARCH`` even steps from the bounding sphere (radius 1 + max h) to the inner
    sphere (1 + min h, where the surface has been crossed) or, for rays that miss it, to the
    ray's closest approach to the head centre (``|q|`` falls monotonically on the way), with
    the nearest texel (only the sign matters); regula falsi (bilinear) refines the first
    bracket.
    """
    inv_a = block.inv_a
    t_out = r.t_mid + np.sqrt(np.maximum(block.rmax2 - r.e, 0) * inv_a)
    t_in = r.t_mid + np.sqrt(np.maximum(block.rmin2 - r.e, 0) * inv_a)
    step = (t_in - t_out) * F32(1.0 / _MARCH)
    t_k = [t_out, t_out + step] + [t_out + F32(k) * step for k in range(2, _MARCH + 1)]
    f_k = [None] + [r.norm(t) - np.take(block.height, _texel(block, r.at(t), True)[0])
                    for t in t_k[1:]]
    # bracket: the last step that is inside, then overwritten by earlier ones (first wins)
    t_a, f_a = t_out.copy(), np.full(t_out.shape, F32(1e-3))
    t_b, f_b = t_k[1].copy(), np.full(t_out.shape, F32(-1))
    found = np.zeros(t_out.shape, dtype=bool)
    for k in range(_MARCH, 0, -1):
        inside = f_k[k] <= 0
        found |= inside
        np.putmask(t_b, inside, t_k[k])
        np.putmask(f_b, inside, f_k[k])
        np.putmask(t_a, inside, t_k[k - 1])
        np.putmask(f_a, inside, F32(1e-3) if k == 1 else f_k[k - 1])
    for _ in range(_REFINE):
        t_n = t_a - f_a * (t_b - t_a) / (f_b - f_a)
        f_n = r.norm(t_n) - _bilinear(block, block.height, 1, r.at(t_n))[0]
        inner = f_n <= 0
        np.putmask(t_b, inner, t_n)
        np.putmask(f_b, inner, f_n)
        outer = ~inner
        np.putmask(t_a, outer, t_n)
        np.putmask(f_a, outer, f_n)
    t = t_a - f_a * (t_b - t_a) / (f_b - f_a)
    np.putmask(t, ~found, r.t_mid)
    return t, found


def _face(block: _Block, r: _Rays) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Face depth t (-inf where missed), signed silhouette distance and colour channels."""
    t, hit = _crossing(block, r)
    q = r.at(t)
    s = _bilinear(block, block.shade, block.n_shade, q)
    # the ray's distance to the head centre against the radius where it passes
    signed = np.sqrt(np.maximum(r.e, 0)) - s[0]
    signed = np.where(hit, np.minimum(signed, 0), np.maximum(signed, 0))
    inv = 1 / np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
    g = [q[0] * inv - s[1], q[1] * inv - s[2], q[2] * inv]
    colour = _lambert(block, g, block.skin, s[3:])
    np.putmask(t, ~hit, F32(-np.inf))
    return t, signed, colour


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


def _hair(block: _Block, r: _Rays, ppu: float) -> tuple[tuple[np.ndarray, ...], ...]:
    """Hair shell: near side (t, alpha, colour) and the inside of the back (alpha, colour)."""
    inv_r, dh, inv_a = block.hair_inv_r, block.hair_d, block.hair_inv_a
    oh = [(r.o[k] - block.hair_c[k]) * inv_r[k] for k in range(3)]
    b = oh[0] * dh[0] + oh[1] * dh[1] + oh[2] * dh[2]
    c = oh[0] * oh[0] + oh[1] * oh[1] + oh[2] * oh[2]
    e = c - b * b * inv_a
    root = np.sqrt(np.maximum(1 - e, 0) * inv_a)
    t_mid = -b * inv_a
    edge = np.clip(F32(0.5) - (np.sqrt(np.maximum(e, 0)) - 1)
                   * (block.hair_edge * F32(ppu)), 0, 1)
    cut_scale = block.scale * F32(1.2 * ppu)
    out = []
    for sign, dim in ((1, 1.0), (-1, 0.55)):  # near side; inside of the back hair
        t = t_mid + root if sign > 0 else t_mid - root
        qh = [oh[k] + t * dh[k] for k in range(3)]
        cut = (F32(-0.05) - F32(0.5) * qh[2] - qh[1]) * cut_scale
        alpha = np.minimum(edge, np.clip(cut + F32(0.5), 0, 1))
        g = [qh[k] * inv_r[k] if sign > 0 else -(qh[k] * inv_r[k]) for k in range(3)]
        out.append((t, alpha, _lambert(block, g, block.hair, dim=dim)))
    return tuple(out)


def _over(alpha: np.ndarray, top: list[np.ndarray], under: list[np.ndarray]
          ) -> list[np.ndarray]:
    return [u + alpha * (t - u) for t, u in zip(top, under, strict=True)]


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


def _background(block: _Block) -> list[F32]:
    return [F32(v) for v in (hd.BACKGROUND[1] if block.rgb else hd.BACKGROUND[:1])]


def _scene(block: _Block, x: np.ndarray, y: np.ndarray, ppu: float, k_face: int | None = None,
           neck: tuple[np.ndarray, list[np.ndarray]] | None = None,
           ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Colour channels, face depth and face coverage of samples at (x, y), each (n, K).

    Layers, back to front: background, the inside of the back hair, the neck, then the face
    and the hair shell in their depth order. With ``k_face``, only the first ``k_face``
    samples of each face can meet the face (:func:`_rays`); the others get the face's
    values there, exactly: depth -inf, coverage 0 (so its colour does not count). ``neck``:
    :func:`_neck`'s values at these samples when already known.
    """
    r = _Rays(block, x, y)
    a_neck, c_neck = _neck(block, x, y, ppu) if neck is None else neck
    (t_hair, a_hair, c_hair), (_, a_back, c_back) = _hair(block, r, ppu)
    bg = _background(block)
    under = _over(a_neck, c_neck, [b + a_back * (c - b) for b, c in zip(bg, c_back, strict=True)])
    if k_face is None or k_face >= x.shape[1]:
        t_face, signed, c_face = _face(block, r)
        a_face = np.clip(F32(0.5) - signed * (block.scale * F32(ppu)), 0, 1)
    else:
        t, signed, c = _face(block, r.head(k_face))
        t_face = np.full(x.shape, F32(-np.inf))
        t_face[:, :k_face] = t
        a_face = np.zeros(x.shape, dtype=F32)
        a_face[:, :k_face] = np.clip(F32(0.5) - signed * (block.scale * F32(ppu)), 0, 1)
        c_face = [np.zeros(x.shape, dtype=F32) for _ in c]
        for full, part in zip(c_face, c, strict=True):
            full[:, :k_face] = part
    front = t_face > t_hair
    hair_then_face = _over(a_face, c_face, _over(a_hair, c_hair, under))
    face_then_hair = _over(a_hair, c_hair, _over(a_face, c_face, under))
    colour = [np.where(front, h, f) for h, f in zip(hair_then_face, face_then_hair, strict=True)]
    cover = np.where(front, a_face, a_face * (1 - a_hair))
    return colour, t_face, cover


def _intervals(block: _Block, s: int, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per face and image row, the columns ``[lo, hi)`` whose ray passes within ``radius``.

    A ray meets the sphere of radius R about the head centre (scaled frame) where the
    squared distance of its closest approach, a quadratic form in the pixel's (x, y), is
    below R^2: an ellipse, cut per image row into one interval of columns (with one column
    to spare); ``lo == hi`` where a row misses it.
    """
    ppu = s / 2.0
    p0, p1, d = block.minv[:, :, 0], block.minv[:, :, 1], block.minv[:, :, 2]
    inv_a = 1.0 / (d * d).sum(1)
    pd0, pd1 = (p0 * d).sum(1), (p1 * d).sum(1)
    q00 = ((p0 * p0).sum(1) - pd0 * pd0 * inv_a)[:, None]
    q01 = ((p0 * p1).sum(1) - pd0 * pd1 * inv_a)[:, None]
    q11 = ((p1 * p1).sum(1) - pd1 * pd1 * inv_a)[:, None]
    radius = radius[:, None]
    yy = ((np.arange(s) + 0.5) / ppu - 1.0 - hd.CY)[None, :]
    disc = (q01 * yy) ** 2 - q00 * (q11 * yy * yy - radius**2)
    centre, half = -q01 * yy / q00, np.sqrt(np.maximum(disc, 0.0)) / q00
    # columns j with (j + 0.5) / ppu - 1 inside [centre - half, centre + half], and one more
    lo = np.clip(np.floor((centre - half + 1.0) * ppu - 0.5), 0, s).astype(np.int64)
    hi = np.clip(np.ceil((centre + half + 1.0) * ppu - 0.5) + 1, 0, s).astype(np.int64)
    return lo, np.where(disc > 0, np.maximum(hi, lo), lo)


def _runs(starts: np.ndarray, counts: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    """Concatenated runs ``start + arange(count)`` of each face (rows of (n, m) arrays)."""
    flat_start, flat_count = starts.ravel(), counts.ravel()
    first = np.cumsum(flat_count) - flat_count  # of each run in the concatenation
    pixel = np.repeat(flat_start - first, flat_count) + np.arange(flat_count.sum())
    per_face = counts.sum(1).tolist()
    ends = np.cumsum([0] + per_face).tolist()
    return [pixel[a:b] for a, b in zip(ends[:-1], ends[1:], strict=True)], per_face


def _rays(block: _Block, s: int) -> tuple[np.ndarray, int]:
    """Pixels (n, K) of an s x s grid whose ray passes near the head, and K_face.

    The head's reach (face and hair) plus a pixel bounds the pixels that any surface
    covers (:func:`_intervals`); the pixels left out keep the neck and background. Of
    these, each face's first ``K_face`` are the pixels where the face itself can cover a
    sample: within ``rmax`` (the face's bounding sphere, 0.01 to spare) plus half a pixel,
    beyond which its coverage ``clip(0.5 - signed distance in pixels, 0, 1)`` is exactly 0;
    the rest meet only the hair. Rows are padded with the index ``s * s``, a spare pixel.
    """
    ppu = s / 2.0
    lo, hi = _intervals(block, s, block.reach + 1.0 / (block.scale_64 * ppu) + 1e-3)
    f_lo, f_hi = _intervals(block, s, np.sqrt(block.rmax2[:, 0].astype(np.float64))
                            + 0.5 / (block.scale_64 * ppu))
    f_lo = np.clip(f_lo, lo, hi)  # inside the reach interval (or empty at its start)
    f_hi = np.clip(f_hi, f_lo, hi)
    row = np.arange(s) * s
    face, n_face = _runs(row + f_lo, f_hi - f_lo)
    rest, n_rest = _runs(np.concatenate([row + lo, row + f_hi], 1),
                         np.concatenate([f_lo - lo, hi - f_hi], 1))
    k_face = max(n_face)
    out = np.full((block.n, max(k_face + max(n_rest), 1)), s * s, dtype=np.int64)
    for i in range(block.n):
        out[i, :n_face[i]] = face[i]
        out[i, k_face:k_face + n_rest[i]] = rest[i]
    return out, k_face


def _render_block(f: np.ndarray, size: int, rgb: bool, supersample: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, size, size[, 3]) and landmarks (n, 68, 2) of one block."""
    block = _Block(f, rgb)
    s = size * supersample
    ppu = s / 2.0
    grid = ((np.arange(s, dtype=np.float64) + 0.5) / ppu - 1.0).astype(F32)
    spare = np.zeros(1, dtype=F32)  # a spare pixel (index s * s) for padded rays
    gx, gy = np.concatenate([np.tile(grid, s), spare]), np.concatenate([np.repeat(grid, s), spare])
    img = np.empty((block.n, s * s + 1, 3 if rgb else 1), dtype=F32)
    for lo in range(0, block.n, _PART):
        part = block.part(lo, min(lo + _PART, block.n))
        # everywhere: the neck over the background (coverage per pixel, colour per column);
        # near the head: the whole scene
        a_neck, c_neck = _neck(part, grid[None, :], grid[:, None], ppu)
        for k, (b, c) in enumerate(zip(_background(part), c_neck, strict=True)):
            img[lo:lo + part.n, :s * s, k] = (b + a_neck * (c[:, None, :] - b)).reshape(-1, s * s)
        pix, k_face = _rays(part, s)
        col = pix % s  # the neck's values at the rays' pixels, looked up (the same values)
        neck = (np.take(np.append(a_neck.ravel(), F32(0)), pix),
                [np.take_along_axis(c, col, 1) for c in c_neck])
        colour, _, _ = _scene(part, np.take(gx, pix), np.take(gy, pix), ppu, k_face, neck)
        rows = np.arange(lo, lo + part.n)[:, None]
        for k, ch in enumerate(colour):
            img[rows, pix, k] = ch
    img = img[:, :s * s].reshape(len(f), s, s, -1)
    if supersample > 1:
        img = img.reshape(len(f), size, supersample, size, supersample, -1).mean((2, 4))
    img = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
    lm3 = hd.landmarks_3d(block.p, block.h_sym, block.h_front)
    landmarks = (lm3[..., :2] + 1.0) * (size / 2.0) - 0.5
    return (img if rgb else img[..., 0]), landmarks


def _render_range(f: np.ndarray, size: int, rgb: bool, supersample: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Images and landmarks of the faces ``f``, block after block (in this process)."""
    n = len(f)
    images = np.empty((n, size, size, 3) if rgb else (n, size, size), dtype=np.uint8)
    landmarks = np.empty((n, 68, 2))
    for start in range(0, n, _CHUNK):
        images[start:start + _CHUNK], landmarks[start:start + _CHUNK] = _render_block(
            f[start:start + _CHUNK], size, rgb, supersample)
    return images, landmarks


def _in_worker() -> bool:
    """Say whether this is a child process (a pool's, a Dask nanny's) or a Dask worker."""
    import multiprocessing
    import sys

    if multiprocessing.parent_process() is not None:
        return True
    distributed = sys.modules.get("distributed")  # only if already imported
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


def _processes(workers: int | None, n: int) -> int:
    """Worker processes for ``n`` faces: 1 (this process) unless the batch is large.

    At most ``workers`` (None: the cores this process may use, at most 8) and one per
    :data:`_MIN_PER_PROCESS` faces; always 1 where processes cannot start cheaply and
    safely: in a child process or a Dask worker, or without the ``fork`` start method.
    """
    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            workers = os.cpu_count() or 1
        workers = min(8, workers)
    count = min(int(workers), n // _MIN_PER_PROCESS)
    if count <= 1 or _in_worker():
        return 1
    import multiprocessing

    return count if "fork" in multiprocessing.get_all_start_methods() else 1


def _render_parallel(f: np.ndarray, size: int, rgb: bool, supersample: int, count: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_render_range` on ``count`` forked processes, whole blocks each, in order.

    ``fork``: a child starts in ~20 ms with this process's modules and no re-run of the main
    script (``forkserver`` and ``spawn`` re-import it, which breaks unguarded scripts). A
    child runs numpy only, and never starts processes itself (:func:`_in_worker`).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    blocks = -(-len(f) // _CHUNK)
    cuts = [(blocks * k // (2 * count)) * _CHUNK for k in range(2 * count + 1)]
    parts = [f[lo:hi] for lo, hi in zip(cuts[:-1], cuts[1:], strict=True) if hi > lo]
    with ProcessPoolExecutor(count, mp_context=context) as pool:
        done = list(pool.map(_render_range, parts, *([v] * len(parts)
                                                     for v in (size, rgb, supersample))))
    return (np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done]))


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
        Processes for a large batch (None: the CPU cores, at most 8; 1: this process only);
        a batch under :data:`_MIN_PER_PROCESS` faces per process, or a call from a child
        process or a Dask worker, renders here. The result does not depend on it.

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
    count = _processes(workers, len(f))
    if count > 1:
        return _render_parallel(f, size, rgb, supersample, count)
    return _render_range(f, size, rgb, supersample)


def landmark_visibility(factors: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """Which of the 68 landmarks the camera sees: (N, 68) bool.

    A ray through the landmark's image position is cast into the scene; the landmark is
    visible when the face covers that point (not the hair) at the landmark's own depth
    (within 0.02 face units), i.e. it is neither turned away nor behind the nose or cheek.
    """
    f = hd.head_factor_matrix(factors)
    out = np.empty((len(f), 68), dtype=bool)
    for start in range(0, len(f), _PART):
        block = _Block(f[start:start + _PART], rgb=False)
        lm3 = hd.landmarks_3d(block.p, block.h_sym, block.h_front).astype(F32)
        _, depth, cover = _scene(block.part(0, block.n), lm3[..., 0], lm3[..., 1], 64.0)
        out[start:start + _PART] = (cover > 0.5) & (np.abs(depth - lm3[..., 2]) < 0.02)
    return out
