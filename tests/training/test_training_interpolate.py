"""Weight interpolation between a fine-tune's start and result: the ends are the two networks,
a point between is their tensor-wise mix, and the result is a checkpoint the export loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import need


def _save(path: Path, nc: int, seed: int) -> Path:
    import torch
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel("yolov5nu.yaml", nc=nc, verbose=False)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.randn_like(t) * 0.1)  # running statistics too, not only weights
    model.names = {i: f"c{i}" for i in range(nc)}
    torch.save({"model": model, "train_args": {"imgsz": 96}}, path)
    return path


def test_alpha_walks_from_the_start_to_the_tuned_network(tmp_path: Path) -> None:
    need("torch")
    import torch

    from training.checkpoint import open_checkpoint
    from training.weight_interpolation import interpolate

    start, tuned = _save(tmp_path / "a.pt", 2, 0), _save(tmp_path / "b.pt", 2, 1)
    sa = torch.load(start, weights_only=False)["model"].state_dict()
    sb = torch.load(tuned, weights_only=False)["model"].state_dict()
    for alpha in (0.0, 0.3, 1.0):
        r = interpolate(start, tuned, alpha, tmp_path / f"m{alpha}.pt")
        assert r.tensors == len(sb) and r.changed > 100
        mixed = torch.load(r.out, weights_only=False)["model"].state_dict()
        for key in ("model.0.conv.weight", "model.0.bn.running_var", "model.24.cv3.0.2.bias"):
            torch.testing.assert_close(mixed[key], (1 - alpha) * sa[key] + alpha * sb[key])
    ckpt = open_checkpoint(tmp_path / "m0.3.pt")  # what `train export` opens
    assert (ckpt.kind, ckpt.names, ckpt.imgsz) == ("ultralytics", ["c0", "c1"], 96)
    with torch.no_grad():
        out = ckpt.torch_model()(torch.zeros(1, 3, 96, 96))[0]
    assert out.shape[1] == 4 + 2


def test_networks_of_different_shape_or_alpha_outside_0_1_are_refused(tmp_path: Path, capsys) -> None:
    need("torch")
    from training.cli import main
    from training.weight_interpolation import interpolate

    start, other = _save(tmp_path / "a.pt", 2, 0), _save(tmp_path / "c.pt", 1, 0)
    with pytest.raises(ValueError, match="not the same architecture"):
        interpolate(start, other, 0.5, tmp_path / "x.pt")
    import torch

    bare = tmp_path / "bare.pt"
    torch.save({"model": torch.load(start, weights_only=False)["model"]}, bare)  # e.g. a YOLOv5 or hub file
    with pytest.raises(ValueError, match="not an Ultralytics checkpoint"):
        interpolate(bare, start, 0.5, tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        interpolate(start, start, 1.5, tmp_path / "x.pt")
    argv = ["interpolate", str(start), str(other), "--alpha", "0.5", "--out", str(tmp_path / "x.pt")]
    assert main(argv) == 2
    assert "not the same architecture" in " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "x.pt").exists()
