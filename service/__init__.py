"""stadtblick: image recognition for city infrastructure (service, inference core, CLI)."""

__version__ = "0.1.0"
