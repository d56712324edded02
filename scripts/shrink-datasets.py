"""Re-encode the shared datasets as WebP copies small enough to carry to a rented GPU box.

    python scripts/shrink-datasets.py [--shared ../shared] [--out .gpu/data]

Labels, data.yaml and manifest.csv are copied unchanged; images keep their stem (the builders and
Ultralytics find them by any image suffix), their longest side is capped at 1024 px. The GPU run of
anonymize 1.1.0 and the road_damage/graffiti candidates of 2026-12-04 trained on these copies.
"""

from __future__ import annotations

import argparse
import shutil
from multiprocessing import get_context
from pathlib import Path

import cv2

QUALITY = {"anonymize": 70, "road_damage": 60, "graffiti": 60}  # plates keep more detail
MAX_SIDE = 1024


def _encode(job: tuple[Path, Path, int]) -> None:
    src, dst, quality = job
    image = cv2.imread(str(src))
    h, w = image.shape[:2]
    scale = min(1.0, MAX_SIDE / max(h, w))
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(dst), image, [cv2.IMWRITE_WEBP_QUALITY, quality])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", type=Path, default=Path("../shared"))
    p.add_argument("--out", type=Path, default=Path(".gpu/data"))
    args = p.parse_args()
    jobs = []
    for name, quality in QUALITY.items():
        src, out = args.shared / "datasets" / name, args.out / name
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(src / "labels", out / "labels")
        for f in ("data.yaml", "manifest.csv", "PROVENANCE.md"):
            shutil.copy(src / f, out / f)
        for image in (src / "images").rglob("*"):
            if image.is_file():
                target = out / image.relative_to(src).with_suffix(".webp")
                target.parent.mkdir(parents=True, exist_ok=True)
                jobs.append((image, target, quality))
    with get_context("spawn").Pool() as pool:
        pool.map(_encode, jobs, chunksize=16)


if __name__ == "__main__":
    main()
