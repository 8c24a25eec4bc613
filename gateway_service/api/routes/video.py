"""Videos: ``POST /blur_video`` and the finished video and face tracks of a task.

An upload is streamed to the shared media directory (faceblur_proto/media.py), never held in memory, and probed
there before the task is queued: a file that is not a readable video, has no video stream, uses a codec that
cannot be decoded or is over a limit gets its 4xx at once, naming the problem or the setting.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Request, Response, UploadFile, status
from fastapi.responses import FileResponse

from faceblur_proto.image_formats import sniff_image_format
from faceblur_proto.media import TaskMedia
from faceblur_proto.vocabulary import BOX_SCALE_RANGE, CRF_RANGE, DEFAULT_BOX_SCALE
from gateway_service.api.byte_ranges import file_download
from gateway_service.api.deps import Caller, CurrentCaller, GatewayServices, Services
from gateway_service.api.intake import (
    CallbackUrl,
    MaskOption,
    ModeOption,
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
from gateway_service.tasks.models import JobOptions, TaskKind, TaskStatus
from gateway_service.video.probe import VideoLimits, VideoRejected, probe_video

router = APIRouter(tags=["video"])

UPLOAD_PATHS = ("/blur_video",)
_COPY_CHUNK_BYTES = 1024 * 1024
_EXTENSION = re.compile(r"^[a-z0-9]{1,5}$")

_VIDEO_ERRORS = {
    200: {"description": "With ?wait=S, when the task finished in time: its result, as GET /task_result returns it"},
    400: {"model": ErrorBody, "description": "No file, not a readable video, no video stream, or a refused callback"},
    413: {"model": ErrorBody, "description": "Over GATEWAY_VIDEO_MAX_BYTES, _DURATION_SECONDS, _RESOLUTION or _FRAMES"},
    415: {"model": ErrorBody, "description": "A video codec this service cannot decode (named)"},
    422: {"description": "An option is out of range"},
    503: {"model": ErrorBody, "description": "Redis is unreachable"},
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
    file: Annotated[UploadFile | None, File(description="The video: MP4, MOV, MKV, WebM or AVI.")] = None,
    mode: ModeOption = None,
    mask: MaskOption = None,
    box_scale: Annotated[
        float | None,
        ranged_form(BOX_SCALE_RANGE, f"Grow each face box by this factor (default: {DEFAULT_BOX_SCALE})."),
    ] = None,
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
    files, media = TaskMedia(task_id), services.media
    extension = _extension(file.filename or "")
    input_path = media.path(files.input(extension))
    try:
        size = await asyncio.to_thread(_save_upload, file, input_path, settings.video_max_bytes)
        if size == 0:
            raise VideoRejected(f"the uploaded file {file.filename or ''!r} is empty (0 bytes)", 400)
        _refuse_images(input_path)
        info = await asyncio.to_thread(probe_video, input_path, VideoLimits.from_settings(settings))
        media.write_json(files.probe, info.to_json())
    except VideoRejected as rejected:
        media.remove_task(task_id)
        raise HTTPException(rejected.status_code, str(rejected)) from None
    except BaseException:
        media.remove_task(task_id)
        raise
    options = JobOptions(mode=mode, mask=mask, box_scale=box_scale, threshold=threshold, preset=preset, crf=crf)
    # The input is in the media directory: the task's Redis image is empty, its size and frames are shown.
    state = {"image_bytes": str(size), "frames_done": "0", "frames_total": str(info.frame_count)}
    await create_task(
        services, caller, TaskKind.BLUR_VIDEO, options, callback_url, extension, b"", task_id=task_id, state=state
    )
    return await accepted_response(services, [task_id], wait)


_RESULT_FILE_ERRORS = {
    404: {"model": ErrorBody, "description": "No such task, not a video task, or not finished with SUCCESS"},
}


_RANGE_ANSWERS = {
    206: {"description": "The requested byte range (HTTP Range; a range in a unit other than bytes is ignored)"},
    416: {"model": ErrorBody, "description": "A malformed byte range, or one that starts past the end of the file"},
}


# HEAD answers the headers of the GET (Content-Length, Accept-Ranges, Content-Type) without the body.
@router.head("/task_result/{task_id}/video", include_in_schema=False)
@router.get(
    "/task_result/{task_id}/video",
    response_class=FileResponse,
    responses={**_RESULT_FILE_ERRORS, **_RANGE_ANSWERS},
    summary="The anonymized video (MP4, H.264), with HTTP Range support",
)
async def task_video(task_id: str, request: Request, services: Services, caller: CurrentCaller) -> FileResponse:
    path = await _result_file(services, caller, task_id, "video")
    return file_download(
        request, path, media_type="video/mp4", filename=f"{task_id}.mp4", content_disposition_type="inline"
    )


@router.head("/task_result/{task_id}/faces", include_in_schema=False)
@router.get(
    "/task_result/{task_id}/faces",
    response_class=FileResponse,
    responses={**_RESULT_FILE_ERRORS, **_RANGE_ANSWERS},
    summary="The video's face tracks, one JSON object per frame (JSON Lines)",
)
async def task_faces(task_id: str, request: Request, services: Services, caller: CurrentCaller) -> FileResponse:
    path = await _result_file(services, caller, task_id, "faces")
    return file_download(request, path, media_type="application/jsonl")


async def _result_file(services: GatewayServices, caller: Caller, task_id: str, which: str) -> Path:
    """The finished video task's result file, under the same access rules as the task."""
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
    path = services.settings.media_dir / (media.video if which == "video" else media.faces)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id!r}: its {which} file is no longer stored")
    return path


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
    """Copy the (already spooled) upload into the media directory; its size. Over ``limit``: 413 naming it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    upload.file.seek(0)
    with path.open("wb") as target:
        while chunk := upload.file.read(_COPY_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise VideoRejected(f"video is over {limit / 2**20:.0f} MiB (GATEWAY_VIDEO_MAX_BYTES={limit})", 413)
            target.write(chunk)
    return size
