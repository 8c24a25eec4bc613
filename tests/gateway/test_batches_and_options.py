"""Several images per request, size controls, image URLs, one round trip (?wait=) and output metadata, through
the real stack."""

from __future__ import annotations

import asyncio
import base64
import http.server
import io
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
from PIL import Image, ImageCms

from face_detection_service.anonymize import AnonymizeOptions
from gateway_service.core.config import Settings
from gateway_service.fetch import FetchFailed, fetch_image
from tests.gateway.helpers import reference_jpeg, submit, wait_for
from tests.regions import untouched
from tests.stack import Gateway, Stack

# Display P3's colorants (D50-adapted), as in the profile Apple ships: a wide gamut, shifted if its profile is lost.
P3_COLORANTS = {
    b"rXYZ": (0.5151, 0.2412, -0.0011),
    b"gXYZ": (0.2920, 0.6922, 0.0419),
    b"bXYZ": (0.1571, 0.0666, 0.7841),
}


def display_p3_profile() -> bytes:
    """LittleCMS's sRGB profile with Display P3's colorants written over sRGB's."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", profile[128:132])
    for index in range(count):
        signature, offset, _ = struct.unpack(">4sII", profile[132 + 12 * index : 144 + 12 * index])
        if signature in P3_COLORANTS:
            xyz = b"".join(struct.pack(">i", round(v * 65536)) for v in P3_COLORANTS[signature])
            profile[offset + 8 : offset + 20] = xyz
    return bytes(profile)


def p3_jpeg_with_private_metadata() -> tuple[bytes, bytes]:
    """The reference photo as a Display P3 JPEG carrying GPS EXIF, a camera, a comment and XMP; and the profile."""
    profile = display_p3_profile()
    photo = Image.open(io.BytesIO(reference_jpeg()))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0132] = "2024:01:01 12:00:00"  # DateTime
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>secret-xmp</x:xmpmeta>'
    output = io.BytesIO()
    photo.save(output, "JPEG", quality=95, icc_profile=profile, exif=exif, comment=b"secret comment", xmp=xmp)
    return output.getvalue(), profile


def assert_only_the_colour_profile(image_bytes: bytes, profile: bytes) -> None:
    with Image.open(io.BytesIO(image_bytes)) as image:
        assert image.info.get("icc_profile") == profile, "the colour profile was not kept"
        assert not image.getexif(), f"EXIF leaked: {dict(image.getexif())}"
        leaked = {key for key in image.info if key in ("exif", "comment", "xmp", "XML:com.adobe.xmp", "photoshop")}
        assert not leaked, f"metadata leaked: {leaked}"
    assert b"secret" not in image_bytes and b"SecretCam" not in image_bytes


def test_an_anonymized_p3_photo_keeps_its_colour_profile_and_nothing_else(api: httpx.Client) -> None:
    photo, profile = p3_jpeg_with_private_metadata()
    blurred = wait_for(api, submit(api, "blur_faces", photo))
    drawn = wait_for(api, submit(api, "detect_faces", photo, draw=True))
    assert blurred["status"] == drawn["status"] == "SUCCESS", (blurred, drawn)

    for body in (base64.b64decode(blurred["result"]), base64.b64decode(drawn["drawn_image"])):
        assert_only_the_colour_profile(body, profile)
    # Colours must not shift: away from the faces the pixels are the input's (up to JPEG re-encoding).
    original = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"), np.int16)
    output = np.asarray(Image.open(io.BytesIO(base64.b64decode(blurred["result"]))).convert("RGB"), np.int16)
    boxes = np.array([face["facial_area"] for face in blurred["faces"].values()], np.float32)
    away = untouched(boxes, AnonymizeOptions(), original.shape[0], original.shape[1])
    assert away.mean() > 0.1
    assert np.abs(original - output)[away].mean() < 2.0


def test_several_files_make_one_task_each_in_order(api: httpx.Client) -> None:
    small = _scaled_reference(400)
    files = [("file", ("a.jpg", reference_jpeg())), ("file", ("b.jpg", small)), ("file", ("c.jpg", reference_jpeg()))]
    response = api.post("/detect_faces", files=files)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert "task_id" not in answer and len(answer["task_ids"]) == 3
    widths = [wait_for(api, task_id)["image_width"] for task_id in answer["task_ids"]]
    assert widths == [1634, 400, 1634]


def test_one_bad_file_refuses_the_request_naming_it_and_queues_nothing(api: httpx.Client) -> None:
    files = [("file", ("good.jpg", reference_jpeg())), ("file", ("notes.txt", b"hello, not an image"))]
    response = api.post("/blur_faces", files=files)
    assert response.status_code == 415 and "notes.txt" in response.json()["detail"]
    empty = api.post("/blur_faces", files=[("file", ("good.jpg", reference_jpeg())), ("file", ("zero.jpg", b""))])
    assert empty.status_code == 400 and "zero.jpg" in empty.json()["detail"]


def test_more_files_than_the_limit_is_400_naming_the_setting(api: httpx.Client) -> None:
    tiny = _scaled_reference(64)
    response = api.post("/detect_faces", files=[("file", (f"{n}.jpg", tiny)) for n in range(33)])
    assert response.status_code == 400
    assert "GATEWAY_MAX_FILES_PER_REQUEST" in response.json()["detail"] and "32" in response.json()["detail"]


def test_size_controls_drop_small_faces_and_keep_the_largest(api: httpx.Client) -> None:
    everything = wait_for(api, submit(api, "detect_faces", reference_jpeg()))
    largest = wait_for(api, submit(api, "detect_faces", reference_jpeg(), max_faces=1))
    none_big_enough = wait_for(api, submit(api, "blur_faces", reference_jpeg(), min_face_size=5000))
    small_view = wait_for(api, submit(api, "detect_faces", reference_jpeg(), max_size=320))

    def area(face: dict) -> int:
        x1, y1, x2, y2 = face["facial_area"]
        return (x2 - x1) * (y2 - y1)

    assert everything["face_count"] == 2
    assert largest["face_count"] == 1
    assert area(largest["result"]["face_1"]) == max(area(face) for face in everything["result"].values())
    assert none_big_enough["face_count"] == 0
    unchanged = np.asarray(Image.open(io.BytesIO(base64.b64decode(none_big_enough["result"]))), int)
    assert np.abs(unchanged - np.asarray(Image.open(io.BytesIO(reference_jpeg())), int)).mean() < 2.0
    assert small_view["face_count"] == 2, "faces of ~60 px stay findable at 320 px"
    assert small_view["options"]["max_size"] == 320


@pytest.mark.parametrize(
    ("field", "value"), [("max_size", "-1"), ("min_face_size", "x"), ("max_faces", "0"), ("max_size", "99999")]
)
def test_invalid_size_controls_are_422_naming_the_field(api: httpx.Client, field: str, value: str) -> None:
    response = api.post("/detect_faces", files={"file": ("a.jpg", reference_jpeg())}, data={field: value})
    assert response.status_code == 422 and field in response.text


def test_post_with_wait_answers_the_finished_task_in_one_round_trip(api: httpx.Client) -> None:
    one = api.post("/detect_faces", params={"wait": 30}, files={"file": ("a.jpg", reference_jpeg())})
    assert one.status_code == 200 and one.json()["status"] == "SUCCESS" and one.json()["face_count"] == 2
    two = api.post("/detect_faces", params={"wait": 30}, files=[("file", ("a.jpg", reference_jpeg()))] * 2)
    assert two.status_code == 200
    assert [task["status"] for task in two.json()["tasks"]] == ["SUCCESS", "SUCCESS"]
    assert [task["task_id"] for task in two.json()["tasks"]] == two.json()["task_ids"]
    hurried = api.post("/blur_faces", params={"wait": 0.001}, files={"file": ("a.jpg", reference_jpeg())})
    assert hurried.status_code == 202 and "task_id" in hurried.json()


# --- images given by URL ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    """A local HTTP server: /photo.jpg, /redirect/N (N hops to the photo), /missing (404), /big (too large)."""
    photo = reference_jpeg()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/photo.jpg":
                self._send(200, photo)
            elif self.path.startswith("/redirect/"):
                hops = int(self.path.rsplit("/", 1)[1])
                self.send_response(302)
                self.send_header("Location", "/photo.jpg" if hops <= 1 else f"/redirect/{hops - 1}")
                self.end_headers()
            elif self.path == "/big":
                self._send(200, photo + bytes(25 * 1024 * 1024))
            else:
                self._send(404, b"no")

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture()
def fetching_gateway(stack: Stack, make_gateway: Callable[..., Gateway]) -> Iterator[httpx.Client]:
    gateway = make_gateway(stack.redis.url, [stack.face.address], GATEWAY_FETCH_ALLOW_PRIVATE="true")
    with gateway.client() as client:
        yield client


def test_an_image_url_is_fetched_and_processed(fetching_gateway: httpx.Client, image_server: str) -> None:
    response = fetching_gateway.post("/detect_faces", data={"url": f"{image_server}/redirect/3"})
    assert response.status_code == 202, response.text
    assert wait_for(fetching_gateway, response.json()["task_id"])["face_count"] == 2


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/missing", "HTTP 404"), ("/redirect/5", "more than 3 redirects"), ("/big", "GATEWAY_MAX_UPLOAD_BYTES")],
)
def test_a_failed_fetch_is_400_naming_the_host_and_reason(
    fetching_gateway: httpx.Client, image_server: str, path: str, reason: str
) -> None:
    response = fetching_gateway.post("/blur_faces", data={"url": image_server + path})
    assert response.status_code == 400
    assert "127.0.0.1" in response.json()["detail"] and reason in response.json()["detail"]


def test_credentials_in_an_image_url_are_refused(fetching_gateway: httpx.Client, image_server: str) -> None:
    url = image_server.replace("http://", "http://user:secret@") + "/photo.jpg"
    response = fetching_gateway.post("/detect_faces", data={"url": url})
    assert response.status_code == 400 and "user name or password" in response.json()["detail"]


def test_private_addresses_are_refused_unless_allowed(image_server: str) -> None:
    photo_url = f"{image_server}/photo.jpg"
    with pytest.raises(FetchFailed, match=r"not public.*GATEWAY_FETCH_ALLOW_PRIVATE"):
        asyncio.run(fetch_image(photo_url, Settings(fetch_allow_private=False)))
    assert asyncio.run(fetch_image(photo_url, Settings(fetch_allow_private=True))) == reference_jpeg()


def _scaled_reference(width: int) -> bytes:
    photo = Image.open(io.BytesIO(reference_jpeg()))
    output = io.BytesIO()
    photo.resize((width, round(photo.height * width / photo.width))).save(output, "JPEG")
    return output.getvalue()
