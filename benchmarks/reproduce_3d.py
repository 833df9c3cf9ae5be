"""Reproduce Higgins et al. 2021 at the quick scale in the 3D world (issue 22, item 4).

The quick preset with its session and training set simulated in the 3D world instead of the
framed flat one; everything else (β values, steps, seeds, metrics) unchanged. The six factors
are what face-patch stimuli vary and what β-VAEs were first shown to disentangle on rendered
3D faces: pose (yaw, pitch), light (azimuth, elevation), expression (smile) and one identity
shape factor (face width). Run: ``python benchmarks/reproduce_3d.py OUT`` (~15-25 min on 2
cores); it prints the claims and writes OUT/report.html. docs/reproduce.md records a run.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from neurofacedis.studies import reproduce
from neurofacedis.studies.higgins2021 import presets

FACTORS_3D = ["yaw", "pitch", "light_azimuth", "light_elevation", "smile", "face_width"]


def main(out: str) -> None:
    quick = presets.PRESETS["quick"]
    presets.PRESETS["quick-3d"] = replace(
        quick, name="quick-3d", description="the quick preset in the 3D world",
        session={**quick.session, "world": "3d", "factors": FACTORS_3D})
    t0 = time.time()
    rep = reproduce("higgins2021", scale="quick-3d", out=out, quiet=True)
    print(f"{time.time() - t0:.0f} s")
    for c in rep.claims:
        print(f"{c.key}: {c.verdict} | {c.measured}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "higgins2021-quick-3d")
