"""Open Food Facts taxonomies (``labels.full.json``, ``brands.full.json``, ``categories.full.json``).

A ``*.full.json`` file maps each canonical id (``en:organic``, ``xx:coca-cola``) to an entry
with ``name`` and ``synonyms`` per language. ``Taxonomy.canonical`` turns an annotation's value
tag into that id: the id itself, else a name or synonym of the value's language (or of ``xx``,
the language-less one), else, for a value without a language prefix (brands), the only id whose
name or synonym it is in any language.

``Taxonomies`` holds one source per taxonomy, a local path or an http(s) URL, read through the
``TaxonomySource`` port (``common.ports.taxonomy_source``). Each file is loaded
on first use, kept in memory, and loaded again once ``refresh_s`` has passed (a path only when
its modification time changed). A failed refresh keeps the taxonomy already loaded; a first load
that fails raises ``DependencyError`` (the request is refused, nothing is written). With no source
for a taxonomy, ``taxonomy_value`` is the value tag itself.

A load is made inside a request, so it runs under ``common.outbound``: one load of a taxonomy at a
time (within the source's time limit); meanwhile other requests use the taxonomy already loaded, or, before
the first load has finished, are answered at once with ``RetryLaterError`` (503, ``Retry-After``)
instead of queueing behind it. A first load that failed is not tried again for ``failure_ttl_s``.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from common.errors import DependencyError, RetryLaterError
from common.files import write_atomically
from common.labels.values import TAXONOMY_OF_TYPE, is_language_prefixed, value_tag
from common.outbound import Outbound
from common.ports.taxonomy_source import TaxonomySource

logger = logging.getLogger(__name__)

NAMES = ("labels", "brands", "categories")
OFF_BASE_URL = "https://static.openfoodfacts.org/data/taxonomies"


class Taxonomy:
    """One taxonomy's ids and the index from (language, tag) to id."""

    def __init__(self, entries: Mapping[str, Any]) -> None:
        self.ids = frozenset(str(key) for key in entries)
        self._by_lang: dict[tuple[str, str], str] = {}
        anywhere: dict[str, set[str]] = defaultdict(set)
        for key, entry in entries.items():
            for lang, text in _spellings(str(key), entry):
                tag = value_tag(text)
                if tag:
                    self._by_lang.setdefault((lang, tag), str(key))
                    anywhere[tag].add(str(key))
        self._unique = {tag: next(iter(ids)) for tag, ids in anywhere.items() if len(ids) == 1}

    def canonical(self, tag: str) -> str | None:
        if tag in self.ids:
            return tag
        if is_language_prefixed(tag):
            lang, name = tag[:2], tag[3:]
            return self._by_lang.get((lang, name)) or self._by_lang.get(("xx", name))
        if f"xx:{tag}" in self.ids:
            return f"xx:{tag}"
        return self._by_lang.get(("xx", tag)) or self._unique.get(tag)


def _spellings(key: str, entry: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if is_language_prefixed(key):
        found.append((key[:2], key[3:]))
    if not isinstance(entry, dict):
        return found
    names = entry.get("name")
    if isinstance(names, dict):
        found += [(str(lang), text) for lang, text in names.items() if isinstance(text, str)]
    synonyms = entry.get("synonyms")
    if isinstance(synonyms, dict):
        for lang, texts in synonyms.items():
            if isinstance(texts, list):
                found += [(str(lang), text) for text in texts if isinstance(text, str)]
    return found


def parse_taxonomy(data: bytes, source: str) -> Taxonomy:
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DependencyError("taxonomy", f"{source} is not JSON: {exc}") from exc
    if not isinstance(entries, dict):
        raise DependencyError("taxonomy", f"{source} is not a JSON object of taxonomy entries")
    return Taxonomy(entries)


class _Slot:
    def __init__(self, name: str, source: str, failure_ttl_s: float, clock: Callable[[], float]) -> None:
        self.source = source
        self.taxonomy: Taxonomy | None = None
        self.loaded_at = 0.0
        self.mtime: float | None = None
        self.loads = Outbound(f"taxonomy {name}", limit=1, failure_ttl_s=failure_ttl_s, size=1, timer=clock)


class Taxonomies:
    """The taxonomies by name, loaded once and refreshed every ``refresh_s`` seconds."""

    def __init__(
        self,
        files: TaxonomySource,
        sources: Mapping[str, str],
        refresh_s: float = 86_400.0,
        clock: Callable[[], float] = time.monotonic,
        failure_ttl_s: float = 30.0,
    ) -> None:
        self._files = files
        self._slots = {name: _Slot(name, source, failure_ttl_s, clock) for name, source in sources.items() if source}
        self.refresh_s = refresh_s
        self._clock = clock

    def configured(self, name: str) -> bool:
        return name in self._slots

    def taxonomy_value(self, annotation_type: str, tag: str | None) -> str | None:
        """The canonical id for a value tag; the tag itself when no taxonomy is configured."""
        name = TAXONOMY_OF_TYPE.get(annotation_type)
        if name is None or tag is None:
            return None
        if name not in self._slots:
            return tag
        return self.get(name).canonical(tag)

    def get(self, name: str) -> Taxonomy:
        slot = self._slots[name]
        if slot.taxonomy is None or self._stale(slot):
            try:
                slot.loads.call(name, lambda: self._load(slot))
            except RetryLaterError:
                if slot.taxonomy is None:
                    raise
                # another request is loading it again: this one keeps to the loaded one
        assert slot.taxonomy is not None
        return slot.taxonomy

    def _stale(self, slot: _Slot) -> bool:
        return self._clock() - slot.loaded_at >= self.refresh_s

    def _load(self, slot: _Slot) -> None:
        if slot.taxonomy is not None and not self._stale(slot):
            return  # loaded by the request that held the slot just before
        now = self._clock()
        try:
            mtime = self._files.modified(slot.source)  # None: a URL, read again
            if slot.taxonomy is None or mtime is None or mtime != slot.mtime:
                slot.taxonomy = parse_taxonomy(self._files.read(slot.source), slot.source)
                slot.mtime = mtime
                logger.info("taxonomy loaded from %s (%d ids)", slot.source, len(slot.taxonomy.ids))
        except (OSError, DependencyError) as exc:
            if slot.taxonomy is None:
                raise exc if isinstance(exc, DependencyError) else DependencyError("taxonomy", str(exc)) from exc
            logger.warning("taxonomy refresh from %s failed, keeping the loaded one: %s", slot.source, exc)
        slot.loaded_at = now


def default_sources(explicit: Mapping[str, str], home: Path) -> dict[str, str]:
    """Each taxonomy's source: its setting, else the file ``taxonomies fetch`` wrote, else none."""
    sources: dict[str, str] = {}
    for name in NAMES:
        fetched = home / "taxonomies" / f"{name}.full.json"
        sources[name] = explicit.get(name) or (str(fetched) if fetched.is_file() else "")
    return sources


def fetch_taxonomies(files: TaxonomySource, dest: Path, base_url: str = OFF_BASE_URL) -> dict[str, int]:
    """Download every ``*.full.json`` into ``dest`` (checked as taxonomies, moved into place
    atomically); returns the number of ids per taxonomy."""
    dest.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name in NAMES:
        url = f"{base_url.rstrip('/')}/{name}.full.json"
        data = files.download(url)
        counts[name] = len(parse_taxonomy(data, url).ids)
        write_atomically(dest / f"{name}.full.json", functools.partial(Path.write_bytes, data=data))
    return counts
