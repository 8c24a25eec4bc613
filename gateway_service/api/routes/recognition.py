"""Face recognition: embeddings, verification, galleries of enrolled people, and identification.

The image endpoints are tasks like /detect_faces (202 and a task id; GET /task_result/{id}, ?wait=); listing
and deleting galleries answer at once. Galleries belong to the API key that made them (other keys get 404).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, File, Form, HTTPException, Path, Response, UploadFile, status

from faceblur_proto.main_face import MAIN_FACE_RULE
from gateway_service.api.deps import CurrentCaller, Services
from gateway_service.api.gallery_access import check_model, checked_names, no_gallery, no_subject
from gateway_service.api.intake import CommonFields, queue_each_image, queue_tasks, read_images, submit_route
from gateway_service.galleries.names import NAME_RULE
from gateway_service.tasks.models import JobOptions, TaskKind

router = APIRouter(tags=["recognition"])
T = TypeVar("T")

GalleryName = Annotated[str, Path(description=f"The gallery: {NAME_RULE}.")]
SubjectName = Annotated[str, Path(description=f"The enrolled person: {NAME_RULE}.")]
# Which face of a photo stands for it where one is needed (an unknown value: HTTP 422 naming these).
FaceChoice = Literal["main", "largest"]
FACE_CHOICES = "'main' or 'largest'"


@submit_route(router, "/embed_faces", "Find the faces and return each one's embedding")
async def embed_faces(fields: CommonFields) -> Response:
    """Each face of the detection result also gets ``embedding`` (L2-normalized) and ``embedding_model``."""
    return await queue_each_image(fields, TaskKind.EMBED, fields.detection)


@submit_route(router, "/verify_faces", "Is the main face of one image among the faces of another?")
async def verify_faces(
    fields: CommonFields,
    file2: Annotated[UploadFile | None, File(description="The second image.")] = None,
    face: Annotated[
        FaceChoice | None,
        Form(description=f"Which face of the first image: {FACE_CHOICES} (default 'main': {MAIN_FACE_RULE})."),
    ] = None,
) -> Response:
    """The first image's main face (``face=largest``: its largest) against every face of the second: ``same_person``,
    ``similarity`` and ``threshold`` for the best match, ``face1``, ``face2`` (the best-matching face), and
    ``faces``: each face of the second image with its ``similarity``; ``matched_face`` names the one that matched."""
    if file2 is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "verify_faces needs two images: 'file' and 'file2'")
    images = await read_images(fields, extra_files=[file2])
    if len(images) != 2:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"verify_faces compares exactly two images; got {len(images)}")
    return await queue_tasks(fields, TaskKind.VERIFY, replace(fields.detection, face=face), [images])


@submit_route(router, "/galleries/{gallery}/subjects/{subject}/faces", "Enroll a person from one or more photos")
async def enroll_face(
    fields: CommonFields,
    gallery: GalleryName,
    subject: SubjectName,
    face: Annotated[
        FaceChoice | None,
        Form(
            description=f"Which face of each photo: {FACE_CHOICES}. 'main' (the default): {MAIN_FACE_RULE}; a photo "
            "where no face stands out is refused. 'largest': the largest face."
        ),
    ] = None,
) -> Response:
    """Several ``file`` parts enroll several photos of the subject in one task: all of them, or (one has no face,
    or its face fails the quality gate) none, the refusal naming the file. The result: ``face_id``, ``gallery``,
    ``subject``, ``facial_area`` and ``embedding_model`` of the first photo's face, and ``faces``: every photo's
    (``file``, ``face_id``, ``facial_area``, ``confidence``, ``quality``)."""
    gallery, subject = checked_names(gallery, subject)
    await check_model(fields.services, fields.caller, gallery, must_exist=False)
    images = await read_images(fields)
    names = [upload.filename or f"file {number}" for number, upload in enumerate(fields.files, 1)] + fields.urls
    options = JobOptions(
        threshold=fields.detection.threshold,
        preset=fields.detection.preset,
        gallery=gallery,
        subject=subject,
        face=face,
        files=tuple(names),
    )
    return await queue_tasks(fields, TaskKind.ENROLL, options, [images])


@submit_route(router, "/galleries/{gallery}/identify", "Who, of a gallery's people, is each face?")
async def identify_faces(
    fields: CommonFields,
    gallery: GalleryName,
    k: Annotated[int, Form(ge=1, le=100, description="Matches returned per face (default 3).")] = 3,
) -> Response:
    """Every face gets ``matches`` (the ``k`` most similar subjects) and ``subject`` (the best one at or above
    ``threshold``, default GATEWAY_IDENTIFY_THRESHOLD; else null). Here ``threshold`` is that similarity."""
    (gallery,) = checked_names(gallery)
    await check_model(fields.services, fields.caller, gallery, must_exist=True)
    options = JobOptions(
        preset=fields.detection.preset, gallery=gallery, k=k, match_threshold=fields.detection.threshold
    )
    return await queue_each_image(fields, TaskKind.IDENTIFY, options)


@router.get("/galleries", summary="Your galleries")
async def list_galleries(services: Services, caller: CurrentCaller) -> dict:
    return {"galleries": await services.galleries.galleries(caller.owner)}


@router.get("/galleries/{gallery}/subjects", summary="The people enrolled in a gallery")
async def list_subjects(gallery: GalleryName, services: Services, caller: CurrentCaller) -> dict:
    (gallery,) = checked_names(gallery)
    subjects = await services.galleries.subjects(caller.owner, gallery)
    if subjects is None:
        raise no_gallery(gallery)
    return {"gallery": gallery, "subjects": subjects}


@router.get("/galleries/{gallery}/subjects/{subject}", summary="One person's enrolled faces (never their vectors)")
async def get_subject(gallery: GalleryName, subject: SubjectName, services: Services, caller: CurrentCaller) -> dict:
    gallery, subject = checked_names(gallery, subject)
    faces = _found(await services.galleries.faces_of(caller.owner, gallery, subject), no_subject(gallery, subject))
    listed = [{"face_id": f.face_id, "facial_area": f.facial_area, "created_at": f.created_at} for f in faces]
    return {"gallery": gallery, "subject": subject, "faces": listed}


@router.delete("/galleries/{gallery}", summary="Delete a gallery and every vector in it, at once")
async def delete_gallery(gallery: GalleryName, services: Services, caller: CurrentCaller) -> dict:
    (gallery,) = checked_names(gallery)
    _found(await services.galleries.delete_gallery(caller.owner, gallery), no_gallery(gallery))
    return {"deleted": {"gallery": gallery}}


@router.delete("/galleries/{gallery}/subjects/{subject}", summary="Delete a person and all their vectors")
async def delete_subject(gallery: GalleryName, subject: SubjectName, services: Services, caller: CurrentCaller) -> dict:
    gallery, subject = checked_names(gallery, subject)
    removed = _found(
        await services.galleries.delete_faces(caller.owner, gallery, subject), no_subject(gallery, subject)
    )
    return {"deleted": {"gallery": gallery, "subject": subject, "faces": removed}}


@router.delete("/galleries/{gallery}/subjects/{subject}/faces/{face_id}", summary="Delete one enrolled face")
async def delete_face(
    gallery: GalleryName, subject: SubjectName, face_id: str, services: Services, caller: CurrentCaller
) -> dict:
    gallery, subject = checked_names(gallery, subject)
    no_face = HTTPException(status.HTTP_404_NOT_FOUND, f"no face {face_id!r} of {subject!r} in gallery {gallery!r}")
    _found(await services.galleries.delete_faces(caller.owner, gallery, subject, face_id), no_face)
    return {"deleted": {"gallery": gallery, "subject": subject, "face_id": face_id}}


def _found(value: T, missing: HTTPException) -> T:
    """``value`` when there is something (faces, a count of deletions, True); else ``missing`` is raised (a 404)."""
    if not value:
        raise missing
    return value
