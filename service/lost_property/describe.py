"""Describing a photo of a found item: its category, colours and box, and what else is in it.

The main item is the detection with the largest area × confidence: a close-up of the item
outweighs a confident but small thing in the background. Without any detection the whole photo
is the item, in the fallback category: the desk can still register and correct it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.lost_property.colours import ColourShare, dominant_colours, item_pixels
from service.lost_property.schemas import CategoryOut, ColourOut, Description, SeenItem
from service.lost_property.taxonomy import Category, Taxonomy
from service.schemas import BBox


@dataclass(frozen=True)
class Found:
    """One detection, in the detector's class names."""

    class_name: str
    confidence: float
    xyxy: tuple[float, float, float, float]

    @property
    def weight(self) -> float:
        x1, y1, x2, y2 = self.xyxy
        return max(x2 - x1, 0.0) * max(y2 - y1, 0.0) * self.confidence


def describe(image_rgb: np.ndarray, found: list[Found], taxonomy: Taxonomy, detector: str | None) -> Description:
    h, w = image_rgb.shape[:2]
    ranked = sorted(found, key=lambda f: (-f.weight, f.class_name, f.xyxy))
    main = ranked[0] if ranked else None
    xyxy = main.xyxy if main else (0.0, 0.0, float(w), float(h))
    category = taxonomy.category_of_class(main.class_name) if main else taxonomy.get(taxonomy.fallback)
    return Description(
        category=category_out(category),
        colours=[colour_out(c) for c in dominant_colours(item_pixels(image_rgb, xyxy))],
        box=_box(xyxy),
        class_name=main.class_name if main else None,
        confidence=round(main.confidence, 4) if main else None,
        detector=detector,
        image_width=w,
        image_height=h,
        others=[
            SeenItem(
                class_name=f.class_name,
                category=taxonomy.category_of_class(f.class_name).key,
                confidence=round(f.confidence, 4),
                box=_box(f.xyxy),
            )
            for f in ranked[1:]
        ],
    )


def category_out(category: Category) -> CategoryOut:
    return CategoryOut(key=category.key, label_de=category.label_de, label_en=category.label_en)


def colour_out(colour: ColourShare) -> ColourOut:
    c = colour.colour
    return ColourOut(key=c.key, label_de=c.label_de, label_en=c.label_en, share=colour.share)


def _box(xyxy: tuple[float, float, float, float]) -> BBox:
    x1, y1, x2, y2 = (round(float(v), 1) for v in xyxy)
    return BBox(x1=x1, y1=y1, x2=x2, y2=y2)
