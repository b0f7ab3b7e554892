"""Crops by image URL (Robotoff's ``/images/crop``), served from the bucket when the image is ours.

``CropService.crop(image_url, box)``:

1. a URL on an allow-listed host (``LOGO_ANN_CROP_HOSTS``, http or https) whose path is
   ``/images/products{source_image}`` of a stored image is served from the bucket;
2. any other URL is fetched through the ``RemoteImages`` port (``common.ports.remote_images``;
   over HTTPS by ``common.adapters.http_images``: allow-listed hosts only, no private address,
   size and time limits), unless ``LOGO_ANN_CROP_FETCH`` is off (then 404).
   A refused URL is refused before anything else. Fetches run under ``common.outbound``: at most
   ``LOGO_ANN_CROP_FETCH_CONCURRENCY`` at once (one more is answered 503 with ``Retry-After`` at
   once), a URL that missed (404, refused, not an image) answers the same for
   ``LOGO_ANN_CROP_MISS_TTL_S`` and one that failed (timeout, 5xx) 503 for
   ``LOGO_ANN_CROP_FAILURE_TTL_S``, without being fetched again;
3. the decoded image is kept in a small LRU (``LOGO_ANN_CROP_CACHE_BYTES`` of pixels), because
   a page asks for many crops of the same photos: a repeat crop costs a crop and a JPEG encode;
4. the JPEG of a crop of a stored photo is kept in an LRU of its own
   (``LOGO_ANN_CROP_JPEG_CACHE_BYTES``), by the photo's bucket, name and generation and the box:
   that crop never changes, and the same crops are asked for again, by other players and on
   reloads, long after their photo has left the decoded-image cache (a 10 KB crop against 3 MB of
   pixels). A new generation of the photo is a
   new key, and a deleted photo no longer names a stored image, so neither is served from it.
   The photo decodes run on threads of lower priority (``common.pipeline.low_priority``).

The box is cut as Robotoff's crop route cuts it (Pillow rounds each relative corner times the
image size to the nearest pixel), at least one pixel wide and high.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
import urllib.parse
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import LRUCache
from PIL import Image

from common.domain import Box
from common.errors import NotFoundError
from common.inference.images import decode_image, encode_jpeg
from common.off_images import source_image_from_url_path
from common.outbound import Outbound
from common.pipeline.low_priority import LowPriorityPool
from common.ports.image_store import ImageStore
from common.ports.off_image_store import OffImageStore
from common.ports.remote_images import DEPENDENCY, RemoteImages
from common.records.logos import ImageRecord

V = TypeVar("V")


class SizedCache(Generic[V]):
    """Values by key, least recently used evicted past ``max_bytes`` (as ``sizeof`` counts them)."""

    def __init__(self, max_bytes: int, sizeof: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._values: LRUCache[Hashable, V] = LRUCache(maxsize=max_bytes, getsizeof=sizeof)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self.hits += 1
                return value
            self.misses += 1
        value = load()  # outside the lock: other requests go on while this one loads
        self._put(key, value)
        return value

    def _put(self, key: Hashable, value: V) -> None:
        if self._sizeof(value) > self.max_bytes:
            return
        with self._lock:
            if key not in self._values:
                self._values[key] = value  # evicts the least recently used past max_bytes

    def __len__(self) -> int:
        return len(self._values)


class DecodedImageCache(SizedCache[Image.Image]):
    """Decoded RGB images by key, least recently used evicted past ``max_bytes`` of pixels."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, _pixel_bytes)


def _pixel_bytes(image: Image.Image) -> int:
    return image.width * image.height * len(image.getbands())


@dataclasses.dataclass(frozen=True)
class Crop:
    jpeg: bytes
    etag: str
    stored: bool  # served from the bucket (immutable) rather than fetched


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a crop's photo comes from: its cache key, how to load it, whether it is ours."""

    key: str
    load: Callable[[], Image.Image]
    stored: bool

    def etag(self, box: Box) -> str:
        box_text = ",".join(f"{v:.6f}" for v in box.as_list())
        return '"' + hashlib.sha256(f"{self.key}|{box_text}".encode()).hexdigest()[:32] + '"'


def crop_rounded(image: Image.Image, box: Box) -> Image.Image:
    """The crop Robotoff's ``/crop`` route serves: corners rounded to the nearest pixel, at least
    1 px (``common.inference.images.crop_truncated`` is the embedder's, truncating)."""
    width, height = image.size
    left = min(round(box.x_min * width), width - 1)
    top = min(round(box.y_min * height), height - 1)
    right = max(round(box.x_max * width), left + 1)
    bottom = max(round(box.y_max * height), top + 1)
    return image.crop((left, top, min(right, width), min(bottom, height)))


class CropService:
    def __init__(
        self,
        store: OffImageStore,
        images: ImageStore,
        cache: DecodedImageCache,
        remote_images: RemoteImages,
        fetch_remote: bool,
        max_pixels: int,
        max_bytes: int,
        remote: Outbound | None = None,
        decoder: LowPriorityPool | None = None,
        jpegs: SizedCache[bytes] | None = None,
    ) -> None:
        self.remote = remote or Outbound(DEPENDENCY, limit=4)
        self.decoder = decoder or LowPriorityPool(1, 0)
        self.jpegs = jpegs or SizedCache[bytes](0, len)
        self.store = store
        self.images = images
        self.cache = cache
        self.remote_images = remote_images
        self.fetch_remote = fetch_remote
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes

    def crop(self, image_url: str, box: Box) -> Crop:
        source = self.source(image_url)
        return Crop(self.render(source, box), source.etag(box), source.stored)

    def render(self, source: Source, box: Box) -> bytes:
        """The JPEG of ``box`` cut out of the source's photo (decoded once, then kept); a crop of a
        stored photo is kept too, by the photo's generation and the box, since it never changes."""
        if not source.stored:
            return self._render(source, box)
        return self.jpegs.get_or_load((source.key, *box.as_list()), lambda: self._render(source, box))

    def _render(self, source: Source, box: Box) -> bytes:
        return encode_jpeg(crop_rounded(self.cache.get_or_load(source.key, source.load), box))

    def source(self, image_url: str) -> Source:
        """The stored image this URL names, else the URL itself (fetched under the policy)."""
        record = self._stored_image(image_url)
        if record is not None:
            ref = record.ref
            return Source(
                f"store:{ref.bucket}/{ref.name}#{ref.generation}", lambda: self._decode(self.images.get(ref)), True
            )
        if not self.fetch_remote:
            raise NotFoundError("no stored image has this URL (fetching other images is off)")
        self.remote_images.check(image_url)
        return Source(f"url:{image_url}", lambda: self._fetched(image_url), False)

    def _fetched(self, url: str) -> Image.Image:
        """The photo at ``url``: fetched in one of the bounded slots, decoded outside it; a miss or
        a failure is remembered (with the decoding's own refusal) under the URL."""
        fetch = functools.partial(self.remote_images.fetch, url)
        return self.remote.remembering(url, lambda: self._decode(self.remote.bounded(fetch)))

    def _stored_image(self, image_url: str) -> ImageRecord | None:
        try:
            parts = urllib.parse.urlsplit(image_url)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in self.remote_images.hosts:
            return None
        source_image = source_image_from_url_path(urllib.parse.unquote(parts.path))
        return None if source_image is None else self.store.image_by_source_image(source_image)

    def _decode(self, data: bytes) -> Image.Image:
        return self.decoder.run(lambda: decode_image(data, max_pixels=self.max_pixels, max_bytes=self.max_bytes))
