"""``S3Store``: the media store as an S3 bucket and key prefix (s3://bucket/prefix), on AWS or any S3-compatible
store (SeaweedFS, MinIO, Ceph RGW, R2...): gateways and face services then share no directory.

Why boto3: it is AWS's own client, the reference every S3-compatible store tests against, kept in step with S3
itself and in this project's package mirror; its transfer manager (s3transfer) already does what large videos
need: multipart uploads from files or unseekable streams with a bounded number of parts in memory, ranged
parallel downloads into a temporary file renamed at the end, retries. Other clients (aiobotocore, minio-py,
obstore) would add a second dialect of the same protocol to learn and pin for no gain here.

Settings that make it behave on every store and fail fast:

* path-style addressing when an endpoint is given (http://host:port/bucket/key: no wildcard DNS needed);
* SigV4 for requests and presigned URLs (SigV2 is refused by newer AWS regions);
* checksums only where an operation requires one (``when_required``): botocore >= 1.36 otherwise adds CRC
  trailers (aws-chunked uploads) that several S3-compatible stores and proxies reject;
* short timeouts and a bounded number of attempts, so a store that is down is reported in seconds as
  ``MediaStoreUnavailable`` naming the endpoint: at once where nothing listens (connection refused, three
  attempts within about 3 s of backoff), within connect_timeout x attempts where nothing answers at all, and
  read_timeout x attempts (30 s with the defaults) where it accepts connections but hangs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from s3transfer.exceptions import RetriesExceededError

from faceblur_proto.media_store.base import (
    DEFAULT_CHUNK_BYTES,
    ByteStream,
    MediaNotFound,
    MediaStore,
    MediaStoreError,
    MediaStoreUnavailable,
    ObjectReader,
    StoredObject,
    check_key,
    check_range,
    slice_bounds,
)

MiB = 1024 * 1024
_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
_BUSY = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "ThrottlingException"}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


class S3Store(MediaStore):
    """Objects ``<prefix>/<key>`` in ``bucket``. ``endpoint_url`` None is AWS (or AWS_ENDPOINT_URL); credentials
    None are boto3's usual chain (environment, config files, an instance or pod role). ``presign_endpoint_url``:
    the endpoint as clients outside see it, when it differs (presigned URLs are signed for one host)."""

    list_page_size = 1000  # keys a ListObjectsV2 answers at most (S3's own limit)
    delete_batch = 1000  # keys one DeleteObjects deletes at most (S3's own limit)

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        presign_endpoint_url: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_attempts: int = 3,
        multipart_threshold: int = 16 * MiB,
        multipart_chunksize: int = 8 * MiB,
        max_concurrency: int = 4,
        reader_window: int = 8 * MiB,
    ) -> None:
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/"), allow_root=True)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.reader_window = reader_window
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=region or "us-east-1",
        )
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=max(10, max_concurrency * 2),
        )
        self.client = session.client("s3", endpoint_url=endpoint_url, config=config)
        self.endpoint = self.client.meta.endpoint_url
        self._presign_client = (
            session.client("s3", endpoint_url=presign_endpoint_url, config=config)
            if presign_endpoint_url
            else self.client
        )
        self.transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            num_download_attempts=2,  # s3transfer's own retries of a broken download stream, on top of botocore's
            # Downloaded pieces (256 KiB each) waiting for the one thread that writes them to the file: 4 MiB at
            # most. s3transfer's default (100 pieces, 25 MiB) grows with a slow disk or a busy CPU.
            max_io_queue=16,
            preferred_transfer_client="classic",
        )
        # Parts of an unseekable stream waiting for a free upload thread: the stream's bytes in memory at a time.
        self.transfer_config.max_in_memory_upload_chunks = max_concurrency
        self.transfer_config.max_in_memory_download_chunks = max_concurrency

    def _full_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _below(self, under: str) -> str:
        """The listing prefix of the "directory" ``under`` ("" is the whole store)."""
        check_key(under, allow_root=True)
        parts = [part for part in (self.prefix, under) if part]
        return "/".join(parts) + "/" if parts else ""

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    # --- writing ---------------------------------------------------------------------------------------------

    def put_file(self, key: str, source: Path) -> None:
        if not Path(source).is_file():
            raise FileNotFoundError(f"no file {source} to store as {key}")
        self._transfer("upload", "write", key, str(source))

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        """Parts are read from ``stream`` as upload threads free up: about (max_concurrency + 1) parts in memory
        at a time, twice that at the moment a part is joined (some 40 MiB with the defaults), whatever the
        stream's length. Where a local file exists, ``put_file`` holds none of it."""
        self._transfer("upload", "write", key, cast(BinaryIO, _FullReads(stream)))

    def put_bytes(self, key: str, data: bytes) -> None:
        full_key = self._full_key(key)
        with self._failures("write", key):
            self.client.put_object(Bucket=self.bucket, Key=full_key, Body=data)

    def _transfer(self, direction: str, doing: str, key: str, fileobj: str | BinaryIO) -> None:
        full_key = self._full_key(key)
        with (
            self._failures(doing, key, missing_is_not_found=direction == "download"),
            create_transfer_manager(self.client, self.transfer_config) as manager,
        ):
            future = (
                manager.upload(fileobj, self.bucket, full_key)
                if direction == "upload"
                else manager.download(self.bucket, full_key, fileobj)
            )
            future.result()

    # --- reading ---------------------------------------------------------------------------------------------

    def get_file(self, key: str, destination: Path) -> None:
        """A ranged, parallel download past the multipart threshold, into a temporary file renamed onto
        ``destination`` at the end (s3transfer's own)."""
        self._transfer("download", "read", key, str(destination))

    def get_bytes(self, key: str) -> bytes:
        with self.read_range(key) as stream:
            return stream.read_all()

    def open(self, key: str) -> BinaryIO:
        return cast(BinaryIO, io.BufferedReader(_ObjectReader(self, key), buffer_size=MiB))

    def read_range(
        self, key: str, start: int = 0, stop: int | None = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> ByteStream:
        check_range(start, stop)
        full_key = self._full_key(key)
        if start >= 0 and stop is not None and stop <= start:  # asks for nothing
            return self._empty(key, start, stop)
        header = None
        if start < 0:
            header = f"bytes={start}"
        elif start > 0 or stop is not None:
            header = f"bytes={start}-" + ("" if stop is None else str(stop - 1))
        arguments = {"Range": header} if header else {}
        with self._failures("read", key, missing_is_not_found=True):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=full_key, **arguments)
            except ClientError as error:
                if _status(error) != 416:
                    raise
                response = None  # starts past the end, or the object is empty
        if response is None:
            return self._empty(key, start, stop)
        body = response["Body"]
        size = int(response["ContentLength"])
        first, last, skip = 0, size, 0
        content_range = _CONTENT_RANGE.fullmatch(response.get("ContentRange") or "")
        if content_range:
            first, last, size = int(content_range[1]), int(content_range[2]) + 1, int(content_range[3])
        elif header:  # a store that ignored the Range: the whole object came, cut it here
            first, last = slice_bounds(start, stop, size)
            skip = first
        return ByteStream(self._chunks(key, body, last - first, chunk_bytes, skip), first, last, size, body.close)

    def _empty(self, key: str, start: int, stop: int | None) -> ByteStream:
        size = self.stat(key).size
        first, _ = slice_bounds(start, stop, size)
        return ByteStream(iter(()), first, first, size)

    # --- what is there -------------------------------------------------------------------------------------------

    def stat(self, key: str) -> StoredObject:
        full_key = self._full_key(key)
        with self._failures("read", key, missing_is_not_found=True):
            response = self.client.head_object(Bucket=self.bucket, Key=full_key)
        return StoredObject(key, int(response["ContentLength"]), response["LastModified"].timestamp())

    def list_under(self, under: str = "") -> list[StoredObject]:
        below = self._below(under)
        found = []
        with self._failures("list", under or "/"):
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=below, PaginationConfig={"PageSize": self.list_page_size}
            ):
                for item in page.get("Contents", []):
                    found.append(
                        StoredObject(self._relative(item["Key"]), int(item["Size"]), item["LastModified"].timestamp())
                    )
        return sorted(found, key=lambda stored: stored.key)

    def delete(self, key: str) -> None:
        full_key = self._full_key(key)
        with self._failures("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=full_key)

    def delete_under(self, under: str) -> int:
        keys = [self._full_key(stored.key) for stored in self.list_under(under)]
        for batch_start in range(0, len(keys), self.delete_batch):
            batch = keys[batch_start : batch_start + self.delete_batch]
            with self._failures("delete", under):
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise MediaStoreError(
                    f"media store {self.url} at {self.endpoint} did not delete {len(errors)} object(s) under "
                    f"{under}: {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )
        return len(keys)

    def presigned_url(
        self, key: str, expires_seconds: int = 3600, *, content_type: str | None = None, filename: str | None = None
    ) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full_key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        if filename:
            params["ResponseContentDisposition"] = f'inline; filename="{_FILENAME_UNSAFE.sub("_", filename)}"'
        with self._failures("sign a URL for", key):
            return cast(
                str, self._presign_client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_seconds)
            )

    def check(self) -> None:
        with self._failures("reach the bucket", self.bucket):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as error:
                if _status(error) == 404:
                    raise MediaStoreError(
                        f"media store {self.url} at {self.endpoint}: there is no bucket {self.bucket}"
                    ) from error
                raise

    # --- errors --------------------------------------------------------------------------------------------------

    def _ended_early(self, key: str, missing: int) -> MediaStoreError:
        return MediaStoreUnavailable(f"media store {self.url} at {self.endpoint}: {key} ended early")

    @contextmanager
    def _failures(self, doing: str, key: str, missing_is_not_found: bool = False) -> Iterator[None]:
        """botocore's and s3transfer's errors as MediaNotFound, MediaStoreUnavailable (no answer, 5xx, throttled:
        after the bounded retries) or MediaStoreError (refused), each naming the store and its endpoint."""
        where = f"media store {self.url} at {self.endpoint}"
        try:
            yield
        except (MediaStoreError, MediaNotFound):
            raise
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            message = error.response.get("Error", {}).get("Message") or ""
            status = _status(error)
            if missing_is_not_found and (code in _NOT_FOUND or status == 404) and code != "NoSuchBucket":
                raise MediaNotFound(key, self.url) from error
            detail = f"{code or status}" + (f": {message}" if message else "")
            if (status or 0) >= 500 or code in _BUSY:
                raise MediaStoreUnavailable(f"{where} failed to {doing} {key}: {detail}") from error
            raise MediaStoreError(f"{where} refused to {doing} {key}: {detail}") from error
        except RetriesExceededError as error:
            raise MediaStoreUnavailable(f"{where} did not answer ({doing} {key}): {error.last_exception}") from error
        except (BotoConnectionError, HTTPClientError, IncompleteReadError) as error:
            raise MediaStoreUnavailable(f"{where} did not answer ({doing} {key}): {error}") from error
        except NoCredentialsError as error:
            raise MediaStoreError(
                f"{where}: no credentials to {doing} {key}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from error
        except BotoCoreError as error:
            raise MediaStoreError(f"{where} could not {doing} {key}: {error}") from error


def _status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class _FullReads:
    """``stream`` with reads that return all that was asked unless the stream ends. s3transfer takes a short read
    for the end of an unseekable stream: a first read short of the multipart threshold would send the stream as
    one PUT of ``read()`` (the whole rest in memory), a short part one that S3 refuses (parts but the last are at
    least 5 MiB). Sockets, pipes and request bodies do return short reads."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, amount: int | None = -1) -> bytes:
        if amount is None or amount < 0:  # only once the stream proved shorter than the threshold
            return self._stream.read()
        blocks, remaining = [], amount
        while remaining > 0:
            block = self._stream.read(remaining)
            if not block:
                break
            blocks.append(block)
            remaining -= len(block)
        return b"".join(blocks)


class _ObjectReader(ObjectReader):
    """A seekable reader of one object: each read continues one ranged GET of up to ``reader_window`` bytes, a
    seek elsewhere drops it and the next read starts another there."""

    def __init__(self, store: S3Store, key: str) -> None:
        super().__init__(store.stat(key).size)
        self._store, self._key = store, key
        self._full_key = store._full_key(key)
        self._body: Any = None
        self._window_end = 0

    def _moved(self) -> None:
        self._drop_body()

    def _read(self, most: int) -> bytes:
        if self._body is None:
            self._window_end = min(self.size, self._position + self._store.reader_window)
            with self._store._failures("read", self._key, missing_is_not_found=True):
                response = self._store.client.get_object(
                    Bucket=self._store.bucket,
                    Key=self._full_key,
                    Range=f"bytes={self._position}-{self._window_end - 1}",
                )
            self._body = response["Body"]
        with self._store._failures("read", self._key):
            data = self._body.read(min(most, self._window_end - self._position))
        if not data:
            raise MediaStoreUnavailable(f"media store {self._store.url}: {self._key} ended early")
        if self._position + len(data) >= self._window_end:
            self._drop_body()
        return data

    def _drop_body(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()

    def close(self) -> None:
        self._drop_body()
        super().close()
