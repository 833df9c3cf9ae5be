"""AAM: vectorised piecewise-affine warping vs scikit-image, and the fit's wall time.

The reference warps each face onto the mean shape with scikit-image's
``warp(image, PiecewiseAffineTransform.from_estimate(mean, landmarks))`` one face at a time;
ours computes the mean shape's triangle/barycentric map once and samples every face with
``scipy.ndimage.map_coordinates``. Prints faces per second of both, their speed ratio, the
largest difference of the sampled appearance, and the wall time of ``fit`` (25 + 25
components) on the same faces.

    .venv/bin/python benchmarks/bench_aam.py            # 2,000 faces at 64x64
    .venv/bin/python benchmarks/bench_aam.py --quick    # 200 faces
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from nfd_aam._geometry import MeanShapeFrame, generalized_procrustes
from nfd_aam._model import ActiveAppearanceModel
from skimage.transform import PiecewiseAffineTransform, warp

from neurofacedis.simulate import render_faces, sample_factors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 faces instead of 2,000")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    factors, _ = sample_factors(25 if args.quick else 250, 8, seed=0)
    images, landmarks = render_faces(factors, size=args.size)
    images = images.astype(np.float32) / 255.0
    n = len(images)

    _, mean, pose = generalized_procrustes(landmarks)
    reference = mean * pose[:, 2].mean() + pose[:, :2].mean(0)
    frame = MeanShapeFrame.build(reference, images.shape[1:])
    start = time.perf_counter()
    ours = frame.to_mean_frame(images[..., None], landmarks)[..., 0]
    t_ours = time.perf_counter() - start

    n_ref = min(n, 50)  # the reference is slow: time it on a subset, compare per face
    start = time.perf_counter()
    ref = np.empty((n_ref, len(frame.pixels)), np.float32)
    valid = np.ones_like(ref, dtype=bool)
    for i in range(n_ref):
        tform = PiecewiseAffineTransform.from_estimate(reference, landmarks[i])
        out = warp(images[i], tform, order=1, mode="edge", preserve_range=True)
        ref[i] = out[frame.pixels[:, 1], frame.pixels[:, 0]]
        valid[i] = (tform(frame.pixels.astype(float)) >= 0).all(axis=1)
    t_ref = time.perf_counter() - start
    diff = np.abs(ours[:n_ref] - ref)[valid].max()

    model = ActiveAppearanceModel()
    start = time.perf_counter()
    model.fit(images, None, seed=0, progress=lambda *a, **k: None, landmarks=landmarks)
    t_fit = time.perf_counter() - start

    print(f"warp {n} faces of {args.size}x{args.size} onto the mean shape "
          f"({len(frame.pixels)} pixels, {len(frame.triangles)} triangles)")
    print(f"  vectorised (ours)         : {t_ours:7.2f} s  ({n / t_ours:8.0f} faces/s)")
    print(f"  scikit-image per face (ref): {t_ref:7.2f} s  ({n_ref / t_ref:8.0f} faces/s, "
          f"{n_ref} faces)")
    print(f"  speed ratio ref/ours      : {(t_ref / n_ref) / (t_ours / n):7.0f}x per face")
    print(f"  max |ours - ref|          : {diff:.2e}")
    print(f"fit aam (25 + 25) on {n} faces: {t_fit:.2f} s")


if __name__ == "__main__":
    main()
