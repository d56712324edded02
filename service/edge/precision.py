"""Which model file the vehicle runs: INT8 by default where the model card lists one.

The vehicle's computer has no GPU; an INT8 model is smaller and usually faster on its CPU,
and the card's `metrics.int8` report what it costs in accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

from service.inference.card import ModelCard
from service.registry.registry import ModelUnavailable

PRECISIONS = ("fp32", "int8")


def variant_for(precision: str | None) -> Callable[[ModelCard], str]:
    """`precision` None: int8 when the card has it, else fp32 (else the card's served variant)."""

    def choose(card: ModelCard) -> str:
        if precision is None:
            return next((v for v in ("int8", "fp32") if v in card.files), card.serve_variant)
        if precision not in card.files:
            raise ModelUnavailable(f"detector {card.name} has no {precision} model (files: {', '.join(card.files)})")
        return precision

    return choose
