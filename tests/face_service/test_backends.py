"""Every weight format runs through the same decode path and gives the same faces.

`.onnx` and `.pt` YOLOv8-face weights are not available offline, so an untrained YOLOv8n-pose network with the
face head (1 class, 5 keypoints) is built with Ultralytics, saved as `.pt` and exported to `.onnx`: identical
weights in two formats. Identical weights must give identical detections, and the same as Ultralytics' own
`predict` on that file. The `.tflite` path is checked against Ultralytics on the real pretrained model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_detection_service.detection.loader import load_detector
from face_detection_service.detection.presets import get_preset

from .faces import best_iou_per_reference
from .support import MODEL, REFERENCE_IMAGE

ultralytics = pytest.importorskip("ultralytics", reason="the .pt backend needs the optional ultralytics extra")
pytestmark = [pytest.mark.reference, pytest.mark.timeout(300)]
FAST = get_preset("fast")


@pytest.fixture(scope="module")
def untrained_face_weights(tmp_path_factory) -> dict[str, Path]:
    import yaml
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("weights")
    config = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8-pose.yaml").read_text())
    config.update(nc=1, kpt_shape=[5, 3], scale="n")
    (folder / "yolov8n-face-untrained.yaml").write_text(yaml.safe_dump(config))
    model = YOLO(str(folder / "yolov8n-face-untrained.yaml"), task="pose")
    pt_path = folder / "yolov8n-face-untrained.pt"
    model.save(str(pt_path))
    onnx_path = Path(YOLO(str(pt_path), task="pose").export(format="onnx", imgsz=640, simplify=False))
    return {"pt": pt_path, "onnx": onnx_path}


@pytest.fixture(scope="module")
def reference_rgb() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(REFERENCE_IMAGE)), cv2.COLOR_BGR2RGB)


def test_pt_and_onnx_weights_give_the_same_detections(untrained_face_weights, reference_rgb):
    from_pt = load_detector(untrained_face_weights["pt"], 2, with_centerface=False)
    from_onnx = load_detector(untrained_face_weights["onnx"], 2, with_centerface=False)

    # Untrained scores are tiny; a near-zero threshold still exercises every step of the decode.
    pt_faces = from_pt.detect(reference_rgb, FAST, score_threshold=0.001)
    onnx_faces = from_onnx.detect(reference_rgb, FAST, score_threshold=0.001)

    assert "ultralytics" in from_pt.name and "onnxruntime" in from_onnx.name
    assert len(pt_faces) > 0
    assert len(pt_faces) == len(onnx_faces)
    np.testing.assert_allclose(pt_faces.boxes, onnx_faces.boxes, atol=1.0)
    np.testing.assert_allclose(pt_faces.scores, onnx_faces.scores, atol=1e-3)


def _ultralytics_boxes(weights: Path, image_rgb: np.ndarray, threshold: float) -> np.ndarray:
    from ultralytics import YOLO

    result = YOLO(str(weights), task="pose").predict(
        image_rgb[:, :, ::-1], conf=threshold, iou=0.45, imgsz=640, verbose=False
    )[0]
    return result.boxes.xyxy.cpu().numpy()


def test_decode_matches_ultralytics_on_the_pretrained_tflite_model(reference_rgb):
    ours = load_detector(MODEL, 2, with_centerface=False).detect(reference_rgb, FAST, score_threshold=0.25)
    theirs = _ultralytics_boxes(MODEL, reference_rgb, 0.25)

    assert len(ours) == len(theirs) == 2
    assert min(best_iou_per_reference(theirs.tolist())) >= 0.9
    for box in theirs:
        assert max(_iou(box, mine) for mine in ours.boxes) >= 0.95


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
