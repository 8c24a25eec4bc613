"""The intake every route uses: form fields and their ranges, reading and checking the uploaded images, creating
tasks (``create_task``, the one place a task is made), and the 202 answer (or, with ?wait=, the finished tasks).
Also the rules for reading a task back: who may see it, and the 404 that names the retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile, status
from starlette.datastructures import UploadFile as StarletteUploadFile

from faceblur_proto.vocabulary import (
    BOX_SCALE_RANGE,
    DEFAULT_BOX_SCALE,
    MAX_FACES_RANGE,
    MAX_SIZE_RANGE,
    MIN_FACE_SIZE_RANGE,
    PLATE_THRESHOLD_RANGE,
    THRESHOLD_RANGE,
    Range,
)
from gateway_service.api.deps import Caller, CurrentCaller, GatewayServices, Services
from gateway_service.api.schemas import ErrorBody, TaskAccepted, TaskResult
from gateway_service.core.config import Settings
from gateway_service.fetch import FetchFailed, fetch_image
from gateway_service.metrics import TASKS_SUBMITTED
from gateway_service.tasks.inputs import pack_images
from gateway_service.tasks.models import JobOptions, Mask, Mode, PresetName, TaskKind, TaskRecord, TaskStatus
from gateway_service.tasks.render import task_json
from gateway_service.uploads import sniff_image_format, too_large_message, unsupported_type_message
from gateway_service.webhooks.policy import CallbackRefused, check_callback_url

UPLOAD_FIELD = "file"
# Past this size the JSON body is built in a worker thread (base64 of a large image takes a while).
_RENDER_IN_THREAD_BYTES = 64 * 1024

UPLOAD_ANSWERS = {
    200: {
        "model": TaskResult,
        "description": "With ?wait=S, when the task finished in time: its result, as GET /task_result returns it "
        "(several images: {task_ids, tasks: [...]})",
    },
    400: {
        "model": ErrorBody,
        "description": "No image, an empty one, more than GATEWAY_MAX_FILES_PER_REQUEST, a url that could not be "
        "fetched, or a refused callback_url",
    },
    413: {"model": ErrorBody, "description": "The upload is over GATEWAY_MAX_UPLOAD_BYTES"},
    415: {"model": ErrorBody, "description": "Not a JPEG, PNG, GIF, BMP, WebP or TIFF image"},
    422: {"description": "An option is out of range"},
    503: {"model": ErrorBody, "description": "Redis is unreachable"},
}


def ranged_form(valid: Range, description: str) -> Any:
    """A form field checked against the vocabulary's range (HTTP 422 naming the field and its bounds)."""
    return Form(ge=valid.low, le=valid.high, description=description)


ImageFiles = Annotated[
    list[UploadFile] | None,
    File(
        description="The image: JPEG, PNG, GIF, BMP, WebP or TIFF. Repeat the field for several images "
        "(GATEWAY_MAX_FILES_PER_REQUEST): each becomes its own task."
    ),
]
ImageUrls = Annotated[
    list[str] | None,
    Form(description="Instead of (or beside) file: an http(s) URL of an image for the gateway to fetch; repeatable."),
]


MaxSize = Annotated[
    int | None,
    ranged_form(MAX_SIZE_RANGE, "The long side, in pixels, the detector may see (0: the preset's)."),
]
MinFaceSize = Annotated[
    int | None,
    ranged_form(
        MIN_FACE_SIZE_RANGE,
        "Drop faces smaller than this many pixels (box's long side); blur leaves them as they are.",
    ),
]
MaxFaces = Annotated[int | None, ranged_form(MAX_FACES_RANGE, "Keep only the largest N faces.")]
Wait = Annotated[
    float,
    Query(
        ge=0,
        description="Hold the request until the task finishes or this many seconds pass "
        "(capped at GATEWAY_RESULT_WAIT_MAX_SECONDS).",
    ),
]
Threshold = Annotated[
    float | None, ranged_form(THRESHOLD_RANGE, "Drop faces below this confidence (default: the preset's).")
]
ModeOption = Annotated[Mode | None, Form(description="blur, pixelate or solid (default: blur).")]
MaskOption = Annotated[Mask | None, Form(description="ellipse or box (default: ellipse).")]
BoxScaleOption = Annotated[
    float | None,
    ranged_form(
        BOX_SCALE_RANGE, f"Grow each face box by this factor before anonymizing (default: {DEFAULT_BOX_SCALE})."
    ),
]
PresetOption = Annotated[
    PresetName | None, Form(description="fast, balanced or max_recall (default: the face service's).")
]
CallbackUrl = Annotated[
    str | None,
    Form(
        description="When the task finishes, POST its result JSON (as GET /task_result returns it) here, signed "
        "with X-FaceBlur-Signature: sha256=HMAC-SHA256(GATEWAY_WEBHOOK_SECRET, body)."
    ),
]


PlatesOption = Annotated[
    bool,
    Form(
        description="Also find licence plates (result: plates, {plate_1: {plate_area: [x1, y1, x2, y2], confidence}}); "
        "blur: and hide them, each by its padded box in the same mode."
    ),
]
PlateThreshold = Annotated[
    float | None,
    ranged_form(PLATE_THRESHOLD_RANGE, "With plates=true: drop plates below this confidence (default: the service's)."),
]


def plate_options(plates: PlatesOption = False, plate_threshold: PlateThreshold = None) -> JobOptions:
    """The licence-plate options of /detect_faces, /blur_faces and /blur_video (422 naming the field when bad)."""
    return JobOptions(plates=plates, plate_threshold=plate_threshold)


PlateFields = Annotated[JobOptions, Depends(plate_options)]


def anonymize_options(
    plates: PlateFields, mode: ModeOption = None, mask: MaskOption = None, box_scale: BoxScaleOption = None
) -> JobOptions:
    """How /blur_faces and /blur_video hide what they find: mode, mask, box scale, and the licence-plate options."""
    return replace(plates, mode=mode, mask=mask, box_scale=box_scale)


AnonymizeFields = Annotated[JobOptions, Depends(anonymize_options)]


@dataclass(frozen=True)
class Submission:
    """What every image endpoint takes: who asks, the images, their detection options, a webhook and ?wait."""

    request: Request
    services: GatewayServices
    caller: Caller
    files: list[UploadFile]
    urls: list[str]
    detection: JobOptions
    callback_url: str | None
    wait: float


def size_controls(
    max_size: MaxSize = None, min_face_size: MinFaceSize = None, max_faces: MaxFaces = None
) -> JobOptions:
    return JobOptions(max_size=max_size, min_face_size=min_face_size, max_faces=max_faces)


def submission(
    request: Request,
    services: Services,
    caller: CurrentCaller,
    sizes: Annotated[JobOptions, Depends(size_controls)],
    file: ImageFiles = None,
    url: ImageUrls = None,
    threshold: Threshold = None,
    preset: PresetOption = None,
    callback_url: CallbackUrl = None,
    wait: Wait = 0,
) -> Submission:
    detection = replace(sizes, threshold=threshold, preset=preset)
    return Submission(request, services, caller, file or [], url or [], detection, callback_url, wait)


CommonFields = Annotated[Submission, Depends(submission)]


def submit_route(on: APIRouter, path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An image endpoint: multipart upload in, HTTP 202 with a task id out."""
    return on.post(
        path,
        status_code=status.HTTP_202_ACCEPTED,
        response_model=TaskAccepted,
        responses=UPLOAD_ANSWERS,
        summary=summary,
    )


async def rendered(record: TaskRecord) -> bytes:
    """The task's JSON as GET /task_result answers it (a large image is encoded in a worker thread)."""
    if record.result_image is not None and len(record.result_image) > _RENDER_IN_THREAD_BYTES:
        return await asyncio.to_thread(task_json, record)
    return task_json(record)


async def read_images(fields: Submission, extra_files: Sequence[UploadFile] = ()) -> list[tuple[bytes, str]]:
    """Every image of the request (``file`` parts, then ``url``s, then ``extra_files``), each checked, with its
    format; the first bad one refuses the request with a 4xx naming it. Also checks the callback URL."""
    settings = fields.services.settings
    _require_form(fields.request, fields)
    files = await _image_uploads(fields.request, fields)
    count = len(files) + len(fields.urls) + len(extra_files)
    if count == 0:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "missing the multipart form field 'file' with the image")
    if count > settings.max_files_per_request:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"{count} images in one request; the limit is {settings.max_files_per_request} "
            "(GATEWAY_MAX_FILES_PER_REQUEST)",
        )
    if fields.callback_url:
        await check_callback(settings, fields.callback_url)
    images = [await _read_upload(upload, settings.max_upload_bytes) for upload in files]
    images += [await _fetched(url, settings) for url in fields.urls]
    images += [await _read_upload(upload, settings.max_upload_bytes) for upload in extra_files]
    return images


async def queue_each_image(fields: Submission, kind: TaskKind, options: JobOptions) -> Response:
    """Check every image before queuing any (a bad one refuses the whole request, naming it), then one task each."""
    images = await read_images(fields)
    return await queue_tasks(fields, kind, options, [[image] for image in images])


async def queue_tasks(
    fields: Submission, kind: TaskKind, options: JobOptions, inputs: list[list[tuple[bytes, str]]]
) -> Response:
    """One task per entry of ``inputs`` (its images); 202 with the id(s), or with ?wait= the finished tasks."""
    task_ids = []
    for images in inputs:
        blob = pack_images([image for image, _ in images])
        task_id = await create_task(
            fields.services, fields.caller, kind, options, fields.callback_url, images[0][1], blob
        )
        task_ids.append(task_id)
    return await accepted_response(fields.services, task_ids, fields.wait)


def new_task_id() -> str:
    return str(uuid.uuid4())


async def create_task(
    services: GatewayServices,
    caller: Caller,
    kind: TaskKind,
    options: JobOptions,
    callback_url: str | None,
    image_format: str,
    image: bytes,
    *,
    task_id: str | None = None,
    state: Mapping[str, str | int] | None = None,
) -> str:
    """Every route's one way to create a task: a new PENDING record with its image (empty for a video, whose
    input is in the media directory) and its job, in one Redis step (``TaskStore.create``, which ``state``
    overrides fields of), counted by kind. Returns its id (``task_id``, if the route chose it first)."""
    record = TaskRecord(
        task_id=task_id or new_task_id(),
        kind=kind,
        status=TaskStatus.PENDING,
        options=options,
        created_at=time.time(),
        image_format=image_format,
        owner=caller.owner,
        callback_url=callback_url or "",
    )
    await services.store.create(record, image, state=state)
    TASKS_SUBMITTED.labels(kind=kind.value).inc()
    return record.task_id


async def accepted_response(services: GatewayServices, task_ids: list[str], wait: float) -> Response:
    """202 with the id(s) of tasks just queued; with ``wait`` > 0, the finished tasks if they finish in time."""
    if wait > 0:
        finished = await _finished_within(services, task_ids, min(wait, services.settings.result_wait_max_seconds))
        if finished is not None:
            return Response(content=finished, media_type="application/json")
    accepted = TaskAccepted(task_id=task_ids[0]) if len(task_ids) == 1 else TaskAccepted(task_ids=task_ids)
    return Response(
        accepted.model_dump_json(exclude_none=True), status.HTTP_202_ACCEPTED, media_type="application/json"
    )


async def _finished_within(services: GatewayServices, task_ids: list[str], seconds: float) -> bytes | None:
    """The tasks' JSON if every one is final within ``seconds`` (one task: its body; several: {task_ids, tasks})."""
    deadline = time.monotonic() + seconds
    records = []
    for task_id in task_ids:
        record = await wait_until_final(services, task_id, max(deadline - time.monotonic(), 0.0))
        if record is None or not record.status.is_final:
            return None
        records.append(record)
    bodies = [await rendered(record) for record in records]
    if len(bodies) == 1:
        return bodies[0]
    return b'{"task_ids":' + json.dumps(task_ids).encode() + b',"tasks":[' + b",".join(bodies) + b"]}"


def _require_form(request: Request, fields: Submission) -> None:
    """Uploads come as multipart/form-data; a request with only ``url`` fields may also be a urlencoded form."""
    content_type = request.headers.get("content-type", "")
    url_form = fields.urls and content_type.startswith("application/x-www-form-urlencoded")
    if not content_type.startswith("multipart/form-data") and not url_form:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "send the image as multipart/form-data in a field named 'file' "
            f"(the request's Content-Type is {content_type or 'missing'!r})",
        )


async def _image_uploads(request: Request, fields: Submission) -> list[UploadFile]:
    """The uploads in the field 'file'; an upload under any other name is a mistake worth naming."""
    form = await request.form()  # already parsed for the parameters; Starlette caches it
    misplaced = [
        name for name, value in form.multi_items() if isinstance(value, StarletteUploadFile) and name != UPLOAD_FIELD
    ]
    if misplaced and not fields.files:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the image must be in the field 'file', not {misplaced[0]!r}")
    return fields.files


async def _read_upload(upload: UploadFile, limit: int) -> tuple[bytes, str]:
    """The upload's bytes and format, or the 4xx that names the file and what is wrong with it."""
    name = upload.filename or ""
    if upload.size is not None and upload.size > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"{too_large_message(upload.size, limit)} (file {name!r})"
        )
    image = await upload.read()
    if not image:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the uploaded file '{name}' is empty (0 bytes)")
    return image, _sniffed_format(image, name)


async def _fetched(url: str, settings: Settings) -> tuple[bytes, str]:
    try:
        image = await fetch_image(url, settings)
    except FetchFailed as failed:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"could not fetch url: {failed}") from None
    if not image:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"url {url!r} returned no bytes")
    return image, _sniffed_format(image, url)


def _sniffed_format(image: bytes, name: str) -> str:
    image_format = sniff_image_format(image[:16])
    if image_format is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"{unsupported_type_message(image[:16])} (file {name!r})"
        )
    return image_format


async def wait_until_final(services: GatewayServices, task_id: str, seconds: float) -> TaskRecord | None:
    deadline = time.monotonic() + seconds
    poll = services.settings.result_poll_seconds
    async with services.notifier.watch(task_id) as finished:
        while True:
            finished.clear()  # before reading, so a notification after the read is not missed
            current = await services.store.get_status(task_id)
            remaining = deadline - time.monotonic()
            if current is None or current.is_final or remaining <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(finished.wait(), min(remaining, poll))
    return await services.store.get(task_id)


async def check_callback(settings: Settings, url: str) -> None:
    if not settings.webhook_secret:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "webhooks are off on this gateway (it has no GATEWAY_WEBHOOK_SECRET)"
        )
    try:
        await check_callback_url(url, settings.webhook_allowed_hosts, settings.webhook_allow_private)
    except CallbackRefused as refused:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(refused)) from None


def visible_to(record: TaskRecord, caller: Caller) -> bool:
    return not record.owner or record.owner == caller.owner


def task_not_found(task_id: str, services: GatewayServices) -> HTTPException:
    hours = services.settings.task_ttl_seconds / 3600
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no task {task_id!r}: it never existed or expired (tasks are kept {hours:g} h, GATEWAY_TASK_TTL_SECONDS)",
    )
