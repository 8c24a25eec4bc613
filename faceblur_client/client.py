"""FaceBlurClient: submit an image, wait for its task, read the faces and the anonymized image; recognize people
(embed, verify, enroll into galleries, identify) and anonymize everyone but (or only) a gallery's people; anonymize
a video (upload it, follow its progress in frames, download the MP4 and its per-frame face tracks)."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TypedDict

from faceblur_client.errors import ApiError, GatewayUnreachable, TaskFailed, TaskTimeout
from faceblur_client.multipart import FilePart, closing, encode_form, field_parts, file_header, new_boundary

if TYPE_CHECKING:  # typing.Unpack is Python 3.11's; the client runs on 3.10 with the standard library only
    from typing_extensions import Unpack

DEFAULT_URL = "http://127.0.0.1:8000"
JobKind = Literal["detect", "blur", "embed"]
ENDPOINTS: dict[str, str] = {"detect": "detect_faces", "blur": "blur_faces", "embed": "embed_faces"}
FINAL_STATUSES = ("SUCCESS", "FAILURE")
# The gateway caps one long poll (GATEWAY_RESULT_WAIT_MAX_SECONDS, 30 by default); asking for more is harmless.
LONG_POLL_SECONDS = 30.0
# Answers that mean "busy, try again shortly"; anything else is final.
RETRYABLE_STATUSES = (429, 503)
RETRY_PAUSE_SECONDS = 1.0
FILE_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp", "tiff": ".tif"}

# Videos: how often to ask for progress when following it; the default wait for one video (a long one takes a while).
PROGRESS_POLL_SECONDS = 1.0
VIDEO_TIMEOUT_SECONDS = 3600.0
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# The gateway reads a whole uploaded video (counting its frames) before it answers: a big one takes a while.
VIDEO_UPLOAD_ANSWER_SECONDS = 300.0

ImageInput = bytes | str | Path
# Which face of a photo stands for it (enroll, verify's first image): its main face (the default) or its largest.
FaceChoice = Literal["main", "largest"]
VideoInput = bytes | str | Path
ProgressCallback = Callable[[int, int], object]


class DetectOptions(TypedDict, total=False):
    """How faces are found, for every kind that finds them; an option left out takes the service's default."""

    threshold: float | None  # the score a face needs, 0..1
    preset: str | None  # fast, balanced or max_recall


class PlateOptions(TypedDict, total=False):
    """Licence plates as well as faces (detect, blur and videos): plates=True finds them (outcome.plates) and a blur
    hides them, each by its padded box in the blur's mode; left out or False, nothing about plates is sent."""

    plates: bool
    plate_threshold: float | None  # the score a plate needs, 0..1


class DetectPlateOptions(DetectOptions, PlateOptions, total=False):
    """detect's options: how faces are found, and plates."""


class BlurOptions(DetectOptions, PlateOptions, total=False):
    """How the faces (and plates, with plates=True) found are hidden (images and videos)."""

    mode: str | None  # blur, pixelate or solid
    mask: str | None  # ellipse or box
    box_scale: float | None  # 1..2: how far past the face's box the hiding reaches


def _checked(options: Mapping[str, object], allowed: type) -> dict[str, object]:
    """``options`` when each is a key of the TypedDict ``allowed``: a misspelt option is an error here, not a form
    field the gateway would ignore."""
    known: frozenset[str] = allowed.__optional_keys__
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unexpected option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    if not options.get("plates"):  # a request without plates stays as it was before plates existed
        return {name: value for name, value in options.items() if name not in PlateOptions.__optional_keys__}
    return dict(options)


@dataclass(frozen=True)
class _Finished:
    task: dict[str, Any]  # as GET /task_result returns it

    @property
    def task_id(self) -> str:
        return self.task["task_id"]

    @property
    def kind(self) -> str:
        return self.task["kind"]


@dataclass(frozen=True)
class TaskOutcome(_Finished):
    """A finished (SUCCESS) task as GET /task_result returns it, with the parts most callers want."""

    @property
    def faces(self) -> dict[str, Any]:
        """{"face_1": {"facial_area": [x1, y1, x2, y2], "confidence": ..., "landmarks": {...}}, ...}; embed adds
        each face's "embedding", identify its "matches" and "subject", blur with a gallery its "anonymized"."""
        faces = self.task.get("faces") if self.kind == "blur" else self.task.get("result")
        return faces or {}

    @property
    def face_count(self) -> int:
        return int(self.task.get("face_count", len(self.faces)))

    @property
    def plates(self) -> dict[str, Any]:
        """With plates=True: {"plate_1": {"plate_area": [x1, y1, x2, y2], "confidence": ...}, ...} (blur: the
        plates hidden); else {}."""
        return self.task.get("plates") or {}

    @property
    def image(self) -> bytes | None:
        """blur: the anonymized image; detect with draw=True: the image with the faces drawn; else None."""
        encoded = self.task.get("result") if self.kind == "blur" else self.task.get("drawn_image")
        return base64.b64decode(encoded) if isinstance(encoded, str) else None

    @property
    def image_format(self) -> str:
        return self.task.get("image_format") or "jpeg"

    @property
    def file_extension(self) -> str:
        return FILE_EXTENSIONS.get(self.image_format, f".{self.image_format}")

    def save(self, path: str | Path) -> Path:
        """Write the returned image to `path`; raises ValueError when the task returned none."""
        image = self.image
        if image is None:
            raise ValueError(f"task {self.task_id} returned no image (only blur, or detect with draw=True, do)")
        target = Path(path)
        target.write_bytes(image)
        return target

    def summary(self) -> dict[str, Any]:
        """The task without its base64 image(s): small enough to print or log."""
        return {
            name: (
                f"<{len(value) * 3 // 4} bytes, base64>"
                if name in ("result", "drawn_image") and isinstance(value, str)
                else value
            )
            for name, value in self.task.items()
        }


@dataclass(frozen=True)
class VideoOutcome(_Finished):
    """A finished (SUCCESS) blur_video task: `task` as GET /task_result returns it, and the anonymized MP4,
    written to `path` (when blur_video was given an output) or kept in `video` (bytes)."""

    path: Path | None = None
    video: bytes | None = None

    @property
    def result(self) -> dict[str, Any]:
        """{"video_url", "faces_url", "frames", "fps", "duration_s", "width", "height", "audio", "audio_copied",
        "tracks", "detect_every", "segments", "size_bytes"}."""
        return self.task.get("result") or {}

    @property
    def frames(self) -> int:
        return int(self.result.get("frames", 0))

    @property
    def tracks(self) -> int:
        """How many distinct faces (tracks) the video showed."""
        return int(self.result.get("tracks", 0))

    def save(self, path: str | Path) -> Path:
        """Write the MP4 to `path` (copied from where it was downloaded, or from memory)."""
        target = Path(path)
        if self.path is not None:
            if self.path.resolve() != target.resolve():
                shutil.copyfile(self.path, target)
        elif self.video is not None:
            target.write_bytes(self.video)
        else:
            raise ValueError(f"task {self.task_id}: the video was not downloaded")
        return target

    def summary(self) -> dict[str, Any]:
        return dict(self.task)


class FaceBlurClient:
    """Talks to one FaceBlur gateway. Thread-safe: it keeps no connection state, so one instance can serve
    many threads at once."""

    def __init__(
        self, url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 300.0, request_timeout: float = 60.0
    ) -> None:
        """`timeout`: default seconds to wait for a task to finish; `request_timeout`: for each HTTP request."""
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.request_timeout = request_timeout

    # --- one call each ---------------------------------------------------------------------------------------

    def submit(self, kind: JobKind, image: ImageInput, filename: str | None = None, **options: object) -> str:
        """Upload the image for `kind` ("detect", "blur" or "embed") and return the task id. Options left as None
        take the service's defaults: threshold, preset, draw (detect); mode, mask, box_scale, spare_gallery,
        only_gallery (blur)."""
        return self._submit_files(kind, [_image_bytes(image, filename)], options)[0]

    def submit_many(self, kind: JobKind, images: Sequence[ImageInput], **options: object) -> list[str]:
        """Upload several images in one request (at most the gateway's GATEWAY_MAX_FILES_PER_REQUEST, 32 by
        default); one task each, ids in the same order. A bad image refuses the whole request (ApiError)."""
        return self._submit_files(kind, [_image_bytes(image, None) for image in images], options)

    def submit_identify(
        self,
        gallery: str,
        images: Sequence[ImageInput],
        *,
        k: int | None = None,
        **options: Unpack[DetectOptions],
    ) -> list[str]:
        """Upload images to identify against `gallery`'s people (`threshold`: the similarity a subject needs); one
        task id each, in the same order."""
        files = [_image_bytes(image, None) for image in images]
        fields = {"k": k, **_checked(options, DetectOptions)}
        return self._post_files(f"galleries/{_quote(gallery)}/identify", files, fields)

    def _submit_files(self, kind: JobKind, files: list[tuple[bytes, str]], options: dict[str, object]) -> list[str]:
        if kind not in ENDPOINTS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, ENDPOINTS))}, not {kind!r}")
        return self._post_files(ENDPOINTS[kind], files, options)

    def _post_files(
        self, path: str, files: list[tuple[bytes, str]], options: dict[str, object], fields: Sequence[str] = ()
    ) -> list[str]:
        """POST the images (in the form fields `fields`, else each in `file`); the task ids."""
        if fields:
            parts: list[FilePart] = [(name, data, field) for (data, name), field in zip(files, fields, strict=True)]
        else:
            parts = [(name, data) for data, name in files]
        body, content_type = encode_form(options, parts)
        answer = self._request("POST", path, body=body, content_type=content_type, retry_busy=True)
        return answer.get("task_ids") or [answer["task_id"]]

    def task(self, task_id: str, wait: float = 0) -> dict[str, Any]:
        """The task's current state; with `wait`, the gateway holds the answer until it finishes or `wait`
        seconds pass."""
        path = f"task_result/{_quote(task_id)}"
        if wait > 0:
            path += f"?wait={wait:g}"
        return self._request("GET", path, timeout=self.request_timeout + wait)

    def wait(self, task_id: str, timeout: float | None = None) -> TaskOutcome:
        """Long-poll until the task finishes. Raises TaskFailed or TaskTimeout."""
        return TaskOutcome(self._poll(task_id, self.timeout if timeout is None else timeout, LONG_POLL_SECONDS))

    def _poll(
        self, task_id: str, seconds: float, step: float, seen: Callable[[dict[str, Any]], object] | None = None
    ) -> dict[str, Any]:
        """Ask for the task (each answer held up to `step` seconds) until it succeeds: the task; `seen` is called
        with every answer. Raises TaskFailed or TaskTimeout after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            task = self.task(task_id, wait=max(0.0, min(step, round(deadline - time.monotonic(), 1))))
            if seen is not None:
                seen(task)
            if task["status"] == "SUCCESS":
                return task
            if task["status"] == "FAILURE":
                raise TaskFailed(task_id, task.get("error") or "the task failed (no reason given)")
            if deadline - time.monotonic() <= 0:
                raise TaskTimeout(task_id, task["status"], seconds)

    # --- submit and wait -------------------------------------------------------------------------------------

    def detect(
        self,
        image: ImageInput,
        *,
        draw: bool = False,
        filename: str | None = None,
        timeout: float | None = None,
        **options: Unpack[DetectPlateOptions],
    ) -> TaskOutcome:
        """Find the faces (options: DetectPlateOptions; with plates=True the licence plates too, outcome.plates);
        with `draw`, the outcome's image shows them (boxes and landmarks)."""
        options = _checked(options, DetectPlateOptions)
        task_id = self.submit("detect", image, filename, draw=True if draw else None, **options)
        return self.wait(task_id, timeout)

    def blur(
        self,
        image: ImageInput,
        *,
        spare_gallery: str | None = None,
        only_gallery: str | None = None,
        filename: str | None = None,
        timeout: float | None = None,
        **options: Unpack[BlurOptions],
    ) -> TaskOutcome:
        """Anonymize the faces (options: BlurOptions, e.g. mode="pixelate"; plates=True hides licence plates too,
        outcome.plates lists them). With `spare_gallery`, the faces of that gallery's people stay visible; with
        `only_gallery`, only theirs are hidden (each face of the outcome says whether it was "anonymized", and its
        "subject")."""
        galleries = {"spare_gallery": spare_gallery, "only_gallery": only_gallery}
        task_id = self.submit("blur", image, filename, **galleries, **_checked(options, BlurOptions))
        return self.wait(task_id, timeout)

    # --- video -----------------------------------------------------------------------------------------------

    def submit_video(
        self,
        video: VideoInput,
        filename: str | None = None,
        *,
        crf: int | None = None,
        callback_url: str | None = None,
        **options: Unpack[BlurOptions],
    ) -> str:
        """Upload a video (MP4, MOV, MKV, WebM or AVI) to POST /blur_video (options: BlurOptions); the task id. A
        file is streamed from disk, never read into memory whole."""
        fields = {**_checked(options, BlurOptions), "crf": crf, "callback_url": callback_url}
        body = _StreamedForm(fields, video, filename)
        answer = self._request(
            "POST", "blur_video", body=body, content_type=body.content_type, retry_busy=True,
            content_length=body.length, timeout=max(self.request_timeout, VIDEO_UPLOAD_ANSWER_SECONDS),
        )  # fmt: skip
        return answer["task_id"]

    def wait_video(
        self, task_id: str, timeout: float | None = None, progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """Wait for a video task; the finished task (SUCCESS). With `progress`, it is called with (frames_done,
        frames_total) whenever they change (polled about once a second); without, one long poll after another.
        Raises TaskFailed or TaskTimeout."""
        seconds = VIDEO_TIMEOUT_SECONDS if timeout is None else timeout
        if progress is None:
            return self._poll(task_id, seconds, LONG_POLL_SECONDS)
        last: tuple[int, int] | None = None

        def report(task: dict[str, Any]) -> None:
            nonlocal last
            counts = _progress_of(task, last)
            if counts is not None and counts != last:
                progress(*counts)
                last = counts

        return self._poll(task_id, seconds, PROGRESS_POLL_SECONDS, report)

    def download_video(self, task_id: str, output: str | Path | IO[bytes] | None = None) -> bytes | Path | None:
        """GET /task_result/{id}/video: the anonymized MP4, streamed to `output` (a path, returned, or a binary
        file object, None returned), else returned as bytes."""
        return self._download(f"task_result/{_quote(task_id)}/video", output)

    def video_faces(self, task_id: str) -> list[dict[str, Any]]:
        """GET /task_result/{id}/faces: one entry per frame, {"frame", "time_s", "faces": [{"track_id",
        "facial_area", "confidence", "detected"}]} ("detected": found on that frame, not carried by tracking)."""
        raw = self._download(f"task_result/{_quote(task_id)}/faces", None)
        assert isinstance(raw, bytes)
        return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]

    def blur_video(
        self,
        video: VideoInput,
        output: str | Path | None = None,
        *,
        crf: int | None = None,
        progress: ProgressCallback | None = None,
        filename: str | None = None,
        timeout: float | None = None,
        **options: Unpack[BlurOptions],
    ) -> VideoOutcome:
        """Anonymize every face in every frame of a video (its audio kept): upload, wait (calling `progress`
        with (frames_done, frames_total) as it goes), then download the MP4 (H.264) to `output`, or into the
        outcome's `video` bytes when no output is given. Options as for blur (BlurOptions; with plates=True,
        licence plates are tracked and hidden too, and `video_faces` lists them per frame), plus `crf` (x264
        quality 0..51, lower is better and larger). `timeout`: seconds to wait for the task (default 3600)."""
        task_id = self.submit_video(video, filename, crf=crf, **options)
        task = self.wait_video(task_id, timeout, progress)
        if output is None:
            data = self.download_video(task_id)
            return VideoOutcome(task, video=data if isinstance(data, bytes) else None)
        target = Path(output)
        self.download_video(task_id, target)
        return VideoOutcome(task, path=target)

    # --- recognition -----------------------------------------------------------------------------------------

    def embed(
        self,
        image: ImageInput,
        *,
        filename: str | None = None,
        timeout: float | None = None,
        **options: Unpack[DetectOptions],
    ) -> TaskOutcome:
        """Find the faces and each one's embedding: outcome.faces["face_1"]["embedding"] (L2-normalized)."""
        return self.wait(self.submit("embed", image, filename, **_checked(options, DetectOptions)), timeout)

    def verify(
        self,
        image1: ImageInput,
        image2: ImageInput,
        *,
        face: FaceChoice | None = None,
        preset: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Is the main face of image1 (face="largest": its largest) among the faces of image2? {"same_person":
        bool, "similarity": ..., "threshold": ... (of the best match), "face1": {...}, "face2": {...} (the
        best-matching face), "faces": {"face_1": {..., "similarity": ..., "same_person": ...}, ...} (every face of
        image2), "matched_face": "face_N" or None}. No face in either image: TaskFailed."""
        files = [_image_bytes(image1, None), _image_bytes(image2, None)]
        options = {"face": face, "preset": preset}
        (task_id,) = self._post_files("verify_faces", files, options, fields=("file", "file2"))
        return self.wait(task_id, timeout).task["result"]

    def enroll(
        self,
        gallery: str,
        subject: str,
        image: ImageInput | Sequence[ImageInput],
        *,
        face: FaceChoice | None = None,
        preset: str | None = None,
        filename: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Add the image's main face (or each image's, given several photos of the person) to `subject` in
        `gallery` (both made on first use), all in one step: {"face_id": ..., "gallery": ..., "subject": ...,
        "facial_area": [...], ..., "faces": [{"file": ..., "face_id": ..., "quality": {...}}, ...]}.
        face="largest" takes each image's largest face instead of its main one. An image without a face, without
        one that stands out, or whose face fails the quality gate: TaskFailed naming the file, nothing enrolled."""
        path = f"galleries/{_quote(gallery)}/subjects/{_quote(subject)}/faces"
        if isinstance(image, bytes | bytearray | str | Path):
            files = [_image_bytes(image, filename)]
        else:
            files = [_image_bytes(one, None) for one in image]
            files = [(data, f"image {n}" if name == "image" else name) for n, (data, name) in enumerate(files, 1)]
        (task_id,) = self._post_files(path, files, {"face": face, "preset": preset})
        return self.wait(task_id, timeout).task["result"]

    def identify(
        self,
        gallery: str,
        image: ImageInput,
        *,
        k: int | None = None,
        timeout: float | None = None,
        **options: Unpack[DetectOptions],
    ) -> TaskOutcome:
        """Who, of `gallery`'s people, is each face? Every face gets "matches" (the `k` most similar subjects,
        3 by default) and "subject" (the best match at or above the similarity `threshold`, else None)."""
        (task_id,) = self.submit_identify(gallery, [image], k=k, **options)
        return self.wait(task_id, timeout)

    def galleries(self) -> dict[str, Any]:
        """Your galleries: {"galleries": {name: {"subjects": n, ...}}}."""
        return self._request("GET", "galleries")

    def subjects(self, gallery: str) -> dict[str, Any]:
        """The people of a gallery: {"gallery": name, "subjects": {subject: faces enrolled}}."""
        return self._request("GET", f"galleries/{_quote(gallery)}/subjects")

    def subject(self, gallery: str, subject: str) -> dict[str, Any]:
        """One person's enrolled faces (never their vectors): {"faces": [{"face_id": ..., ...}], ...}."""
        return self._request("GET", f"galleries/{_quote(gallery)}/subjects/{_quote(subject)}")

    def delete_gallery(self, gallery: str) -> dict[str, Any]:
        """Delete a gallery and every face vector in it, at once."""
        return self._request("DELETE", f"galleries/{_quote(gallery)}")

    def delete_subject(self, gallery: str, subject: str) -> dict[str, Any]:
        """Delete a person and all their face vectors: {"deleted": {..., "faces": n}}."""
        return self._request("DELETE", f"galleries/{_quote(gallery)}/subjects/{_quote(subject)}")

    def delete_face(self, gallery: str, subject: str, face_id: str) -> dict[str, Any]:
        """Delete one enrolled face."""
        return self._request(
            "DELETE", f"galleries/{_quote(gallery)}/subjects/{_quote(subject)}/faces/{_quote(face_id)}"
        )

    # --- HTTP ------------------------------------------------------------------------------------------------

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "faceblur-client"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
        retry_busy: bool = False,
        content_length: int | None = None,
    ) -> dict[str, Any]:
        url = f"{self.url}/{path}"
        give_up_at = time.monotonic() + self.timeout
        headers = self._headers(content_type)
        if content_length is not None:  # a streamed body: sent as it is read, not chunked
            headers["Content-Length"] = str(content_length)
        while True:
            request = urllib.request.Request(url, data=body, headers=headers, method=method)  # type: ignore[arg-type]
            with self._gateway_errors():
                try:
                    with urllib.request.urlopen(request, timeout=timeout or self.request_timeout) as response:
                        return json.load(response)
                except urllib.error.HTTPError as error:
                    pause = _retry_after(error.headers.get("Retry-After"))
                    if retry_busy and error.code in RETRYABLE_STATUSES and time.monotonic() + pause < give_up_at:
                        error.close()
                        time.sleep(pause)
                        continue
                    raise
                except json.JSONDecodeError:
                    raise GatewayUnreachable(f"{url} did not answer with JSON: is this a FaceBlur gateway?") from None

    def _download(self, path: str, output: str | Path | IO[bytes] | None) -> bytes | Path | None:
        """GET a file (not JSON): streamed to `output` (a path, returned, or a file object), else its bytes."""
        url = f"{self.url}/{path}"
        headers = self._headers(None) | {"Accept": "*/*"}
        request = urllib.request.Request(url, headers=headers, method="GET")
        with self._gateway_errors(), urllib.request.urlopen(request, timeout=self.request_timeout) as response:
            if output is None:
                return response.read()
            if isinstance(output, str | Path):
                target = Path(output)
                partial = target.with_name(f".{target.name}.part")
                try:
                    with partial.open("wb") as sink:
                        shutil.copyfileobj(response, sink, DOWNLOAD_CHUNK_BYTES)
                    partial.replace(target)
                finally:
                    partial.unlink(missing_ok=True)
                return target
            shutil.copyfileobj(response, output, DOWNLOAD_CHUNK_BYTES)
            return None

    @contextlib.contextmanager
    def _gateway_errors(self) -> Iterator[None]:
        """The gateway's refusals (HTTP errors) as ApiError; a gateway that cannot be reached or does not answer
        as GatewayUnreachable."""
        try:
            yield
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, _error_detail(error)) from None
        except urllib.error.URLError as error:
            raise GatewayUnreachable(f"cannot reach the FaceBlur gateway at {self.url}: {error.reason}") from None
        except (TimeoutError, ConnectionError) as error:
            raise GatewayUnreachable(f"no answer from the FaceBlur gateway at {self.url}: {error}") from None


class _StreamedForm:
    """A multipart/form-data body with one file in the field `file`, read from disk in chunks as it is sent
    (bytes are sent as they are). Iterable again and again, so a busy gateway's 429/503 can be retried."""

    def __init__(self, fields: dict[str, object], video: VideoInput, filename: str | None) -> None:
        if isinstance(video, bytes | bytearray):
            self._data: bytes | None = bytes(video)
            self._path: Path | None = None
            name, size = filename or "video.mp4", len(video)
        else:
            self._data, self._path = None, Path(video)
            name, size = filename or self._path.name, self._path.stat().st_size
        boundary = new_boundary()
        self._head = field_parts(fields, boundary) + file_header(boundary, name)
        self._tail = b"\r\n" + closing(boundary)
        self.length = len(self._head) + size + len(self._tail)
        self.content_type = f"multipart/form-data; boundary={boundary}"

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        if self._data is not None:
            yield self._data
        else:
            assert self._path is not None
            with self._path.open("rb") as source:
                while chunk := source.read(DOWNLOAD_CHUNK_BYTES):
                    yield chunk
        yield self._tail


def _progress_of(task: dict[str, Any], last: tuple[int, int] | None) -> tuple[int, int] | None:
    """(frames_done, frames_total) from a task: its progress while it runs, all frames once it succeeded."""
    progress = task.get("progress")
    if isinstance(progress, dict) and "frames_total" in progress:
        return int(progress.get("frames_done", 0)), int(progress["frames_total"])
    if task.get("status") == "SUCCESS":
        frames = (task.get("result") or {}).get("frames")
        if isinstance(frames, int):
            return frames, frames
        if last is not None:
            return last[1], last[1]
    return None


def _quote(name: str) -> str:
    """A gallery, subject or id as one URL path segment (spaces, '/' and '%' escaped)."""
    return urllib.parse.quote(name, safe="")


def _image_bytes(image: ImageInput, filename: str | None) -> tuple[bytes, str]:
    if isinstance(image, bytes | bytearray):
        return bytes(image), filename or "image"
    path = Path(image)
    return path.read_bytes(), filename or path.name


def _error_detail(error: urllib.error.HTTPError) -> str:
    raw = error.read()
    error.close()
    try:
        detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
    except (ValueError, AttributeError):
        return raw.decode(errors="replace").strip() or error.reason
    if isinstance(detail, list):  # FastAPI's validation errors: [{"loc": [...], "msg": ...}, ...]
        return "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', [])[1:]) or 'request'}: {item.get('msg', item)}"
            for item in detail
        )
    return str(detail)


def _retry_after(header: str | None) -> float:
    """Seconds to pause as a Retry-After header says (seconds or an HTTP date); 1 s when absent or odd."""
    if not header:
        return RETRY_PAUSE_SECONDS
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError):
        return RETRY_PAUSE_SECONDS
