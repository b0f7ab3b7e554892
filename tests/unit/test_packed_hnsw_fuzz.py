"""Fuzzing the packed graph's file loader: damaged files are refused (``InternalError``) or, when
they still hold together, searched and grown without a fault. Seeded, so every run tries the same
files; ``make test-engine-sanitized`` runs it against the engine built with AddressSanitizer and
UndefinedBehaviorSanitizer, where any read or write out of bounds aborts the run."""

from __future__ import annotations

import io
import struct
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from common.embedded_index import _packed_hnsw as ph
from common.embedded_index import _packed_hnsw_files as files
from common.embedded_index._int8_codec import Int8Codec
from common.errors import InternalError
from tests.index_support import unit_rows

DIM, M = 16, 4
CODEC = Int8Codec(DIM)
QUERIES = CODEC.encode(unit_rows(np.random.default_rng(51), 4, DIM))


def saved(n: int, removed: int = 0) -> bytes:
    rows = CODEC.encode(unit_rows(np.random.default_rng(50 + n), n, DIM, clusters=12))
    graph = ph.PackedGraph(DIM, m=M, expansion_add=24)
    graph.add(np.arange(n), rows)
    graph.remove(np.arange(0, 3 * removed, 3))
    out = io.BytesIO()
    np.savez(out, **files.to_arrays(graph.state, DIM, M, 2 * M))  # type: ignore[arg-type]
    return out.getvalue()


@pytest.fixture(scope="module")
def originals() -> list[bytes]:
    return [saved(600, removed=40), saved(1), saved(0)]


def boundaries(raw: bytes) -> Iterator[int]:
    """Every place a section of the file starts or ends: each member's local header, its ``.npy``
    header, its data, the central directory, the end record."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for info in archive.infolist():
            name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
            data = info.header_offset + 30 + name_len + extra_len
            header = struct.unpack("<H", raw[data + 8 : data + 10])[0]  # .npy 1.0: magic, version, length
            yield from (info.header_offset, data, data + 10, data + 10 + header, data + info.compress_size)
        yield archive.start_dir
    yield len(raw) - 22


def damaged_bytes(raw: bytes, rng: np.random.Generator) -> Iterator[bytes]:
    for cut in sorted(set(boundaries(raw))):  # truncated at and around every section boundary
        yield from (raw[: max(cut - 1, 0)], raw[:cut], raw[: cut + 1])
    for _ in range(150):  # a few flipped bits
        flipped = bytearray(raw)
        for at in rng.integers(0, len(raw) * 8, rng.integers(1, 9)):
            flipped[at // 8] ^= 1 << (at % 8)
        yield bytes(flipped)
    for _ in range(60):  # a run of random bytes, or a random file
        spliced = bytearray(raw)
        start = int(rng.integers(0, len(raw)))
        spliced[start : start + int(rng.integers(1, 64))] = rng.bytes(int(rng.integers(1, 64)))
        yield bytes(spliced)
        yield rng.bytes(int(rng.integers(0, 4096)))


DTYPES = [np.int8, np.uint16, np.int64, np.float32]
EXTREMES = [0, 1, -1, 2, 7, 8, 255, 256, 599, 600, 601, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, -(2**31), 2**63 - 1]


def damaged_arrays(raw: bytes, rng: np.random.Generator) -> Iterator[bytes]:
    """Files whose container is sound and whose arrays are not: what reaches the engine's checks."""
    with np.load(io.BytesIO(raw)) as kept:
        arrays = {name: kept[name] for name in kept.files}
    names = sorted(arrays)
    for case in range(500):
        changed = {name: array.copy() for name, array in arrays.items()}
        name = names[case % len(names)]
        array, kind = changed[name], int(rng.integers(0, 4))
        if kind == 0 and array.size:  # flipped bits
            view = array.reshape(-1).view(np.uint8)
            for at in rng.integers(0, view.size * 8, rng.integers(1, 5)):
                view[at // 8] ^= np.uint8(1 << (at % 8))
        elif kind == 1 and array.size:  # one number set to an edge of its type or of the graph
            flat = array.reshape(-1)
            flat[int(rng.integers(0, flat.size))] = np.array(rng.choice(EXTREMES)).astype(array.dtype)
        elif kind == 2:  # shortened or lengthened
            changed[name] = np.resize(array.reshape(-1), int(rng.integers(0, array.size + 3)))  # repeats to grow
        else:  # another dtype or shape
            changed[name] = array.astype(DTYPES[int(rng.integers(0, len(DTYPES)))]).reshape(-1)
        out = io.BytesIO()
        np.savez(out, **changed)
        yield out.getvalue()


def load_and_use(path: Path, raw: bytes) -> str:
    """``refused`` or ``used``: a file the loader accepts is searched, grown and searched again."""
    path.write_bytes(raw)
    graph = ph.PackedGraph(DIM, m=M, expansion_add=24)
    try:
        graph.load(str(path))
    except InternalError:
        return "refused"
    for _ in range(2):  # as loaded, then grown (arrays copied, links repacked) by an insert
        slots, _ = graph.search(QUERIES, 5, 16)
        assert ((slots >= -1) & (slots < graph.state.count)).all()
        assert graph.links().shape == (graph.state.count, 2 * M)
        graph.add(np.arange(3) + 10_000, QUERIES[:3])
    return "used"


def test_damaged_files_are_refused_or_used_without_a_fault(originals: list[bytes], tmp_path: Path) -> None:
    rng = np.random.default_rng(52)
    outcomes: Counter[str] = Counter()
    for raw in originals:
        assert load_and_use(tmp_path / "graph.npz", raw) == "used"
        for damaged in (*damaged_bytes(raw, rng), *damaged_arrays(raw, rng)):
            outcomes[load_and_use(tmp_path / "graph.npz", damaged)] += 1
    assert outcomes["refused"] > 1_000 and outcomes["used"] > 300  # both paths taken many times
