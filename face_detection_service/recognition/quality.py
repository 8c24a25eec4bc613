"""How sharp an aligned face is: what the gateway's quality gate reads as a face's ``sharpness``.

The standard deviation of the Laplacian of the face's grey levels over the region from the eyes to the chin
(inside the cheeks, so the background and hair do not count), divided by the grey levels' own standard deviation
there: blur removes fine detail, the division takes out the photo's contrast and lighting. Measured on the
112 x 112 crop the embedding is made from, so a small face enlarged to that size reads as blurred too. Typical
values on LFW's news photos: median 1.14, 1 % below 0.58; a face blurred by a Gaussian of 2 % of its size 0.30.
"""

from __future__ import annotations

import cv2
import numpy as np

# Rows and columns of a 112 x 112 aligned face (ArcFace template) from just above the eyes to the chin.
REGION = (slice(28, 100), slice(22, 90))


def sharpness(face_rgb: np.ndarray) -> float:
    """The sharpness of one aligned uint8 RGB face (112 x 112; another size is resized to it first)."""
    if face_rgb.shape[:2] != (112, 112):
        face_rgb = cv2.resize(face_rgb, (112, 112), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(face_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)[REGION]
    return float(detail.std() / (grey[REGION].std() + 1.0))
