"""Network runtimes for YOLOv8-face weights: LiteRT (.tflite), ONNX Runtime (.onnx), Ultralytics/PyTorch (.pt).

Each runner takes the letterboxed uint8 RGB canvas and returns the raw [20, N] prediction matrix; it does no
pre- or post-processing of its own, so every format shares the decode path in `yolo.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ..model_runtime import cpu_session


class NetworkRunner(Protocol):
    input_size: int
    normalized_output: bool  # True when boxes come out as fractions of the input size (TFLite exports)
    runtime: str

    def run(self, canvas_rgb: np.ndarray) -> np.ndarray: ...


class LiteRtRunner:
    runtime = "litert"
    normalized_output = True

    def __init__(self, path: Path, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self._interpreter.allocate_tensors()
        input_detail = self._interpreter.get_input_details()[0]
        self._input_index = input_detail["index"]
        self._output_index = self._interpreter.get_output_details()[0]["index"]
        self._input_dtype = input_detail["dtype"]
        self.input_size = int(input_detail["shape"][1])

    def run(self, canvas_rgb: np.ndarray) -> np.ndarray:
        batch = canvas_rgb[None].astype(np.float32) * np.float32(1 / 255)
        self._interpreter.set_tensor(self._input_index, batch.astype(self._input_dtype, copy=False))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output_index)[0]


class OnnxRunner:
    runtime = "onnxruntime"
    normalized_output = False

    def __init__(self, path: Path, threads: int):
        self._session = cpu_session(str(path), threads)
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        side = model_input.shape[-1]
        self.input_size = side if isinstance(side, int) else 640

    def run(self, canvas_rgb: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(canvas_rgb.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)
        return self._session.run(None, {self._input_name: batch})[0][0]


class UltralyticsRunner:
    """PyTorch weights through Ultralytics (optional extra: `pip install ultralytics`)."""

    runtime = "ultralytics"
    normalized_output = False

    def __init__(self, path: Path, threads: int, input_size: int = 640):
        import torch
        from ultralytics import YOLO

        torch.set_num_threads(threads)
        self._torch = torch
        self._network = YOLO(str(path), task="pose").model.float().eval()
        self.input_size = input_size

    def run(self, canvas_rgb: np.ndarray) -> np.ndarray:
        batch = self._torch.from_numpy(np.ascontiguousarray(canvas_rgb.transpose(2, 0, 1)[None])).float() / 255
        with self._torch.inference_mode():
            output = self._network(batch)
        predictions = output[0] if isinstance(output, (list, tuple)) else output
        return predictions[0].cpu().numpy()


RUNNERS_BY_SUFFIX: dict[str, type] = {".tflite": LiteRtRunner, ".onnx": OnnxRunner, ".pt": UltralyticsRunner}


def open_runner(path: Path, threads: int) -> NetworkRunner:
    try:
        runner_class = RUNNERS_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        known = ", ".join(RUNNERS_BY_SUFFIX)
        raise ValueError(f"unsupported model file {path.name!r}: expected one of {known}") from None
    return runner_class(path, threads)
