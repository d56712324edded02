"""Which detectors anonymise: the installed ones among `anonymize`, `centerface` and (optionally) `coco`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from service.inference import OnnxDetector, SessionConfig
from service.privacy.anonymiser import PERSON, AnonymiseConfig, Anonymiser, Source
from service.privacy.centerface import CENTERFACE, CenterFace, load_centerface

log = logging.getLogger(__name__)

ANONYMIZE = "anonymize"  # the project's detector of faces and licence plates (weights/anonymize/)
COCO = "coco"  # a general detector whose `person` boxes may be obscured too


def detector_source(detector: OnnxDetector, obscured: Iterable[str] | None = None) -> Source:
    """A registry detector as a source: all its classes obscured, or only those named."""
    card = detector.card
    names = set(card.class_names)
    return Source(
        detector.name,
        detector,
        frozenset(names if obscured is None else set(obscured) & names),
        card.thresholds.iou,
        card.thresholds.max_det,
    )


def centerface_source(detector: CenterFace) -> Source:
    params = detector.default_params()
    return Source(CENTERFACE, detector, frozenset(detector.class_names), params.iou, params.max_det)


def load_anonymiser(
    detectors: Mapping[str, OnnxDetector],
    config: AnonymiseConfig,
    use: Iterable[str] = (ANONYMIZE, CENTERFACE),
    persons: bool = False,
    session_config: SessionConfig | None = None,
) -> Anonymiser | None:
    """The one builder the service, the vehicle runtime and training use: `build_anonymiser` over the
    loaded `detectors`, with CenterFace loaded here when `use` names it."""
    use = tuple(use)
    centerface = load_centerface(session_config) if CENTERFACE in use else None
    return build_anonymiser(detectors, centerface, config, use, persons)


def build_anonymiser(
    detectors: Mapping[str, OnnxDetector],
    centerface: CenterFace | None,
    config: AnonymiseConfig,
    use: Iterable[str] = (ANONYMIZE, CENTERFACE),
    persons: bool = False,
) -> Anonymiser | None:
    """The anonymiser over the loaded `detectors` and CenterFace named in `use` (plus COCO persons);
    None when none of them is there."""
    wanted = set(use)
    sources = []
    if ANONYMIZE in wanted and ANONYMIZE in detectors:
        sources.append(detector_source(detectors[ANONYMIZE]))
    if CENTERFACE in wanted and centerface is not None:
        sources.append(centerface_source(centerface))
    if persons:
        coco = detectors.get(COCO)
        if coco is None or PERSON not in coco.card.class_names:
            log.warning(
                "STADTBLICK_ANONYMISE_PERSONS is on, but no '%s' detector with a 'person' class is loaded", COCO
            )
        else:
            sources.append(detector_source(coco, [PERSON]))
    return Anonymiser(sources, config) if sources else None
