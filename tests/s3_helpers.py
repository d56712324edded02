"""A real S3 HTTP API for the frame-store tests: moto's server on a free loopback port, and the
two frame-store backends (a directory, a bucket in that server) as test parameters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

STORES = ["directory", "s3"]
PREFIX = "stadtblick"  # inside each test's bucket


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_bucket(self) -> str:
        bucket = f"frames-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def get(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()


@dataclass(frozen=True)
class StoreUnderTest:
    """Where one test's photos go: the settings that say so, and what is stored there now."""

    kind: str
    settings: dict[str, Any]
    data_dir: Path
    s3: S3Server | None = None
    bucket: str = ""

    def keys(self, photos: str = "frames") -> list[str]:
        """The keys of this kind of photo (frames, lost_items) stored now."""
        if self.s3 is None:
            root = self.data_dir / photos
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        prefix = f"{PREFIX}/{photos}/"
        return [k.removeprefix(prefix) for k in self.s3.keys(self.bucket) if k.startswith(prefix)]

    def stored(self, photos: str = "frames") -> dict[str, bytes]:
        """Key -> bytes of every photo of this kind (while nothing deletes them)."""
        if self.s3 is None:
            return {k: (self.data_dir / photos / k).read_bytes() for k in self.keys(photos)}
        return {k: self.s3.get(self.bucket, f"{PREFIX}/{photos}/{k}") for k in self.keys(photos)}


def store_under_test(kind: str, data_dir: Path, s3: S3Server | None) -> StoreUnderTest:
    if kind == "directory":
        return StoreUnderTest(kind, {"data_dir": data_dir}, data_dir)
    assert s3 is not None
    bucket = s3.new_bucket()
    settings = {"data_dir": data_dir, "frame_store": f"s3://{bucket}/{PREFIX}", "frame_store_endpoint": s3.endpoint}
    return StoreUnderTest(kind, settings, data_dir, s3, bucket)
