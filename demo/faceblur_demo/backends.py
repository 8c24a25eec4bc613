"""Where the faces are found: a FaceBlur gateway over HTTP, or the face service's detector in this process.

Both answer a `Request` for one image with an `Outcome` in the gateway API's JSON shape, so the page shows the
same thing either way. Recognition (enrolling people, blurring everyone else) needs the gateway's galleries: only
the gateway backend does it; in process, the page says to start the demo with --url. Videos likewise: the
gateway's /blur_video (its face services decode, track and encode them) is the only way the demo blurs one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from faceblur_demo.options import DemoError, Outcome, Request

RECOGNITION_NEEDS_GATEWAY = (
    "Recognition needs a running FaceBlur gateway, which keeps the galleries of enrolled people: "
    "start the demo with `--url http://HOST:8000` (or FACEBLUR_URL)."
)
VIDEO_NEEDS_GATEWAY = (
    "Videos are anonymized by a running FaceBlur gateway and its face services: start the demo with "
    "`--url http://HOST:8000` (or FACEBLUR_URL)."
)
# Videos take longer than photos: how long the page waits for one (the gateway's own limits apply first).
VIDEO_TIMEOUT_SECONDS = 1800.0
FrameProgress = Callable[[int, int], object]


class Backend(Protocol):
    description: str  # for the page: where the faces are found
    recognizes: bool  # whether enroll and blur_by_gallery work
    blurs_videos: bool  # whether blur_video works

    def process(self, image: bytes, filename: str, request: Request) -> Outcome: ...

    def enroll(self, gallery: str, subject: str, image: bytes, filename: str) -> dict[str, Any]: ...

    def blur_by_gallery(self, image: bytes, filename: str, gallery: str, spare: bool) -> Outcome: ...

    def blur_video(self, video: Path, output: Path, request: Request, progress: FrameProgress) -> dict[str, Any]: ...


class GatewayBackend:
    """A running FaceBlur gateway, through faceblur_client."""

    recognizes = True
    blurs_videos = True

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 120.0) -> None:
        from faceblur_client import FaceBlurClient

        self.client = FaceBlurClient(url, api_key=api_key, timeout=timeout)
        self.description = f"the FaceBlur gateway at {self.client.url}"

    def process(self, image: bytes, filename: str, request: Request) -> Outcome:
        with _reasons(filename):
            submit = self.client.blur if request.action == "blur" else self.client.detect
            outcome = submit(image, filename=filename, **_options(request))
        return Outcome(outcome.faces, outcome.summary(), outcome.image, outcome.image_format)

    def enroll(self, gallery: str, subject: str, image: bytes, filename: str) -> dict[str, Any]:
        """Enroll the photo's main face (faceblur_proto.main_face; a photo where none stands out is refused); the
        answer, with everyone the gallery now holds."""
        with _reasons(filename):
            enrolled = self.client.enroll(gallery, subject, image, face="main", filename=filename)
            people = self.client.subjects(gallery)["subjects"]
        return {**enrolled, "gallery_subjects": people}

    def blur_by_gallery(self, image: bytes, filename: str, gallery: str, spare: bool) -> Outcome:
        """Blur everyone but the gallery's people (`spare`), or only them."""
        chosen = {"spare_gallery": gallery} if spare else {"only_gallery": gallery}
        with _reasons(filename):
            outcome = self.client.blur(image, filename=filename, **chosen)
        return Outcome(outcome.faces, outcome.summary(), outcome.image, outcome.image_format)

    def blur_video(self, video: Path, output: Path, request: Request, progress: FrameProgress) -> dict[str, Any]:
        """Anonymize the video into `output` (MP4), calling `progress(frames_done, frames_total)` as it goes;
        the task's result (frames, fps, tracks, audio...) as the JSON to show."""
        with _reasons(video.name):
            outcome = self.client.blur_video(
                video, output, progress=progress, timeout=VIDEO_TIMEOUT_SECONDS, **_options(request)
            )
        return outcome.summary()


class LocalBackend:
    """The face service's own pipeline (decode, detect, anonymize, encode), run in this process."""

    recognizes = False
    blurs_videos = False

    def __init__(self, model_path: Path | None, threads: int = 2, max_pixels: int = 50_000_000) -> None:
        from face_detection_service.detection.loader import load_detector

        self.detector = load_detector(model_path, threads)
        self.max_pixels = max_pixels
        self.description = f"{self.detector.name}, in this process"
        self._lock = threading.Lock()  # one model instance: one image at a time
        self._plates: Any = None

    def process(self, image: bytes, filename: str, request: Request) -> Outcome:
        from face_detection_service.anonymize import AnonymizeOptions
        from face_detection_service.detection.presets import get_preset
        from face_detection_service.imaging import ImageError
        from face_detection_service.jobs import JobSpec, run_job
        from faceblur_proto.vocabulary import Mask, Mode, face_entry, faces_by_number, plate_entry, plates_by_number

        spec = JobSpec(
            blur=request.action == "blur",
            preset=get_preset(request.preset),
            score_threshold=request.threshold,
            anonymize=AnonymizeOptions(Mode(request.mode), Mask(request.mask), request.box_scale),
            plates=request.plates,
        )
        started = time.perf_counter()
        try:
            with self._lock:
                plates = self._plate_detector() if request.plates else None
                output = run_job(image, spec, self.detector, self.max_pixels, None, plates)
        except ImageError as error:
            raise DemoError(f"{filename}: {error}") from None
        found = output.faces
        faces = faces_by_number(map(face_entry, found.boxes, found.scores, found.landmarks))
        details: dict[str, Any] = {
            "kind": request.action,
            "options": _options(request),
            "face_count": len(faces),
            "faces" if request.action == "blur" else "result": faces,
            "image_width": output.width,
            "image_height": output.height,
            "model": output.model,
            "preset": spec.preset.name,
            "timings_ms": {name.removesuffix("_ms"): round(ms, 2) for name, ms in output.timings_ms.items()}
            | {"total": round((time.perf_counter() - started) * 1000, 2)},
        }
        if output.plates is not None:
            listed = plates_by_number(map(plate_entry, output.plates.boxes, output.plates.scores))
            details |= {"plates": listed, "plate_count": len(listed), "plate_model": output.plate_model}
        if output.image is not None:
            details = {"image_format": output.image_format, **details}
        return Outcome(faces, details, output.image, output.image_format or "jpeg")

    def _plate_detector(self) -> Any:
        """The plate model (FACE_PLATE_MODEL or platedet), loaded on the first request with plates."""
        from face_detection_service.detection.plates import PlateModelError, load_plate_detector

        if self._plates is None:
            try:
                self._plates = load_plate_detector(os.environ.get("FACE_PLATE_MODEL", ""))
            except PlateModelError as error:
                raise DemoError(str(error)) from None
        return self._plates

    def enroll(self, gallery: str, subject: str, image: bytes, filename: str) -> dict[str, Any]:
        raise DemoError(RECOGNITION_NEEDS_GATEWAY)

    def blur_by_gallery(self, image: bytes, filename: str, gallery: str, spare: bool) -> Outcome:
        raise DemoError(RECOGNITION_NEEDS_GATEWAY)

    def blur_video(self, video: Path, output: Path, request: Request, progress: FrameProgress) -> dict[str, Any]:
        raise DemoError(VIDEO_NEEDS_GATEWAY)


@contextmanager
def _reasons(filename: str) -> Iterator[None]:
    """faceblur_client's errors as DemoErrors naming the file."""
    from faceblur_client import ApiError, FaceBlurError

    try:
        yield
    except ApiError as error:  # the gateway refused the request; its reason is the user's answer
        raise DemoError(f"{filename}: {error.detail}") from None
    except FaceBlurError as error:
        raise DemoError(f"{filename}: {error}") from None


def _options(request: Request) -> dict[str, Any]:
    chosen: dict[str, Any] = {"preset": request.preset, "threshold": request.threshold}
    if request.action == "blur":
        chosen |= {"mode": request.mode, "mask": request.mask, "box_scale": request.box_scale}
    if request.plates:
        chosen["plates"] = True
    return {name: value for name, value in chosen.items() if value is not None}
