"""One detector = one ONNX session + its model card; the single inference path of the project.

The API, the CLI, the evaluation in `training/` and the vehicle runtime all call
`OnnxDetector.detect`, so what is evaluated is exactly what is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.inference.card import ModelCard
from service.inference.detections import CLASS_NAME, LABEL_DE, LABEL_EN, Detections
from service.inference.nms import non_max_suppression
from service.inference.postprocess import OutputLayout, boxes_from_output, infer_layout
from service.inference.preprocess import letterbox, to_tensor
from service.inference.session import SessionConfig, create_session
from service.inference.tiling import TilingConfig, detect_tiled


@dataclass(frozen=True)
class DetectParams:
    conf: float
    iou: float
    max_det: int
    multi_label: bool = False
    tiling: bool | None = None  # None: as the model card says for this image size


class OnnxDetector:
    """Runs a YOLO-family ONNX model on RGB uint8 images and returns original-pixel boxes."""

    def __init__(self, model_path: Path, card: ModelCard, config: SessionConfig | None = None):
        self.card = card
        self.model_path = model_path
        self.class_data = {  # by class id: what every result carries (`Detections.data`)
            CLASS_NAME: np.array([c.name for c in card.classes], object),
            LABEL_DE: np.array([c.label_de for c in card.classes], object),
            LABEL_EN: np.array([c.label_en for c in card.classes], object),
        }
        self.session = create_session(model_path, config or SessionConfig())
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_size = static_hw(inp.shape) or tuple(card.input_size)
        out = self.session.get_outputs()[0]
        meta = self.session.get_modelmeta().custom_metadata_map
        if card.output_layout:
            self.layout = OutputLayout(card.output_layout)
        else:
            shape = tuple(d if isinstance(d, int) else -1 for d in out.shape)
            hint = meta.get("end2end", "").lower() == "true"
            self.layout = infer_layout(shape, len(card.classes), end2end_hint=hint)

    @property
    def name(self) -> str:
        return self.card.name

    def default_params(self) -> DetectParams:
        t = self.card.thresholds
        return DetectParams(conf=t.conf, iou=t.iou, max_det=t.max_det)

    def detect(self, image_rgb: np.ndarray, params: DetectParams | None = None) -> Detections:
        params = params or self.default_params()
        h, w = image_rgb.shape[:2]
        config = self.tiling_for(w, h, params.tiling)
        if config is not None:
            found = detect_tiled(lambda img: self._detect_once(img, params), image_rgb, config)[: params.max_det]
        else:
            found = self._detect_once(image_rgb, params)
        return found.with_data(**{key: names[found.class_id] for key, names in self.class_data.items()})

    def tiling_for(self, width: int, height: int, requested: bool | None = None) -> TilingConfig | None:
        """The tiling used on an image this large: `requested` wins, else the card decides."""
        config = self.card.tiling or TilingConfig()
        tiled = requested if requested is not None else bool(self.card.tiling and config.applies_to(width, height))
        return config if tiled and max(width, height) > config.tile_size else None

    def _detect_once(self, image_rgb: np.ndarray, params: DetectParams) -> Detections:
        batch, box = letterbox(image_rgb, self.input_size)
        output = self.session.run(None, {self.input_name: to_tensor(batch)})[0]
        candidates = boxes_from_output(output, self.layout, params.conf, params.multi_label)
        if self.layout is OutputLayout.END2END:
            kept = candidates.sorted_by_confidence()[: params.max_det]
        else:
            kept = non_max_suppression(candidates, params.iou, params.max_det, self.card.thresholds.merge_iou)
        return Detections(box.to_original(kept.xyxy), kept.confidence, kept.class_id)


def static_hw(shape: list) -> tuple[int, int] | None:
    """(height, width) of a static NCHW input shape; None where a dimension is symbolic."""
    h, w = shape[2], shape[3]
    return (h, w) if isinstance(h, int) and isinstance(w, int) else None
