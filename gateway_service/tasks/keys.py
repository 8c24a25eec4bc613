"""Names of everything the gateway keeps in Redis, all under one prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "faceblur"

    @property
    def job_stream(self) -> str:
        return self._key("jobs")

    @property
    def dispatcher_group(self) -> str:
        return "dispatchers"

    @property
    def done_channel_pattern(self) -> str:
        return self._key("done", "*")

    def task(self, task_id: str) -> str:
        return self._key("task", task_id)

    def image(self, task_id: str) -> str:
        return self._key("image", task_id)

    def done_channel(self, task_id: str) -> str:
        return self._key("done", task_id)

    # Galleries: names are hex-encoded in keys, so no name can reach into another's keys.
    def galleries(self, owner: str) -> str:
        return self._key("galleries", _hex(owner))

    def gallery(self, owner: str, gallery: str) -> str:
        """The gallery's hash: model, version (bumped by every change), created_at."""
        return self._key("gallery", _hex(owner), _hex(gallery))

    def gallery_faces(self, owner: str, gallery: str) -> str:
        """face_id -> the enrolled face (subject, box, model, vector) as JSON."""
        return self.gallery(owner, gallery) + ":faces"

    def gallery_subjects(self, owner: str, gallery: str) -> str:
        """subject -> how many faces it has."""
        return self.gallery(owner, gallery) + ":subjects"

    @property
    def embedding_model(self) -> str:
        """The embedding model the face services last answered with."""
        return self._key("embedding_model")

    @property
    def face_vectors(self) -> str:
        """How many face vectors are stored, over all galleries (for /metrics)."""
        return self._key("face_vectors")

    def task_id_from_done_channel(self, channel: str) -> str:
        return channel.removeprefix(self.done_channel(""))

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))


def _hex(name: str) -> str:
    return name.encode().hex() or "-"
