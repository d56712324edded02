"""A checkpoint between the network a fine-tune started from and the one it ended with.

Fine-tuning on a few hundred photos (hard negatives, a new view) teaches what the new data
shows and forgets some of what the start knew. Averaging the two networks' weights, tensor by
tensor, is a cheap way to keep both (Wortsman et al., "Robust fine-tuning of zero-shot models",
WiSE-FT, 2022): the two lie in one basin when one was fine-tuned from the other, so points on
the line between them are networks too, and one of them often scores well on both the old and
the new data. `alpha` 0 is the start, 1 the fine-tuned network; batch-norm statistics are
interpolated like the weights. Which alpha ships is decided by the same held-out comparison as
any candidate (`stadtblick train loso` / `compare`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Interpolated:
    out: Path
    tensors: int
    alpha: float
    changed: int  # tensors that differ between start and tuned


def _network(path: Path):
    """The checkpoint and its network (the EMA one where training kept it), as export picks it."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = ckpt.get("ema") or ckpt.get("model")
    if "train_args" not in ckpt or not hasattr(model, "state_dict"):
        raise ValueError(f"{path}: not an Ultralytics checkpoint (from `finetune` or `recover`)")
    return ckpt, model.float()


def interpolate(start: Path, tuned: Path, alpha: float, out: Path) -> Interpolated:
    """Write `out` (.pt) = (1 - alpha) * start + alpha * tuned, with tuned's class names and image size."""
    import torch

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    _, a = _network(start)
    ckpt, b = _network(tuned)
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        raise ValueError(f"{start} and {tuned} are not the same architecture: fine-tune one from the other")
    mixed, changed = {}, 0
    for key, wb in sb.items():
        wa = sa[key]
        changed += int(not torch.equal(wa, wb))
        # integer counters (num_batches_tracked) are not weights: keep the tuned network's
        mixed[key] = torch.lerp(wa, wb, alpha) if wb.is_floating_point() else wb
    b.load_state_dict(mixed)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": b,
            "train_args": ckpt["train_args"],
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "interpolated": {"start": str(start), "tuned": str(tuned), "alpha": alpha},
        },
        out,
    )
    return Interpolated(out, len(sb), alpha, changed)
