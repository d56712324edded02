"""The vehicle runtime: video + GPS in, geotagged detection events out, store-and-forward upload.

Torch-free like the service (ONNX Runtime + OpenCV/NumPy); runs offline on the vehicle's
computer and sends its results when a connection exists (docs: README "Vehicle installation").
"""
