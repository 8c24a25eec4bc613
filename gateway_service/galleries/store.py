"""Galleries in Redis: each change (enroll, delete a face, a subject, a gallery) is one atomic Lua step that also
bumps the gallery's version, so a matcher's cached copy knows when to reload. Vectors never leave this module
except to the matcher."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass

import numpy as np
from redis.asyncio import Redis

from gateway_service.galleries.matching import GalleryVectors
from gateway_service.tasks.keys import RedisKeys

# KEYS: gallery, faces, subjects, index, counter. ARGV: gallery name, model, now, subject, then a face id and its
# record for each face. All of the subject's new faces in one step: stored together, or (another model) none.
_ENROLL = """
local model = redis.call('HGET', KEYS[1], 'model')
if model and model ~= ARGV[2] then return {0, model} end
if not model then redis.call('HSET', KEYS[1], 'model', ARGV[2], 'created_at', ARGV[3]) end
local count = 0
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  count = count + 1
end
redis.call('HINCRBY', KEYS[3], ARGV[4], count)
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('INCRBY', KEYS[5], count)
return {1, ARGV[2]}
"""
# KEYS: gallery, faces, subjects, counter. ARGV: subject, face id ('' = every face of the subject).
_DELETE_FACES = """
local removed = 0
if ARGV[2] ~= '' then
  local record = redis.call('HGET', KEYS[2], ARGV[2])
  if not record or cjson.decode(record)['subject'] ~= ARGV[1] then return 0 end
  redis.call('HDEL', KEYS[2], ARGV[2])
  removed = 1
else
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    if cjson.decode(all[i + 1])['subject'] == ARGV[1] then
      redis.call('HDEL', KEYS[2], all[i])
      removed = removed + 1
    end
  end
end
if removed > 0 then
  if redis.call('HINCRBY', KEYS[3], ARGV[1], -removed) <= 0 then redis.call('HDEL', KEYS[3], ARGV[1]) end
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('DECRBY', KEYS[4], removed)
end
return removed
"""
# KEYS: gallery, faces, subjects, index, counter. ARGV: gallery name.
_DELETE_GALLERY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local count = redis.call('HLEN', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('DECRBY', KEYS[5], count)
return count
"""


class ModelMismatch(Exception):
    """The gallery's vectors come from another embedding model; comparing them would be meaningless."""

    def __init__(self, gallery: str, gallery_model: str, model: str) -> None:
        super().__init__(
            f"gallery {gallery!r} holds embeddings of {gallery_model}, but the face service now embeds with {model}; "
            "vectors of different models cannot be compared: enroll into a new gallery (or delete this one)"
        )


@dataclass(frozen=True)
class EnrolledFace:
    face_id: str
    subject: str
    facial_area: list[int]
    created_at: float


@dataclass(eq=False)
class GalleryStore:
    """Every owner's galleries in one Redis; ``keys`` names their keys."""

    redis: Redis
    keys: RedisKeys

    def __post_init__(self) -> None:
        self._enroll = self.redis.register_script(_ENROLL)
        self._delete_faces = self.redis.register_script(_DELETE_FACES)
        self._delete_gallery = self.redis.register_script(_DELETE_GALLERY)

    async def enroll(
        self, owner: str, gallery: str, subject: str, vector: np.ndarray, model: str, facial_area: list[int]
    ) -> str:
        """Store one face of ``subject``; its id. ModelMismatch if the gallery holds another model's vectors."""
        (face_id,) = await self.enroll_faces(owner, gallery, subject, [(vector, facial_area)], model)
        return face_id

    async def enroll_faces(
        self, owner: str, gallery: str, subject: str, faces: list[tuple[np.ndarray, list[int]]], model: str
    ) -> list[str]:
        """Store faces of ``subject`` (vector, facial_area) in one atomic step: all of them or, with
        ModelMismatch (the gallery holds another model's vectors), none. Their ids, in order."""
        now = round(time.time(), 3)
        args: list[object] = [gallery, model, time.time(), subject]
        face_ids = []
        for vector, facial_area in faces:
            face_id = uuid.uuid4().hex
            record = {
                "subject": subject,
                "facial_area": facial_area,
                "created_at": now,
                "model": model,
                "vector": base64.b64encode(np.asarray(vector, np.float32).tobytes()).decode("ascii"),
            }
            args += [face_id, json.dumps(record)]
            face_ids.append(face_id)
        keys = [*self._gallery_keys(owner, gallery), self.keys.galleries(owner), self.keys.face_vectors]
        stored, stored_model = await self._enroll(keys=keys, args=args)
        if not stored:
            raise ModelMismatch(gallery, stored_model.decode(), model)
        return face_ids

    async def galleries(self, owner: str) -> dict[str, dict]:
        """Every gallery of ``owner``: name -> {subjects, faces, embedding_model}."""
        names = sorted(name.decode() for name in await self.redis.smembers(self.keys.galleries(owner)))
        summaries = {}
        for name in names:
            summary = await self.summary(owner, name)
            if summary is not None:
                summaries[name] = summary
        return summaries

    async def summary(self, owner: str, gallery: str) -> dict | None:
        meta_key, faces_key, subjects_key = self._gallery_keys(owner, gallery)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(meta_key, "model").hlen(faces_key).hlen(subjects_key)
            model, faces, subjects = await pipe.execute()
        if model is None:
            return None
        return {"subjects": subjects, "faces": faces, "embedding_model": model.decode()}

    async def subjects(self, owner: str, gallery: str) -> dict[str, int] | None:
        """subject -> face count, or None if there is no such gallery."""
        if not await self.redis.exists(self.keys.gallery(owner, gallery)):
            return None
        counts = await self.redis.hgetall(self.keys.gallery_subjects(owner, gallery))
        return {name.decode(): int(count) for name, count in sorted(counts.items()) if int(count) > 0}

    async def faces_of(self, owner: str, gallery: str, subject: str) -> list[EnrolledFace]:
        """The subject's enrolled faces (never their vectors), oldest first."""
        faces = []
        for face_id, raw in (await self.redis.hgetall(self.keys.gallery_faces(owner, gallery))).items():
            record = json.loads(raw)
            if record["subject"] == subject:
                faces.append(EnrolledFace(face_id.decode(), subject, record["facial_area"], record["created_at"]))
        return sorted(faces, key=lambda face: face.created_at)

    async def delete_gallery(self, owner: str, gallery: str) -> bool:
        keys = [*self._gallery_keys(owner, gallery), self.keys.galleries(owner), self.keys.face_vectors]
        return await self._delete_gallery(keys=keys, args=[gallery]) >= 0

    async def delete_faces(self, owner: str, gallery: str, subject: str, face_id: str = "") -> int:
        """Delete one face (``face_id``) or every face of ``subject``; how many were deleted."""
        meta_key, faces_key, subjects_key = self._gallery_keys(owner, gallery)
        keys = [meta_key, faces_key, subjects_key, self.keys.face_vectors]
        return int(await self._delete_faces(keys=keys, args=[subject, face_id]))

    async def version(self, owner: str, gallery: str) -> int | None:
        """The gallery's version (bumped by every change), or None if there is no such gallery (enrolling creates
        a gallery and its version in one step, deleting the gallery removes both)."""
        version = await self.redis.hget(self.keys.gallery(owner, gallery), "version")
        return int(version) if version is not None else None

    async def vectors(self, owner: str, gallery: str) -> GalleryVectors | None:
        """Everything matching needs, read in one transaction, or None if there is no such gallery."""
        meta_key, faces_key, _ = self._gallery_keys(owner, gallery)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(meta_key, "version", "model").hvals(faces_key)
            (version, model), records = await pipe.execute()
        if model is None:
            return None
        parsed = [json.loads(raw) for raw in records]
        if not parsed:
            return GalleryVectors.empty(int(version or 0), model.decode())
        vectors = np.stack([np.frombuffer(base64.b64decode(r["vector"]), np.float32) for r in parsed])
        return GalleryVectors(int(version or 0), model.decode(), tuple(r["subject"] for r in parsed), vectors)

    async def note_model(self, model: str) -> None:
        """Remember the embedding model the face services use now (each embed answer names it)."""
        if model:
            await self.redis.set(self.keys.embedding_model, model)

    async def current_model(self) -> str:
        """The embedding model the face services last answered with ('' before any embed job)."""
        return (await self.redis.get(self.keys.embedding_model) or b"").decode()

    async def vector_count(self) -> int:
        return int(await self.redis.get(self.keys.face_vectors) or 0)

    def _gallery_keys(self, owner: str, gallery: str) -> tuple[str, str, str]:
        return (
            self.keys.gallery(owner, gallery),
            self.keys.gallery_faces(owner, gallery),
            self.keys.gallery_subjects(owner, gallery),
        )
