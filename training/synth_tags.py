"""Graffiti training set with synthetic tags on walls: `python -m training.synth_tags --src DIR --out DIR`.

The developer set shows art cars and murals with one coarse box each; the cleaning service asks
for tags and throw-ups on facades, shutters and trains, one box per tag. This builder writes a
YOLO dataset whose train split is the real train split (minus the walls evaluation images, see
`datasets/graffiti_walls/`; the photos of `datasets/graffiti_reboxed/` with their tag-level boxes,
several copies each) plus

* positives: synthetic tags composited onto wall-like regions of street photos without graffiti
  (the graffiti set's negatives and the other detectors' photos) and onto synthetic brick and
  plaster walls, with exact tag-level boxes: names written in handwriting, script and display
  fonts (Debian packages, `FONT_PACKAGES`, found under `--fonts`), letter-like strokes and
  Hershey text; spray softness, drips, outlines and fills, perspective, and lighting taken from
  the wall;
* hard negatives (empty labels): posters, shop signs and stickers with printed text, and plain
  brick and plaster walls.

Its val split is the real val split. Needs NumPy, OpenCV, Pillow and PyYAML, so it runs on a bare
GPU box given the font files.
"""

from __future__ import annotations

import argparse
import csv
import functools
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image, ImageDraw, ImageFont

from training.corruptions import maybe_corrupt
from training.datasets.layout import (
    Box,
    is_image,
    label_path_for,
    parse_yolo_label,
    place_file,
    read_yolo_label,
    yolo_line,
)
from training.datasets.listed import is_listed, load_listed, read_image_list

HOLDOUT = Path(__file__).resolve().parents[1] / "datasets" / "graffiti_walls" / "images.txt"
REBOXED = Path(__file__).resolve().parents[1] / "datasets" / "graffiti_reboxed"
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)
SIGN_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX)
LETTERS = "ABCDEFGHIJKLMNOPRSTUVWXYZabcdeghkmnoprstuwxyz0123456789"
# Font files (glob patterns) tags are written in, and the Debian packages that hold them: handwriting
# and quick script for tags, fat display faces for throw-ups and pieces.
TAG_FONTS = (
    "KaushanScript-Regular.otf", "Kristi.ttf", "DancingScript-*.otf", "Rufscript010.ttf", "Breip.ttf",
    "dkg*.ttf", "BecauseWe*-Regular.otf", "Humor-Sans.ttf", "femkeklaver.ttf", "ComicNeue-Bold*.otf",
    "CabinSketch-*.ttf", "lobster.otf", "LeckerliOne-Regular.ttf", "LeagueSpartan-Black.otf", "Apropal-Bold.otf",
)  # fmt: skip
FONT_PACKAGES = (
    "fonts-kaushanscript fonts-kristi fonts-dancingscript fonts-rufscript fonts-breip fonts-dkg-handwriting "
    "fonts-bwht fonts-humor-sans fonts-femkeklaver fonts-comic-neue fonts-cabinsketch fonts-lobster "
    "fonts-leckerli-one fonts-league-spartan fonts-apropal"
)
FONT_SHARE = 0.6  # of tags written in a font; the rest in Hershey letters or random strokes
# Spray-can colours in RGB, black and silver weighted up as on real walls.
PAINT = np.array(
    [
        (20, 20, 22), (20, 20, 22), (20, 20, 22), (35, 30, 40), (200, 200, 205), (185, 190, 195),
        (240, 240, 235), (200, 30, 35), (230, 60, 140), (30, 70, 190), (40, 150, 70), (245, 200, 40),
        (240, 120, 30), (120, 40, 160), (90, 200, 220), (160, 30, 60),
    ],
    dtype=np.float32,
) / 255.0  # fmt: skip
MAX_SIDE = 1024
MIN_BOX_PX = 4
MIN_CONTRAST = 0.1  # mean change of the painted pixels (0..1) for paint to count as visible


@dataclass(frozen=True)
class Job:
    """One synthetic image: what to draw, on which background, under which output name."""

    kind: str  # "positive" or "negative"
    background: str  # photo path, or "brick" / "plaster" for a synthetic wall
    seed: int
    name: str
    fonts: tuple[str, ...] = ()  # font files tags may be written in
    corrupt_share: float = 0.0  # chance of one street condition (`training.corruptions`) on the image


# ---------------------------------------------------------------- drawing tags


def _smooth(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a hand-drawn curve through random control points."""
    for _ in range(rounds):
        q = 0.75 * points[:-1] + 0.25 * points[1:]
        r = 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.concatenate([points[:1], np.stack([q, r], 1).reshape(-1, 2), points[-1:]])
    return points


def find_fonts(folders: list[Path]) -> tuple[str, ...]:
    """The `TAG_FONTS` files under these folders, sorted, so a seed draws the same fonts everywhere."""
    found = {str(p) for folder in folders for pattern in TAG_FONTS for p in folder.rglob(pattern)}
    return tuple(sorted(found))


@functools.lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> np.ndarray:
    """Uint8 mask of one character, cropped to its ink."""
    x1, y1, x2, y2 = font.getbbox(ch)
    canvas = Image.new("L", (max(1, x2 - x1), max(1, y2 - y1)))
    ImageDraw.Draw(canvas).text((-x1, -y1), ch, fill=255, font=font)
    return np.asarray(canvas)


def _font_letters(rng: np.random.Generator, letter_h: int, path: str, mask: np.ndarray, x: float, base: float) -> float:
    """Write a 2-7 letter name in a font onto `mask`, as a hand does: each letter a little
    bigger or smaller, turned, off the line and run into the next. Returns where the pen stopped."""
    upper = rng.random() < 0.5
    for _ in range(int(rng.integers(2, 8))):
        ch = str(rng.choice(list(LETTERS)))
        glyph = _glyph(_font(path, max(8, int(letter_h * rng.uniform(0.9, 1.5)))), ch.upper() if upper else ch)
        gh, gw = glyph.shape
        if gh < 2 or gw < 2:
            continue
        m = cv2.getRotationMatrix2D((gw / 2, gh / 2), float(rng.normal(0, 8)), 1.0)
        m[0, 1] -= rng.uniform(-0.1, 0.4)  # slant
        glyph = cv2.warpAffine(glyph, m, (gw + gh, gh), flags=cv2.INTER_LINEAR)
        top = int(base - gh + rng.normal(0, letter_h * 0.1))
        left = int(x)
        h = min(gh, mask.shape[0] - top)
        w = min(glyph.shape[1], mask.shape[1] - left)
        if top >= 0 and h > 0 and w > 0:
            np.maximum(mask[top : top + h, left : left + w], glyph[:h, :w], out=mask[top : top + h, left : left + w])
        x += gw * rng.uniform(0.6, 0.95)
    return x


def _stroke_letters(
    rng: np.random.Generator, n: int, letter_h: int, thick: int, mask: np.ndarray, x: float, base: float
) -> float:
    """Write n Hershey letters or letter-like strokes onto `mask`; returns where the pen stopped."""
    hershey = rng.random() < 0.6
    font = int(rng.choice(FONTS)) | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    slant = rng.uniform(-0.1, 0.5)
    for _ in range(n):
        h = letter_h * rng.uniform(0.75, 1.3)
        y = base + rng.normal(0, letter_h * 0.12)
        if hershey:
            ch = str(rng.choice(list(LETTERS)))
            scale = cv2.getFontScaleFromHeight(font, int(h), thick)
            cv2.putText(mask, ch, (int(x), int(y)), font, scale, 255, thick, cv2.LINE_AA)
            x += cv2.getTextSize(ch, font, scale, thick)[0][0] * rng.uniform(0.75, 1.05)
        else:
            w = h * rng.uniform(0.4, 0.8)
            for _ in range(int(rng.integers(1, 4))):
                k = int(rng.integers(3, 7))
                pts = np.stack([x + rng.uniform(0, w, k), y - rng.uniform(0, h, k)], 1)
                pts[:, 0] += (y - pts[:, 1]) * slant
                cv2.polylines(mask, [_smooth(pts).astype(np.int32)], False, 255, thick, cv2.LINE_AA)
            x += w * rng.uniform(0.8, 1.2)
    return x


def _skeleton(rng: np.random.Generator, letter_h: int, fonts: tuple[str, ...] = ()) -> np.ndarray:
    """Uint8 mask of a tag's letters: a name in a handwriting font, or Hershey letters or
    letter-like strokes, jittered per letter."""
    n = int(rng.integers(2, 7))
    pad = letter_h
    width = int(n * letter_h * rng.uniform(0.6, 1.0)) + 2 * pad
    x, base = pad, pad + int(letter_h * 1.5)
    thick = max(1, int(letter_h * rng.uniform(0.06, 0.16)))
    if fonts and rng.random() < FONT_SHARE:  # up to 7 letters, each up to 1.5 letter heights wide
        mask = np.zeros((letter_h * 2 + 2 * pad, int(7 * 1.5 * 1.5 * letter_h) + 2 * pad), np.uint8)
        x = _font_letters(rng, letter_h, str(rng.choice(fonts)), mask, x, base)
    else:
        mask = np.zeros((letter_h * 2 + 2 * pad, width), np.uint8)
        x = _stroke_letters(rng, n, letter_h, thick, mask, x, base)
    if rng.random() < 0.35:  # underline swoosh or crown, as writers sign their tags
        k = int(rng.integers(3, 6))
        xs = np.linspace(pad * 0.8, x, k) + rng.normal(0, letter_h * 0.2, k)
        ys = base + letter_h * rng.uniform(0.1, 0.5) + rng.normal(0, letter_h * 0.15, k)
        cv2.polylines(mask, [_smooth(np.stack([xs, ys], 1)).astype(np.int32)], False, 255, thick, cv2.LINE_AA)
    return mask


def _disk(radius: float) -> np.ndarray:
    r = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _drips(rng: np.random.Generator, mask: np.ndarray, letter_h: int, strength: float) -> None:
    """Paint runs: thin vertical lines from the lower edges of the paint, in place."""
    edge = (mask[:-1] > 128) & (mask[1:] <= 128)
    ys, xs = np.nonzero(edge)
    if not len(xs):
        return
    for i in rng.choice(len(xs), size=min(len(xs), int(rng.integers(1, 8))), replace=False):
        length = int(letter_h * rng.uniform(0.2, 1.2) * strength)
        w = max(1, int(letter_h * rng.uniform(0.02, 0.06)))
        x0, y0 = int(xs[i]), int(ys[i])
        cv2.line(mask, (x0, y0), (x0, min(mask.shape[0] - 2, y0 + length)), 255, w, cv2.LINE_AA)
        cv2.circle(mask, (x0, min(mask.shape[0] - 2, y0 + length)), w, 255, -1, cv2.LINE_AA)


def _paint(rng: np.random.Generator) -> np.ndarray:
    return PAINT[int(rng.integers(len(PAINT)))] * rng.uniform(0.85, 1.1)


def render_tag(rng: np.random.Generator, letter_h: int, fonts: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """A tag, throw-up or small piece on a transparent canvas: (RGB float32, alpha float32 0..1).

    Tags are single-colour strokes; throw-ups are bubble letters with an outline and a fill;
    pieces add a second fill colour and a drop shadow. All get spray softness and maybe drips.
    """
    skel = _skeleton(rng, letter_h, fonts)
    style = rng.choice(["tag", "throwup", "piece"], p=[0.55, 0.3, 0.15])
    colour = np.zeros((*skel.shape, 3), np.float32)
    if style == "tag":
        alpha = skel.copy()
        if rng.random() < 0.3:
            _drips(rng, alpha, letter_h, 1.0)
        colour[:] = _paint(rng)
    else:
        fill = cv2.dilate(skel, _disk(letter_h * rng.uniform(0.02, 0.08)))
        outline = cv2.dilate(fill, _disk(letter_h * rng.uniform(0.03, 0.07)))
        alpha = outline.copy()
        fill_a, fill_b, line = _paint(rng), _paint(rng), _paint(rng)
        if style == "piece":  # fade between two fill colours, plus a drop shadow
            t = np.linspace(0, 1, skel.shape[1], dtype=np.float32)[None, :, None]
            fill_colour = np.broadcast_to(fill_a * (1 - t) + fill_b * t, colour.shape)
            shift = int(letter_h * rng.uniform(0.05, 0.15))
            shadow = np.roll(np.roll(outline, shift, 0), shift, 1)
            alpha = np.maximum(alpha, shadow)
            colour[shadow > 0] = _paint(rng) * 0.5
        else:
            fill_colour = np.broadcast_to(fill_a, colour.shape)
        colour[outline > 0] = line
        inside = fill > 128
        colour[inside] = fill_colour[inside]
        if rng.random() < 0.25:
            _drips(rng, alpha, letter_h, 0.7)
    a = alpha.astype(np.float32) / 255.0
    soft = letter_h * rng.uniform(0.005, 0.04)
    if soft > 0.3:
        a = cv2.GaussianBlur(a, (0, 0), soft)
    if rng.random() < 0.5:  # overspray: a faint halo of paint dust around the strokes
        halo = cv2.GaussianBlur(a, (0, 0), max(1.0, letter_h * 0.08))
        a = np.maximum(a, halo * rng.uniform(0.1, 0.3) * (rng.random(a.shape) < 0.6))
        colour = np.where(colour.sum(2, keepdims=True) > 0, colour, colour.max((0, 1)))
    return colour, np.clip(a * rng.uniform(0.6, 1.0), 0, 1)


def warp(rng: np.random.Generator, colour: np.ndarray, alpha: np.ndarray, height: float):
    """Scale the canvas so its paint is `height` px tall, rotate and tilt it as a wall seen at an angle.

    Returns the warped (colour, alpha), cropped to where there is paint.
    """
    ys, xs = np.nonzero(alpha > 0.02)
    colour, alpha = (
        colour[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1],
        alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1],
    )
    h, w = alpha.shape
    s = height / h
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src * s
    angle = np.deg2rad(rng.normal(0, 6))
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = dst @ rot.T
    if rng.random() < 0.6:  # one side further away: foreshortening
        k = rng.uniform(0.6, 1.0)
        far = [1, 2] if rng.random() < 0.5 else [0, 3]
        centre_y = dst[:, 1].mean()
        dst[far, 1] = centre_y + (dst[far, 1] - centre_y) * k
    dst += rng.normal(0, 0.03 * height, dst.shape).astype(np.float32)
    dst -= dst.min(0)
    size = (int(np.ceil(dst[:, 0].max())) + 2, int(np.ceil(dst[:, 1].max())) + 2)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    colour = cv2.warpPerspective(colour, m, size, flags=interp)
    alpha = cv2.warpPerspective(alpha, m, size, flags=interp)
    return colour, alpha


# ---------------------------------------------------------------- walls and blending


def synthetic_wall(rng: np.random.Generator, kind: str, w: int = MAX_SIDE, h: int = 768) -> np.ndarray:
    """A plain brick or plaster wall (RGB uint8) with uneven light."""
    base = np.array(rng.choice([(150, 70, 50), (170, 110, 80), (190, 170, 140), (120, 110, 105), (210, 200, 185)]))
    noise = cv2.resize(rng.normal(0, 1, (h // 8, w // 8)).astype(np.float32), (w, h))
    img = base[None, None, :] * (1 + 0.06 * noise[..., None]) + rng.normal(0, 6, (h, w, 3))
    if kind == "brick":
        bh = int(rng.integers(14, 40))
        bw = int(bh * rng.uniform(2.0, 3.2))
        mortar = np.array(rng.choice([(200, 195, 185), (120, 115, 110), (170, 165, 150)]))
        gap = max(1, bh // 8)
        for row, y in enumerate(range(0, h, bh)):
            for x in range(-(row % 2) * bw // 2, w, bw):
                img[y : y + bh, max(0, x) : x + bw] *= rng.uniform(0.85, 1.12)
                img[y : y + gap, :] = mortar
                img[y : y + bh, max(0, x) : max(0, x) + gap] = mortar
    light = np.linspace(rng.uniform(0.6, 1.1), rng.uniform(0.8, 1.2), w)[None, :, None]
    img = img * light
    if rng.random() < 0.5:  # perspective: the wall recedes to one side
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        k = rng.uniform(0.0, 0.25) * h
        dst = np.float32([[0, 0], [w, k], [w, h - k], [0, h]])
        img = cv2.warpPerspective(
            img.astype(np.float32), cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REFLECT
        )
    return np.clip(img, 0, 255).astype(np.uint8)


class Wall:
    """A background photo and where on it paint looks plausible: textureless, not sky, not ground."""

    def __init__(self, image: np.ndarray):
        self.image = image
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        grad = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1))
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        sky = ((hsv[..., 0] > 90) & (hsv[..., 0] < 130) & (hsv[..., 1] > 40) & (hsv[..., 2] > 140)) | (
            hsv[..., 2] > 235
        )
        cost = np.minimum(grad, 200) + 400 * sky.astype(np.float32)
        self.integral = cv2.integral(cost)
        self.lum = cv2.GaussianBlur(gray, (0, 0), 15) / 255.0
        self.median_lum = float(np.median(gray)) / 255.0 + 1e-3

    def place(self, rng: np.random.Generator, w: int, h: int, taken: list[tuple[int, int, int, int]]):
        """Top-left corner for a w x h patch: the least busy of a few random spots in the upper
        85 % of the frame that overlaps no earlier tag; None when nothing fits."""
        H, W = self.image.shape[:2]
        if w >= W - 2 or h >= int(H * 0.85) - 2:
            return None
        best, best_cost = None, np.inf
        for _ in range(12):
            x, y = int(rng.integers(0, W - w)), int(rng.integers(0, int(H * 0.85) - h))
            if any(x < bx2 and bx1 < x + w and y < by2 and by1 < y + h for bx1, by1, bx2, by2 in taken):
                continue
            i = self.integral
            c = (i[y + h, x + w] - i[y, x + w] - i[y + h, x] + i[y, x]) / (w * h) * rng.uniform(0.7, 1.3)
            if c < best_cost:
                best, best_cost = (x, y), c
        return best

    def blend(
        self, rng: np.random.Generator, colour: np.ndarray, alpha: np.ndarray, x: int, y: int, printed: bool = False
    ) -> bool:
        """Paint onto the wall in place: the wall's light and grain show through the paint.

        Paint that would barely show (a colour close to the wall's) is not applied, so no label
        ever marks something invisible; returns whether it was applied.
        """
        h, w = alpha.shape
        region = self.image[y : y + h, x : x + w].astype(np.float32) / 255.0
        a = alpha[..., None]
        if not printed and rng.random() < 0.4 and colour.mean() < 0.5:  # multiply: dark paint soaks in
            out = region * (1 - a + a * np.clip(colour * 1.4, 0, 1))
        else:
            shade = np.clip(self.lum[y : y + h, x : x + w] / self.median_lum, 0.35, 1.3)[..., None]
            grain = region - cv2.GaussianBlur(region, (0, 0), 2)
            out = region * (1 - a) + a * np.clip(colour * shade * 0.95 + grain * 0.8, 0, 1)
        painted = alpha > 0.25
        if not painted.any() or np.abs(out - region)[painted].mean() < MIN_CONTRAST:
            return False
        self.image[y : y + h, x : x + w] = np.clip(out * 255, 0, 255).astype(np.uint8)
        return True


def add_tags(rng: np.random.Generator, wall: Wall, fonts: tuple[str, ...] = ()) -> list[tuple[int, int, int, int]]:
    """Paint 1-12 tags of mixed sizes, some in these fonts; returns their exact pixel boxes (x1, y1, x2, y2)."""
    H = wall.image.shape[0]
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(int(min(12, rng.geometric(0.2)))):
        r = rng.random()
        if r < 0.5:
            height = rng.uniform(10, 60)  # small tags, the cleaning service's daily work
        elif r < 0.85:
            height = rng.uniform(40, max(40.0, 0.25 * H))  # numpy 2.5 refuses high < low
        else:
            height = rng.uniform(0.15, 0.45) * H  # throw-ups and pieces
        letter_h = int(np.clip(height * 2, 24, 160))  # draw at >= the final size, then scale down
        colour, alpha = warp(rng, *render_tag(rng, letter_h, fonts), height)
        h, w = alpha.shape
        spot = wall.place(rng, w, h, boxes)
        if spot is None:
            continue
        if not wall.blend(rng, colour, alpha, *spot):
            continue
        ys, xs = np.nonzero(alpha > 0.25)
        if not len(xs) or xs.max() - xs.min() < MIN_BOX_PX or ys.max() - ys.min() < MIN_BOX_PX:
            continue
        x, y = spot
        boxes.append((x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1))
    return boxes


def add_printed(rng: np.random.Generator, wall: Wall, taken: list[tuple[int, int, int, int]]) -> None:
    """Posters, shop signs and stickers: crisp printed text and logos on a plate (not graffiti)."""
    H, W = wall.image.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(["poster", "sign", "sticker"], p=[0.45, 0.35, 0.2])
        if kind == "poster":
            h = int(rng.uniform(0.12, 0.45) * H)
            w = int(h * rng.uniform(0.6, 0.8))
        elif kind == "sign":
            h = int(rng.uniform(0.04, 0.12) * H)
            w = min(W - 4, int(h * rng.uniform(3, 9)))
        else:
            h = int(rng.uniform(12, 70))
            w = int(h * rng.uniform(0.8, 2.5))
        plate = np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
        if rng.random() < 0.5:  # picture block or logo
            cx, cy = int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.6) * h)
            r = int(min(w, h) * rng.uniform(0.1, 0.3))
            cv2.circle(plate, (cx, cy), r, rng.integers(0, 256, 3).tolist(), -1, cv2.LINE_AA)
            if kind == "poster":
                y0 = int(h * rng.uniform(0.05, 0.3))
                plate[y0 : y0 + h // 3, w // 10 : w - w // 10] = rng.integers(0, 256, 3)
        ink = (255 - plate[0, 0]) if rng.random() < 0.7 else rng.integers(0, 256, 3)
        font = int(rng.choice(SIGN_FONTS))
        lines = 1 if kind != "poster" else int(rng.integers(2, 5))
        for i in range(lines):
            text = "".join(rng.choice(list(LETTERS[:25]), int(rng.integers(3, 10))))
            line_h = max(6, int(h / (lines + 1) * 0.6))
            thick = max(1, line_h // 8)
            scale = cv2.getFontScaleFromHeight(font, line_h, thick)
            tw = cv2.getTextSize(text, font, scale, thick)[0][0]
            if tw > w * 0.95:
                scale *= w * 0.95 / tw
                tw = int(w * 0.95)
            org = (int((w - tw) / 2), int(h * (i + 1) / (lines + 1) + line_h / 2))
            cv2.putText(plate, text, org, font, scale, [int(v) for v in ink], thick, cv2.LINE_AA)
        cv2.rectangle(plate, (0, 0), (w - 1, h - 1), rng.integers(0, 256, 3).tolist(), max(1, h // 60))
        colour, alpha = warp(
            rng, plate.astype(np.float32) / 255, np.ones((h, w), np.float32), h * rng.uniform(0.9, 1.1)
        )
        spot = wall.place(rng, alpha.shape[1], alpha.shape[0], taken)
        if spot is not None:
            wall.blend(rng, colour, alpha, *spot, printed=True)


# ---------------------------------------------------------------- the dataset


def _load_background(job: Job, rng: np.random.Generator) -> np.ndarray:
    if job.background in ("brick", "plaster"):
        return synthetic_wall(rng, job.background)
    image = cv2.cvtColor(cv2.imread(job.background), cv2.COLOR_BGR2RGB)
    if rng.random() < 0.5:  # a random crop of 50-100 % of each side varies the scene scale
        H, W = image.shape[:2]
        h, w = int(H * rng.uniform(0.5, 1)), int(W * rng.uniform(0.5, 1))
        y, x = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        image = image[y : y + h, x : x + w]
    s = MAX_SIDE / max(image.shape[:2])
    if s < 1 or rng.random() < 0.3:  # also upscale some small photos: small tags need large frames
        image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    return np.ascontiguousarray(image)


def make_image(job_and_out: tuple[Job, str]) -> tuple[str, str, int]:
    """Draw one synthetic image and write it with its label file; returns (name, background, boxes)."""
    job, out = job_and_out
    cv2.setNumThreads(1)
    rng = np.random.default_rng(job.seed)
    wall = Wall(_load_background(job, rng))
    boxes = add_tags(rng, wall, job.fonts) if job.kind == "positive" else []
    if job.kind == "negative" or rng.random() < 0.35:
        add_printed(rng, wall, boxes)
    picture = wall.image
    if job.corrupt_share:  # drawn only when asked: builds without it keep their random stream
        picture, boxes = maybe_corrupt(picture, np.array(boxes, np.float64).reshape(-1, 4), rng, job.corrupt_share)
    image = Path(out) / "images" / "train" / f"{job.name}.jpg"
    cv2.imwrite(
        str(image), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 92))]
    )
    H, W = picture.shape[:2]
    lines = [yolo_line(Box("", *map(float, box)), 0, W, H) for box in boxes]
    lines = [line for line in lines if line]  # clipped to the frame; boxes a condition pushed out are gone
    label_path_for(image).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return job.name, job.background, len(lines)


def read_holdout(path: Path | None) -> set[str]:
    """File stems of the walls evaluation images, which must never be trained on."""
    if path is None or not path.is_file():
        return set()
    return {Path(im.path).stem for im in read_image_list(path)}


def read_reboxed(folder: Path | None) -> dict[str, str]:
    """File stem -> tag-level YOLO label text of the re-boxed real train photos (`datasets/graffiti_reboxed`)."""
    if folder is None:
        return {}
    if not is_listed(folder):
        raise FileNotFoundError(f"{folder} is not a listed dataset (dataset.yaml, images.txt, labels/)")
    labels = folder / "labels"
    return {
        Path(im.path).stem: (labels / Path(im.path).with_suffix(".txt")).read_text(encoding="utf-8")
        for im in load_listed(folder).images
    }


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_image(p)) if folder.is_dir() else []


def backgrounds(src: Path, others: list[Path], holdout: set[str]) -> list[str]:
    """Photos without graffiti: the graffiti set's train negatives (not val, not held out) and
    every photo of the other detectors' sets (their labels are not about graffiti)."""
    own = [p for p in _images(src / "images" / "train") if p.stem not in holdout and not len(read_yolo_label(p)[0])]
    return [str(p) for p in own + [p for d in others for p in _images(d / "images")]]


def plan(
    src: Path,
    others: list[Path],
    holdout: set[str],
    positives: int,
    negatives: int,
    seed: int,
    fonts: tuple[str, ...] = (),
    corrupt_share: float = 0.0,
) -> list[Job]:
    """Which background each synthetic image gets: photos in turn, a sixth synthetic walls."""
    rng = np.random.default_rng(seed)
    photos = backgrounds(src, others, holdout)
    if not photos:
        raise FileNotFoundError(f"no background photos under {src} or {others}")
    order = rng.permutation(len(photos))
    jobs = []
    for i in range(positives + negatives):
        kind = "positive" if i < positives else "negative"
        bg = str(rng.choice(["brick", "plaster"])) if rng.random() < 0.17 else photos[order[i % len(order)]]
        jobs.append(Job(kind, bg, int(rng.integers(2**31)), f"synth_{kind[:3]}_{i:05d}", fonts, corrupt_share))
    return jobs


def coarse(label: str, max_box_area: float) -> bool:
    """Whether a real photo's YOLO label text has a box covering more than `max_box_area` of the
    frame: one box per painted wall or car, which teaches the opposite of tag-level boxes."""
    _, boxes = parse_yolo_label(label)
    return bool(len(boxes)) and float((boxes[:, 2] * boxes[:, 3]).max()) > max_box_area


def _link_split(
    src: Path,
    out: Path,
    split: str,
    skip: set[str],
    max_box_area: float = 1.0,
    reboxed: dict[str, str] | None = None,
    repeat: int = 1,
) -> int:
    """Link a real split into `out`; re-boxed photos get their tag-level labels (never coarse) and
    `repeat` copies, so a few real tags weigh against thousands of synthetic ones."""
    reboxed = reboxed or {}
    n = 0
    for image in _images(src / "images" / split):
        source = label_path_for(image)
        label = source.read_text(encoding="utf-8") if source.is_file() else ""
        label = reboxed.get(image.stem, label)
        if image.stem in skip or (image.stem not in reboxed and coarse(label, max_box_area)):
            continue
        for copy in range(repeat if image.stem in reboxed else 1):
            dst = out / "images" / split / (f"{image.stem}_copy{copy}{image.suffix}" if copy else image.name)
            place_file(image, dst)
            label_path_for(dst).parent.mkdir(parents=True, exist_ok=True)
            label_path_for(dst).write_text(label, encoding="utf-8")
            n += 1
    return n


def build(
    src: Path,
    out: Path,
    others: list[Path],
    holdout: set[str],
    positives: int,
    negatives: int,
    seed: int,
    workers: int,
    real_max_box_area: float = 1.0,
    fonts: tuple[str, ...] = (),
    reboxed: dict[str, str] | None = None,
    reboxed_repeat: int = 1,
    corrupt_share: float = 0.0,
) -> dict[str, int]:
    """Write the dataset; returns image counts per part."""
    reboxed = reboxed or {}
    if reboxed.keys() & holdout:
        raise ValueError(f"re-boxed photos are held out for evaluation: {sorted(reboxed.keys() & holdout)[:3]}")
    if out.exists():
        shutil.rmtree(out)
    (out / "images" / "train").mkdir(parents=True)
    (out / "labels" / "train").mkdir(parents=True)
    counts = {
        "real_train": _link_split(src, out, "train", holdout, real_max_box_area, reboxed, reboxed_repeat),
        "val": _link_split(src, out, "val", set()),
    }
    jobs = plan(src, others, holdout, positives, negatives, seed, fonts, corrupt_share)
    # spawn, not fork: a forked worker can inherit a lock held by a thread of the parent (OpenCV,
    # torch when called from a test session or a notebook) and hang for ever.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        made = list(pool.imap_unordered(make_image, [(j, str(out)) for j in jobs], chunksize=4))
    with (out / "synthetic.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file_stem", "background", "boxes"])
        w.writerows(sorted(made))
    counts["synthetic_positive"] = sum(1 for j in jobs if j.kind == "positive")
    counts["synthetic_negative"] = sum(1 for j in jobs if j.kind == "negative")
    counts["synthetic_boxes"] = sum(m[2] for m in made)
    counts["reboxed_photos"] = len(reboxed.keys() & {p.stem for p in _images(src / "images" / "train")})
    data = {"train": "images/train", "val": "images/val", "nc": 1, "names": {0: "graffiti"}}
    (out / "data.yaml").write_text(
        "# Written by `python -m training.synth_tags`; paths are relative to this file's folder.\n"
        + yaml.safe_dump(data, sort_keys=False),
        encoding="utf-8",
    )
    return counts


def _iter_default_others(src: Path) -> Iterator[Path]:
    for name in ("road_damage", "anonymize"):
        if (src.parent / name / "images").is_dir():
            yield src.parent / name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.synth_tags", description=__doc__.split("\n\n")[0])
    p.add_argument("--src", type=Path, required=True, help="graffiti dataset (data.yaml, images/, labels/)")
    p.add_argument("--out", type=Path, required=True, help="dataset folder to (re)create")
    p.add_argument(
        "--backgrounds",
        type=Path,
        action="append",
        help="more photo datasets to paint on (default: road_damage and anonymize beside --src)",
    )
    p.add_argument("--holdout", type=Path, default=HOLDOUT, help="image list kept out of training (walls eval)")
    p.add_argument("--positives", type=int, default=1200, help="synthetic images with tags")
    p.add_argument("--negatives", type=int, default=400, help="synthetic images with posters/signs/plain walls only")
    p.add_argument(
        "--real-max-box-area",
        type=float,
        default=1.0,
        help="leave out real train photos with a box larger than this share of the frame (coarse wall/car boxes)",
    )
    p.add_argument(
        "--fonts",
        type=Path,
        action="append",
        help=f"folders to find the tag fonts in (default /usr/share/fonts; Debian: apt-get install {FONT_PACKAGES})",
    )
    p.add_argument("--no-fonts", action="store_true", help="write tags in Hershey letters and strokes only")
    p.add_argument(
        "--reboxed",
        type=Path,
        default=REBOXED,
        help="listed dataset of real train photos with tag-level boxes, used instead of their coarse labels",
    )
    p.add_argument(
        "--reboxed-repeat",
        type=int,
        default=4,
        help="copies of each re-boxed photo in train (0: leave them out, their coarse labels apply as before)",
    )
    p.add_argument(
        "--corrupt-share",
        type=float,
        default=0.0,
        help="share of synthetic images put under one street condition (noise, blur, JPEG, low light, tilt, "
        "stretch: training.corruptions), boxes moved along",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    others = args.backgrounds if args.backgrounds is not None else list(_iter_default_others(args.src))
    holdout = read_holdout(args.holdout)
    fonts = () if args.no_fonts else find_fonts(args.fonts or [Path("/usr/share/fonts")])
    if not fonts and not args.no_fonts:
        p.error(f"no tag font under {args.fonts or '/usr/share/fonts'}: apt-get install {FONT_PACKAGES}, or --no-fonts")
    counts = build(
        args.src,
        args.out,
        others,
        holdout,
        args.positives,
        args.negatives,
        args.seed,
        args.workers,
        args.real_max_box_area,
        fonts,
        read_reboxed(args.reboxed) if args.reboxed_repeat > 0 else {},
        args.reboxed_repeat,
        args.corrupt_share,
    )
    total = counts["real_train"] + counts["synthetic_positive"] + counts["synthetic_negative"]
    print(
        f"{args.out}/data.yaml: train {total} images ({counts}), {len(holdout)} held out, "
        f"backgrounds {others}, {len(fonts)} tag fonts"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
