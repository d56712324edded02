"""Pure geometry on the earth and in the camera: geodesy, ground positions, road grading, geographic boxes.

The bottom layer: it imports nothing of the service, so storage, ingest, the vehicle runtime
and the OGC API can all build on it (docs/architecture.md).
"""
