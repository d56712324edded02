"""Cut an image-embedding model out of an exported detector: no retraining, no torch at serving.

The lost-property desk compares a citizen's photo of a lost item with the photos of registered
items. The detector's backbone describes what is in a crop at three scales (fine, middle,
coarse): the feature maps it hands on to the neck. Each map is GeM-pooled (generalised mean,
p = 3: between average and max pooling, the usual choice for instance retrieval), normalised
to unit length so no scale dominates, and the three are concatenated. The neck's maps, tuned
to tell the item classes apart, found the same object again less often
(`stadtblick train lost-property-retrieval`, docs/lost_property.md). The cut is made on the
exported ONNX graph itself, so the embedding uses exactly the shipped weights and runs on ONNX
Runtime alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from service.inference.card import ModelFile, read_card, sha256_file
from training.modelcard import write_cards

EMBEDDING_FILE = "embedding.onnx"
OUTPUT = "embedding"
GEM_P = 3.0


def backbone_taps(model: onnx.ModelProto) -> list[str]:
    """Backbone feature maps the neck reads: outputs of layers before the first upsampling that
    skip ahead (are read by a layer other than the next one), in layer order."""
    layer_of: dict[str, int] = {}
    readers: dict[str, set[int]] = {}
    first_upsample = None
    for node in model.graph.node:
        m = re.match(r"/model\.(\d+)/", node.name)
        if not m:
            continue
        layer = int(m.group(1))
        if node.op_type == "Resize" and first_upsample is None:
            first_upsample = layer
        for out in node.output:
            layer_of[out] = layer
        for name in node.input:
            readers.setdefault(name, set()).add(layer)
    if first_upsample is None:
        raise ValueError("not an Ultralytics YOLO export: no /model.N/ upsampling layer")
    taps = [
        name
        for name, layer in layer_of.items()
        if layer < first_upsample and any(r > layer + 1 for r in readers.get(name, ()))
    ]
    if len(taps) < 2:
        raise ValueError(f"expected the backbone's multi-scale outputs, found {taps}")
    return taps


def cut_embedding(detector: onnx.ModelProto) -> onnx.ModelProto:
    """The detector up to its backbone taps, each GeM-pooled and L2-normalised, concatenated (1 x C)."""
    taps = backbone_taps(detector)
    input_name = detector.graph.input[0].name
    # the extractor needs the taps' shapes; torch.onnx exports (YOLOv5 heads) do not record them
    model = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(detector)).extract_model([input_name], taps)
    constants = {
        "/embed/eps": np.array(1e-6, np.float32),
        "/embed/p": np.array(GEM_P, np.float32),
        "/embed/inv_p": np.array(1 / GEM_P, np.float32),
    }
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    nodes, pooled = [], []
    for k, name in enumerate(taps):
        x = f"/embed/{k}"
        nodes += [
            helper.make_node("Max", [name, "/embed/eps"], [f"{x}/pos"]),
            helper.make_node("Pow", [f"{x}/pos", "/embed/p"], [f"{x}/pow"]),
            helper.make_node("GlobalAveragePool", [f"{x}/pow"], [f"{x}/mean"]),
            helper.make_node("Pow", [f"{x}/mean", "/embed/inv_p"], [f"{x}/gem"]),
            helper.make_node("Flatten", [f"{x}/gem"], [f"{x}/flat"], axis=1),
            helper.make_node("LpNormalization", [f"{x}/flat"], [f"{x}/norm"]),
        ]
        pooled.append(f"{x}/norm")
    nodes.append(helper.make_node("Concat", pooled, [OUTPUT], axis=1))
    model.graph.node.extend(nodes)
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, [1, None]))
    onnx.checker.check_model(model)
    return model


def export_embedding(folder: Path) -> ModelFile:
    """Write `embedding.onnx` next to the detector's fp32 model and name it in the card."""
    card = read_card(folder)
    source = card.files.get("fp32", card.served_file)
    path = folder / EMBEDDING_FILE
    onnx.save(cut_embedding(onnx.load(str(folder / source.path))), str(path))
    card.embedding = ModelFile(path=EMBEDDING_FILE, sha256=sha256_file(path), precision="fp32")
    write_cards(folder, card)
    return card.embedding
