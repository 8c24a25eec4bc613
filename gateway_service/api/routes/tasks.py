"""Submitting images and reading task results: the FaceBlur-compatible part of the API."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile, status
from starlette.datastructures import UploadFile as StarletteUploadFile

from faceblur_proto.vocabulary import BOX_SCALE_RANGE, DEFAULT_BOX_SCALE, THRESHOLD_RANGE
from gateway_service.api.deps import Caller, CurrentCaller, GatewayServices, Services
from gateway_service.api.schemas import ErrorBody, TaskAccepted, TaskResult
from gateway_service.core.config import Settings
from gateway_service.metrics import TASKS_SUBMITTED
from gateway_service.tasks.models import JobKind, JobOptions, Mask, Mode, PresetName, TaskRecord, TaskStatus
from gateway_service.tasks.render import task_json
from gateway_service.uploads import sniff_image_format, too_large_message, unsupported_type_message
from gateway_service.webhooks.policy import CallbackRefused, check_callback_url

router = APIRouter(tags=["tasks"])

UPLOAD_FIELD = "file"
# Past this size the JSON body is built in a worker thread (base64 of a large image takes a while).
_RENDER_IN_THREAD_BYTES = 64 * 1024

_UPLOAD_ERRORS = {
    400: {"model": ErrorBody, "description": "No image, an empty one, or more than one; or a refused callback_url"},
    413: {"model": ErrorBody, "description": "The upload is over GATEWAY_MAX_UPLOAD_BYTES"},
    415: {"model": ErrorBody, "description": "Not a JPEG, PNG, GIF, BMP, WebP or TIFF image"},
    422: {"description": "An option is out of range"},
    503: {"model": ErrorBody, "description": "Redis is unreachable"},
}

ImageFile = Annotated[UploadFile | None, File(description="The image: JPEG, PNG, GIF, BMP, WebP or TIFF.")]
Threshold = Annotated[
    float | None,
    Form(
        ge=THRESHOLD_RANGE.low,
        le=THRESHOLD_RANGE.high,
        description="Drop faces below this confidence (default: the preset's).",
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


@dataclass(frozen=True)
class Submission:
    """The form fields every image endpoint takes."""

    file: UploadFile | None
    threshold: float | None
    preset: PresetName | None
    callback_url: str | None


def submission(
    file: ImageFile = None, threshold: Threshold = None, preset: PresetOption = None, callback_url: CallbackUrl = None
) -> Submission:
    return Submission(file, threshold, preset, callback_url)


CommonFields = Annotated[Submission, Depends(submission)]


def _submit_route(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An image endpoint: multipart upload in, HTTP 202 with a task id out."""
    return router.post(
        path,
        status_code=status.HTTP_202_ACCEPTED,
        response_model=TaskAccepted,
        responses=_UPLOAD_ERRORS,
        summary=summary,
    )


@_submit_route("/detect_faces", "Find the faces in an image")
async def detect_faces(
    request: Request,
    services: Services,
    caller: CurrentCaller,
    fields: CommonFields,
    draw: Annotated[
        bool, Form(description="Also return the image with the boxes and landmarks drawn, as drawn_image (JPEG).")
    ] = False,
) -> TaskAccepted:
    """Queue face detection; the answer is a task id to read the result with, at once (HTTP 202)."""
    options = JobOptions(threshold=fields.threshold, preset=fields.preset, draw=draw)
    return await _accept(request, services, caller, fields, JobKind.DETECT, options)


@_submit_route("/blur_faces", "Anonymize the faces in an image")
async def blur_faces(
    request: Request,
    services: Services,
    caller: CurrentCaller,
    fields: CommonFields,
    mode: Annotated[Mode | None, Form(description="blur, pixelate or solid (default: blur).")] = None,
    mask: Annotated[Mask | None, Form(description="ellipse or box (default: ellipse).")] = None,
    box_scale: Annotated[
        float | None,
        Form(
            ge=BOX_SCALE_RANGE.low,
            le=BOX_SCALE_RANGE.high,
            description=f"Grow each face box by this factor before anonymizing (default: {DEFAULT_BOX_SCALE}).",
        ),
    ] = None,
) -> TaskAccepted:
    """Queue anonymization; the answer is a task id to read the result with, at once (HTTP 202)."""
    options = JobOptions(threshold=fields.threshold, preset=fields.preset, mode=mode, mask=mask, box_scale=box_scale)
    return await _accept(request, services, caller, fields, JobKind.BLUR, options)


@router.get(
    "/task_result/{task_id}",
    response_model=TaskResult,
    response_model_exclude_none=True,
    responses={404: {"model": ErrorBody, "description": "No such task (or it expired)"}},
    summary="A task's status and, once done, its result",
)
async def task_result(
    task_id: str,
    services: Services,
    caller: CurrentCaller,
    wait: Annotated[
        float,
        Query(
            ge=0,
            description="Hold the request until the task finishes or this many seconds pass "
            "(capped at GATEWAY_RESULT_WAIT_MAX_SECONDS).",
        ),
    ] = 0,
) -> Response:
    record = await services.store.get(task_id)
    if record is None or not _visible_to(record, caller):
        raise _not_found(task_id, services)
    if wait > 0 and not record.status.is_final:
        record = await _wait_until_final(services, task_id, min(wait, services.settings.result_wait_max_seconds))
        if record is None:
            raise _not_found(task_id, services)
    if record.result_image is not None and len(record.result_image) > _RENDER_IN_THREAD_BYTES:
        body = await asyncio.to_thread(task_json, record)
    else:
        body = task_json(record)
    return Response(content=body, media_type="application/json")


async def _accept(
    request: Request,
    services: Services,
    caller: Caller,
    fields: Submission,
    kind: JobKind,
    options: JobOptions,
) -> TaskAccepted:
    limit = services.settings.max_upload_bytes
    callback_url = fields.callback_url
    upload = await _the_one_upload(request, fields.file)
    if callback_url:
        await _check_callback(services.settings, callback_url)
    size = upload.size
    if size is not None and size > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large_message(size, limit))
    image = await upload.read()
    if not image:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"the uploaded file '{upload.filename or ''}' is empty (0 bytes)"
        )
    if len(image) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large_message(len(image), limit))
    image_format = sniff_image_format(image[:16])
    if image_format is None:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, unsupported_type_message(image[:16]))

    record = TaskRecord(
        task_id=str(uuid.uuid4()),
        kind=kind,
        status=TaskStatus.PENDING,
        options=options,
        created_at=time.time(),
        image_format=image_format,
        owner=caller.owner,
        callback_url=callback_url or "",
    )
    await services.store.create(record, image)
    TASKS_SUBMITTED.labels(kind=kind.value).inc()
    return TaskAccepted(task_id=record.task_id)


async def _the_one_upload(request: Request, file: UploadFile | None) -> UploadFile:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "send the image as multipart/form-data in a field named 'file' "
            f"(the request's Content-Type is {content_type or 'missing'!r})",
        )
    form = await request.form()  # already parsed for the parameters; Starlette caches it
    uploads = [(name, value) for name, value in form.multi_items() if isinstance(value, StarletteUploadFile)]
    if len(uploads) > 1:
        names = ", ".join(repr(name) for name, _ in uploads)
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"send exactly one image per request; got {len(uploads)} files ({names})"
        )
    if file is None:
        if uploads:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"the image must be in the field 'file', not {uploads[0][0]!r}"
            )
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "missing the multipart form field 'file' with the image")
    return file


async def _wait_until_final(services: GatewayServices, task_id: str, seconds: float) -> TaskRecord | None:
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


async def _check_callback(settings: Settings, url: str) -> None:
    if not settings.webhook_secret:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "webhooks are off on this gateway (it has no GATEWAY_WEBHOOK_SECRET)"
        )
    try:
        await check_callback_url(url, settings.webhook_allowed_hosts, settings.webhook_allow_private)
    except CallbackRefused as refused:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(refused)) from None


def _visible_to(record: TaskRecord, caller: Caller) -> bool:
    return not record.owner or record.owner == caller.owner


def _not_found(task_id: str, services: GatewayServices) -> HTTPException:
    hours = services.settings.task_ttl_seconds / 3600
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no task {task_id!r}: it never existed or expired (tasks are kept {hours:g} h, GATEWAY_TASK_TTL_SECONDS)",
    )
