"""Cut an image-embedding model out of an exported detector: no retraining, no torch at serving.

The lost-property desk compares a citizen's photo of a lost item with the photos of registered
items. The detector's head reads three feature maps (fine, middle, coarse) that already encode
what an item looks like after fine-tuning on found items; average-pooling each map, normalising
each to unit length (so no scale dominates) and concatenating them gives one vector per crop.
The cut is made on the exported ONNX graph itself, so the embedding uses exactly the shipped
weights and runs on ONNX Runtime alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import onnx
from onnx import helper

from service.registry.card import ModelFile, read_card, sha256_file
from training.modelcard import write_cards

EMBEDDING_FILE = "embedding.onnx"
OUTPUT = "embedding"


def head_inputs(model: onnx.ModelProto) -> list[str]:
    """The feature maps the detection head (the graph's last `/model.N/` layer) reads from earlier layers."""
    layer_of = {}
    for node in model.graph.node:
        if m := re.match(r"/model\.(\d+)/", node.name):
            for out in node.output:
                layer_of[out] = int(m.group(1))
    if not layer_of:
        raise ValueError("not an Ultralytics export: no /model.N/ node names")
    head = max(layer_of.values())
    maps: list[str] = []
    for node in model.graph.node:
        if layer_of.get(node.output[0]) != head:
            continue
        maps += [i for i in node.input if i in layer_of and layer_of[i] != head and i not in maps]
    if not maps:
        raise ValueError("could not find the detection head's input feature maps")
    return maps


def cut_embedding(detector: onnx.ModelProto) -> onnx.ModelProto:
    """The detector up to its head's inputs, each map pooled and L2-normalised, concatenated (1 x C)."""
    maps = head_inputs(detector)
    input_name = detector.graph.input[0].name
    model = onnx.utils.Extractor(detector).extract_model([input_name], maps)
    nodes, pooled = [], []
    for k, name in enumerate(maps):
        nodes += [
            helper.make_node("GlobalAveragePool", [name], [f"/embed/pool{k}"], name=f"/embed/pool{k}"),
            helper.make_node("Flatten", [f"/embed/pool{k}"], [f"/embed/flat{k}"], name=f"/embed/flat{k}", axis=1),
            helper.make_node("LpNormalization", [f"/embed/flat{k}"], [f"/embed/norm{k}"], name=f"/embed/norm{k}"),
        ]
        pooled.append(f"/embed/norm{k}")
    nodes.append(helper.make_node("Concat", pooled, [OUTPUT], name="/embed/concat", axis=1))
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
