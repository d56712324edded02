"""`review:PATH`: the frames staff reviewed in the service, as exported by `GET /v1/review/export`
(a zip, or the folder it was unpacked into): the city's own anonymised drive frames with the boxes
people confirmed, corrected or drew (service.review.dataset writes the format).
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from training.datasets.layout import Box, LabelledImage

MANIFEST = "manifest.json"
SOURCE = "review"


class InvalidReviewExport(ValueError):
    """Not a review export: no manifest, another source, or frames missing."""


def read_review(path: Path) -> list[LabelledImage]:
    """The exported frames with their boxes, each tagged with its drive and date."""
    folder = _unpacked(path) if path.is_file() else path
    manifest_file = folder / MANIFEST
    if not manifest_file.is_file():
        raise InvalidReviewExport(f"{path}: no {MANIFEST}; expected the zip of GET /v1/review/export")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    if manifest.get("source") != SOURCE:
        raise InvalidReviewExport(f"{path}: the manifest names source {manifest.get('source')!r}, not {SOURCE!r}")
    out = []
    for frame in manifest["frames"]:
        image = folder / PurePosixPath(frame["file"])
        if not image.is_file():
            raise InvalidReviewExport(f"{path}: {frame['file']} is named in the manifest but missing")
        boxes = [Box(b["class"], *b["box"]) for b in frame["boxes"]]
        drive = (frame["drive_id"], frame["date"])
        out.append(LabelledImage(image, frame["width"], frame["height"], boxes, f"review_{frame['drive_id']}", drive))
    return out


def _unpacked(zip_path: Path) -> Path:
    """Unpack a review zip into a temporary folder removed at exit (the dataset hard-links or copies
    the images before that). Only the manifest and the images it names are read, under our own names."""
    folder = Path(tempfile.mkdtemp(prefix="stadtblick-review-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            manifest = json.loads(zf.read(MANIFEST))
            (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
            for n, frame in enumerate(manifest.get("frames", [])):
                target = folder / "images" / f"{n:06d}{PurePosixPath(frame['file']).suffix or '.jpg'}"
                target.parent.mkdir(exist_ok=True)
                target.write_bytes(zf.read(frame["file"]))
                frame["file"] = f"images/{target.name}"
            (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise InvalidReviewExport(f"{zip_path}: not a readable review export ({exc})") from exc
    return folder
