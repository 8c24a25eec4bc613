"""The `faceblur` command: detect, blur or recognize the faces in many images through a FaceBlur gateway.

    faceblur detect photo.jpg more/*.png              one JSON line per image on stdout
    faceblur blur photos/ -o blurred/ --mode pixelate anonymized copies in blurred/
    faceblur blur clip.mov -o out/                    an anonymized video: out/clip.mp4 (progress in frames)
    faceblur enroll staff "Ada L" ada*.jpg            add Ada's face (from each photo) to the gallery "staff"
    faceblur identify staff photos/ -k 3              who of "staff" each face is: one JSON line per image
    faceblur verify a.jpg b.jpg                       the same person? (prints the JSON)
    faceblur blur photos/ -o out/ --spare-gallery staff    hide everyone but the people of "staff"
    faceblur blur photos/ -o out/ --only-gallery staff     hide only the people of "staff"

Videos (MP4, MOV, MKV, WebM, AVI, M4V; by name or by their first bytes) given to `blur` go to the gateway's
/blur_video one at a time, after the images, and come back as MP4 (H.264, the audio kept).
Progress and errors go to stderr. Exit status: 0 when every image succeeded, 1 when any failed, 2 for bad usage.
`verify` answers like cmp(1): 0 when the main face of the first image is among the faces of the second, 1 when
it is not, 2 when it cannot tell (bad usage, no face in an image, an unreadable file, the gateway unreachable or
refusing).
Settings: --url (or FACEBLUR_URL), --api-key (or FACEBLUR_API_KEY).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from faceblur_client.client import DEFAULT_URL, VIDEO_TIMEOUT_SECONDS, FaceBlurClient, JobKind, TaskOutcome
from faceblur_client.errors import FaceBlurError, GatewayUnreachable
from faceblur_client.progress import FrameProgress, Progress

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
IMAGE_TIMEOUT_SECONDS = 300.0
# How GatewayUnreachable's messages (and a batch's skipped files) begin: no use sending more files.
UNREACHABLE_MESSAGES = ("cannot reach the FaceBlur gateway", "no answer from the FaceBlur gateway", "skipped: ")
EXIT_OK, EXIT_FAILED, EXIT_TROUBLE = 0, 1, 2
DEFAULT_BATCH_SIZE = 32  # the gateway's default GATEWAY_MAX_FILES_PER_REQUEST
BATCH_MAX_BYTES = 16 * 1024 * 1024  # below the gateway's default upload limit (20 MiB) for all files together
Number = TypeVar("Number", int, float)


# Each command's one-line help (in `faceblur --help`) and its description (in `faceblur COMMAND --help`), in the
# order the commands are listed.
COMMAND_TEXTS: dict[str, tuple[str, str]] = {
    "detect": (
        "print the faces in each image as one JSON line",
        "Find the faces in each image; prints one JSON line per image on stdout.",
    ),
    "blur": (
        "write an anonymized copy of each image to a folder",
        "Anonymize the faces in each image and save the results in a folder (same names; GIF, BMP and TIFF come "
        "back as PNG). Videos (MP4, MOV, MKV, WebM, AVI) come back as MP4, with a progress bar of frames. Prints "
        "one JSON line per file on stdout.",
    ),
    "enroll": (
        "add a person's face to a gallery",
        "Enroll the main face of each IMAGE (several photos of the person make a better match) as SUBJECT in "
        "GALLERY (both are made on first use), all or nothing; prints the result as JSON. A photo where no face "
        "stands out (a group) is refused: give --largest to enroll its largest face.",
    ),
    "identify": (
        "name the gallery's people in each image, one JSON line each",
        "Match every face in each image against GALLERY's people; prints one JSON line per image, each face with "
        "its matches and its subject (null when nobody matched).",
    ),
    "verify": (
        "tell whether two images show the same person",
        "Compare the main face of IMAGE1 with every face of IMAGE2; prints the answer as JSON (each face of IMAGE2 "
        "with its similarity). Exit status: 0 the same person, 1 not, 2 when it cannot tell (no face, a bad file, "
        "the gateway unreachable).",
    ),
}


@dataclass(frozen=True)
class FileResult:
    image: Path
    ok: bool
    message: str  # for the progress line: faces found, or why it failed
    record: dict | None = None  # the JSON line for stdout


def build_parser() -> argparse.ArgumentParser:
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument(
        "--url", default=os.environ.get("FACEBLUR_URL", DEFAULT_URL), help="gateway URL (env FACEBLUR_URL; %(default)s)"
    )
    connection.add_argument(
        "--api-key", default=os.environ.get("FACEBLUR_API_KEY"), help="API key (env FACEBLUR_API_KEY)"
    )
    connection.add_argument(
        "--timeout",
        type=float,
        help=f"seconds to wait for each image's result (default: {IMAGE_TIMEOUT_SECONDS:g}; "
        f"each video's: {VIDEO_TIMEOUT_SECONDS:g})",
    )
    connection.add_argument("--preset", choices=("fast", "balanced", "max_recall"), help="detection preset")
    batching = argparse.ArgumentParser(add_help=False)
    batching.add_argument(
        "-j", "--concurrency", type=_positive_int, default=4, help="images in flight at once (default: %(default)s)"
    )
    batching.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help="images sent in one request (the gateway takes up to GATEWAY_MAX_FILES_PER_REQUEST; %(default)s)",
    )
    confidence = argparse.ArgumentParser(add_help=False)
    confidence.add_argument("--threshold", type=_fraction, help="drop faces below this confidence, 0..1")
    many = [connection, batching]
    plates = argparse.ArgumentParser(add_help=False)
    plates.add_argument(
        "--plates", action="store_true", help="licence plates too: listed (detect), hidden like the faces (blur)"
    )
    plates.add_argument("--plate-threshold", type=_fraction, help="with --plates: drop plates below this, 0..1")

    parser = argparse.ArgumentParser(
        prog="faceblur", description="Detect, anonymize or recognize faces with a FaceBlur gateway."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = {
        "detect": [*many, confidence, plates],
        "blur": [*many, confidence, plates],
        "enroll": [connection],
        "identify": many,
        "verify": [connection],
    }
    detect, blur, enroll, identify, verify = (
        commands.add_parser(name, parents=parents[name], help=summary, description=description)
        for name, (summary, description) in COMMAND_TEXTS.items()
    )
    _add_images(detect)
    blur.add_argument("images", nargs="+", type=Path, metavar="FILE", help="images or videos, or folders of them")
    blur.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for the anonymized files")
    blur.add_argument("--mode", choices=("blur", "pixelate", "solid"), help="how faces are hidden (default: blur)")
    blur.add_argument("--mask", choices=("ellipse", "box"), help="shape of the hidden area (default: ellipse)")
    blur.add_argument("--box-scale", type=float, help="grow each face box by this factor first, 1..2")
    blur.add_argument("--crf", type=_crf, help="videos: x264 quality, 0..51, lower is better and larger")
    by_gallery = blur.add_mutually_exclusive_group()
    by_gallery.add_argument("--spare-gallery", metavar="GALLERY", help="leave this gallery's people visible")
    by_gallery.add_argument("--only-gallery", metavar="GALLERY", help="hide only this gallery's people")
    enroll.add_argument("gallery", metavar="GALLERY")
    enroll.add_argument("subject", metavar="SUBJECT")
    enroll.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="one or more photos of the person")
    enroll.add_argument("--largest", action="store_true", help="enroll each photo's largest face, not its main one")
    identify.add_argument("gallery", metavar="GALLERY")
    _add_images(identify)
    identify.add_argument("-k", type=_positive_int, help="matches listed per face (default: 3)")
    identify.add_argument(
        "--threshold", type=_fraction, help="similarity at or above which a face is named (the gateway's default)"
    )
    verify.add_argument("image1", type=Path, metavar="IMAGE1")
    verify.add_argument("image2", type=Path, metavar="IMAGE2")
    verify.add_argument("--largest", action="store_true", help="compare IMAGE1's largest face, not its main one")
    return parser


def _add_images(command: argparse.ArgumentParser) -> None:
    command.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files, or folders of images")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    client = FaceBlurClient(args.url, api_key=args.api_key, timeout=args.timeout or IMAGE_TIMEOUT_SECONDS)
    if args.command in ("enroll", "verify"):
        return answer_once(client, args)
    if args.command == "blur":
        return blur_files(client, args)
    images = expand_images(args.images)
    if args.command == "detect":
        handler: ImageHandler = DetectHandler(client, args)
    else:
        handler = IdentifyHandler(client, args)
    results = run_batch(images, handler, args.concurrency, args.batch_size)
    return EXIT_OK if results and all(result.ok for result in results) else EXIT_FAILED


def blur_files(client: FaceBlurClient, args: argparse.Namespace) -> int:
    """blur: the images in batches (as detect), then the videos one at a time, all into args.output_dir."""
    files = expand_images(args.images, VIDEO_SUFFIXES)
    videos = [path for path in files if is_video(path)]
    images = [path for path in files if path not in videos]
    namer = OutputNamer(args.output_dir)
    results: list[FileResult] = []
    if images or not videos:
        results += run_batch(images, BlurHandler(client, args, namer), args.concurrency, args.batch_size)
    unreachable = any(result.message.startswith(UNREACHABLE_MESSAGES) for result in results)
    for video in videos:
        if unreachable:
            results.append(FileResult(video, False, "skipped: the gateway is unreachable"))
            FrameProgress(str(video)).finish(results[-1].message)
            continue
        results.append(blur_one_video(client, args, namer, video))
        unreachable = results[-1].message.startswith(UNREACHABLE_MESSAGES)
    failed = sum(not result.ok for result in results[len(results) - len(videos) :])
    if failed and len(videos) > 1:
        print(f"{failed} of {len(videos)} videos failed", file=sys.stderr)
    return EXIT_OK if results and all(result.ok for result in results) else EXIT_FAILED


def blur_one_video(client: FaceBlurClient, args: argparse.Namespace, namer: OutputNamer, video: Path) -> FileResult:
    """Upload, follow the frames on stderr, download to OUTPUT_DIR/NAME.mp4; its JSON line on stdout."""
    progress = FrameProgress(str(video))
    target = namer.claim(video, ".mp4")
    try:
        outcome = client.blur_video(
            video, target, mode=args.mode, mask=args.mask, box_scale=args.box_scale, threshold=args.threshold,
            preset=args.preset, crf=args.crf, plates=args.plates, plate_threshold=args.plate_threshold,
            progress=progress.update, timeout=args.timeout,
        )  # fmt: skip
    except (FaceBlurError, OSError) as error:
        result = FileResult(video, False, _reason(error))
    else:
        tracks = outcome.tracks
        message = f"{outcome.frames} frames, {tracks} face track{'' if tracks == 1 else 's'}"
        if args.plates:
            plate_tracks = int(outcome.result.get("plate_tracks", 0))
            message += f", {plate_tracks} plate track{'' if plate_tracks == 1 else 's'}"
        message += f" -> {target}"
        result = FileResult(video, True, message, {"file": str(video), "output": str(target), **outcome.summary()})
        print(json.dumps(result.record), flush=True)
    progress.finish(result.message)
    return result


def is_video(path: Path) -> bool:
    """A video by its name (VIDEO_SUFFIXES) or, whatever its name, by its first bytes (MP4/MOV, Matroska/WebM,
    AVI). A file that cannot be read is not one (it fails as an image would, with the reason)."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return path.is_file()
    try:
        with path.open("rb") as source:
            head = source.read(12)
    except OSError:
        return False
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")  # ISO media: MP4, MOV, M4V
        or head.startswith(b"\x1a\x45\xdf\xa3")  # EBML: Matroska, WebM
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
    )


def answer_once(client: FaceBlurClient, args: argparse.Namespace) -> int:
    """enroll or verify: one task, its result printed as JSON; the exit status as the module docstring says."""
    trouble = EXIT_TROUBLE if args.command == "verify" else EXIT_FAILED
    try:
        face = "largest" if args.largest else None
        if args.command == "enroll":
            images = args.images[0] if len(args.images) == 1 else args.images
            answer = client.enroll(args.gallery, args.subject, images, face=face, preset=args.preset)
        else:
            answer = client.verify(args.image1, args.image2, face=face, preset=args.preset)
    except (FaceBlurError, OSError) as error:
        print(f"error: {_reason(error)}", file=sys.stderr)
        return trouble
    print(json.dumps(answer), flush=True)
    if args.command == "verify":
        return EXIT_OK if answer.get("same_person") else EXIT_FAILED
    return EXIT_OK


def run_batch(images: list[Path], handler: ImageHandler, concurrency: int, batch_size: int = 1) -> list[FileResult]:
    """Send the images `batch_size` to a request, `concurrency` requests at a time; JSON lines on stdout in
    completion order, progress on stderr. Once the gateway proves unreachable, the files not yet started are
    skipped."""
    progress = Progress(len(images))
    unreachable = threading.Event()
    output_lock = threading.Lock()

    def report(result: FileResult) -> FileResult:
        if result.record is not None:
            with output_lock:
                print(json.dumps(result.record), flush=True)
        progress.done(str(result.image), result.message, result.ok)
        return result

    def work(batch: list[Path]) -> list[FileResult]:
        if unreachable.is_set():
            return [report(FileResult(image, False, "skipped: the gateway is unreachable")) for image in batch]
        try:
            return [report(result) for result in handler.process(batch)]
        except GatewayUnreachable as error:
            unreachable.set()
            return [report(FileResult(image, False, str(error))) for image in batch]

    batches = list(in_batches(images, batch_size))
    progress.start()
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = [result for done in pool.map(work, batches) for result in done]
    finally:
        progress.close()
    failed = sum(not result.ok for result in results)
    if failed and len(images) > 1:
        print(f"{failed} of {len(images)} images failed", file=sys.stderr)
    if not images:
        print("no images given", file=sys.stderr)
    return results


class ImageHandler:
    """Sends a batch of images in one request and turns each image's task into a FileResult."""

    kind: JobKind = "detect"

    def __init__(self, client: FaceBlurClient, args: argparse.Namespace) -> None:
        self.client = client
        self.options: dict[str, object] = {"threshold": args.threshold, "preset": args.preset}
        self.concurrency = args.concurrency

    def submit(self, batch: list[Path]) -> list[str]:
        return self.client.submit_many(self.kind, batch, **self.options)

    def process(self, batch: list[Path]) -> Iterator[FileResult]:
        """One request for the batch; if the gateway refuses it (a bad file), each image on its own instead,
        so one bad file fails alone."""
        try:
            task_ids = self.submit(batch)
        except (FaceBlurError, OSError) as error:
            if isinstance(error, GatewayUnreachable):
                raise
            if len(batch) == 1:
                yield FileResult(batch[0], False, _reason(error))
            else:
                for image in batch:
                    yield from self.process([image])
            return
        with ThreadPoolExecutor(max_workers=self.concurrency) as waiters:
            yield from waiters.map(self._outcome, batch, task_ids)

    def _outcome(self, image: Path, task_id: str) -> FileResult:
        try:
            return self.finish(image, self.client.wait(task_id))
        except (FaceBlurError, OSError, ValueError) as error:
            if isinstance(error, GatewayUnreachable):
                raise
            return FileResult(image, False, _reason(error))

    def finish(self, image: Path, outcome: TaskOutcome) -> FileResult:
        return FileResult(image, True, _faces(outcome), {"file": str(image), **outcome.summary()})


class DetectHandler(ImageHandler):
    kind: JobKind = "detect"

    def __init__(self, client: FaceBlurClient, args: argparse.Namespace) -> None:
        super().__init__(client, args)
        self.options |= _plate_options(args)


class BlurHandler(ImageHandler):
    kind: JobKind = "blur"

    def __init__(self, client: FaceBlurClient, args: argparse.Namespace, namer: OutputNamer) -> None:
        super().__init__(client, args)
        self.options |= {"mode": args.mode, "mask": args.mask, "box_scale": args.box_scale}
        self.options |= {"spare_gallery": args.spare_gallery, "only_gallery": args.only_gallery}
        self.options |= _plate_options(args)
        self.namer = namer

    def finish(self, image: Path, outcome: TaskOutcome) -> FileResult:
        target = self.namer.claim(image, outcome.file_extension)
        outcome.save(target)
        record = {"file": str(image), "output": str(target), **outcome.summary()}
        record.pop("result", None)  # the image itself is in the output file
        return FileResult(image, True, f"{_faces(outcome)} -> {target}", record)


class IdentifyHandler(ImageHandler):
    def __init__(self, client: FaceBlurClient, args: argparse.Namespace) -> None:
        super().__init__(client, args)
        self.gallery, self.k = args.gallery, args.k

    def submit(self, batch: list[Path]) -> list[str]:
        threshold, preset = self.options["threshold"], self.options["preset"]
        return self.client.submit_identify(self.gallery, batch, k=self.k, threshold=threshold, preset=preset)

    def finish(self, image: Path, outcome: TaskOutcome) -> FileResult:
        """The progress line names who was recognized: "2 faces: Ada L, ?"."""
        named = [face.get("subject") or "?" for face in outcome.faces.values()]
        message = ": ".join([_faces(outcome), ", ".join(named)]) if named else _faces(outcome)
        return FileResult(image, True, message, {"file": str(image), **outcome.summary()})


def in_batches(images: list[Path], batch_size: int, max_bytes: int = BATCH_MAX_BYTES) -> Iterator[list[Path]]:
    """Consecutive groups of at most `batch_size` images and (past the first image) `max_bytes` together."""
    batch: list[Path] = []
    size = 0
    for image in images:
        image_size = image.stat().st_size if image.is_file() else 0
        if batch and (len(batch) >= batch_size or size + image_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(image)
        size += image_size
    if batch:
        yield batch


class OutputNamer:
    """Output paths in one folder: the input's name with the result's extension, never overwriting an input
    and never giving two inputs of the same name the same output (the second gets "-2", and so on)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._taken: set[Path] = set()
        self._lock = threading.Lock()

    def claim(self, image: Path, extension: str) -> Path:
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            candidate = self.folder / f"{image.stem}{extension}"
            number = 1
            while candidate.resolve() in self._taken or candidate.resolve() == image.resolve():
                number += 1
                candidate = self.folder / f"{image.stem}-{number}{extension}"
            self._taken.add(candidate.resolve())
            return candidate


def expand_images(paths: list[Path], also: set[str] | frozenset[str] = frozenset()) -> list[Path]:
    """Files as given (whatever their names); folders become the image files directly inside them (and those
    with the suffixes `also`: blur takes videos too)."""
    suffixes = IMAGE_SUFFIXES | also
    images: list[Path] = []
    for path in paths:
        if path.is_dir():
            images.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes))
        else:
            images.append(path)
    return images


def _faces(outcome: TaskOutcome) -> str:
    """ "2 faces", and with plates asked for: "2 faces, 1 plate"."""
    faces = f"{outcome.face_count} face{'' if outcome.face_count == 1 else 's'}"
    if "plate_count" not in outcome.task:
        return faces
    plates = int(outcome.task["plate_count"])
    return f"{faces}, {plates} plate{'' if plates == 1 else 's'}"


def _plate_options(args: argparse.Namespace) -> dict[str, object]:
    """--plates and --plate-threshold as the request's fields (none without --plates: the request is as before)."""
    return {"plates": True, "plate_threshold": args.plate_threshold} if args.plates else {}


def _reason(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError | PermissionError):
        return f"cannot read it: {error.strerror}"
    return str(error)


def _number_in(
    name: str, convert: Callable[[str], Number], low: Number, high: Number | None = None
) -> Callable[[str], Number]:
    """An argparse type: the text `convert`ed, refused unless it is from `low` to `high` (no upper bound when None);
    `name` is the one argparse shows for text that is no number ("invalid _crf value: 'x'")."""

    def parse(text: str) -> Number:
        value = convert(text)
        if high is None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g}")
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    parse.__name__ = name
    return parse


_positive_int = _number_in("_positive_int", int, 1)
_crf = _number_in("_crf", int, 0, 51)
_fraction = _number_in("_fraction", float, 0.0, 1.0)


if __name__ == "__main__":
    sys.exit(main())
