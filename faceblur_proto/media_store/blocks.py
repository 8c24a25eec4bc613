"""``BlockReader``: a seekable reader of one stored object that fetches it in aligned blocks and keeps the last few,
for a decoder that jumps about in a file it reads only part of (a video segment job).

Why not ``MediaStore.open``: S3Store's reader streams from wherever it is and starts a new ranged GET at every seek.
FFmpeg's MP4 demuxer seeks between the video and the audio samples all the time (packets are read in dts order
across tracks), so one 5-second segment of a 40-second 720p clip took 207 GETs and 2.9 s that way. Fetched in
1 MiB blocks with 8 kept, the same segment took 5 GETs (the blocks it touches: 5 of the file's 13 MiB), and
decoding it 0.32 s against 0.16-0.46 s from a local file (SeaweedFS on loopback, 2 shared cores). Downloading the
whole input to a scratch file for each segment job instead reads the whole file once per job: twice per segment
(detect, blur), so a video cut into 32 segments would be read 64 times.

Memory: at most ``keep`` blocks (8 MiB by default) per reader. Reads past the end return b"".
"""

from __future__ import annotations

from collections import OrderedDict

from faceblur_proto.media_store.base import MediaStore, ObjectReader

MiB = 1024 * 1024


class BlockReader(ObjectReader):
    """``key`` of ``store``, read through blocks of ``block_bytes`` (the ``keep`` last used held in memory). A
    missing object raises MediaNotFound when the reader is made; a store that fails while reading raises its
    MediaStoreError / MediaStoreUnavailable from ``read``. ``name`` is the key's last part (for messages)."""

    def __init__(self, store: MediaStore, key: str, block_bytes: int = MiB, keep: int = 8) -> None:
        if block_bytes < 1 or keep < 1:
            raise ValueError("block_bytes and keep must be at least 1")
        super().__init__(store.stat(key).size)
        self._store, self._key = store, key
        self._block_bytes, self._keep = block_bytes, keep
        self.name = key.rsplit("/", 1)[-1]
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self.fetches = 0  # blocks fetched so far (each one ranged GET on S3)

    def _read(self, most: int) -> bytes:
        number, offset = divmod(self._position, self._block_bytes)
        return self._block(number)[offset : offset + most]

    def _block(self, number: int) -> bytes:
        block = self._blocks.get(number)
        if block is not None:
            self._blocks.move_to_end(number)
            return block
        start = number * self._block_bytes
        with self._store.read_range(self._key, start, min(self.size, start + self._block_bytes)) as stream:
            block = stream.read_all()
        self.fetches += 1
        self._blocks[number] = block
        while len(self._blocks) > self._keep:
            self._blocks.popitem(last=False)
        return block

    def close(self) -> None:
        self._blocks.clear()
        super().close()
