"""Evaluation plots with matplotlib's Agg backend and its bundled DejaVu font (nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training.metrics import CONF_GRID, APResult


def _curves(
    path: Path,
    ys: np.ndarray,
    names: list[str],
    present: np.ndarray,
    ylabel: str,
    x: np.ndarray | None = None,
    xlabel: str = "confidence",
) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for y, name, ok in zip(ys, names, present, strict=True):
        if ok:
            ax.plot(CONF_GRID if x is None else x[names.index(name)], y, linewidth=1, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_all(out_dir: Path, ap: APResult, names: list[str], confusion: np.ndarray) -> list[Path]:
    """PR curve (IoU 0.5), F1 over confidence, and the confusion matrix as PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        _curves(out_dir / "pr_curve.png", ap.p_curve, names, ap.present, "precision", ap.r_curve, "recall"),
        _curves(out_dir / "f1_curve.png", ap.f1_curve, names, ap.present, "F1"),
    ]
    labels = [*names, "background"]
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(labels), 1 + 0.6 * len(labels)), dpi=120)
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set(xlabel="true", ylabel="predicted")
    for (i, j), v in np.ndenumerate(confusion):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "confusion_matrix.png")
    plt.close(fig)
    return [*paths, out_dir / "confusion_matrix.png"]
