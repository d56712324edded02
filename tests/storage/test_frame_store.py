"""The frame store on both backends: a directory and S3 (moto's server, over real HTTP)."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from pathlib import Path

import pytest
from gis_helpers import free_port
from pydantic import ValidationError
from s3_helpers import S3Server, StoreUnderTest

from service.config import Settings
from service.faults import FrameStoreUnavailable
from service.runtime import photo_store as runtime_photo_store
from service.storage.frame_images import DirectoryStore, image_key
from service.storage.object_store import ObjectStore


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_if_absent_read_and_delete(photo_store: StoreUnderTest) -> None:
    store, replica = (runtime_photo_store(Settings(**photo_store.settings), "frames") for _ in range(2))
    key = image_key(sha(b"upload"))
    assert store.save(sha(b"upload"), b"first") is True
    assert replica.save(sha(b"upload"), b"second") is False  # content-addressed: the first one stays
    assert store.read(key) == b"first" and photo_store.stored() == {key: b"first"}
    assert store.read(image_key(sha(b"never stored"))) is None
    store.delete(key)
    assert store.read(key) is None and photo_store.stored() == {}
    store.delete(key)  # already gone: no error


def test_frames_and_lost_item_photos_are_kept_apart(photo_store: StoreUnderTest) -> None:
    settings = Settings(**photo_store.settings)
    frames, lost_items = runtime_photo_store(settings, "frames"), runtime_photo_store(settings, "lost_items")
    frames.save(sha(b"same photo"), b"frame")
    lost_items.save(sha(b"same photo"), b"item")
    frames.delete(image_key(sha(b"same photo")))
    assert photo_store.stored("frames") == {}
    assert photo_store.stored("lost_items") == {image_key(sha(b"same photo")): b"item"}


def test_an_unreachable_endpoint_is_reported_not_mistaken_for_a_missing_photo() -> None:
    store = ObjectStore("s3://frames/p/frames", f"http://127.0.0.1:{free_port()}", timeout_s=1.0)
    start = time.monotonic()
    for attempt in (lambda: store.save(sha(b"x"), b"jpeg"), lambda: store.read("ab/x.jpg"), lambda: store.delete("x")):
        with pytest.raises(FrameStoreUnavailable, match="retry later"):
            attempt()
    assert time.monotonic() - start < 30  # bounded by the timeout and two retries, not minutes


def test_a_missing_bucket_is_reported(s3_server: S3Server) -> None:
    store = ObjectStore("s3://no-such-bucket/p/frames", s3_server.endpoint)
    with pytest.raises(FrameStoreUnavailable):
        store.save(sha(b"x"), b"jpeg")
    with pytest.raises(FrameStoreUnavailable):
        store.read(image_key(sha(b"x")))


def test_the_setting_chooses_the_store(tmp_path: Path) -> None:
    default = runtime_photo_store(Settings(data_dir=tmp_path / "data"), "lost_items")
    assert isinstance(default, DirectoryStore) and default.root == tmp_path / "data" / "lost_items"
    shared = runtime_photo_store(Settings(data_dir=tmp_path / "data", frame_store="/mnt/frames"), "frames")
    assert isinstance(shared, DirectoryStore) and shared.root == Path("/mnt/frames/frames")
    s3 = Settings(frame_store="s3://city-photos/stadtblick/", frame_store_endpoint="http://minio:9000")
    bucket = runtime_photo_store(s3, "frames")
    assert isinstance(bucket, ObjectStore) and bucket.url == "s3://city-photos/stadtblick/frames"
    for unknown in ("gs://city-photos", "s3://", "https://minio:9000/city-photos"):
        with pytest.raises(ValidationError, match="frame_store"):
            Settings(frame_store=unknown)


def test_two_replicas_storing_one_photo_at_once_on_a_shared_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both looked before either wrote: exactly one is told it stored the photo (only that one may
    delete it again when its transaction fails), the first photo stays and nothing is left over."""
    root, key = tmp_path / "frames", image_key(sha(b"upload"))
    first, second = DirectoryStore(root), DirectoryStore(root)
    monkeypatch.setattr(Path, "is_file", lambda _: False)  # the second one's check came before the first write
    assert first.save(sha(b"upload"), b"first") is True
    assert second.save(sha(b"upload"), b"second") is False
    assert first.read(key) == b"first"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [key.split("/")[0], key]


def test_a_shared_directory_without_hard_links_still_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")  # what an SMB mount answers

    monkeypatch.setattr(os, "link", refused)
    store = DirectoryStore(tmp_path / "frames")
    assert store.save(sha(b"upload"), b"photo") is True
    assert store.read(image_key(sha(b"upload"))) == b"photo"
    assert not list((tmp_path / "frames").rglob(f"{DirectoryStore.INCOMING}*"))
