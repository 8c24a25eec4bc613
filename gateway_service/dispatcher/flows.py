"""Which flow runs each kind of task (``task_flows``, the one table), and the flows of the image tasks.

Detect and blur are one job on the uploaded image; a video is many (``video.flow``). Recognition tasks run an
embed job per image, then decide with the galleries: verify compares the first image's main face with every face
of the second, enroll stores each photo's main face (all of them, or none), identify matches every face, and blur
with a ``spare_gallery`` / ``only_gallery`` embeds first, chooses the faces to hide, then sends a blur job given
exactly those faces. Sending (and its retries) is the dispatcher's; the flows only decide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from faceblur_proto import main_face
from faceblur_proto.framing import JobAnswer
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import TaskKind, face_entry
from gateway_service.core.config import Settings
from gateway_service.dispatcher.flow import Flow, Refusal, Send, TaskOutput, TaskRefused, answer
from gateway_service.dispatcher.results import job_options_message, stored_result
from gateway_service.galleries.cache import GalleryCache
from gateway_service.galleries.matching import GalleryVectors, similarity, spare_threshold
from gateway_service.galleries.quality import FaceQuality, face_quality
from gateway_service.galleries.store import GalleryStore, ModelMismatch
from gateway_service.tasks.inputs import unpack_images
from gateway_service.tasks.models import TaskRecord
from gateway_service.tasks.store import TaskStore
from gateway_service.video.flow import VideoFlow
from gateway_service.video.storage import VideoMedia


class Flows:
    """Every task kind's flow; a kind without one is refused when the dispatcher is built."""

    def __init__(self, by_kind: Mapping[TaskKind, Flow]) -> None:
        missing = [kind.value for kind in TaskKind if kind not in by_kind]
        if missing:
            raise ValueError(f"no flow for the task kind(s) {', '.join(missing)}")
        self._by_kind = dict(by_kind)

    def __getitem__(self, kind: TaskKind) -> Flow:
        return self._by_kind[kind]

    async def upkeep(self) -> None:
        """Each flow's upkeep, once per flow object (several kinds may share one)."""
        for flow in {id(flow): flow for flow in self._by_kind.values()}.values():
            await flow.upkeep()


def task_flows(settings: Settings, tasks: TaskStore, galleries: GalleryStore, face_workers: Callable[[], int]) -> Flows:
    """The one table: task kind -> the flow that runs it. ``face_workers`` counts the workers of the connected face
    services now (a video is split and sent by it)."""
    known = Galleries(settings, galleries, GalleryCache(galleries))
    return Flows(
        {
            TaskKind.DETECT: DetectFlow(tasks),
            TaskKind.BLUR: BlurFlow(tasks, known),
            TaskKind.EMBED: EmbedFlow(tasks, known),
            TaskKind.VERIFY: VerifyFlow(tasks, known),
            TaskKind.ENROLL: EnrollFlow(tasks, known),
            TaskKind.IDENTIFY: IdentifyFlow(tasks, known),
            TaskKind.BLUR_VIDEO: VideoFlow(settings, tasks, VideoMedia.from_settings(settings), face_workers),
        }
    )


@dataclass(frozen=True)
class ImageFlow(Flow[list[bytes]]):
    """A task on the images uploaded with it, kept in Redis beside its record until it ends."""

    tasks: TaskStore

    async def load(self, task: TaskRecord) -> list[bytes] | Refusal:
        blob = await self.tasks.get_image(task.task_id)
        if blob is None:
            return Refusal("the uploaded image is no longer in Redis (it expired or Redis lost it)")
        return unpack_images(blob)


@dataclass(frozen=True)
class DetectFlow(ImageFlow):
    """detect: one job; its faces (and, with draw, the drawn image)."""

    async def output(self, task: TaskRecord, inputs: list[bytes], send: Send) -> TaskOutput:
        return await _one_job(task, inputs[0], send)


@dataclass(frozen=True)
class Galleries:
    """What the gallery-using flows share: the galleries, this process's cached copies of them, the thresholds."""

    settings: Settings
    store: GalleryStore
    cache: GalleryCache

    async def vectors(self, task: TaskRecord, name: str, model: str) -> GalleryVectors:
        """The task owner's gallery ``name``; refused if it is gone or holds another model's vectors."""
        gallery = await self.cache.get(task.owner, name)
        if gallery is None:
            raise TaskRefused(f"no gallery {name!r} (it was deleted, or never existed)")
        if gallery.model and gallery.model != model:
            raise TaskRefused(str(ModelMismatch(name, gallery.model, model)))
        return gallery

    async def embed(self, task: TaskRecord, image: bytes, send: Send) -> JobAnswer:
        """An embed job on ``image``; the face services' embedding model is noted."""
        embedded = await answer(send, job_options_message(TaskKind.EMBED, task.options), image)
        await self.store.note_model(embedded.result.embedding_model)
        return embedded


@dataclass(frozen=True)
class BlurFlow(ImageFlow):
    """blur: one job; with ``spare_gallery`` / ``only_gallery``, an embed job, the matching, then a blur job given
    exactly the faces to hide."""

    galleries: Galleries

    async def output(self, task: TaskRecord, inputs: list[bytes], send: Send) -> TaskOutput:
        options = task.options
        if not (options.spare_gallery or options.only_gallery):
            return await _one_job(task, inputs[0], send)
        image = inputs[0]
        embedded = await self.galleries.embed(task, image, send)
        spare = options.spare_gallery is not None
        name = options.spare_gallery if spare else options.only_gallery
        gallery = await self.galleries.vectors(task, name or "", embedded.result.embedding_model)
        # Spare with a threshold that grows with the gallery (a stranger meets more look-alikes in a bigger one),
        # hide-only with the verify threshold: both err toward hiding a face.
        settings = self.galleries.settings
        threshold = (
            spare_threshold(gallery.comparisons, settings.verify_threshold, settings.spare_threshold)
            if spare
            else settings.verify_threshold
        )
        listing = stored_result(embedded.result)["faces"]
        hidden = []
        for entry, face in zip(listing.values(), embedded.result.faces, strict=True):
            matches = gallery.best_matches(np.array(face.embedding), 1) if face.embedding else []
            matched = bool(matches) and matches[0].similarity >= threshold
            if spare and face.embedding:
                # A face too small, blurred or turned to embed reliably is nobody's: spare never leaves it visible.
                entry["quality"] = _quality_entry(face_quality(face))
                matched = matched and entry["quality"]["problem"] is None
            entry["subject"] = matches[0].subject if matched else None
            entry["similarity"] = matches[0].similarity if matches else None
            entry["anonymized"] = not matched if spare else matched
            if entry["anonymized"]:
                hidden.append(face)
        blur_options = job_options_message(TaskKind.BLUR, options)
        blur_options.faces.extend(pb.Face(x1=f.x1, y1=f.y1, x2=f.x2, y2=f.y2, confidence=f.confidence) for f in hidden)
        blur_options.faces_given = True
        blurred = await answer(send, blur_options, image)
        stored = stored_result(blurred.result)
        stored.update(faces=listing, face_count=len(listing), gallery=name, match_threshold=threshold)
        return TaskOutput(stored, blurred.image, (embedded.result.timings, blurred.result.timings))


@dataclass(frozen=True)
class RecognitionFlow(ImageFlow):
    """An embed job per image, then ``decide`` on their results."""

    galleries: Galleries

    async def output(self, task: TaskRecord, inputs: list[bytes], send: Send) -> TaskOutput:
        embedded = [await self.galleries.embed(task, image, send) for image in inputs]
        results = [job.result for job in embedded]
        return TaskOutput(await self.decide(task, results), timings=tuple(result.timings for result in results))

    async def decide(self, task: TaskRecord, results: list[pb.JobResult]) -> dict:
        raise NotImplementedError


@dataclass(frozen=True)
class EmbedFlow(RecognitionFlow):
    """embed: the detection result, each face with its embedding."""

    async def decide(self, task: TaskRecord, results: list[pb.JobResult]) -> dict:
        result = results[0]
        stored = stored_result(result)
        for entry, face in zip(stored["faces"].values(), result.faces, strict=True):
            entry["embedding"] = [round(value, 6) for value in face.embedding] or None
            entry["embedding_model"] = result.embedding_model
            if face.embedding:
                entry["quality"] = _quality_entry(face_quality(face))
        return stored


@dataclass(frozen=True)
class VerifyFlow(RecognitionFlow):
    """verify: the first image's main face (face=largest: its largest) against every face of the second, as AWS
    CompareFaces and CompreFace do: the answer is the best match, and each face of the second image is listed with
    its similarity."""

    async def decide(self, task: TaskRecord, results: list[pb.JobResult]) -> dict:
        first, second = results
        a = _chosen_face(first, task.options.face, "file")
        if not _embedded_faces(second):
            raise TaskRefused("no face found in file2")
        threshold = self.galleries.settings.verify_threshold
        probe = np.array(a.embedding)
        listing = stored_result(second)["faces"]
        best: tuple[float, str, pb.Face] | None = None
        for (name, entry), face in zip(listing.items(), second.faces, strict=True):
            score = round(similarity(probe, np.array(face.embedding)), 4) if face.embedding else None
            entry["similarity"] = score
            entry["same_person"] = score is not None and score >= threshold
            if score is not None and (best is None or score > best[0]):
                best = (score, name, face)
        assert best is not None
        score, name, b = best
        verdict = {
            "same_person": score >= threshold,
            "similarity": score,
            "threshold": threshold,
            "embedding_model": first.embedding_model,
            "face1": _face_summary(a),
            "face2": _face_summary(b),
            "faces": listing,
            "matched_face": name if score >= threshold else None,
            "best_face": name,
        }
        return _answer_result(first, verdict)


@dataclass(frozen=True)
class EnrollFlow(RecognitionFlow):
    """enroll: each photo's main face (face=largest: its largest) stored in the gallery, in one step: if one photo
    has no face, no face that stands out, or a face that fails the quality gate, nothing is stored and the
    refusal names that photo's file."""

    async def decide(self, task: TaskRecord, results: list[pb.JobResult]) -> dict:
        options = task.options
        names = list(options.files or ())
        names += [f"file {number}" for number in range(len(names) + 1, len(results) + 1)]
        chosen = []
        for name, result in zip(names, results, strict=False):
            where = f"in {name!r}" if len(results) > 1 else f"in the image to enroll ({name!r})"
            face = _face_to_enroll(result, options.face, where)
            quality = face_quality(face)
            problem = quality.problem()
            if problem:
                raise TaskRefused(f"the face {where} is {problem}; nothing was enrolled")
            chosen.append((name, face, quality))
        assert options.gallery is not None and options.subject is not None
        model = results[0].embedding_model
        try:
            face_ids = await self.galleries.store.enroll_faces(
                task.owner,
                options.gallery,
                options.subject,
                [(np.array(face.embedding), _face_summary(face)["facial_area"]) for _, face, _ in chosen],
                model,
            )
        except ModelMismatch as mismatch:
            raise TaskRefused(str(mismatch)) from None
        faces = [
            {"file": name, "face_id": face_id, **_face_summary(face), "quality": _quality_entry(quality)}
            for face_id, (name, face, quality) in zip(face_ids, chosen, strict=True)
        ]
        enrolled = {
            "face_id": face_ids[0],
            "gallery": options.gallery,
            "subject": options.subject,
            **_face_summary(chosen[0][1]),
            "embedding_model": model,
            "faces": faces,
        }
        return _answer_result(results[0], enrolled)


@dataclass(frozen=True)
class IdentifyFlow(RecognitionFlow):
    """identify: every face's best matches in the gallery, and its subject when the best is close enough."""

    async def decide(self, task: TaskRecord, results: list[pb.JobResult]) -> dict:
        options, result = task.options, results[0]
        gallery = await self.galleries.vectors(task, options.gallery or "", result.embedding_model)
        threshold = (
            options.match_threshold
            if options.match_threshold is not None
            else self.galleries.settings.identify_threshold
        )
        k = options.k or 3
        stored = stored_result(result)
        for entry, face in zip(stored["faces"].values(), result.faces, strict=True):
            matches = gallery.best_matches(np.array(face.embedding), k) if face.embedding else []
            entry["matches"] = [{"subject": m.subject, "similarity": m.similarity} for m in matches]
            entry["subject"] = matches[0].subject if matches and matches[0].similarity >= threshold else None
        stored["match_threshold"] = threshold
        stored["gallery"] = options.gallery
        return stored


async def _one_job(task: TaskRecord, image: bytes, send: Send) -> TaskOutput:
    """The task's one job on ``image``: its faces, and the image it returned (blurred or drawn), if any."""
    done = await answer(send, job_options_message(task.kind, task.options), image)
    return TaskOutput(stored_result(done.result), done.image, (done.result.timings,))


def _embedded_faces(result: pb.JobResult) -> list[pb.Face]:
    return [face for face in result.faces if face.embedding]


def _candidates(faces: list[pb.Face]) -> list[main_face.Candidate]:
    return [main_face.Candidate((f.x1, f.y1, f.x2, f.y2), f.confidence) for f in faces]


def _chosen_face(result: pb.JobResult, face: str | None, field: str) -> pb.Face:
    """The image's main face (face=largest: its largest) among those with an embedding; verify's first image."""
    faces = _embedded_faces(result)
    if not faces:
        raise TaskRefused(f"no face found in {field}")
    if face == "largest":
        index = main_face.largest_face(_candidates(faces))
    else:
        index = main_face.main_face(_candidates(faces), result.image_width, result.image_height)
    assert index is not None
    return faces[index]


def _face_to_enroll(result: pb.JobResult, face: str | None, where: str) -> pb.Face:
    """The face to enroll of one photo: its main face, refused when no face stands out (face=largest: its
    largest). TaskRefused saying why, naming the photo (``where``)."""
    faces = _embedded_faces(result)
    if not faces:
        raise TaskRefused(f"no face found {where}; nothing was enrolled")
    if len(faces) > 1 and face != "largest":
        candidates = _candidates(faces)
        width, height = result.image_width, result.image_height
        if not main_face.stands_out(candidates, width, height):
            share = max(main_face.main_share(candidates, width, height))
            raise TaskRefused(
                f"{len(faces)} faces found {where} and none stands out as the main face (the most prominent has "
                f"{share:.0%}, under {main_face.MIN_MAIN_SHARE:.0%}); enroll a photo where the person is the main "
                "face, or pass face=largest to enroll the largest; nothing was enrolled"
            )
    return _chosen_face(result, face, where)


def _quality_entry(quality: FaceQuality) -> dict:
    """A face's quality measures as the API shows them, and what (if anything) fails the gate."""
    return {**quality.measures(), "problem": quality.problem()}


def _face_summary(face: pb.Face) -> dict:
    """The face's box and confidence as the API lists faces (without its landmarks)."""
    return face_entry((face.x1, face.y1, face.x2, face.y2), face.confidence)


def _answer_result(result: pb.JobResult, answer: dict) -> dict:
    """A result whose ``result`` is an answer object (verify, enroll), not a face listing."""
    stored = stored_result(result)
    stored["answer"] = answer
    return stored
