"""Videos: ``POST /blur_video`` and the finished video and face tracks of a task.

An upload is copied to a local file (GATEWAY_SCRATCH_DIR on an S3 store; beside its place in a directory store),
never held in memory, and probed there before it is stored (``MediaStore.local_output``) and the task queued: a file
that is not a readable video, has no video stream, uses a codec that cannot be decoded or is over a limit gets its
4xx at once, naming the problem or the setting, and nothing is stored. A media store that does not answer is a 503
naming it (``main.py``). The results are served from the store (Range, HEAD), or by a redirect to it
(GATEWAY_MEDIA_REDIRECT).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Request, Response, UploadFile, status
from fastapi.responses import FileResponse, RedirectResponse

from faceblur_proto.image_formats import sniff_image_format
from faceblur_proto.media import TaskMedia
from faceblur_proto.media_store import MediaNotFound, StoredObject
from faceblur_proto.vocabulary import CRF_RANGE
from gateway_service.api.byte_ranges import stored_download
from gateway_service.api.deps import Caller, CurrentCaller, GatewayServices, Services
from gateway_service.api.intake import (
    AnonymizeFields,
    CallbackUrl,
    PresetOption,
    Threshold,
    Wait,
    accepted_response,
    check_callback,
    create_task,
    new_task_id,
    ranged_form,
    task_not_found,
    visible_to,
)
from gateway_service.api.schemas import ErrorBody, TaskAccepted
from gateway_service.core.config import Settings
from gateway_service.tasks.models import TaskKind, TaskStatus
from gateway_service.video.info import VideoInfo
from gateway_service.video.probe import VideoLimits, VideoRejected, probe_video
from gateway_service.video.storage import VideoMedia

router = APIRouter(tags=["video"])

UPLOAD_PATHS = ("/blur_video",)
_COPY_CHUNK_BYTES = 1024 * 1024
_EXTENSION = re.compile(r"^[a-z0-9]{1,5}$")
REDIRECT_SECONDS = 3600  # how long a presigned URL of a result answers (GATEWAY_MEDIA_REDIRECT)

_VIDEO_ERRORS = {
    200: {"description": "With ?wait=S, when the task finished in time: its result, as GET /task_result returns it"},
    400: {"model": ErrorBody, "description": "No file, not a readable video, no video stream, or a refused callback"},
    413: {"model": ErrorBody, "description": "Over GATEWAY_VIDEO_MAX_BYTES, _DURATION_SECONDS, _RESOLUTION or _FRAMES"},
    415: {"model": ErrorBody, "description": "A video codec this service cannot decode (named)"},
    422: {"description": "An option is out of range"},
    503: {"model": ErrorBody, "description": "Redis or the media store (named) is unreachable"},
}


@router.post(
    "/blur_video",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskAccepted,
    responses=_VIDEO_ERRORS,
    summary="Anonymize every face in every frame of a video (audio kept)",
)
async def blur_video(
    services: Services,
    caller: CurrentCaller,
    anonymize: AnonymizeFields,
    file: Annotated[UploadFile | None, File(description="The video: MP4, MOV, MKV, WebM or AVI.")] = None,
    threshold: Threshold = None,
    preset: PresetOption = None,
    crf: Annotated[
        int | None,
        ranged_form(CRF_RANGE, "x264 quality of the output: lower is better and larger (GATEWAY_VIDEO_CRF)."),
    ] = None,
    callback_url: CallbackUrl = None,
    wait: Wait = 0,
) -> Response:
    """Queue a video; the answer is a task id at once (HTTP 202). Its result names the anonymized MP4."""
    settings = services.settings
    if file is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "missing the multipart form field 'file' with the video")
    if callback_url:
        await check_callback(settings, callback_url)
    task_id = new_task_id()
    extension = _extension(file.filename or "")
    try:
        size, info = await asyncio.to_thread(_store_upload, file, services.media, task_id, extension, settings)
    except VideoRejected as rejected:
        raise HTTPException(rejected.status_code, str(rejected)) from None
    options = replace(anonymize, threshold=threshold, preset=preset, crf=crf)
    # The input is in the media store: the task's Redis image is empty, its size and frames are shown.
    state = {"image_bytes": str(size), "frames_done": "0", "frames_total": str(info.frame_count)}
    await create_task(
        services, caller, TaskKind.BLUR_VIDEO, options, callback_url, extension, b"", task_id=task_id, state=state
    )
    return await accepted_response(services, [task_id], wait)


_RESULT_FILE_ERRORS = {
    404: {"model": ErrorBody, "description": "No such task, not a video task, or not finished with SUCCESS"},
    503: {"model": ErrorBody, "description": "The media store (named) is unreachable"},
}


_RANGE_ANSWERS = {
    206: {"description": "The requested byte range (HTTP Range; a range in a unit other than bytes is ignored)"},
    307: {"description": "With GATEWAY_MEDIA_REDIRECT: a presigned URL of the file in the store (Range works there)"},
    416: {"model": ErrorBody, "description": "A malformed byte range, or one that starts past the end of the file"},
}


def _result_file_route(which: str, summary: str, media_type: str, filename_suffix: str | None = None) -> None:
    """GET /task_result/{task_id}/<which> (documented) and HEAD (the GET's headers without the body)."""
    path = f"/task_result/{{task_id}}/{which}"

    async def download(task_id: str, request: Request, services: Services, caller: CurrentCaller) -> Response:
        stored = await _result_file(services, caller, task_id, which)
        filename = f"{task_id}{filename_suffix}" if filename_suffix else None
        inline = {"filename": filename, "content_disposition_type": "inline"} if filename else {}
        response = stored_download(request, services.media.store, stored, media_type=media_type, **inline)
        if services.settings.media_redirect and request.method == "GET":
            url = await asyncio.to_thread(
                services.media.store.presigned_url,
                stored.key,
                REDIRECT_SECONDS,
                content_type=media_type,
                filename=filename,
            )
            if url is not None:
                return RedirectResponse(url, status.HTTP_307_TEMPORARY_REDIRECT)
        return response

    name = f"task_{which}"
    router.head(path, include_in_schema=False, name=name)(download)
    router.get(
        path,
        response_class=FileResponse,
        responses={**_RESULT_FILE_ERRORS, **_RANGE_ANSWERS},
        summary=summary,
        name=name,
    )(download)


_result_file_route("video", "The anonymized video (MP4, H.264), with HTTP Range support", "video/mp4", ".mp4")
_result_file_route("faces", "The video's face tracks, one JSON object per frame (JSON Lines)", "application/jsonl")


async def _result_file(services: GatewayServices, caller: Caller, task_id: str, which: str) -> StoredObject:
    """The finished video task's result file in the media store, under the same access rules as the task."""
    record = await services.store.get(task_id)
    if record is None or not visible_to(record, caller):
        raise task_not_found(task_id, services)
    if record.kind is not TaskKind.BLUR_VIDEO:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id!r} is a {record.kind.value} task, not a video")
    if record.status is not TaskStatus.SUCCESS:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"task {task_id!r} is {record.status.value}: its {which} file exists once it is SUCCESS",
        )
    media = TaskMedia(task_id)
    try:
        return await asyncio.to_thread(services.media.store.stat, media.video if which == "video" else media.faces)
    except MediaNotFound:
        gone = f"task {task_id!r}: its {which} file is no longer stored"
        raise HTTPException(status.HTTP_404_NOT_FOUND, gone) from None


def _store_upload(
    upload: UploadFile, media: VideoMedia, task_id: str, extension: str, settings: Settings
) -> tuple[int, VideoInfo]:
    """The (already spooled) upload copied to a local file, checked and probed there, then stored with its probe;
    its size and probe. Nothing stays stored when it is refused (VideoRejected) or the store fails."""
    files, store = TaskMedia(task_id), media.store
    with store.local_output(files.input(extension), media.scratch()) as path:
        size = _save_upload(upload, path, settings.video_max_bytes)
        if size == 0:
            raise VideoRejected(f"the uploaded file {upload.filename or ''!r} is empty (0 bytes)", 400)
        _refuse_images(path)
        info = probe_video(path, VideoLimits.from_settings(settings))
    try:
        store.put_json(files.probe, info.to_json())
    except BaseException:
        media.clean_up(media.remove_task, task_id)  # the input, stored just before
        raise
    return size, info


def _refuse_images(path: Path) -> None:
    """FFmpeg reads a photo as a one-frame video; a user who sent one means /blur_faces."""
    with path.open("rb") as file:
        image_format = sniff_image_format(file.read(16))
    if image_format is not None:
        raise VideoRejected(f"the file is a {image_format.upper()} image, not a video: send it to /blur_faces", 400)


def _extension(filename: str) -> str:
    suffix = Path(filename).suffix.lower().lstrip(".")
    return suffix if _EXTENSION.match(suffix) else "video"


def _save_upload(upload: UploadFile, path: Path, limit: int) -> int:
    """Copy the (already spooled) upload to ``path``; its size. Over ``limit``: 413 naming it."""
    size = 0
    upload.file.seek(0)
    with path.open("wb") as target:
        while chunk := upload.file.read(_COPY_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise VideoRejected(f"video is over {limit / 2**20:.0f} MiB (GATEWAY_VIDEO_MAX_BYTES={limit})", 413)
            target.write(chunk)
    return size
