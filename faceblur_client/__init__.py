"""Python client and `faceblur` command line for the FaceBlur HTTP API (standard library only).

Usage: ``client = FaceBlurClient("http://127.0.0.1:8000")``, then ``client.detect("photo.jpg").faces`` or
``client.blur("photo.jpg", mode="pixelate").save("photo_blurred.jpg")``. Recognition:
``client.enroll("staff", "Ada L", "ada.jpg")``, ``client.identify("staff", "team.jpg").faces``,
``client.verify("a.jpg", "b.jpg")["same_person"]``, ``client.blur("team.jpg", spare_gallery="staff")``. Video:
``client.blur_video("clip.mov", "clip_blurred.mp4", progress=lambda done, total: print(done, total))``.
"""

from faceblur_client.client import DEFAULT_URL, FaceBlurClient, TaskOutcome, VideoOutcome
from faceblur_client.errors import ApiError, FaceBlurError, GatewayUnreachable, TaskFailed, TaskTimeout

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "FaceBlurClient",
    "FaceBlurError",
    "GatewayUnreachable",
    "TaskFailed",
    "TaskOutcome",
    "TaskTimeout",
    "VideoOutcome",
]
