"""What each kind of task asks of the face services, and what its result is.

Detect and blur are one job; a video is many (``video_flow``).
Recognition tasks run embed jobs, then decide in between with the galleries:
verify compares two images' largest faces, enroll stores one face, identify matches every face, and blur with a
``spare_gallery`` / ``only_gallery`` embeds first, chooses the faces to hide, then sends a blur job given exactly
those faces. Sending (and its retries) is the dispatcher's; this module only decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from faceblur_proto.framing import JobAnswer
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import TaskKind, face_entry
from gateway_service.core.config import Settings
from gateway_service.dispatcher.results import job_options_message, stored_result
from gateway_service.dispatcher.video_flow import VideoFlow, VideoRefused
from gateway_service.galleries.cache import GalleryCache
from gateway_service.galleries.matching import GalleryVectors, similarity, spare_threshold
from gateway_service.galleries.store import GalleryStore, ModelMismatch
from gateway_service.tasks.models import TaskRecord

Send = Callable[[pb.JobOptions, bytes], Awaitable[JobAnswer]]


class TaskRefused(Exception):
    """The task cannot be done as asked (no face, an unknown gallery...); it ends FAILURE with this message."""


@dataclass(frozen=True)
class TaskOutput:
    result: dict  # what the task record keeps (see results.stored_result)
    image: bytes | None = None
    timings: tuple[pb.StageTimings, ...] = ()


@dataclass(frozen=True)
class TaskRunner:
    """Decides what each kind of task asks of the face services (through ``send``) and what its result is."""

    settings: Settings
    galleries: GalleryStore
    cache: GalleryCache
    video: VideoFlow

    async def run(self, record: TaskRecord, images: list[bytes], send: Send) -> TaskOutput:
        options = record.options
        if record.kind is TaskKind.BLUR_VIDEO:
            try:
                outcome = await self.video.run(record, send)
            except VideoRefused as refused:
                raise TaskRefused(str(refused)) from None
            return TaskOutput(outcome.result)
        if record.kind is TaskKind.BLUR and (options.spare_gallery or options.only_gallery):
            return await self._blur_by_gallery(record, images[0], send)
        if record.kind in (TaskKind.DETECT, TaskKind.BLUR):
            answer = await _job(send, job_options_message(record.kind, options), images[0])
            return TaskOutput(stored_result(answer.result), answer.image, (answer.result.timings,))
        embedded = [await _job(send, job_options_message(record.kind, options), image) for image in images]
        await self.galleries.note_model(embedded[0].result.embedding_model)
        timings = tuple(answer.result.timings for answer in embedded)
        if record.kind is TaskKind.EMBED:
            return TaskOutput(_with_embeddings(embedded[0].result), timings=timings)
        if record.kind is TaskKind.VERIFY:
            return TaskOutput(self._verify(embedded[0].result, embedded[1].result), timings=timings)
        if record.kind is TaskKind.ENROLL:
            return TaskOutput(await self._enroll(record, embedded[0].result), timings=timings)
        return TaskOutput(await self._identify(record, embedded[0].result), timings=timings)

    # --- recognition -----------------------------------------------------------------------------------------

    def _verify(self, first: pb.JobResult, second: pb.JobResult) -> dict:
        a, b = _largest_face(first, "file"), _largest_face(second, "file2")
        score = round(similarity(np.array(a.embedding), np.array(b.embedding)), 4)
        threshold = self.settings.verify_threshold
        verdict = {
            "same_person": score >= threshold,
            "similarity": score,
            "threshold": threshold,
            "embedding_model": first.embedding_model,
            "face1": _face_summary(a),
            "face2": _face_summary(b),
        }
        return _answer_result(first, verdict)

    async def _enroll(self, record: TaskRecord, result: pb.JobResult) -> dict:
        options = record.options
        faces = _embedded_faces(result)
        if not faces:
            raise TaskRefused("no face found in the image to enroll")
        if len(faces) > 1 and options.face != "largest":
            raise TaskRefused(
                f"{len(faces)} faces found; enroll needs exactly one (or face=largest to enroll the largest)"
            )
        face = max(faces, key=_area)
        assert options.gallery is not None and options.subject is not None
        summary = _face_summary(face)
        try:
            face_id = await self.galleries.enroll(
                record.owner,
                options.gallery,
                options.subject,
                np.array(face.embedding),
                result.embedding_model,
                summary["facial_area"],
            )
        except ModelMismatch as mismatch:
            raise TaskRefused(str(mismatch)) from None
        enrolled = {
            "face_id": face_id,
            "gallery": options.gallery,
            "subject": options.subject,
            **summary,
            "embedding_model": result.embedding_model,
        }
        return _answer_result(result, enrolled)

    async def _identify(self, record: TaskRecord, result: pb.JobResult) -> dict:
        options = record.options
        gallery = await self._gallery(record, options.gallery or "", result.embedding_model)
        threshold = options.match_threshold if options.match_threshold is not None else self.settings.identify_threshold
        k = options.k or 3
        stored = stored_result(result)
        for entry, face in zip(stored["faces"].values(), result.faces, strict=True):
            matches = gallery.best_matches(np.array(face.embedding), k) if face.embedding else []
            entry["matches"] = [{"subject": m.subject, "similarity": m.similarity} for m in matches]
            entry["subject"] = matches[0].subject if matches and matches[0].similarity >= threshold else None
        stored["match_threshold"] = threshold
        stored["gallery"] = options.gallery
        return stored

    async def _blur_by_gallery(self, record: TaskRecord, image: bytes, send: Send) -> TaskOutput:
        """Embed, match every face, then blur exactly the faces the gallery option says to hide."""
        options = record.options
        embed_options = job_options_message(TaskKind.EMBED, options)
        embedded = await _job(send, embed_options, image)
        await self.galleries.note_model(embedded.result.embedding_model)
        spare = options.spare_gallery is not None
        name = options.spare_gallery if spare else options.only_gallery
        gallery = await self._gallery(record, name or "", embedded.result.embedding_model)
        # Spare with a threshold that grows with the gallery (a stranger meets more look-alikes in a bigger one),
        # hide-only with the verify threshold: both err toward hiding a face.
        settings = self.settings
        threshold = (
            spare_threshold(len(gallery), settings.verify_threshold, settings.spare_threshold)
            if spare
            else settings.verify_threshold
        )
        listing = stored_result(embedded.result)["faces"]
        hidden = []
        for entry, face in zip(listing.values(), embedded.result.faces, strict=True):
            matches = gallery.best_matches(np.array(face.embedding), 1) if face.embedding else []
            matched = bool(matches) and matches[0].similarity >= threshold
            entry["subject"] = matches[0].subject if matched else None
            entry["similarity"] = matches[0].similarity if matches else None
            entry["anonymized"] = not matched if spare else matched
            if entry["anonymized"]:
                hidden.append(face)
        blur_options = job_options_message(TaskKind.BLUR, options)
        blur_options.faces.extend(pb.Face(x1=f.x1, y1=f.y1, x2=f.x2, y2=f.y2, confidence=f.confidence) for f in hidden)
        blur_options.faces_given = True
        blurred = await _job(send, blur_options, image)
        stored = stored_result(blurred.result)
        stored.update(faces=listing, face_count=len(listing), gallery=name, match_threshold=threshold)
        return TaskOutput(stored, blurred.image, (embedded.result.timings, blurred.result.timings))

    async def _gallery(self, record: TaskRecord, name: str, model: str) -> GalleryVectors:
        gallery = await self.cache.get(record.owner, name)
        if gallery is None:
            raise TaskRefused(f"no gallery {name!r} (it was deleted, or never existed)")
        if gallery.model and gallery.model != model:
            raise TaskRefused(str(ModelMismatch(name, gallery.model, model)))
        return gallery


async def _job(send: Send, options: pb.JobOptions, image: bytes) -> JobAnswer:
    answer = await send(options, image)
    if answer.error is not None:
        raise TaskRefused(f"{answer.error.message} ({answer.error.code.name})")
    assert answer.result is not None
    return answer


def _embedded_faces(result: pb.JobResult) -> list[pb.Face]:
    return [face for face in result.faces if face.embedding]


def _largest_face(result: pb.JobResult, field: str) -> pb.Face:
    faces = _embedded_faces(result)
    if not faces:
        raise TaskRefused(f"no face found in {field}")
    return max(faces, key=_area)


def _area(face: pb.Face) -> float:
    return (face.x2 - face.x1) * (face.y2 - face.y1)


def _face_summary(face: pb.Face) -> dict:
    """The face's box and confidence as the API lists faces (without its landmarks)."""
    return face_entry((face.x1, face.y1, face.x2, face.y2), face.confidence)


def _with_embeddings(result: pb.JobResult) -> dict:
    stored = stored_result(result)
    for entry, face in zip(stored["faces"].values(), result.faces, strict=True):
        entry["embedding"] = [round(value, 6) for value in face.embedding] or None
        entry["embedding_model"] = result.embedding_model
    return stored


def _answer_result(result: pb.JobResult, answer: dict) -> dict:
    """A result whose ``result`` is an answer object (verify, enroll), not a face listing."""
    stored = stored_result(result)
    stored["answer"] = answer
    return stored
