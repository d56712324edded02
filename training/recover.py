"""A trainable Ultralytics checkpoint rebuilt from a shipped ONNX graph.

`weights/<detector>/` ships ONNX only, so the run a version came from may be gone (a new
machine, a cleaned `work/` folder). Fine-tuning must still start from the shipped network
rather than relearn it from COCO on a few hundred photos. The export fused each batch norm
into its convolution; this module undoes that:

1. every fused convolution gets the exported weight, and its batch norm the identity plus the
   exported bias, so the eval-mode network computes exactly what the graph computes;
2. a few training photos are passed through it, and each batch norm is set to the mean and
   spread of its input (running statistics, scale and shift), keeping the function unchanged.

Step 2 matters once training starts: batch norm then normalises with batch statistics, and
the identity from step 1 would change every layer's output at the first step.

Composed graphs (`stadtblick train compose`) hold several networks under a name prefix per
branch; `branch` picks one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

from service.inference.card import read_card
from service.inference.preprocess import letterbox, to_tensor

PARAM = re.compile(r"^(model\.\d+\..*)\.(weight|bias)$")


@dataclass(frozen=True)
class Recovered:
    out: Path
    tensors: int
    batch_norms: int
    calibration_images: int
    imgsz: int
    max_abs_diff: float  # torch eval output vs the same network before calibration (should be ~0)


def branch_tensors(graph: onnx.ModelProto, branch: str) -> dict[str, np.ndarray]:
    """The network parameters of one branch, keyed by their Ultralytics state-dict names."""
    prefix = f"{branch}/" if branch else ""
    out = {}
    for init in graph.graph.initializer:
        if not init.name.startswith(prefix):
            continue
        match = PARAM.match(init.name[len(prefix) :])
        if match:
            out[match.group(0)] = numpy_helper.to_array(init).astype(np.float32)
    if not out:
        branches = sorted({i.name.split("/")[0] for i in graph.graph.initializer if "/" in i.name})
        raise ValueError(f"no network parameters under branch {branch!r}; branches here: {branches or ['']}")
    return out


def branch_imgsz(graph: onnx.ModelProto, branch: str) -> int:
    """The input size the branch sees: its own resize target, else the graph's input."""
    for init in graph.graph.initializer:
        if branch and init.name == f"{branch}/sizes":
            return int(numpy_helper.to_array(init)[-1])
    return int(graph.graph.input[0].type.tensor_type.shape.dim[-1].dim_value)


def _fused_network(arch: str, tensors: dict[str, np.ndarray], names: list[str]):
    """`arch` holding `tensors`: each Conv+BN pair with the fused weight and an identity BN."""
    import torch
    from ultralytics.nn.modules.conv import Conv
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(arch, nc=len(names), verbose=False).eval()
    left = dict(tensors)
    norms = []
    with torch.no_grad():
        for name, m in model.named_modules():
            if not (isinstance(m, Conv) and isinstance(getattr(m, "bn", None), torch.nn.BatchNorm2d)):
                continue
            weight, bias = left.pop(f"{name}.conv.weight", None), left.pop(f"{name}.conv.bias", None)
            if weight is None or bias is None or tuple(weight.shape) != tuple(m.conv.weight.shape):
                raise ValueError(f"{name}: the graph holds no fused convolution of {arch}'s shape")
            m.conv.weight.copy_(torch.from_numpy(weight))
            m.bn.weight.fill_(1.0)
            m.bn.bias.copy_(torch.from_numpy(bias))
            m.bn.running_mean.zero_()
            m.bn.running_var.fill_(1.0 - m.bn.eps)
            norms.append(m.bn)
        own = model.state_dict()
        for key, value in left.items():
            if key not in own or tuple(own[key].shape) != value.shape:
                raise ValueError(f"{key} {value.shape} does not fit {arch} with {len(names)} classes")
            own[key].copy_(torch.from_numpy(value))
    unset = [k for k, v in model.named_parameters() if k not in tensors and not _covered(k, tensors)]
    if unset:
        raise ValueError(f"the graph leaves {len(unset)} parameters of {arch} unset, e.g. {unset[:3]}")
    model.names = dict(enumerate(names))
    return model, norms


def _covered(param: str, tensors: dict[str, np.ndarray]) -> bool:
    """A batch-norm parameter is set from its convolution's fused tensors; the DFL is fixed."""
    if ".dfl." in param:
        return True
    stem = param.rsplit(".bn.", 1)[0]
    return ".bn." in param and f"{stem}.conv.weight" in tensors


def _calibrate(model, norms, batches: list[np.ndarray]) -> None:
    """Move each batch norm's statistics to what it sees on real photos, output unchanged."""
    import torch

    sums: dict[int, list] = {id(bn): [0.0, 0.0, 0] for bn in norms}

    def hook(bn, inputs):
        y = inputs[0].double()
        acc = sums[id(bn)]
        acc[0] = acc[0] + y.sum(dim=(0, 2, 3))
        acc[1] = acc[1] + (y * y).sum(dim=(0, 2, 3))
        acc[2] += y.numel() // y.shape[1]

    handles = [bn.register_forward_pre_hook(hook) for bn in norms]
    with torch.no_grad():
        for batch in batches:
            model(torch.from_numpy(batch))
    for h in handles:
        h.remove()
    with torch.no_grad():
        for bn in norms:
            total, squares, n = sums[id(bn)]
            mean = total / n
            var = (squares / n - mean * mean).clamp(min=1e-6)
            shift = bn.bias.double().clone()  # the fused bias
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_((var + bn.eps).sqrt().float())
            bn.bias.copy_((mean + shift).float())


def _photos(images: list[Path], imgsz: int, batch: int = 8) -> list[np.ndarray]:
    tensors = []
    for path in images:
        bgr = cv2.imread(str(path))
        if bgr is None:
            continue
        boxed, _ = letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (imgsz, imgsz))
        tensors.append(to_tensor(boxed))
    if not tensors:
        raise ValueError("no readable calibration photos")
    return [np.concatenate(tensors[i : i + batch]) for i in range(0, len(tensors), batch)]


def recover(folder: Path, images: list[Path], out: Path, branch: str = "", arch: str = "yolov5nu.yaml") -> Recovered:
    """Write `out` (.pt), a checkpoint `stadtblick train finetune --start` continues from."""
    import torch

    card = read_card(folder)
    graph = onnx.load(str(folder / card.files["fp32"].path))
    tensors = branch_tensors(graph, branch)
    imgsz = branch_imgsz(graph, branch)
    model, norms = _fused_network(arch, tensors, card.class_names)
    batches = _photos(images, imgsz)
    probe = torch.from_numpy(batches[0][:2])
    with torch.no_grad():
        before = model(probe)[0].clone()
        _calibrate(model, norms, batches)
        diff = float((model(probe)[0] - before).abs().max())
    model.args = {"imgsz": imgsz}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model,
            "train_args": {"imgsz": imgsz},
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "recovered_from": {"folder": str(folder), "version": card.version, "branch": branch},
        },
        out,
    )
    return Recovered(out, len(tensors), len(norms), sum(len(b) for b in batches), imgsz, diff)
