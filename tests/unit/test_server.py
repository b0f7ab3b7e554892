"""The inbox folder of ``logo-ann serve``: dropped images are processed once and moved."""

from __future__ import annotations

from pathlib import Path

from common.bootstrap import Container
from common.cli.serve import InboxWatcher
from tests.unit.test_api import fake_container
from tests.unit.test_pipeline import jpeg


def watched_inbox(tmp_path: Path) -> tuple[Container, Path, InboxWatcher]:
    """A fake container and a watcher of a new, empty inbox folder."""
    container = fake_container(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return container, inbox, InboxWatcher(container, inbox)


def test_inbox_processes_complete_files_and_moves_them(tmp_path: Path) -> None:
    container, inbox, watcher = watched_inbox(tmp_path)
    (inbox / "photo.png").write_bytes(jpeg((255, 0, 0), (0, 0, 255)))
    (inbox / "broken.jpg").write_bytes(b"not an image")
    (inbox / ".partial.jpg").write_bytes(b"still being copied")
    (inbox / "notes.txt").write_text("ignored")
    assert watcher.poll() == 0  # first sight: sizes recorded, nothing taken yet
    assert watcher.poll() == 2
    assert (inbox / "done" / "photo.png").exists() and (inbox / "failed" / "broken.jpg").exists()
    assert (inbox / ".partial.jpg").exists() and (inbox / "notes.txt").exists()
    assert container.index.count() == 2  # the photo's two logos were embedded and indexed
    assert watcher.poll() == 0


def test_inbox_keeps_a_file_while_a_dependency_is_down(tmp_path: Path) -> None:
    container, inbox, watcher = watched_inbox(tmp_path)
    (inbox / "photo.png").write_bytes(jpeg((255, 0, 0), (0, 0, 255)))
    container.embedder.down = True  # type: ignore[attr-defined]
    assert watcher.poll() == 0 and watcher.poll() == 0  # seen, then tried: the embedder is down
    assert (inbox / "photo.png").exists() and not (inbox / "failed" / "photo.png").exists()
    (image,) = container.store.find_images(container.settings.bucket, next(iter(container.images.objects))[1])  # type: ignore[attr-defined]
    assert image.attempts == 1
    container.embedder.down = False  # type: ignore[attr-defined]
    assert watcher.poll() == 1 and (inbox / "done" / "photo.png").exists()
    assert container.index.count() == 2
