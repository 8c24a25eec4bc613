"""Submitting images and reading task results: the FaceBlur-compatible part of the API. What every route shares
(form fields, reading the images, creating tasks, the 202 answer) is ``api.intake``'s."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Response, status

from gateway_service.api.deps import CurrentCaller, Services
from gateway_service.api.gallery_access import check_gallery_option
from gateway_service.api.intake import (
    AnonymizeFields,
    CommonFields,
    PlateFields,
    Wait,
    queue_each_image,
    rendered,
    submit_route,
    task_not_found,
    visible_to,
    wait_until_final,
)
from gateway_service.api.schemas import ErrorBody, TaskResult
from gateway_service.tasks.models import TaskKind

router = APIRouter(tags=["tasks"])


@submit_route(router, "/detect_faces", "Find the faces in an image")
async def detect_faces(
    fields: CommonFields,
    plates: PlateFields,
    draw: Annotated[
        bool, Form(description="Also return the image with the boxes and landmarks drawn, as drawn_image (JPEG).")
    ] = False,
) -> Response:
    """Queue face detection; the answer is a task id to read the result with, at once (HTTP 202)."""
    options = replace(fields.detection.merged(plates), draw=draw)
    return await queue_each_image(fields, TaskKind.DETECT, options)


@submit_route(router, "/blur_faces", "Anonymize the faces in an image")
async def blur_faces(
    fields: CommonFields,
    anonymize: AnonymizeFields,
    spare_gallery: Annotated[
        str | None,
        Form(description="Leave visible the faces matched to a person of this gallery (strict match); hide the rest."),
    ] = None,
    only_gallery: Annotated[
        str | None, Form(description="Hide only the faces matched to a person of this gallery; leave the rest.")
    ] = None,
) -> Response:
    """Queue anonymization; the answer is a task id to read the result with, at once (HTTP 202)."""
    if spare_gallery is not None and only_gallery is not None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "give spare_gallery or only_gallery, not both")
    options = replace(
        fields.detection.merged(anonymize),
        spare_gallery=await check_gallery_option(fields.services, fields.caller, spare_gallery),
        only_gallery=await check_gallery_option(fields.services, fields.caller, only_gallery),
    )
    return await queue_each_image(fields, TaskKind.BLUR, options)


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
    wait: Wait = 0,
) -> Response:
    record = await services.store.get(task_id)
    if record is None or not visible_to(record, caller):
        raise task_not_found(task_id, services)
    if wait > 0 and not record.status.is_final:
        record = await wait_until_final(services, task_id, min(wait, services.settings.result_wait_max_seconds))
        if record is None:
            raise task_not_found(task_id, services)
    return Response(content=await rendered(record), media_type="application/json")
