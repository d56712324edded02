"""Stored photos in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...) through obstore.

obstore (the Rust `object_store` crate) because it does put-if-absent as one request
(`If-None-Match: *`, so two replicas storing the same photo cannot both think they wrote it),
has a plain synchronous API for the service's worker threads, and brings no botocore whose
version pins clash with other packages. Credentials and region come from the standard AWS
environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_REGION`) or the instance's role; docs/scaling.md.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError, NotFoundError
from obstore.store import S3Store

from service.faults import FrameStoreUnavailable
from service.storage.frame_images import image_key

log = logging.getLogger(__name__)


class ObjectStore:
    """Photos as objects under `s3://bucket/prefix/`; an object appears whole or not at all, so
    there is nothing for a sweep to clean up after a killed writer."""

    def __init__(self, url: str, endpoint: str = "", timeout_s: float = 10.0):
        """`url`: s3://bucket/prefix; `endpoint`: e.g. http://minio:9000 (empty: AWS S3)."""
        timeout = timedelta(seconds=timeout_s)
        self.url = url
        self.store = S3Store.from_url(
            url,
            config={"endpoint": endpoint} if endpoint else None,
            client_options={
                "allow_http": endpoint.startswith("http://"),  # only for an endpoint that says so
                "timeout": timeout,
                "connect_timeout": timeout,
            },
            retry_config={"max_retries": 2, "retry_timeout": timeout},
        )

    def save(self, sha256: str, jpeg: bytes) -> bool:
        try:
            obstore.put(self.store, image_key(sha256), jpeg, mode="create")
        except AlreadyExistsError:
            return False
        except (BaseError, OSError) as exc:  # a missing bucket is a NotFoundError (FileNotFoundError) too
            raise self._unavailable("store", exc) from exc
        return True

    def read(self, key: str) -> bytes | None:
        try:
            return bytes(obstore.get(self.store, key).bytes())
        except (NotFoundError, FileNotFoundError) as exc:  # obstore raises the built-in one for a missing key
            if "NoSuchBucket" in str(exc):  # a wrong bucket is not a deleted photo
                raise self._unavailable("read", exc) from exc
            return None
        except (BaseError, OSError) as exc:
            raise self._unavailable("read", exc) from exc

    def delete(self, key: str) -> None:
        try:
            obstore.delete(self.store, key)  # S3 answers an absent key with success
        except (BaseError, OSError) as exc:
            raise self._unavailable("delete", exc) from exc

    def sweep_incoming(self, older_than_s: float = 3600.0) -> int:
        return 0

    def _unavailable(self, action: str, exc: Exception) -> FrameStoreUnavailable:
        log.error("frame store %s: could not %s an object: %s", self.url, action, str(exc).splitlines()[0])
        return FrameStoreUnavailable(f"the frame store could not {action} the photo; nothing was changed, retry later")
