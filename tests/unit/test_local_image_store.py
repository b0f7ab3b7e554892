from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.adapters.local_image_store import LocalImageStore
from common.domain import ObjectRef
from common.errors import DependencyError, InvalidEventError, NotFoundError


@pytest.fixture
def store(tmp_path: Path) -> LocalImageStore:
    return LocalImageStore(tmp_path / "buckets")


def test_put_then_get_returns_the_bytes_under_the_bucket_folder(store: LocalImageStore) -> None:
    ref = store.put("uploads", "a/b/photo.jpg", b"\xff\xd8jpeg bytes", "image/jpeg")

    assert (ref.bucket, ref.name) == ("uploads", "a/b/photo.jpg")
    assert (store.root / "uploads" / "a" / "b" / "photo.jpg").read_bytes() == b"\xff\xd8jpeg bytes"
    assert store.get(ref) == b"\xff\xd8jpeg bytes"
    assert store.get(ObjectRef("uploads", "a/b/photo.jpg", "0")) == b"\xff\xd8jpeg bytes"


def test_generation_is_the_file_mtime_ns(store: LocalImageStore) -> None:
    ref = store.put("uploads", "x.png", b"png")

    assert ref.generation == str((store.root / "uploads" / "x.png").stat().st_mtime_ns)


def test_rewritten_object_gets_a_new_generation_and_old_ref_is_gone(store: LocalImageStore) -> None:
    first = store.put("uploads", "x.png", b"one")
    second = store.put("uploads", "x.png", b"two")  # same tick on coarse clocks: still distinct

    assert int(second.generation) > int(first.generation)
    assert store.get(second) == b"two"
    with pytest.raises(NotFoundError):
        store.get(first)


def test_file_changed_behind_the_store_invalidates_the_generation(store: LocalImageStore) -> None:
    ref = store.put("uploads", "x.png", b"one")
    path = store.root / "uploads" / "x.png"
    os.utime(path, ns=(0, int(ref.generation) + 1_000_000_000))

    with pytest.raises(NotFoundError):
        store.get(ref)


def test_missing_object_and_missing_bucket_raise_not_found(store: LocalImageStore) -> None:
    store.put("uploads", "present.jpg", b"x")

    with pytest.raises(NotFoundError):
        store.get(ObjectRef("uploads", "absent.jpg"))
    with pytest.raises(NotFoundError):
        store.get(ObjectRef("nobucket", "present.jpg"))
    with pytest.raises(NotFoundError):
        store.get(ObjectRef("uploads", "present.jpg/inner"))


def test_delete_removes_and_is_idempotent(store: LocalImageStore) -> None:
    ref = store.put("uploads", "d/x.jpg", b"x")

    store.delete(ref)
    store.delete(ref)

    with pytest.raises(NotFoundError):
        store.get(ref)


@pytest.mark.parametrize(
    "name",
    ["../escape.jpg", "a/../../escape.jpg", "a/..", "/etc/passwd", "a\x00b.jpg", "", "folder/"],
)
def test_names_escaping_the_bucket_are_refused(store: LocalImageStore, name: str) -> None:
    with pytest.raises(InvalidEventError):
        store.put("uploads", name, b"x")
    with pytest.raises(InvalidEventError):
        store.get(ObjectRef("uploads", name))
    assert not (store.root.parent / "escape.jpg").exists()


@pytest.mark.parametrize("bucket", ["", "..", ".", "a/b", "nul\x00"])
def test_bad_bucket_names_are_refused(store: LocalImageStore, bucket: str) -> None:
    with pytest.raises(InvalidEventError):
        store.put(bucket, "x.jpg", b"x")


def test_symlink_pointing_outside_the_bucket_is_refused(store: LocalImageStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"secret")
    (store.root / "uploads").mkdir(parents=True)
    (store.root / "uploads" / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidEventError):
        store.get(ObjectRef("uploads", "link/secret.jpg"))
    with pytest.raises(InvalidEventError):
        store.put("uploads", "link/new.jpg", b"x")
    assert not (outside / "new.jpg").exists()


def test_write_leaves_no_temporary_file_and_list_reports_objects(store: LocalImageStore) -> None:
    refs = [store.put("uploads", name, name.encode()) for name in ["b.jpg", "a/c.jpg", "a.jpg"]]

    listed = store.list("uploads")

    assert [ref.name for ref in listed] == ["a.jpg", "a/c.jpg", "b.jpg"]
    assert set(listed) == set(refs)
    assert sorted(p.name for p in (store.root / "uploads").rglob("*") if p.is_file()) == ["a.jpg", "b.jpg", "c.jpg"]
    assert store.list("empty") == []


def test_failed_write_keeps_the_previous_object(store: LocalImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = store.put("uploads", "x.jpg", b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(DependencyError, match="disk full"):
        store.put("uploads", "x.jpg", b"new")
    monkeypatch.undo()

    assert store.get(ref) == b"old"
    assert [p.name for p in (store.root / "uploads").iterdir()] == ["x.jpg"]


def test_stat_reports_the_current_generation_or_none(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    assert store.stat("b", "x/y.jpg") is None
    ref = store.put("b", "x/y.jpg", b"one")
    assert store.stat("b", "x/y.jpg") == ref
    newer = store.put("b", "x/y.jpg", b"two")
    assert store.stat("b", "x/y.jpg") == newer != ref
