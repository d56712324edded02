"""Torch-free inference core: letterbox, ONNX Runtime, output decoding, NMS."""

from service.inference.detections import Detections
from service.inference.detector import DetectParams, OnnxDetector
from service.inference.session import SessionConfig

__all__ = ["DetectParams", "Detections", "OnnxDetector", "SessionConfig"]
