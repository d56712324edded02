"""The settings module holds plain values; the objects built from them keep their own defaults."""

from __future__ import annotations

import subprocess
import sys

from service.config import Settings
from service.imaging import ImageLimits
from service.privacy import AnonymiseConfig
from service.runtime import anonymise_config, image_limits


def test_default_settings_build_the_components_defaults() -> None:
    """The values config repeats (it imports nothing of the service) must not drift from the source."""
    settings = Settings()
    assert anonymise_config(settings) == AnonymiseConfig()
    assert image_limits(settings) == ImageLimits()


def test_reading_the_settings_loads_no_other_part_of_the_service() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, service.config; print(sorted(m for m in sys.modules if m.startswith('service')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "['service', 'service.config']"
