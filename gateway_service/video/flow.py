"""A video task, segment by segment: detect, track over the whole video, hide, join (``VideoFlow``).

1. The upload was probed when it came in (``probe.json``); it is split into segments (``video.plan``), at least
   two per face-service worker when it is long enough and none over GATEWAY_VIDEO_SEGMENT_MAX_FRAMES. The plan is
   kept (``plan.json``), so every attempt means the same frames by the same segment numbers.
2. Every segment gets a detect-video job, as many at once as the connected face services have workers (each
   worker decodes its own segment and runs the detector on every ``detect_every``-th frame), so every core of
   every replica works on the video.
3. The tracker links the faces over the whole video (``video.tracking``): it sees every detection before a
   single frame is hidden, so a face is hidden from the first frame it shows, through the frames the detector
   missed, with no seam at segment joins. The tracks are the task's ``faces.jsonl``.
4. Every segment gets a blur-video job with its frames' boxes; each writes an H.264 segment.
5. The segments and the input's audio are joined into one MP4 (``video.join``).

Every step's output is an object in the media store (``video.storage``, GATEWAY_MEDIA_URL: a directory or an S3
bucket), written whole or not at all, so an attempt that is interrupted (a face service or this dispatcher killed,
the store gone for a while) resumes from the segments already done. The gateway works on local copies only where
FFmpeg needs files (the join), in GATEWAY_SCRATCH_DIR, and deletes them when the step ends.

A store that does not answer (``MediaStoreUnavailable``) leaves ``load`` or ``run`` as itself: the dispatcher
retries the attempt once ``unavailable`` says the store answers again. A store that refuses (credentials, no
bucket) fails the task with its reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from faceblur_proto.media import TaskMedia
from faceblur_proto.media_store import MediaNotFound, MediaStoreError, MediaStoreUnavailable
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import DEFAULT_VIDEO_PRESET, JobKind, to_proto
from gateway_service.core.config import Settings
from gateway_service.dispatcher.flow import Flow, Refusal, Send, TaskOutput, TaskRefused, answer
from gateway_service.dispatcher.results import job_options_message
from gateway_service.tasks.models import TaskRecord, TaskStatus
from gateway_service.tasks.store import TaskStore
from gateway_service.video.info import VideoInfo
from gateway_service.video.join import JoinedVideo, JoinFailed, join_segments
from gateway_service.video.plan import SegmentPlan, plan_segments
from gateway_service.video.storage import VideoMedia
from gateway_service.video.tracking import TrackedFace, track_count, track_faces, tracks_jsonl_lines

log = logging.getLogger(__name__)

Detections = dict[int, np.ndarray]  # frame index -> [N, 5] x1, y1, x2, y2, confidence


@dataclass(frozen=True)
class VideoFlow(Flow[VideoInfo]):
    """blur_video: its input is the upload in the media store, described by its probe."""

    settings: Settings
    tasks: TaskStore
    media: VideoMedia
    face_workers: Callable[[], int]  # workers of the connected face services now

    async def load(self, task: TaskRecord) -> VideoInfo | Refusal:
        files, store = TaskMedia(task.task_id), self.media.store
        try:
            info = VideoInfo.from_json(await asyncio.to_thread(store.get_json, files.probe))
            await asyncio.to_thread(store.stat, files.input(task.image_format))
        except MediaNotFound:
            return Refusal(f"the uploaded video is no longer in the media store {store.url} (GATEWAY_MEDIA_URL)")
        except MediaStoreUnavailable:
            raise
        except MediaStoreError as refused:
            return Refusal(refused.reason)
        return info

    async def unavailable(self) -> str | None:
        """The media store's problem while it does not answer, else None. A store that answers but refuses the
        check (credentials that may not read the bucket itself, only objects under the prefix) is not waited for:
        the task's own requests then succeed, or fail it with their reason."""
        try:
            await asyncio.to_thread(self.media.store.check)
        except MediaStoreUnavailable as error:
            return error.reason
        except MediaStoreError:
            return None
        return None

    async def run(self, task: TaskRecord, inputs: VideoInfo, send: Send) -> TaskOutput | Refusal:
        try:
            return await super().run(task, inputs, send)
        except MediaStoreUnavailable:
            raise  # the dispatcher tries again once the store answers
        except MediaStoreError as refused:
            return Refusal(refused.reason)

    async def output(self, task: TaskRecord, inputs: VideoInfo, send: Send) -> TaskOutput:
        info = inputs
        files, store = TaskMedia(task.task_id), self.media.store
        # What earlier attempts saved (one listing, not a request per file).
        saved = {stored.key for stored in await asyncio.to_thread(store.list_under, files.work)}
        segments = await asyncio.to_thread(self._kept_plan, files, info, files.plan in saved)
        progress = _Progress(self.tasks, task.task_id, info.frame_count)
        detect_every = self.settings.video_detect_every
        plate_every = -(-self.settings.video_plate_detect_every // detect_every) * detect_every
        # At most one segment job per connected worker at a time: the others wait here, not in a face service's
        # bounded queue, where they would be turned away as busy or spend their segment timeout.
        per_worker = asyncio.Semaphore(max(1, self.face_workers()))
        timings: list[pb.StageTimings] = []

        async def job(options: pb.JobOptions, doing: str) -> pb.JobResult:
            async with per_worker:
                done = await answer(send, options, doing=doing, timeout=self.settings.video_segment_timeout_seconds)
            timings.append(done.result.timings)
            return done.result

        detections: Detections = {}
        model = ""

        plates = task.options.plates
        plate_detections: Detections = {}
        plate_model = ""

        async def detect(segment: SegmentPlan) -> None:
            nonlocal model, plate_model
            key, plates_key = files.detections(segment.index), files.plate_detections(segment.index)
            if key in saved and (not plates or plates_key in saved):  # done by an earlier attempt
                stored = await asyncio.to_thread(store.get_json, key)
                stored_plates = await asyncio.to_thread(store.get_json, plates_key) if plates else {}
            else:
                options = self._segment_options(task, JobKind.DETECT_VIDEO, files, info, segment)
                options.video.detect_every = detect_every
                if plates:
                    options.video.plate_detect_every = plate_every
                result = await job(options, f"detecting faces in frames {_frames(segment)}")
                model, plate_model = model or result.model, plate_model or result.plate_model
                stored, stored_plates = _detections_of(result), _plate_detections_of(result, plate_every)
                if plates:  # before the faces: a segment whose faces are saved has its plates too
                    await asyncio.to_thread(store.put_json, plates_key, stored_plates)
                await asyncio.to_thread(store.put_json, key, stored)
            detections.update(_as_arrays(stored))
            plate_detections.update(_as_arrays(stored_plates))
            await progress.add(segment.frame_count)

        await _all(detect(segment) for segment in segments)

        tracks = await asyncio.to_thread(track_faces, detections, info.frame_count, detect_every, info.fps)
        # Plates are tracked by the same rule, apart from the faces (their own track ids, from 0).
        plate_tracks = (
            await asyncio.to_thread(track_faces, plate_detections, info.frame_count, plate_every, info.fps)
            if plates
            else None
        )
        size = (info.width, info.height)
        lines = (line + "\n" for line in tracks_jsonl_lines(tracks, info.fps, size, plate_tracks))
        await asyncio.to_thread(self._write_lines, files.faces, lines)

        async def hide(segment: SegmentPlan) -> None:
            if files.segment(segment.index) not in saved:
                options = self._segment_options(task, JobKind.BLUR_VIDEO, files, info, segment)
                options.video.output_path = files.segment(segment.index)
                options.video.crf = task.options.crf if task.options.crf is not None else self.settings.video_crf
                options.video.frames.extend(_frame_faces(tracks, segment, plate_tracks))
                await job(options, f"anonymizing frames {_frames(segment)}")
            await progress.add(segment.frame_count)

        await _all(hide(segment) for segment in segments)

        try:
            joined = await asyncio.to_thread(self._join, files, task.image_format, segments, info)
        except (JoinFailed, MediaNotFound) as failed:
            raise TaskRefused(f"joining the anonymized segments failed: {failed}") from None
        video = {
            "video_url": f"/task_result/{task.task_id}/video",
            "faces_url": f"/task_result/{task.task_id}/faces",
            "frames": joined.frames,
            "fps": round(joined.fps, 3),
            "duration_s": round(joined.duration_s, 3),
            "width": joined.width,
            "height": joined.height,
            "audio": joined.audio,
            "audio_copied": joined.audio_copied,
            "tracks": track_count(tracks),
            "detect_every": detect_every,
            "segments": len(segments),
            "size_bytes": (await asyncio.to_thread(store.stat, files.video)).size,
        }
        if plate_tracks is not None:
            video.update(
                plate_tracks=track_count(plate_tracks), plate_model=plate_model, plate_detect_every=plate_every
            )
        preset = task.options.preset.value if task.options.preset else DEFAULT_VIDEO_PRESET
        return TaskOutput({"video": video, "preset": preset, "model": model}, timings=tuple(timings))

    async def ended(self, task_id: str, status: TaskStatus) -> None:
        """A finished task keeps only its results; a failed one keeps nothing. A store that does not answer now
        leaves them to the sweep."""
        remove = self.media.remove_work if status is TaskStatus.SUCCESS else self.media.remove_task
        await asyncio.to_thread(self.media.clean_up, remove, task_id)

    async def upkeep(self) -> None:
        try:
            await self.media.sweep_expired(self.tasks.exists)
        except MediaStoreError as error:
            log.warning("the sweep of expired videos waits for the media store: %s", error.reason)

    def _write_lines(self, key: str, lines: Iterable[str]) -> None:
        """``lines`` into the object ``key`` through a local file (a long video's faces.jsonl is never in memory)."""
        with self.media.store.local_output(key, self.media.scratch()) as path, path.open("w") as file:
            file.writelines(lines)

    def _join(self, files: TaskMedia, extension: str, segments: list[SegmentPlan], info: VideoInfo) -> JoinedVideo:
        """The segments and the input's audio joined into ``video.mp4``: FFmpeg reads local copies (on S3, in the
        scratch directory; on a directory store, the files themselves) and the result is stored whole."""
        store, scratch = self.media.store, self.media.scratch()
        with ExitStack() as copies:
            segment_paths = [copies.enter_context(store.local_copy(files.segment(s.index), scratch)) for s in segments]
            input_path = copies.enter_context(store.local_copy(files.input(extension), scratch))
            with store.local_output(files.video, scratch) as output:
                return join_segments(segment_paths, input_path, info, output)

    def _segment_options(
        self, task: TaskRecord, kind: JobKind, files: TaskMedia, info: VideoInfo, segment: SegmentPlan
    ) -> pb.JobOptions:
        options = job_options_message(task.kind, task.options)
        options.kind = to_proto(kind)
        if kind is JobKind.BLUR_VIDEO:  # it hides the plates listed per frame; it finds none
            options.plates = False
            options.ClearField("plate_threshold")
        if not options.preset:
            options.preset = DEFAULT_VIDEO_PRESET
        options.video.CopyFrom(
            pb.VideoSegment(
                input_path=files.input(task.image_format),
                first_frame=segment.first_frame,
                frame_count=segment.frame_count,
                seek_pts=segment.seek_pts,
                first_pts=segment.first_pts,
                seekable=info.seekable,
                frame_width=info.width,
                frame_height=info.height,
            )
        )
        return options

    def _kept_plan(self, files: TaskMedia, info: VideoInfo, kept: bool) -> list[SegmentPlan]:
        """The segments planned on the task's first attempt (``kept``: saved by it). A retry (often after a face
        service was lost, which changes the plan) must mean the same frames by the segment numbers of the work
        files already saved."""
        if kept:
            return [SegmentPlan(**fields) for fields in self.media.store.get_json(files.plan)]
        segments = plan_segments(
            info,
            max(1, self.face_workers()),
            self.settings.video_segment_seconds,
            self.settings.video_segment_max_frames,
        )
        self.media.store.put_json(files.plan, [asdict(segment) for segment in segments])
        return segments


class _Progress:
    """Frames detected plus frames anonymized, over twice the frames: reported as frames_done of frames_total."""

    def __init__(self, tasks: TaskStore, task_id: str, frame_count: int) -> None:
        self._tasks, self._task_id, self._total = tasks, task_id, frame_count
        self._steps = 0

    async def add(self, frames: int) -> None:
        self._steps += frames
        await self._tasks.set_progress(self._task_id, min(self._steps // 2, self._total), self._total)


async def _all(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the jobs at once; the first failure cancels the others and is raised as itself, so the dispatcher
    retries an unanswered job and fails a refused one as it does for images."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _frames(segment: SegmentPlan) -> str:
    return f"{segment.first_frame}-{segment.first_frame + segment.frame_count - 1}"


def _detections_of(result: pb.JobResult) -> dict[str, list[list[float]]]:
    return {str(frame.frame): [[f.x1, f.y1, f.x2, f.y2, f.confidence] for f in frame.faces] for frame in result.frames}


def _plate_detections_of(result: pb.JobResult, plate_every: int) -> dict[str, list[list[float]]]:
    """The plates of the frames the plate detector ran on (every ``plate_every``-th; the others list none)."""
    return {
        str(frame.frame): [[p.x1, p.y1, p.x2, p.y2, p.confidence] for p in frame.plates]
        for frame in result.frames
        if frame.frame % plate_every == 0
    }


def _as_arrays(stored: dict[str, list[list[float]]]) -> Detections:
    return {int(frame): np.array(faces, np.float32).reshape(-1, 5) for frame, faces in stored.items()}


def _frame_faces(
    tracks: list[list[TrackedFace]], segment: SegmentPlan, plate_tracks: list[list[TrackedFace]] | None = None
) -> list[pb.FrameFaces]:
    """What a blur-video job hides in each frame of the segment: the tracked faces (and plates)."""
    frames = []
    for index in range(segment.first_frame, min(segment.first_frame + segment.frame_count, len(tracks))):
        plates = plate_tracks[index] if plate_tracks is not None else []
        if tracks[index] or plates:
            faces = [
                pb.Face(x1=f.box[0], y1=f.box[1], x2=f.box[2], y2=f.box[3], confidence=f.confidence)
                for f in tracks[index]
            ]
            hidden = [
                pb.Plate(x1=p.box[0], y1=p.box[1], x2=p.box[2], y2=p.box[3], confidence=p.confidence) for p in plates
            ]
            frames.append(pb.FrameFaces(frame=index, faces=faces, plates=hidden))
    return frames
