"""A task's input images as the one blob the task store keeps: one image as it is; several (verify_faces) in a
small container of length-prefixed parts."""

from __future__ import annotations

import struct

_MAGIC = b"FBIMGS1\n"


def pack_images(images: list[bytes]) -> bytes:
    if len(images) == 1:
        return images[0]
    return _MAGIC + b"".join(struct.pack(">Q", len(image)) + image for image in images)


def unpack_images(blob: bytes) -> list[bytes]:
    if not blob.startswith(_MAGIC):
        return [blob]
    images, offset = [], len(_MAGIC)
    while offset < len(blob):
        (size,) = struct.unpack_from(">Q", blob, offset)
        images.append(blob[offset + 8 : offset + 8 + size])
        offset += 8 + size
    return images
