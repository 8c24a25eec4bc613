"""The matcher's copy of each gallery, kept in this process and reloaded only when the gallery's version in Redis
changed: a request costs one small read, and an enrollment is seen by the very next request."""

from __future__ import annotations

from gateway_service.galleries.matching import GalleryVectors
from gateway_service.galleries.store import GalleryStore


class GalleryCache:
    def __init__(self, store: GalleryStore) -> None:
        self._store = store
        self._copies: dict[tuple[str, str], GalleryVectors] = {}

    async def get(self, owner: str, gallery: str) -> GalleryVectors | None:
        """The gallery as it is now, or None if there is no such gallery."""
        key = (owner, gallery)
        version = await self._store.version(owner, gallery)
        cached = self._copies.get(key)
        if version is not None and (cached is None or cached.version != version):
            cached = await self._store.vectors(owner, gallery)
        if version is None or cached is None:  # the gallery is gone (perhaps deleted while it was being read)
            self._copies.pop(key, None)
            return None
        self._copies[key] = cached
        return cached
