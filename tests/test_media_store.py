"""The media store (faceblur_proto/media_store): the same behaviour from a directory (FileStore) and from S3
(S3Store on a real SeaweedFS, tests/s3.py), and S3's failures as MediaStoreUnavailable within seconds.

Large objects are checked to move in parts, never whole in memory: tracemalloc's peak during a transfer stays
far below the object's size.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from faceblur_proto.media import TaskMedia, UnsafeMediaPath
from faceblur_proto.media_store import (
    FileStore,
    MediaNotFound,
    MediaStore,
    MediaStoreError,
    MediaStoreUnavailable,
    open_media_store,
)
from faceblur_proto.media_store.blocks import BlockReader
from faceblur_proto.media_store.s3 import S3Store
from tests.s3 import SeaweedS3
from tests.stack import free_port

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part; the tests' multipart threshold and part size
LARGE = 48 * MiB  # nine full parts and a short one
DOWN_SECONDS = 6.0  # how soon a store that does not answer must be reported
# Transfers as the tests run them: multipart from 5 MiB, two parts at a time, 1 MiB read windows.
S3_OPTIONS = {"multipart_threshold": PART, "multipart_chunksize": PART, "max_concurrency": 2, "reader_window": MiB}

# The bytes of test objects: a random block of a prime length repeated, so no two MiB-aligned slices match.
_BLOCK = os.urandom(1_000_003)


def content(start: int, length: int) -> bytes:
    """Bytes ``start .. start + length`` of the endless test content."""
    out = bytearray()
    while len(out) < length:
        offset = (start + len(out)) % len(_BLOCK)
        out += _BLOCK[offset : offset + length - len(out)]
    return bytes(out)


def content_digest(length: int) -> str:
    digest = hashlib.sha256()
    for start in range(0, length, MiB):
        digest.update(content(start, min(MiB, length - start)))
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(MiB):
            digest.update(block)
    return digest.hexdigest()


class Upload(io.RawIOBase):
    """``size`` bytes of test content, readable once and not seekable, as an upload arriving over HTTP;
    ``at_byte`` calls ``then()`` once that many bytes have been handed out."""

    def __init__(self, size: int, at_byte: int | None = None, then: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.size, self.position = size, 0
        self.at_byte, self.then = at_byte, then

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.at_byte is not None and self.position >= self.at_byte and self.then is not None:
            then, self.then = self.then, None
            then()
        length = min(len(buffer), self.size - self.position, MiB)
        buffer[:length] = content(self.position, length)
        self.position += length
        return length


def peak_traced_bytes(operation: Callable[[], object]) -> int:
    """The peak of Python's allocations (every thread's) while ``operation`` runs."""
    tracemalloc.start()
    try:
        operation()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with SeaweedS3(tmp_path_factory.mktemp("seaweedfs")) as running:
        yield running


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    """An empty store: a fresh directory, or a fresh prefix in SeaweedFS's bucket."""
    if request.param == "file":
        return open_media_store((tmp_path / "media").as_uri())
    seaweed: SeaweedS3 = request.getfixturevalue("seaweed")
    return seaweed.store(f"tests/{uuid.uuid4().hex[:12]}", **S3_OPTIONS)


def s3_calls(store: MediaStore, operation: str) -> list[dict[str, Any]]:
    """The request (url, headers...) of every ``operation`` (UploadPart, GetObject...) the store's client sends
    from now on."""
    calls: list[dict[str, Any]] = []
    if isinstance(store, S3Store):
        store.client.meta.events.register(f"before-call.s3.{operation}", lambda params, **_: calls.append(params))
    return calls


# --- large objects ---------------------------------------------------------------------------------------------


def test_a_large_file_goes_and_comes_back_in_parts(store: MediaStore, tmp_path: Path) -> None:
    source = tmp_path / "input.mp4"
    with open(source, "wb") as file:
        for start in range(0, LARGE, MiB):
            file.write(content(start, MiB))
    key = TaskMedia("large").input("mp4")
    parts = s3_calls(store, "UploadPart")

    upload_peak = peak_traced_bytes(lambda: store.put_file(key, source))

    assert store.stat(key).size == LARGE
    back = tmp_path / "back.mp4"
    gets = s3_calls(store, "GetObject")
    download_peak = peak_traced_bytes(lambda: store.get_file(key, back))
    assert file_digest(back) == content_digest(LARGE)
    assert upload_peak < LARGE / 3, f"{upload_peak} bytes in memory to store a {LARGE}-byte file"
    assert download_peak < LARGE / 3, f"{download_peak} bytes in memory to fetch a {LARGE}-byte file"
    if isinstance(store, S3Store):
        assert len(parts) == -(-LARGE // PART)  # a multipart upload, one request per 5 MiB
        assert len(gets) == len(parts)  # ranged GETs, 5 MiB each
        assert all(call["headers"]["Range"].startswith("bytes=") for call in gets)
    assert [stored.key for stored in store.list_under("tasks/large")] == [key]  # no temporary file is listed


def test_an_unseekable_stream_is_stored_without_holding_it(store: MediaStore) -> None:
    """Parts are read as they go: about four of them (20 MiB) in memory at a time here, however long the stream
    (a stream whose reads come short, 1 MiB at most here, still goes in full parts)."""
    key = TaskMedia("stream").input("mov")
    size = 64 * MiB + 12345
    parts = s3_calls(store, "UploadPart")

    peak = peak_traced_bytes(lambda: store.put_stream(key, Upload(size)))

    digest = hashlib.sha256()
    with store.read_range(key) as stream:
        for chunk in stream:
            digest.update(chunk)
    assert digest.hexdigest() == content_digest(size)
    assert peak < size / 2, f"{peak} bytes in memory to store a {size}-byte stream"
    if isinstance(store, S3Store):
        assert len(parts) == 13
        assert all(len(call["body"]) == PART for call in parts[:-1])


def test_a_failed_stream_stores_nothing(store: MediaStore) -> None:
    key = TaskMedia("cut").input("mp4")
    store.put_bytes(key, b"the old upload")

    def client_gone() -> None:
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        store.put_stream(key, Upload(12 * MiB, at_byte=7 * MiB, then=client_gone))
    assert store.get_bytes(key) == b"the old upload"
    assert [stored.key for stored in store.list_under("tasks/cut")] == [key]


# --- ranges and readers ----------------------------------------------------------------------------------------

RANGES = [
    pytest.param(0, 10, id="first-bytes"),
    pytest.param(0, None, id="whole"),
    pytest.param(4000, 4100, id="middle"),
    pytest.param(4000, None, id="to-the-end"),
    pytest.param(-100, None, id="suffix"),
    pytest.param(-(10**6), None, id="suffix-longer-than-the-object"),
    pytest.param(9990, 20000, id="running-past-the-end"),
    pytest.param(10000, None, id="at-the-end"),
    pytest.param(12345, 13000, id="past-the-end"),
    pytest.param(50, 50, id="nothing"),
]


@pytest.mark.parametrize(("start", "stop"), RANGES)
def test_byte_ranges_slice_the_object(store: MediaStore, start: int, stop: int | None) -> None:
    data = content(0, 10000)
    store.put_bytes("tasks/ranges/video.mp4", data)

    with store.read_range("tasks/ranges/video.mp4", start, stop, chunk_bytes=1000) as stream:
        got = stream.read_all()

    assert got == data[start:stop]
    first = slice(start, stop).indices(len(data))[0]
    assert (stream.start, stream.stop, stream.size, stream.length) == (first, first + len(got), len(data), len(got))


def test_ranges_of_an_empty_object_are_empty(store: MediaStore) -> None:
    store.put_bytes("tasks/empty/faces.jsonl", b"")
    for start, stop in [(0, None), (0, 10), (-5, None), (3, None)]:
        with store.read_range("tasks/empty/faces.jsonl", start, stop) as stream:
            assert (stream.read_all(), stream.start, stream.stop, stream.size) == (b"", 0, 0, 0)


def test_a_range_of_a_missing_object_is_not_found_before_any_byte(store: MediaStore) -> None:
    with pytest.raises(MediaNotFound) as caught:
        store.read_range("tasks/none/video.mp4", 0, 10)
    assert isinstance(caught.value, FileNotFoundError) and "tasks/none/video.mp4" in str(caught.value)
    with pytest.raises(MediaNotFound):
        store.stat("tasks/none/video.mp4")
    with pytest.raises(MediaNotFound):
        store.open("tasks/none/video.mp4")
    assert not store.exists("tasks/none/video.mp4")


def test_bad_ranges_are_refused(store: MediaStore) -> None:
    with pytest.raises(ValueError, match="suffix"):
        store.read_range("tasks/x/video.mp4", -10, 5)
    with pytest.raises(ValueError, match="stop"):
        store.read_range("tasks/x/video.mp4", 0, -1)


def test_an_open_object_reads_and_seeks_like_a_file(store: MediaStore) -> None:
    size = 3 * MiB + 777  # past several of S3Store's 1 MiB read windows
    store.put_stream("tasks/seek/input.mp4", Upload(size))
    with store.open("tasks/seek/input.mp4") as reader:
        assert reader.seekable()
        assert reader.read(100) == content(0, 100)
        for position in (size - 50, 5, 2 * MiB - 3, MiB, 0):
            reader.seek(position)
            assert reader.read(10_000) == content(position, min(10_000, size - position))
        reader.seek(-10, io.SEEK_END)
        assert reader.read() == content(size - 10, 10)
        assert reader.read(10) == b""
        reader.seek(MiB - 5)
        assert reader.read(2 * MiB) == content(MiB - 5, 2 * MiB)  # across a window's end
        assert reader.tell() == 3 * MiB - 5


def test_a_block_reader_reads_and_seeks_like_a_file_fetching_each_block_while_kept(store: MediaStore) -> None:
    """The face services' reader of a segment's input (FFmpeg seeks back and forth in it): whole 1 MiB blocks,
    the last ``keep`` held, so going back to one still kept fetches nothing."""
    size = 3 * MiB + 777
    store.put_stream("tasks/blocks/input.mp4", Upload(size))

    def read(reader: BlockReader, length: int) -> bytes:
        out = b""
        while len(out) < length and (chunk := reader.read(length - len(out))):
            out += chunk
        return out

    with BlockReader(store, "tasks/blocks/input.mp4", block_bytes=MiB, keep=2) as reader:
        assert reader.seekable() and reader.size == size and reader.name == "input.mp4"
        for position, fetched in ((size - 50, 1), (5, 2), (2 * MiB - 3, 4), (MiB, 4), (0, 5)):
            reader.seek(position)
            assert read(reader, 10_000) == content(position, min(10_000, size - position))
            assert reader.fetches == fetched, position
        reader.seek(-10, io.SEEK_END)
        assert read(reader, 100) == content(size - 10, 10)
        assert reader.read(10) == b""
    with pytest.raises(MediaNotFound):
        BlockReader(store, "tasks/blocks/missing.mp4")


# --- small objects ---------------------------------------------------------------------------------------------


def test_json_goes_and_comes_back(store: MediaStore) -> None:
    plan = TaskMedia("json").plan
    store.put_json(plan, [{"index": 0, "start": 0, "frames": 250}])
    assert store.get_json(plan) == [{"index": 0, "start": 0, "frames": 250}]
    store.put_json(plan, {"replaced": True})
    assert store.get_json(plan) == {"replaced": True}
    with pytest.raises(MediaNotFound):
        store.get_json(TaskMedia("json").detections(3))


def test_json_is_replaced_whole_while_read(store: MediaStore) -> None:
    """A reader never sees part of a JSON file that is being rewritten."""
    key = TaskMedia("atomic").detections(0)
    versions = [[{"frame": frame, "faces": [[version] * 4] * 3} for frame in range(4000)] for version in (1, 2)]
    store.put_json(key, versions[0])
    seen: list[int] = []
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for round_ in range(12):
                store.put_json(key, versions[round_ % 2])
        except BaseException as error:
            failures.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive() or len(seen) < 5:
        value = store.get_json(key)
        seen.append(versions.index(value) if value in versions else -1)
    writer.join()
    assert not failures
    assert -1 not in seen
    assert [stored.key for stored in store.list_under("tasks/atomic")] == [key]  # no temporary file left


# --- a task's objects ------------------------------------------------------------------------------------------


def test_listing_and_deleting_a_task_leaves_nothing(store: MediaStore) -> None:
    task, neighbour = TaskMedia("abc"), TaskMedia("abcd")  # one task id the prefix of another
    written = {
        task.input("mp4"): b"x" * 1000,
        task.probe: b"{}",
        task.plan: b"[]",
        task.detections(0): b"[]",
        task.segment(0): b"s" * 300,
        task.segment(1): b"s" * 200,
        task.video: b"v" * 500,
        task.faces: b"",
        neighbour.video: b"kept",
    }
    before = time.time()
    for key, data in written.items():
        store.put_bytes(key, data)

    listed = store.list_under(task.directory)
    assert [(stored.key, stored.size) for stored in listed] == sorted(
        (key, len(data)) for key, data in written.items() if key.startswith(task.directory + "/")
    )
    assert all(before - 2 <= stored.modified <= time.time() + 2 for stored in listed)  # S3 times are to the second
    assert [stored.key for stored in store.list_under(task.work)] == sorted(
        [task.plan, task.detections(0), task.segment(0), task.segment(1)]
    )

    assert store.delete_under(task.work) == 4
    assert store.exists(task.video) and not store.exists(task.plan)
    assert store.delete_under(task.directory) == 4

    assert store.list_under(task.directory) == []
    assert [stored.key for stored in store.list_under("")] == [neighbour.video]
    assert store.delete_under(task.directory) == 0  # again: nothing, no error
    store.delete(task.video)  # a missing object: no error
    store.delete(neighbour.video)
    assert store.list_under("") == []
    if isinstance(store, FileStore):
        assert not store.path(task.directory).exists()


def test_long_listings_and_deletions_go_page_by_page(seaweed: SeaweedS3) -> None:
    store = seaweed.store(f"tests/{uuid.uuid4().hex[:12]}")
    assert isinstance(store, S3Store)
    store.list_page_size, store.delete_batch = 3, 2  # S3's are 1000 and 1000
    task = TaskMedia("many")
    keys = sorted(task.segment(index) for index in range(11))
    for key in keys:
        store.put_bytes(key, b"s")
    listings, deletions = s3_calls(store, "ListObjectsV2"), s3_calls(store, "DeleteObjects")

    assert [stored.key for stored in store.list_under(task.directory)] == keys
    assert len(listings) == 4
    assert store.delete_under(task.directory) == 11
    assert len(deletions) == 6
    assert store.list_under(task.directory) == []


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside", "tasks/../../x", "tasks//x", "tasks/./x", "a\\b"])
def test_keys_outside_the_store_are_refused(store: MediaStore, key: str) -> None:
    with pytest.raises(UnsafeMediaPath):
        store.put_bytes(key, b"x")
    with pytest.raises(UnsafeMediaPath):
        store.stat(key)


def test_local_copies_and_outputs(store: MediaStore) -> None:
    store.put_bytes("tasks/local/input.mp4", b"input bytes")
    with store.local_copy("tasks/local/input.mp4") as path:
        assert path.read_bytes() == b"input bytes" and path.suffix == ".mp4"
    assert isinstance(store, FileStore) or not path.exists()  # S3's download is deleted after

    with store.local_output("tasks/local/video.mp4") as path:
        path.write_bytes(b"joined")
        assert not store.exists("tasks/local/video.mp4")  # stored when the block ends
    assert store.get_bytes("tasks/local/video.mp4") == b"joined" and not path.exists()

    with pytest.raises(RuntimeError), store.local_output("tasks/local/faces.jsonl") as path:
        path.write_bytes(b"half")
        raise RuntimeError("the join failed")
    assert not store.exists("tasks/local/faces.jsonl") and not path.exists()
    with pytest.raises(MediaNotFound), store.local_copy("tasks/local/none.mp4"):
        pass


# --- presigned URLs --------------------------------------------------------------------------------------------


def test_a_presigned_url_serves_the_object_with_ranges(store: MediaStore) -> None:
    data = content(0, 5000)
    key = TaskMedia("presign").video
    store.put_bytes(key, data)

    url = store.presigned_url(key, 60, content_type="video/mp4", filename='abc"1.mp4')

    if isinstance(store, FileStore):
        assert url is None
        return
    assert url is not None and "X-Amz-Signature=" in url  # SigV4
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["content-disposition"] == 'inline; filename="abc_1.mp4"'
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == "bytes 100-199/5000"
    suffix = httpx.get(url, headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == data[-10:]
    # The signature is checked (the store has an identity), and it is for GET only: HEAD is the gateway's to answer.
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403
    assert httpx.head(url).status_code == 403


def test_a_presigned_url_expires(seaweed: SeaweedS3) -> None:
    store = seaweed.store("tests/expiry")
    store.put_bytes("tasks/e/video.mp4", b"soon gone")
    url = store.presigned_url("tasks/e/video.mp4", 1)
    assert url is not None
    time.sleep(2.1)
    assert httpx.get(url).status_code == 403


def test_presigned_urls_can_name_the_public_endpoint(seaweed: SeaweedS3) -> None:
    """The services reach the store by one name, browsers by another: URLs are signed for the latter."""
    store = seaweed.store("tests/public", presign_endpoint_url=f"http://localhost:{seaweed.port}")
    store.put_bytes("tasks/p/video.mp4", b"public")
    url = store.presigned_url("tasks/p/video.mp4")
    assert url is not None and url.startswith(f"http://localhost:{seaweed.port}/{seaweed.bucket}/tests/public/")
    assert httpx.get(url).content == b"public"


# --- opening a store from its URL ------------------------------------------------------------------------------

AWS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}


def test_file_urls_open_a_directory(tmp_path: Path) -> None:
    store = open_media_store(f"file://{tmp_path}/media")
    assert isinstance(store, FileStore) and store.root == tmp_path / "media"
    assert store.url == (tmp_path / "media").as_uri()
    spaced = open_media_store("file://localhost/var/lib/my%20media/")
    assert isinstance(spaced, FileStore) and spaced.root == Path("/var/lib/my media")


def test_s3_urls_open_a_bucket_and_prefix_with_the_aws_variables() -> None:
    environ = AWS | {"AWS_REGION": "eu-west-3"}
    store = open_media_store("s3://faceblur-media/prod/media/", environ=environ)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.url) == ("faceblur-media", "prod/media", "s3://faceblur-media/prod/media")
    assert store.endpoint == "http://127.0.0.1:1" and store.client.meta.region_name == "eu-west-3"
    bare = open_media_store("s3://faceblur-media", environ=AWS | {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2"})
    assert isinstance(bare, S3Store) and bare.prefix == "" and bare.url == "s3://faceblur-media"
    assert bare.endpoint == "http://127.0.0.1:2" and bare.client.meta.region_name == "us-east-1"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "no scheme"),
        ("/var/lib/faceblur/media", "write file:///var/lib/faceblur/media"),
        ("file://var/lib/media", "three slashes"),
        ("file:///", "no absolute directory path"),
        ("http://127.0.0.1:8333/media", "'http' is neither file nor s3"),
        ("s3://", "is not an S3 bucket name"),
        ("s3://Media_Bucket/x", "is not an S3 bucket name"),
        ("s3://key:secret@media/x", "credentials or a port"),
        ("s3://media/../x", "is not a plain path"),
        ("s3://media/x?region=eu", "query or fragment"),
    ],
)
def test_other_urls_are_refused_naming_the_setting_and_the_rule(url: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        open_media_store(url, setting="GATEWAY_MEDIA_URL", environ=AWS)
    message = str(caught.value)
    assert message.startswith(f"GATEWAY_MEDIA_URL={url!r} is not a media store URL")
    assert problem in message
    assert "file:///absolute/path" in message and "s3://bucket/prefix" in message and "AWS_ENDPOINT_URL" in message


# --- a store that fails ----------------------------------------------------------------------------------------


def test_a_store_where_nothing_listens_is_unavailable_within_seconds(tmp_path: Path) -> None:
    port = free_port()
    store = open_media_store("s3://faceblur-media/x", environ=AWS | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    source = tmp_path / "segment.mp4"
    source.write_bytes(b"s" * 1000)
    operations: dict[str, Callable[[], object]] = {
        "check": store.check,
        "stat": lambda: store.stat("tasks/a/video.mp4"),
        "put_bytes": lambda: store.put_json("tasks/a/work/plan.json", []),
        "put_file": lambda: store.put_file("tasks/a/work/segment-00000.mp4", source),
        "put_stream": lambda: store.put_stream("tasks/a/input.mp4", Upload(1000)),
        "get_file": lambda: store.get_file("tasks/a/video.mp4", tmp_path / "video.mp4"),
        "read_range": lambda: store.read_range("tasks/a/video.mp4", 0, 100),
        "list_under": lambda: store.list_under("tasks/a"),
        "delete_under": lambda: store.delete_under("tasks/a"),
    }
    for name, operation in operations.items():
        started = time.monotonic()
        with pytest.raises(MediaStoreUnavailable) as caught:
            operation()
        elapsed = time.monotonic() - started
        assert elapsed < DOWN_SECONDS, f"{name} took {elapsed:.1f} s to fail"
        assert f"127.0.0.1:{port}" in caught.value.reason and "did not answer" in caught.value.reason, name
        print(f"{name}: MediaStoreUnavailable after {elapsed:.2f} s: {caught.value.reason}")


def test_a_store_that_hangs_or_dies_mid_transfer_is_unavailable_within_seconds(tmp_path: Path) -> None:
    with SeaweedS3(tmp_path) as seaweed:
        store = seaweed.store("tests/dying", **S3_OPTIONS)
        store.put_stream("tasks/d/input.mp4", Upload(24 * MiB))

        hasty = seaweed.store("tests/dying", read_timeout=1, max_attempts=2)
        seaweed.pause()  # it still accepts connections, and answers nothing
        try:
            started = time.monotonic()
            with pytest.raises(MediaStoreUnavailable, match="Read timeout") as hung:
                hasty.stat("tasks/d/input.mp4")
            hung_seconds = time.monotonic() - started
        finally:
            seaweed.resume()
        print(f"stat of a hung store: MediaStoreUnavailable after {hung_seconds:.2f} s: {hung.value.reason}")
        assert hung_seconds < DOWN_SECONDS and seaweed.endpoint in hung.value.reason
        assert hasty.stat("tasks/d/input.mp4").size == 24 * MiB  # and it comes back with the store
        download = store.read_range("tasks/d/input.mp4", chunk_bytes=64 * 1024)
        assert next(download) == content(0, 64 * 1024)

        started = time.monotonic()
        with pytest.raises(MediaStoreUnavailable) as upload_failed:
            store.put_stream("tasks/d/video.mp4", Upload(24 * MiB, at_byte=12 * MiB, then=seaweed.kill))
        upload_seconds = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(MediaStoreUnavailable) as download_failed:
            for _ in download:
                pass
        download_seconds = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(MediaStoreUnavailable) as stat_failed:
            store.stat("tasks/d/input.mp4")
        stat_seconds = time.monotonic() - started

    for name, seconds, caught in [
        ("upload", upload_seconds, upload_failed),
        ("download", download_seconds, download_failed),
        ("stat", stat_seconds, stat_failed),
    ]:
        print(f"{name} cut by the store's death: MediaStoreUnavailable after {seconds:.2f} s: {caught.value.reason}")
        assert seconds < DOWN_SECONDS, f"{name} took {seconds:.1f} s to fail"
        assert seaweed.endpoint in caught.value.reason


def test_refusals_are_errors_but_not_unavailability(seaweed: SeaweedS3) -> None:
    wrong_secret = open_media_store(
        seaweed.url("tests/refused"), environ=seaweed.environ() | {"AWS_SECRET_ACCESS_KEY": "wrong"}
    )
    with pytest.raises(MediaStoreError) as caught:
        wrong_secret.put_bytes("tasks/r/plan.json", b"[]")
    assert not isinstance(caught.value, MediaStoreUnavailable)
    assert "refused to write tasks/r/plan.json: SignatureDoesNotMatch" in caught.value.reason

    no_bucket = open_media_store("s3://no-such-bucket/x", environ=seaweed.environ())
    with pytest.raises(MediaStoreError, match="there is no bucket no-such-bucket") as caught:
        no_bucket.check()
    assert not isinstance(caught.value, MediaStoreUnavailable)
    seaweed.store().check()


def test_a_directory_that_cannot_be_written_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = FileStore(tmp_path / "file" / "media")
    with pytest.raises(MediaStoreError, match="could not write"):
        store.check()
    with pytest.raises(MediaStoreError, match=r"could not write tasks/x/plan\.json"):
        store.put_json("tasks/x/plan.json", [])
    assert store.list_under("") == []
